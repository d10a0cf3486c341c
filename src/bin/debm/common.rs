//! Arguments and helpers shared by the subcommands.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use dermaebm::data::{Dataset, Limits};
use dermaebm::device::{BackendInfo, BackendRequest, select_device};
use dermaebm::platform::block_on;
use dermaebm::weights::WeightsFile;
use dermaebm::{Device, EnergyNet};

pub const DEFAULT_WEIGHTS: &str = "weights/dermamnist.debm";

#[derive(Parser)]
#[command(name = "debm", about = "Deep energy-based model for DermaMNIST: inspect data, train, sample, score, benchmark")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Print a JSON summary of one or more MedMNIST .npz/.npy shards (merged).
    Info {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Train on .npz/.npy shards, writing checkpoints, a CSV log and the final weights.
    Train(crate::train::Args),
    /// Generate samples: a PNG sheet and an animated GIF of the Langevin chains.
    Sample(crate::sample::Args),
    /// Print one energy per line (lower = more likely), in row order.
    Score(crate::score::Args),
    /// Measure training and sampling speed; prints JSON.
    Bench(crate::bench::Args),
    /// Quality figures of weights (energy AUROC, sample statistics); prints JSON.
    Eval(crate::eval::Args),
}

pub fn load_dataset(files: &[PathBuf]) -> Result<Dataset, String> {
    let contents = files
        .iter()
        .map(|p| std::fs::read(p).map(|b| (p.display().to_string(), b)).map_err(|e| format!("{}: {e}", p.display())))
        .collect::<Result<Vec<_>, _>>()?;
    let borrowed: Vec<(&str, &[u8])> = contents.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    Dataset::load(&borrowed, Limits::default()).map_err(|e| e.to_string())
}

pub fn info(files: &[PathBuf]) -> Result<(), String> {
    let summary = load_dataset(files)?.summary();
    println!("{}", serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?);
    Ok(())
}

pub fn read_weights(path: &Path) -> Result<WeightsFile, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    WeightsFile::decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn load_model(path: &Path, device: &Device) -> Result<(WeightsFile, EnergyNet), String> {
    let file = read_weights(path)?;
    let model = file.model(device).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((file, model))
}

pub fn device(request: &str) -> Result<(Device, BackendInfo), String> {
    let request: BackendRequest = request.parse()?;
    Ok(block_on(select_device(request)))
}

/// Writes `bytes` to `path` atomically: a reader sees the old file or the new one, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}
