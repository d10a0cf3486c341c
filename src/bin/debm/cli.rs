//! The command line: `debm` and its subcommands, each with its own `Args` in its own file.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    /// Average the nets of several snapshots of one run (stochastic weight averaging) into one
    /// weights file; everything else comes from the last snapshot.
    Average(crate::average::Args),
    /// Fit a linear classifier on the net's features of labelled images (a probe: the energy
    /// is untouched) and store it with the weights; prints its accuracy and the head's as JSON.
    Probe(crate::probe::Args),
    /// Write the energy net for other tools: `--safetensors FILE` (PyTorch's names and layouts).
    Export(crate::export::Args),
    /// Rewrite a weights file or checkpoint in the current format version (checksums on the
    /// header and every section), keeping every section byte for byte; prints JSON.
    Upgrade(crate::upgrade::Args),
    /// Write the sampling-only copy of a weights file or checkpoint (the net that samples, its
    /// persistent chains and probe; no training state): what the site ships; prints JSON.
    Strip(crate::strip::Args),
}
