//! `debm`: the project's native command, on the same core as the site.
//!
//! - `debm info FILE...`: dataset summary as JSON
//! - `debm train --data FILE...`: train (GPU through wgpu when present, else CPU), with
//!   checkpoints, a CSV log and resume
//! - `debm sample`: a PNG sample sheet and a chain GIF
//! - `debm score`: one energy per line, for dataset rows or uniform noise
//! - `debm bench`: speed figures as JSON
//! - `debm eval`: quality figures of weights as JSON
//! - `debm average`: one weights file whose net is the mean of a run's snapshots
//! - `debm probe`: a linear classifier on the net's features, stored with the weights
//! - `debm export --safetensors FILE`: the energy net for PyTorch and other tools
//! - `debm upgrade FILE`: a weights file rewritten in the current format version
//! - `debm strip FILE --out OUT`: the sampling-only copy of a checkpoint (what the site ships)

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod average;
#[cfg(not(target_arch = "wasm32"))]
mod bench;
#[cfg(not(target_arch = "wasm32"))]
mod cli;
#[cfg(not(target_arch = "wasm32"))]
mod common;
#[cfg(not(target_arch = "wasm32"))]
mod eval;
#[cfg(not(target_arch = "wasm32"))]
mod export;
#[cfg(not(target_arch = "wasm32"))]
mod probe;
#[cfg(not(target_arch = "wasm32"))]
mod sample;
#[cfg(not(target_arch = "wasm32"))]
mod score;
#[cfg(not(target_arch = "wasm32"))]
mod strip;
#[cfg(not(target_arch = "wasm32"))]
mod train;
#[cfg(not(target_arch = "wasm32"))]
mod upgrade;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Info { files } => common::info(&files),
        cli::Command::Train(args) => train::run(args),
        cli::Command::Sample(args) => sample::run(args),
        cli::Command::Score(args) => score::run(args),
        cli::Command::Bench(args) => bench::run(args),
        cli::Command::Eval(args) => eval::run(args),
        cli::Command::Average(args) => average::run(args),
        cli::Command::Probe(args) => probe::run(args),
        cli::Command::Export(args) => export::run(args),
        cli::Command::Upgrade(args) => upgrade::run(args),
        cli::Command::Strip(args) => strip::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole chain: "path: what went wrong".
            eprintln!("debm: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
