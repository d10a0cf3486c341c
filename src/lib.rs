//! A deep energy-based generative model for small images (DermaMNIST first) that trains and
//! samples with the same code natively and in the browser (WebAssembly + WebGPU).
//!
//! The pieces, one per module:
//! - [`config::EbmConfig`]: every knob of a run, with the UvA DL tutorial-8 defaults;
//! - [`model::EnergyNet`]: the CNN whose output is −E(x) (or, class-conditional, −E(x, y) per class),
//!   and a wider copy of a trained one that keeps its energy (Net2WiderNet);
//! - [`sampler::langevin`]: Langevin dynamics of either recipe ([`sampler::Dynamics`]), on the
//!   device through autodiff, or on the CPU with a hand-written input gradient ([`sampler::cpu`]);
//! - [`recovery`]: the noise schedule of the recovery-likelihood recipe;
//! - [`augment`]: random flips and quarter turns of real images;
//! - [`buffer::ReplayBuffer`]: persistent negatives with a share of fresh noise;
//! - [`trainer::Trainer`]: async contrastive-divergence iterations returning [`trainer::IterStats`];
//! - [`training_run::TrainingRun`]: a trainer with its data and checkpoint policy, stepped by
//!   every front end;
//! - [`session::Session`]: the model in use, the data and the run, with the rules of changing
//!   them (what the browser's engine holds; `debm train` starts its runs through it);
//! - [`device::select_device`]: WebGPU/wgpu when a real GPU exists, else the `flex` CPU backend;
//! - [`inference`]: energies, samples (optionally of one class) and class probabilities;
//! - [`edit`]: inpainting and denoising with Langevin;
//! - [`persistent`]: the replay buffer's chains, kept beside the weights and continued to sample;
//! - [`metrics`]: AUROC and image statistics;
//! - [`safetensors`]: the energy net as a safetensors file with PyTorch's names and layouts;
//! - [`upgrade`]: a weights file rewritten in the current format version, every section kept, or
//!   cut to the sections sampling needs;
//! - [`run_options`]: the options of the browser's training loop, unknown names refused.

pub mod augment;
pub mod buffer;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod denoising;
pub mod device;
pub mod edit;
pub mod export;
pub mod inference;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod persistent;
pub mod platform;
pub mod recovery;
pub mod run_options;
pub mod safetensors;
pub mod sampler;
pub mod session;
pub mod synthetic;
pub mod trainer;
pub mod training_run;
pub mod upgrade;
pub mod weights;

pub use burn::prelude::{Device, Tensor};
pub use config::{ConfigError, EbmConfig};
pub use device::{BackendInfo, BackendRequest, select_device};
pub use model::{EnergyNet, NetShape};
pub use trainer::{IterStats, TrainError, Trainer};

#[cfg(target_arch = "wasm32")]
pub mod wasm;
