//! `debm export`: the energy net of a weights file in a format other tools load. For now one:
//! `--safetensors FILE`, with PyTorch's parameter names and layouts (`dermaebm::safetensors`;
//! README "Weights for PyTorch" shows the module that loads it). Prints a JSON summary.

use anyhow::{Context, Result};
use std::path::PathBuf;

use dermaebm::Device;
use dermaebm::safetensors::to_safetensors;
use serde_json::json;

use crate::common::{self, DEFAULT_WEIGHTS};

#[derive(clap::Args)]
pub struct Args {
    /// Write the energy net here as a safetensors file.
    #[arg(long, value_name = "FILE")]
    safetensors: PathBuf,
    #[arg(long, default_value = DEFAULT_WEIGHTS)]
    weights: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    // The values are read synchronously: the CPU backend.
    let (file, net) = common::load_model(&args.weights, &Device::flex())?;
    let config = &file.header.config;
    let bytes = to_safetensors(&net, config).with_context(|| args.weights.display().to_string())?;
    common::write_atomic(&args.safetensors, &bytes)?;
    println!(
        "{}",
        json!({
            "out": args.safetensors.display().to_string(),
            "bytes": bytes.len(),
            "recipe": config.recipe,
            "classes": config.classes,
            "levels": config.levels(),
            "spectral_norm_baked": config.spectral_norm,
            "iteration": file.header.iteration,
        })
    );
    Ok(())
}
