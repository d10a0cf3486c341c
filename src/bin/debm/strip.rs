//! `debm strip IN --out OUT`: the sampling-only copy of a weights file or checkpoint — the net
//! that samples, its persistent chains and its probe, without the training state
//! (`dermaebm::upgrade::sampling_only`). What the site ships; the full checkpoint stays with the
//! run that resumes from it. A file that does not load is refused and nothing is written.
//! Prints a JSON summary.

use anyhow::{Context, Result};
use std::path::PathBuf;

use dermaebm::upgrade::sampling_only;
use serde_json::json;

use crate::common;

#[derive(clap::Args)]
pub struct Args {
    /// The weights file or checkpoint to cut down.
    input: PathBuf,
    /// Where to write the sampling-only copy (never over the input: the training state would be lost).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    if args.out == args.input {
        anyhow::bail!("--out is the input {}: write the sampling-only copy elsewhere, keeping the checkpoint", args.input.display());
    }
    let bytes = std::fs::read(&args.input).with_context(|| args.input.display().to_string())?;
    let stripped = sampling_only(&bytes).with_context(|| args.input.display().to_string())?;
    common::write_atomic(&args.out, &stripped.bytes)?;
    println!(
        "{}",
        json!({
            "in": args.input.display().to_string(),
            "out": args.out.display().to_string(),
            "kept": stripped.kept,
            "dropped": stripped.dropped,
            "bytes_before": bytes.len(),
            "bytes_after": stripped.bytes.len(),
        })
    );
    Ok(())
}
