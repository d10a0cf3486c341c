//! Browser tests (`wasm-pack test --headless --chrome --test web`): the core's learning and
//! sampler checks on WebGPU (SwiftShader in CI) and on the CPU backend compiled to wasm.
//! They run in a dedicated worker, where long GPU loops do not stall the page.
#![cfg(target_arch = "wasm32")]

mod common;

use dermaebm::{BackendRequest, Device, select_device};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_dedicated_worker);

async fn webgpu() -> Device {
    let (device, info) = select_device(BackendRequest::Gpu).await;
    assert_eq!(info.backend, "webgpu", "these tests exercise WebGPU; got {info:?}");
    device
}

#[wasm_bindgen_test]
async fn webgpu_sampler_lowers_energy() {
    let (before, after) = common::langevin_energy_drop(&webgpu().await).await;
    assert!(after < before, "before {before}, after {after}");
}

#[wasm_bindgen_test]
async fn webgpu_cd_training_separates_data_from_noise() {
    let (before, after) = common::learning_run(&webgpu().await, common::BROWSER_ITERATIONS).await;
    assert!(before < 0.95, "untrained AUROC {before}");
    assert!(after >= 0.95, "trained AUROC {after}");
}

#[wasm_bindgen_test]
async fn auto_backend_skips_a_software_adapter() {
    let (_, info) = select_device(BackendRequest::Auto).await;
    if info.software_adapter || info.backend == "cpu" {
        assert_eq!(info.backend, "cpu", "a software adapter must not be picked automatically: {info:?}");
        assert!(!info.note.is_empty(), "the fallback is explained");
    }
}

#[wasm_bindgen_test]
async fn flex_in_wasm_sampler_lowers_energy() {
    let (before, after) = common::langevin_energy_drop(&Device::flex()).await;
    assert!(after < before, "before {before}, after {after}");
}

#[wasm_bindgen_test]
async fn flex_in_wasm_cd_training_separates_data_from_noise() {
    let (before, after) = common::learning_run(&Device::flex(), common::BROWSER_ITERATIONS).await;
    assert!(before < 0.95, "untrained AUROC {before}");
    assert!(after >= 0.95, "trained AUROC {after}");
}

#[wasm_bindgen_test]
async fn flex_in_wasm_divergence_is_rolled_back() {
    let (rollbacks, healthy) = common::guard_recovers(&Device::flex()).await;
    assert!(rollbacks >= 1 && healthy, "rollbacks {rollbacks}, healthy end {healthy}");
}
