//! `debm upgrade IN [--out OUT]`: a weights file or checkpoint of an older format version (no
//! checksums before version 3) rewritten in the current one, every section kept byte for byte
//! (`dermaebm::upgrade`). A file that does not load is refused and nothing is written: fresh
//! checksums over damaged bytes would vouch for the damage. Prints a JSON summary.

use anyhow::{Context, Result};
use std::path::PathBuf;

use dermaebm::upgrade::upgrade;
use dermaebm::weights::FORMAT_VERSION;
use serde_json::json;

use crate::common;

#[derive(clap::Args)]
pub struct Args {
    /// The weights file or checkpoint to rewrite.
    input: PathBuf,
    /// Where to write the rewritten file (default: over the input, atomically).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let bytes = std::fs::read(&args.input).with_context(|| args.input.display().to_string())?;
    let upgraded = upgrade(&bytes).with_context(|| args.input.display().to_string())?;
    let out = args.out.unwrap_or_else(|| args.input.clone());
    common::write_atomic(&out, &upgraded.bytes)?;
    println!(
        "{}",
        json!({
            "in": args.input.display().to_string(),
            "out": out.display().to_string(),
            "from_version": upgraded.from_version,
            "to_version": FORMAT_VERSION,
            "sections": upgraded.sections,
            "bytes_before": bytes.len(),
            "bytes_after": upgraded.bytes.len(),
        })
    );
    Ok(())
}
