//! Every native test of the core, as modules of one test binary: the crate and burn are linked
//! once, not once per file, built without the GPU backend (they run on the CPU one).
//! tests/npz_memory.rs stays apart: it counts every allocation of its process; tests/web.rs is
//! the browser binary.
#![cfg(not(target_arch = "wasm32"))]

#[path = "../common/mod.rs"]
mod common;

mod average;
mod buffer;
mod conditional;
mod config;
mod cpu_chains;
mod data;
mod denoising;
mod determinism;
mod edit;
mod guard;
mod head_lr;
mod js_types;
mod labels;
mod learning;
mod persistent;
mod probe;
mod recovery;
mod run_loop;
mod safetensors;
mod sampler;
mod session;
mod shipped_weights;
mod training_run;
mod upgrade;
mod weights;
mod widen;
