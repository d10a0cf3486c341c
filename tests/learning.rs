//! CD training learns a simple image distribution: afterwards data has lower energy than noise.
// Native only: the browser runs these checks through tests/web.rs.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use dermaebm::Device;
use dermaebm::platform::block_on;

#[test]
fn cd_training_separates_data_from_noise() {
    let (before, after) = block_on(common::learning_run(&Device::flex(), common::BROWSER_ITERATIONS));
    println!("AUROC data-vs-noise: untrained {before:.3}, trained {after:.3}");
    assert!(before < 0.95, "an untrained net should not already separate data from noise (AUROC {before})");
    assert!(after >= 0.95, "after training, E(data) < E(noise) should hold for ≥ 95% of pairs (AUROC {after})");
}
