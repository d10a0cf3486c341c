//! Class-conditional energy (JEM): trained on labelled patterns, samples drawn for class k show
//! pattern k, and the classifier head tells the classes apart.
// Native only: the browser runs these checks through tests/web.rs. Alone in its test binary:
// burn's CPU backend has one global random generator, which a parallel test would share.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use dermaebm::Device;
use dermaebm::platform::block_on;

#[test]
fn samples_of_class_k_show_pattern_k() {
    let report = block_on(common::conditional_run(&Device::flex(), common::CONDITIONAL_ITERATIONS));
    println!("{report:?}");
    assert!(report.untrained_sample_accuracy < 0.6, "before training, samples should not already match their class: {report:?}");
    assert!(report.sample_accuracy >= 0.9, "samples of class k should be classified as k ≥ 90%: {report:?}");
    assert!(report.classifier_accuracy >= 0.9, "the classifier head should tell the patterns apart: {report:?}");
}
