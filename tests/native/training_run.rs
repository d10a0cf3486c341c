//! The training-run layer every front end drives (`debm train`, the browser's `Training`):
//! batches drawn from the data's training split, checkpoints when due, resume from one, and
//! data that does not fit the configuration refused before anything trains.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use std::sync::Arc;

use dermaebm::checkpoint::Contents;
use dermaebm::data::{Dataset, Limits};
use dermaebm::platform::block_on;
use dermaebm::training_run::{CheckpointPolicy, Origin, RunError, TrainingRun};
use dermaebm::weights::WeightsFile;
use dermaebm::{Device, EbmConfig, synthetic};

/// `n` 12×12 grayscale pattern images as a loaded shard, labelled by pattern when asked.
fn patterns(n: usize, labelled: bool) -> Arc<Dataset> {
    let (values, labels) = synthetic::labelled_pattern_values(n, 1, 12, 0.05, 7);
    let pixels: Vec<u8> = values.iter().map(|v| ((v + 1.0) * 127.5).round() as u8).collect();
    let images = common::npy("|u1", &[n, 12, 12], &pixels, false, 1);
    let labels = common::npy("|u1", &[n], &labels.iter().map(|&l| l as u8).collect::<Vec<_>>(), false, 1);
    let mut files = vec![("train_images.npy", images.as_slice())];
    if labelled {
        files.push(("train_labels.npy", labels.as_slice()));
    }
    Arc::new(Dataset::load(&files, Limits::default()).expect("the patterns load"))
}

fn config() -> EbmConfig {
    EbmConfig { batch_size: 8, buffer_size: 64, langevin_steps: 3, ..common::tiny_config(3) }
}

#[test]
fn a_run_steps_checkpoints_when_due_and_resumes() {
    let _seeded = common::device_rng_lock();
    let device = Device::flex();
    let data = patterns(20, false);
    let contents = Contents { optimizer: true, buffer: true, newest_chains: None };
    let mut run = TrainingRun::start(config(), Origin::Fresh, data.clone(), &device)
        .expect("the data fits")
        .with_checkpoints(CheckpointPolicy::every(2, contents, "test"));
    let mut last_checkpoint = None;
    for i in 1..=4u64 {
        let step = block_on(run.next()).expect("a step");
        assert_eq!(step.stats.iteration, i);
        assert_eq!(step.checkpoint.is_some(), i % 2 == 0, "a checkpoint is due every 2 iterations (iteration {i})");
        last_checkpoint = step.checkpoint.map(|c| c.bytes).or(last_checkpoint);
    }
    // 20 rows in batches of 8: an epoch is 3 iterations, so iteration 4 is in epoch 1.
    assert_eq!(run.trainer().iters_per_epoch(), 3);
    assert_eq!(run.trainer().buffer().len(), 32, "every negative went into the replay buffer");

    let file = WeightsFile::decode(&last_checkpoint.expect("a checkpoint")).expect("it decodes");
    let mut resumed = TrainingRun::start(config(), Origin::Checkpoint(&file), data, &device).expect("it resumes");
    assert_eq!(resumed.iteration(), 4);
    assert_eq!(resumed.trainer().buffer().len(), 32, "the replay buffer came back");
    let step = block_on(resumed.next()).expect("a step after resuming");
    assert_eq!((step.stats.iteration, step.stats.epoch), (5, 1));
    assert!(step.checkpoint.is_none(), "no policy, no checkpoint");
}

#[test]
fn data_that_does_not_fit_the_configuration_is_refused_before_training() {
    let device = Device::flex();
    let refused = |config: EbmConfig, data: Arc<Dataset>| match TrainingRun::start(config, Origin::Fresh, data, &device) {
        Err(RunError::Data(message)) => message,
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a run started on data that does not fit"),
    };
    let rgb = EbmConfig { channels: 3, ..config() };
    assert!(refused(rgb, patterns(8, false)).contains("set channels=1 and image_size=12"));
    let conditional = EbmConfig { classes: 2, ..config() };
    assert!(refused(conditional.clone(), patterns(8, false)).contains("needs labels, and the train split has none"));
    let message = refused(conditional, patterns(16, true));
    assert!(message.contains("set classes to at least"), "{message}");
}

#[test]
fn chains_in_place_keep_one_chain_per_slot_through_training() {
    let _seeded = common::device_rng_lock();
    let device = Device::flex();
    let data = patterns(20, false);
    // No restarts, so every in-place iteration ages the buffer by exactly batch × steps.
    let config = EbmConfig { buffer_size: 16, fresh_fraction: 0.0, chains_in_place: true, ..config() };
    let per_iteration = (config.batch_size * config.langevin_steps) as u64;
    let mut run = TrainingRun::start(config, Origin::Fresh, data, &device).expect("the data fits");
    let total_age = |run: &TrainingRun| run.trainer().buffer().ages().iter().map(|&a| a as u64).sum::<u64>();
    // Two iterations fill the 16 slots (the ring fills an empty buffer either way).
    for _ in 0..2 {
        block_on(run.next()).expect("a step");
    }
    assert_eq!(run.trainer().buffer().len(), 16);
    for _ in 0..5 {
        let before = total_age(&run);
        let step = block_on(run.next()).expect("a step");
        assert!(step.stats.loss.is_finite());
        assert_eq!(run.trainer().buffer().len(), 16, "in place, the buffer neither grows nor turns over");
        // Appending over the oldest entries would drop their ages; in place every drawn chain
        // keeps its own and gains this iteration's steps.
        assert_eq!(total_age(&run), before + per_iteration);
    }
}

#[test]
fn augment_real_trains_on_flipped_or_turned_positives() {
    let _seeded = common::device_rng_lock();
    let device = Device::flex();
    let data = patterns(16, false);
    let energies = |augment_real: bool| -> Vec<f32> {
        let config = EbmConfig { augment_real, ..config() };
        let mut run = TrainingRun::start(config, Origin::Fresh, data.clone(), &device).expect("the data fits");
        (0..4).map(|_| block_on(run.next()).expect("a step").stats.energy_real).collect()
    };
    let plain = energies(false);
    // Parallel reductions make two identical runs agree only to rounding, so the augmentation
    // must move the energies far more than a rerun does (here 7e-4 against at most 3e-6; a
    // rerun differed by 0.14 while other tests drew from the device's generator, hence the lock).
    let largest_gap = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    let rerun = largest_gap(&plain, &energies(false));
    let augmented = energies(true);
    let moved = largest_gap(&plain, &augmented);
    assert!(
        moved > 1e-4 && moved > 10.0 * rerun,
        "positives were never transformed: {plain:?} vs {augmented:?} (a rerun differs by {rerun:e})"
    );
}
