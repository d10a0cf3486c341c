//! The same seed gives the same run. (Its own test binary: burn's CPU backend keeps one global
//! random generator, which tests running in parallel in one process would share.)
// Native only: the browser runs these checks through tests/web.rs.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use dermaebm::platform::block_on;
use dermaebm::{Device, IterStats, Trainer, synthetic};

fn first_two_iterations(seed: u64) -> Vec<IterStats> {
    let config = common::tiny_config(seed);
    let mut trainer = Trainer::new(config.clone(), &Device::flex()).unwrap();
    (0..2)
        .map(|i| {
            let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, i, &trainer.device());
            let mut s = block_on(trainer.step(real, None)).unwrap();
            s.seconds = 0.0;
            s
        })
        .collect()
}

#[test]
fn same_seed_same_statistics_and_different_seed_differs() {
    let a = first_two_iterations(21);
    let b = first_two_iterations(21);
    let c = first_two_iterations(22);
    assert_eq!(a, b);
    assert_ne!(a[0].loss, c[0].loss);
}
