//! Langevin dynamics: lowers the energy, records its chain, respects an inpainting mask.
// Native only: the browser runs these checks through tests/web.rs.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use dermaebm::buffer::ReplayBuffer;
use dermaebm::inference::read_values;
use dermaebm::platform::block_on;
use dermaebm::sampler::{ChainOptions, LangevinParams, langevin};
use dermaebm::{Device, EnergyNet};

#[test]
fn langevin_lowers_the_energy_of_a_fixed_net() {
    let (before, after) = block_on(common::langevin_energy_drop(&Device::flex()));
    assert!(after < before, "mean energy should drop along the chain: before {before}, after {after}");
}

#[test]
fn chain_is_recorded_every_k_steps_and_stays_in_range() {
    let device = Device::flex();
    let config = common::tiny_config(5);
    let net = EnergyNet::new((&config).into(), &device);
    let params = LangevinParams { steps: 10, ..LangevinParams::from(&config) };
    let (end, chain) = block_on(langevin(
        &net,
        ReplayBuffer::noise(4, config.image_shape(), &device),
        &params.into(),
        &ChainOptions { record_every: Some(4), ..Default::default() },
    ));
    let steps: Vec<usize> = chain.iter().map(|f| f.step).collect();
    assert_eq!(steps, vec![0, 4, 8, 10]);
    let values = block_on(read_values(end)).unwrap();
    assert!(values.iter().all(|v| (-1.0..=1.0).contains(v)), "samples must stay in [-1, 1]");
    let last = block_on(read_values(chain.last().unwrap().images.clone())).unwrap();
    assert_eq!(values, last, "the last recorded frame is the final state");
}

#[test]
fn masked_langevin_changes_only_free_pixels() {
    let (kept, moved) = block_on(common::masked_chain(&Device::flex()));
    assert!(kept, "pixels outside the mask must be bit-identical");
    assert!(moved, "pixels inside the mask must move");
}
