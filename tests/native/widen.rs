//! Widening a trained net (Net2WiderNet): the wider copy computes the same logits, its copied
//! units are told apart by the symmetry-breaking noise, and a run whose configuration is wider
//! than its model widens it and starts with the persistent chains in its replay buffer.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use std::sync::Arc;

use burn::prelude::*;
use dermaebm::data::{Dataset, Limits};
use dermaebm::persistent::{ChainSnapshot, quantise};
use dermaebm::platform::block_on;
use dermaebm::training_run::{Origin, RunError, TrainingRun};
use dermaebm::{EbmConfig, EnergyNet, NetShape, synthetic};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().expect("floats")
}

/// A net of `config` after a few CD updates, so its weights are not the initial ones.
fn trained(config: &EbmConfig) -> EnergyNet {
    let device = Device::flex();
    let mut trainer = dermaebm::Trainer::new(config.clone(), &device).expect("valid config");
    for seed in 0..3 {
        let (real, labels) = common::labelled_patterns(config, seed, &trainer.device());
        let labels = labels.clone();
        block_on(trainer.step(real, config.is_conditional().then_some(labels.as_slice()))).expect("a step");
    }
    trainer.model().valid()
}

fn logits(net: &EnergyNet, config: &EbmConfig) -> Vec<f32> {
    let (x, _) = common::labelled_patterns(config, 9, &Device::flex());
    values(net.logits(x))
}

fn largest_gap(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn a_widened_net_computes_the_same_logits() {
    let _seeded = common::device_rng_lock();
    for config in [common::tiny_config(5), common::conditional_config(5)] {
        let net = trained(&config);
        let before = logits(&net, &config);
        let exact = net.widened_with_noise(2 * config.width, 0.0, 1).expect("wider");
        assert_eq!(exact.width(), 2 * config.width);
        let after = logits(&exact, &config);
        let scale = before.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-3);
        assert!(largest_gap(&before, &after) < 1e-4 * scale.max(1.0), "without noise: {before:?} vs {after:?}");

        let noisy = net.widened(config.width + 6, 1).expect("wider");
        let gap = largest_gap(&before, &logits(&noisy, &config));
        assert!(gap > 0.0, "the symmetry-breaking noise changes something");
        assert!(gap < 0.05 * scale.max(1.0), "but barely: {gap} against logits up to {scale}");
    }
}

#[test]
fn the_copies_differ_and_the_net_round_trips_as_weights() {
    let _seeded = common::device_rng_lock();
    let config = common::tiny_config(6);
    let net = trained(&config);
    let wide = net.widened(2 * config.width, 2).expect("wider");
    // conv1's first width/2 output channels are the originals; every later one copies one of
    // them, with noise: no new channel equals any original exactly.
    let frozen = dermaebm::sampler::cpu::FrozenNet::of(wide.conv().expect("a CNN"), config.image_size);
    let conv1 = &frozen.convs[0];
    let (cout, per_out) = (conv1.cout, conv1.weight.len() / conv1.cout);
    let column = |weights: &[f32], o: usize| -> Vec<f32> { (0..per_out).map(|i| weights[i * cout + o]).collect() };
    let old = config.width / 2;
    for copy in old..cout {
        for original in 0..old {
            assert_ne!(column(&conv1.weight, copy), column(&conv1.weight, original), "channel {copy} is told apart from {original}");
        }
    }
    // The widened net is an ordinary net of the wider shape: its weights file loads as one.
    let shape = NetShape { width: 2 * config.width, ..NetShape::from(&config) };
    let bytes = block_on(dermaebm::weights::model_bytes(&wide, shape)).expect("it serialises");
    let loaded = dermaebm::weights::load_model(shape, &bytes, &Device::flex()).expect("it loads as a net of the wider shape");
    let x = dermaebm::synthetic::patterns(6, config.channels, config.image_size, 0.05, 8, &Device::flex());
    let e = |n: &EnergyNet| block_on(dermaebm::inference::energies(n, x.clone(), 6)).unwrap();
    assert_eq!(e(&loaded), e(&wide), "the loaded net computes the widened net's energies");
}

#[test]
fn narrower_or_odd_widths_are_refused() {
    let _seeded = common::device_rng_lock();
    let config = common::tiny_config(7);
    let net = EnergyNet::new(NetShape::from(&config), &Device::flex());
    for bad in [config.width - 2, config.width + 1] {
        let error = net.widened(bad, 0).expect_err("refused");
        assert_eq!((error.from, error.to), (config.width, bad));
    }
    assert_eq!(net.widened(config.width, 0).expect("the same width is allowed").width(), config.width);
}

#[test]
fn a_run_from_a_widened_net_starts_with_the_persistent_chains() {
    let _seeded = common::device_rng_lock();
    let config = EbmConfig { batch_size: 8, buffer_size: 64, langevin_steps: 3, ..common::tiny_config(8) };
    let wide_config = EbmConfig { width: 2 * config.width, ..config.clone() };
    let narrow = trained(&config);
    let n = 20;
    let (pattern_values, _) = synthetic::labelled_pattern_values(n, 1, 12, 0.05, 4);
    let chains = ChainSnapshot {
        shape: config.image_shape(),
        bytes: pattern_values.iter().map(|&v| quantise(v)).collect(),
        labels: vec![0; n],
        ages: (0..n as u32).collect(),
    };
    let pixels: Vec<u8> = pattern_values.iter().map(|v| ((v + 1.0) * 127.5).round() as u8).collect();
    let images = common::npy("|u1", &[n, 12, 12], &pixels, false, 1);
    let data = Arc::new(Dataset::load(&[("train_images.npy", images.as_slice())], Limits::default()).expect("loads"));
    let narrower = EbmConfig { width: config.width - 2, ..config.clone() };
    let origin = Origin::Model { model: Box::new(narrow.clone()), iteration: 0, chains: None };
    let refused = TrainingRun::start(narrower, origin, data.clone(), &Device::flex()).err().expect("a narrower config is refused");
    assert!(matches!(refused, RunError::Widen(_)), "{refused}");

    let origin = Origin::Model { model: Box::new(narrow), iteration: 0, chains: Some(chains) };
    let mut run = TrainingRun::start(wide_config.clone(), origin, data, &Device::flex()).expect("the widened net trains");
    assert_eq!(run.trainer().model().width(), wide_config.width, "the run widened the model to its config");
    assert_eq!(run.trainer().buffer().len(), n, "the chains seeded the replay buffer");
    let step = block_on(run.next()).expect("a step");
    assert!(step.stats.loss.is_finite(), "{:?}", step.stats);
}
