//! Helpers shared by the subcommands: reading data and weights, picking the device, writing
//! files atomically.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

use dermaebm::data::{Dataset, Limits};
use dermaebm::device::{BackendInfo, BackendRequest, select_device};
use dermaebm::platform::block_on;
use dermaebm::weights::WeightsFile;
use dermaebm::{Device, EnergyNet};

/// The site's default model: `debm sample` with no flags draws what the site first shows.
pub const DEFAULT_WEIGHTS: &str = "weights/denoising.debm";

pub fn load_dataset(files: &[PathBuf]) -> Result<Dataset> {
    let contents = files
        .iter()
        .map(|p| std::fs::read(p).map(|b| (p.display().to_string(), b)).with_context(|| p.display().to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let borrowed: Vec<(&str, &[u8])> = contents.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    Ok(Dataset::load(&borrowed, Limits::default())?)
}

pub fn info(files: &[PathBuf]) -> Result<()> {
    let summary = load_dataset(files)?.summary();
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

pub fn read_weights(path: &Path) -> Result<WeightsFile> {
    let bytes = std::fs::read(path).with_context(|| path.display().to_string())?;
    WeightsFile::decode(&bytes).with_context(|| path.display().to_string())
}

pub fn load_model(path: &Path, device: &Device) -> Result<(WeightsFile, EnergyNet)> {
    let file = read_weights(path)?;
    let model = file.model(device).with_context(|| path.display().to_string())?;
    Ok((file, model))
}

pub fn device(request: &str) -> Result<(Device, BackendInfo)> {
    let request: BackendRequest = request.parse().map_err(anyhow::Error::msg)?;
    Ok(block_on(select_device(request)))
}

/// Writes `bytes` to `path` atomically: a reader sees the old file or the new one, never half.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| tmp.display().to_string())?;
    std::fs::rename(&tmp, path).with_context(|| path.display().to_string())
}
