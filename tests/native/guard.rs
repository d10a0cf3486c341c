//! The divergence guard: injected faults are rolled back and training finishes with finite
//! statistics; divergence that keeps coming back stops with a clear error.
// Native only: the browser runs these checks through tests/web.rs.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use dermaebm::platform::block_on;
use dermaebm::trainer::{Fault, TrainError};
use dermaebm::{Device, EbmConfig, IterStats, Trainer, synthetic};

fn step(trainer: &mut Trainer, config: &EbmConfig, i: u64) -> Result<IterStats, TrainError> {
    let real = synthetic::patterns(config.batch_size, 1, config.image_size, 0.05, i, &trainer.device());
    block_on(trainer.step(real, None))
}

/// Trains to iteration 8 with `fault` injected after iteration 3; returns the rollbacks seen.
fn trial(seed: u64, fault: Fault) -> u64 {
    let config = EbmConfig { batch_size: 16, langevin_steps: 5, ..common::tiny_config(seed) };
    let mut trainer = Trainer::new(config.clone(), &Device::flex()).unwrap();
    let mut last = None;
    let mut i = 0;
    while trainer.iteration() < 8 {
        if trainer.iteration() == 3 && trainer.rollbacks() == 0 {
            trainer.inject_fault(fault);
        }
        last = Some(step(&mut trainer, &config, i).expect("one fault must not stop training"));
        i += 1;
        assert!(i < 30, "seed {seed}: training made no progress");
    }
    let last = last.unwrap();
    assert!(last.is_finite() && !last.rolled_back, "seed {seed}: the run ends healthy: {last:?}");
    assert!(trainer.config().lr < config.lr, "seed {seed}: the learning rate was lowered");
    trainer.rollbacks()
}

#[test]
fn nan_weights_are_rolled_back_in_every_seeded_trial() {
    let recovered = (0..20).filter(|&seed| trial(seed, Fault::NanWeights) >= 1).count();
    assert_eq!(recovered, 20);
}

#[test]
fn exploding_weights_are_rolled_back() {
    for seed in 0..3 {
        assert!(trial(seed, Fault::ScaleWeights(1e5)) >= 1, "seed {seed}");
    }
}

#[test]
fn repeated_divergence_stops_with_a_clear_error() {
    // A bound no iteration can meet: every iteration counts as diverged.
    let config = EbmConfig { guard_energy_bound: 1e-12, guard_max_rollbacks: 4, ..common::tiny_config(2) };
    let mut trainer = Trainer::new(config.clone(), &Device::flex()).unwrap();
    for i in 0..3 {
        let s = step(&mut trainer, &config, i).unwrap();
        assert!(s.rolled_back);
        assert_eq!(s.iteration, 0);
    }
    let err = step(&mut trainer, &config, 3).unwrap_err();
    assert!(matches!(err, TrainError::Diverged { rollbacks: 4, .. }), "{err}");
    assert!(err.to_string().contains("diverged 4 times in a row"), "{err}");
}

/// [`common::drive_drift`] natively.
fn drive_drift(guard_drift_bound: f64, growth: f32, limit: u64) -> (Option<TrainError>, f32) {
    block_on(common::drive_drift(&Device::flex(), guard_drift_bound, growth, limit))
}

#[test]
fn a_slow_drift_stops_training_before_the_energy_bound_would() {
    let _seeded = common::device_rng_lock();
    let (err, largest) = drive_drift(2.0, 1.03, 300);
    let err = err.expect("the drift guard stops a run whose energies keep growing");
    assert!(matches!(err, TrainError::Drifted { bound: 2.0, .. }), "{err}");
    assert!(err.to_string().contains("drifted") && err.to_string().contains("keep-every"), "{err}");
    assert!(largest < 1000.0, "stopped long before the divergence bound (largest |E| {largest})");
    // The same drive with the guard off goes on: the energy bound alone does not see it.
    let TrainError::Drifted { iteration, .. } = err else { unreachable!() };
    let (unguarded, _) = drive_drift(0.0, 1.03, iteration);
    assert!(unguarded.is_none(), "without the drift guard nothing stops it: {unguarded:?}");
}

#[test]
fn a_healthy_run_never_trips_the_drift_guard() {
    let _seeded = common::device_rng_lock();
    let (err, largest) = drive_drift(2.0, 1.0, 60);
    assert!(err.is_none(), "{err:?} (largest |E| {largest})");
}

#[test]
fn a_resumed_run_keeps_the_drift_guards_running_mean() {
    use dermaebm::checkpoint::{self, Contents};
    use dermaebm::weights::WeightsFile;
    let _seeded = common::device_rng_lock();
    let config = EbmConfig { batch_size: 16, langevin_steps: 5, guard_drift_bound: 0.0, ..common::tiny_config(5) };
    let mut trainer = Trainer::new(config.clone(), &Device::flex()).unwrap();
    let contents = Contents { optimizer: false, buffer: false, newest_chains: None };
    let save = |t: &Trainer| WeightsFile::decode(&block_on(checkpoint::save(t, contents, "")).unwrap()).unwrap();
    let fresh = checkpoint::restore(&save(&trainer), config.clone(), &Device::flex()).unwrap();
    assert_eq!(fresh.drift_level(), None, "no iteration yet, no level");
    for i in 0..20 {
        trainer.inject_fault(Fault::ScaleWeights(1.05));
        step(&mut trainer, &config, i).unwrap();
    }
    let level = trainer.drift_level().expect("a level after healthy iterations");
    let resumed = checkpoint::restore(&save(&trainer), config, &Device::flex()).unwrap();
    assert_eq!(resumed.drift_level(), Some(level), "the running mean survives the checkpoint");
}

#[test]
fn the_recovery_drift_guard_watches_the_loss_not_the_energies_offset() {
    let _seeded = common::device_rng_lock();
    // A constant added to f(·, t) changes no gradient: the energies of a healthy recovery run sit
    // far from 0 (drl3: ~45), so |E_real| + |E_fake| would trip any bound. Its loss stays small.
    let config = common::tiny_recovery_config(3);
    assert!(config.guard_drift_bound > 0.0, "the recovery preset has the drift guard on");
    let mut trainer = Trainer::new(config.clone(), &Device::flex()).unwrap();
    let (mut losses, mut energies) = (None::<f64>, None::<f64>);
    let ewma = |mean: Option<f64>, x: f64| Some(mean.map_or(x, |m| m + 0.01 * (x - m)));
    for i in 0..12 {
        let s = step(&mut trainer, &config, i).expect("a healthy run is not stopped");
        losses = ewma(losses, f64::from(s.cd.abs()));
        energies = ewma(energies, f64::from(s.energy_real.abs() + s.energy_fake.abs()));
    }
    let level = trainer.drift_level().expect("a level after healthy iterations");
    assert!((level - losses.unwrap()).abs() < 1e-9, "the level {level} is the running mean of |loss| {losses:?}");
    assert!((level - energies.unwrap()).abs() > 1e-6, "not that of the energies {energies:?}");
    // And it does stop a run whose loss leaves the healthy range.
    let strict = EbmConfig { guard_drift_bound: level / 2.0, ..config };
    let mut trainer = Trainer::new(strict.clone(), &Device::flex()).unwrap();
    let stopped = (0..12).find_map(|i| step(&mut trainer, &strict, i).err());
    assert!(matches!(stopped, Some(TrainError::Drifted { .. })), "{stopped:?}");
}
