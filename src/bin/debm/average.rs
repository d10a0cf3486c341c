//! `debm average`: one weights file whose net is the mean of several kept snapshots of one
//! training run (stochastic weight averaging, `dermaebm::model::averaged`); the configuration,
//! iteration, Adam's state and persistent chains come from the last file, so it samples and
//! resumes like that snapshot.

use anyhow::{Context, Result};
use std::path::PathBuf;

use dermaebm::Device;
use dermaebm::model::averaged;
use dermaebm::platform::block_on;
use serde_json::json;

use crate::common;

#[derive(clap::Args)]
pub struct Args {
    /// Snapshots of one run (e.g. the files `debm train --keep-every` writes), oldest first; the
    /// last gives everything but the net.
    #[arg(required = true, num_args = 1..)]
    files: Vec<PathBuf>,
    /// Where to write the averaged weights.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    // Averaging reads every parameter back: the CPU backend, where reads never wait.
    let device = Device::flex();
    let mut nets = Vec::with_capacity(args.files.len());
    let mut iterations = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let (file, net) = common::load_model(path, &device)?;
        iterations.push(file.header.iteration);
        nets.push(net);
    }
    let mean = averaged(&nets)?;
    let last_path = args.files.last().expect("clap requires one file");
    let last = common::read_weights(last_path)?;
    let note = format!("mean of the nets of {} snapshots (iterations {iterations:?}); {}", nets.len(), last.header.note);
    let bytes = block_on(last.with_model(&mean, &note)).with_context(|| last_path.display().to_string())?;
    common::write_atomic(&args.out, &bytes)?;
    println!("{}", json!({ "out": args.out.display().to_string(), "snapshots": nets.len(), "iterations": iterations }));
    Ok(())
}
