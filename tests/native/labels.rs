//! Class-conditional training refuses missing or out-of-range labels, and changes nothing when
//! it does.
// Native only: the browser runs these checks through tests/web.rs.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use dermaebm::Device;
use dermaebm::platform::block_on;
use dermaebm::trainer::TrainError;

#[test]
fn conditional_training_refuses_missing_or_bad_labels() {
    let device = Device::flex();
    let config = common::conditional_config(1);
    let mut trainer = dermaebm::Trainer::new(config.clone(), &device).unwrap();
    let (real, labels) = common::labelled_patterns(&config, 0, &trainer.device());
    let err = block_on(trainer.step(real.clone(), None)).unwrap_err();
    assert!(matches!(err, TrainError::Labels { got: 0, .. }), "{err}");
    let err = block_on(trainer.step(real.clone(), Some(&labels[1..]))).unwrap_err();
    assert!(err.to_string().contains("one label per real image"), "{err}");
    let mut bad = labels.clone();
    bad[0] = config.classes as i32;
    let err = block_on(trainer.step(real.clone(), Some(&bad))).unwrap_err();
    assert!(matches!(err, TrainError::LabelRange { .. }), "{err}");
    // Nothing was changed by the refused calls.
    assert_eq!(trainer.iteration(), 0);
    assert!(block_on(trainer.step(real, Some(&labels))).unwrap().is_finite());
}
