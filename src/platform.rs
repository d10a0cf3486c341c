//! The few things that differ between the browser and a native process, in one place.

#[cfg(target_arch = "wasm32")]
pub use web_time::Instant;

#[cfg(not(target_arch = "wasm32"))]
pub use std::time::Instant;

/// burn restores optimiser state onto `Device::default()`, which in a wasm build is the WebGPU
/// device — not initialised (and maybe absent) when the engine runs on the CPU, and never
/// synchronously usable in a browser. So the browser neither saves nor restores Adam's state:
/// a resumed run starts Adam afresh (with β₁ = 0 only its second-moment estimate is lost).
pub const OPTIMIZER_STATE_IN_CHECKPOINTS: bool = !cfg!(target_arch = "wasm32");

/// Drives a future to completion on native targets (the browser has its own event loop).
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    futures_lite::future::block_on(future)
}
