//! `head_lr_factor`: the class logits learn at lr × factor while the rest of the net keeps lr.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use dermaebm::platform::block_on;
use dermaebm::{Device, EbmConfig, Trainer};

/// Weights of the last layer and of the first convolution after one seeded step (and before).
fn one_step(config: &EbmConfig) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let _rng = common::device_rng_lock();
    let mut trainer = Trainer::new(config.clone(), &Device::flex()).expect("valid config");
    let before = dermaebm::sampler::cpu::FrozenNet::of(trainer.model().conv().expect("a CNN"), config.image_size).fc2.weight;
    let (real, labels) = common::labelled_patterns(config, 5, &trainer.device());
    let stats = block_on(trainer.step(real, Some(&labels))).expect("training step");
    assert!(!stats.rolled_back, "{stats:?}");
    let after = dermaebm::sampler::cpu::FrozenNet::of(trainer.model().conv().expect("a CNN"), config.image_size);
    (before, after.fc2.weight, after.convs[0].weight.clone())
}

#[test]
fn the_head_moves_factor_times_as_far_and_the_body_as_before() {
    let reference = common::conditional_config(11);
    let fast = EbmConfig { head_lr_factor: 10.0, ..reference.clone() };
    let (start, head_ref, body_ref) = one_step(&reference);
    let (start_fast, head_fast, body_fast) = one_step(&fast);
    assert_eq!(start, start_fast, "both runs start from the same seeded weights");
    assert_eq!(body_ref, body_fast, "the body's update does not depend on the head's factor");
    let moved = |end: &[f32]| end.iter().zip(&start).map(|(e, s)| (e - s).abs()).sum::<f32>();
    let (step_ref, step_fast) = (moved(&head_ref), moved(&head_fast));
    assert!(step_ref > 0.0, "the head moves at all");
    let ratio = step_fast / step_ref;
    assert!((ratio - 10.0).abs() < 0.1, "the head's first Adam step scales with the factor: {ratio}");
}

#[test]
fn a_factor_outside_its_range_is_refused() {
    for bad in [0.0, -1.0, f64::NAN, 1e4] {
        let config = EbmConfig { head_lr_factor: bad, ..common::conditional_config(1) };
        let error = config.validate().expect_err("refused");
        assert_eq!(error.field, "head_lr_factor", "{bad}: {error}");
    }
}
