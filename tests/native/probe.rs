//! The linear probe (`debm probe`): a classifier fitted on the net's features leaves the energy
//! alone, learns what the features tell apart, travels in the weights file, is ignored once the
//! file's net is no longer the one it was fitted on, and refuses bad input with clear errors.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use std::collections::BTreeMap;

use burn::prelude::*;
use dermaebm::data::dataset::tensor_values_to_images;
use dermaebm::data::shard::ImageArray;
use dermaebm::data::{Dataset, Shard, Split};
use dermaebm::inference::{argmax_rows, class_probabilities, energies, features, fit_probe};
use dermaebm::model::probe::fingerprint;
use dermaebm::model::{ClassProbe, ProbeError};
use dermaebm::platform::block_on;
use dermaebm::synthetic;
use dermaebm::weights::{WeightsFile, model_bytes};
use dermaebm::{EbmConfig, EnergyNet, NetShape};

/// `n` labelled synthetic patterns as a dataset split of bytes (label = pattern index).
fn patterns(config: &EbmConfig, n: usize, seed: u64) -> ImageArray {
    let (c, s) = (config.channels, config.image_size);
    let (values, labels) = synthetic::labelled_pattern_values(n, c, s, 0.05, seed);
    let pixels = tensor_values_to_images(&values, c, s, s).concat();
    ImageArray { count: n, height: s, width: s, channels: c, pixels, labels: Some(labels.iter().map(|&l| l as u8).collect()) }
}

fn dataset(config: &EbmConfig) -> Dataset {
    let images = BTreeMap::from([(Split::Train, patterns(config, 256, 1)), (Split::Val, patterns(config, 128, 2))]);
    Dataset::from_shards(vec![Shard { name: "patterns".into(), images, orphan_labels: BTreeMap::new() }]).expect("a dataset")
}

fn accuracy(predicted: &[usize], labels: &[u8]) -> f64 {
    predicted.iter().zip(labels).filter(|(p, l)| **p == **l as usize).count() as f64 / labels.len() as f64
}

#[test]
fn a_probe_on_an_untrained_nets_features_tells_the_patterns_apart_and_leaves_the_energy_alone() {
    let _seeded = common::device_rng_lock();
    let config = common::conditional_config(5);
    let device = Device::flex();
    let net = EnergyNet::new(NetShape::from(&config), &device);
    let data = dataset(&config);
    let val = data.batch(Split::Val, &(0..128).collect::<Vec<_>>(), &device);
    let labels = data.split(Split::Val).and_then(|s| s.labels.clone()).expect("labels");
    let before = block_on(energies(&net, val.clone(), 64)).expect("energies");

    let probe = block_on(fit_probe(&net, &data, Split::Train, 1e-3, 7, &device)).expect("a probe");
    assert_eq!(
        (probe.classes, probe.features, probe.fitted_on, probe.net_fingerprint),
        (synthetic::PATTERNS, NetShape::from(&config).feature_width(), 256, 7)
    );
    let probed = block_on(class_probabilities(&net, Some(&probe), val.clone(), 64)).expect("probabilities");
    let head = block_on(class_probabilities(&net, None, val.clone(), 64)).expect("probabilities");
    for row in &probed {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-4, "a distribution: {row:?}");
    }
    // Four patterns, balanced: chance is 25 %; the untrained head is near it, the probe far above.
    let (probe_accuracy, head_accuracy) = (accuracy(&argmax_rows(&probed), &labels), accuracy(&argmax_rows(&head), &labels));
    assert!(probe_accuracy >= 0.9, "probe accuracy {probe_accuracy} (head: {head_accuracy})");
    assert!(probe_accuracy > head_accuracy + 0.3, "probe {probe_accuracy} against the untrained head {head_accuracy}");
    // The probe reads the same features the inference path gives.
    let f = block_on(features(&net, val.clone(), 64)).expect("features");
    assert_eq!(probe.probabilities(&f), probed);
    assert_eq!(block_on(energies(&net, val, 64)).expect("energies"), before, "the energy is untouched");
}

#[test]
fn a_probe_travels_in_the_weights_file_and_is_ignored_once_the_net_changes() {
    let _seeded = common::device_rng_lock();
    let config = common::conditional_config(6);
    let device = Device::flex();
    let shape = NetShape::from(&config);
    let net = EnergyNet::new(shape, &device);
    let bytes = block_on(model_bytes(&net, shape)).expect("bytes");
    let file = WeightsFile::decode(&WeightsFile::encode(&config, 3, "test", vec![("model".into(), bytes.clone())])).expect("a file");
    assert_eq!(file.probe().expect("no probe section"), None);

    let probe = block_on(fit_probe(&net, &dataset(&config), Split::Train, 1e-3, fingerprint(&bytes), &device)).expect("a probe");
    let with = WeightsFile::decode(&file.with_probe(&probe)).expect("the file with its probe");
    assert_eq!(with.probe().expect("a valid probe"), Some(probe.clone()));
    assert_eq!(with.section("model"), Some(bytes.as_slice()), "the net is kept as it was");
    // Storing a probe again replaces the first one.
    let again = WeightsFile::decode(&with.with_probe(&probe)).expect("a file");
    assert_eq!(again.sections.iter().filter(|(name, _)| name == "probe").count(), 1);

    // The same file with another net (training on, averaging) classifies with the head again.
    let other = EnergyNet::new(shape, &device);
    let replaced = WeightsFile::decode(&block_on(with.with_model(&other, "another net")).expect("a file")).expect("a file");
    assert!(replaced.section("probe").is_some());
    assert_eq!(replaced.probe().expect("a stale probe is not an error"), None);
}

#[test]
fn bad_probe_inputs_and_damaged_sections_are_refused_with_clear_errors() {
    let fit = |features: &[f32], labels: &[u8], classes: usize| ClassProbe::fit(features, 2, labels, classes, 1e-3, 0);
    assert!(matches!(fit(&[0.0; 5], &[0, 1, 0], 2), Err(ProbeError::Data(_))), "5 values for 3 rows of 2");
    assert!(matches!(fit(&[0.0; 4], &[0, 2], 2), Err(ProbeError::Data(m)) if m.contains("label 2")));
    assert!(matches!(fit(&[0.0; 4], &[0, 0], 1), Err(ProbeError::Data(m)) if m.contains("at least 2")));
    assert!(matches!(fit(&[0.0, f32::NAN, 1.0, 1.0], &[0, 1], 2), Err(ProbeError::Data(_))));
    assert!(matches!(fit(&[], &[], 2), Err(ProbeError::Data(_))));

    let probe = fit(&[0.0, 0.0, 1.0, 1.0, 0.1, 0.0, 0.9, 1.0], &[0, 1, 0, 1], 2).expect("a probe");
    assert_eq!(ClassProbe::from_bytes(&probe.to_bytes()).expect("round trip"), probe);
    let bytes = probe.to_bytes();
    assert!(matches!(ClassProbe::from_bytes(&bytes[..bytes.len() / 2]), Err(ProbeError::Damaged(_))));
    let short = ClassProbe { bias: vec![0.0], ..probe.clone() };
    assert!(matches!(ClassProbe::from_bytes(&short.to_bytes()), Err(ProbeError::Damaged(m)) if m.contains("do not fit")));
    let zero_scale = ClassProbe { scale: vec![0.0, 1.0], ..probe };
    assert!(matches!(ClassProbe::from_bytes(&zero_scale.to_bytes()), Err(ProbeError::Damaged(_))));
}
