//! The training loop in the core (`RunLoop`), which `debm train` and the browser's
//! `Training.run` both drive: the order of its events, the checkpoint policy's cadence and
//! kept copies, the checkpoint on pause and at the end, no checkpoint of a rolled-back
//! iteration or of a run that failed.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use std::sync::Arc;

use dermaebm::checkpoint::Contents;
use dermaebm::data::{Dataset, Limits};
use dermaebm::platform::block_on;
use dermaebm::training_run::{CheckpointPolicy, CheckpointReason, Origin, RunEvent, RunLoop, TrainingRun};
use dermaebm::{Device, EbmConfig, synthetic};

fn patterns(n: usize) -> Arc<Dataset> {
    let (values, _) = synthetic::labelled_pattern_values(n, 1, 12, 0.05, 7);
    let pixels: Vec<u8> = values.iter().map(|v| ((v + 1.0) * 127.5).round() as u8).collect();
    let images = common::npy("|u1", &[n, 12, 12], &pixels, false, 1);
    Arc::new(Dataset::load(&[("train_images.npy", images.as_slice())], Limits::default()).expect("the patterns load"))
}

fn run(config: EbmConfig, policy: CheckpointPolicy) -> TrainingRun {
    TrainingRun::start(config, Origin::Fresh, patterns(20), &Device::flex()).expect("the data fits").with_checkpoints(policy)
}

fn config() -> EbmConfig {
    EbmConfig { batch_size: 8, buffer_size: 64, langevin_steps: 3, ..common::tiny_config(3) }
}

fn policy(every: u64, keep_every: u64, kept_at: u64) -> CheckpointPolicy {
    let contents = Contents { optimizer: false, buffer: false, newest_chains: None };
    CheckpointPolicy { keep_every, kept_at, ..CheckpointPolicy::every(every, contents, "test") }
}

/// An event as a short word, to compare sequences.
fn word(event: &RunEvent) -> String {
    match event {
        RunEvent::Training { running, iteration } => format!("{}@{iteration}", if *running { "start" } else { "stop" }),
        RunEvent::Stats { stats } => format!("{}{}", if stats.rolled_back { "rolled-back" } else { "stats" }, stats.iteration),
        RunEvent::Samples(s) => format!("samples{}", s.count.min(1)),
        RunEvent::Checkpoint { reason, iteration, keep, bytes } => {
            assert!(!bytes.is_empty(), "a checkpoint has bytes");
            format!("{reason:?}{iteration}{}", if *keep { "+keep" } else { "" })
        }
    }
}

/// Drives `lp` over `run` to its end, asking it to stop once `stop_after` iterations are done.
fn drive(run: &mut TrainingRun, lp: &mut RunLoop, stop_after: Option<u64>) -> Vec<String> {
    let mut words = Vec::new();
    while let Some(event) = block_on(lp.next(run, stop_after.is_some_and(|n| run.iteration() >= n))).expect("an event") {
        words.push(word(&event));
    }
    assert!(lp.is_done());
    words
}

#[test]
fn a_loop_reports_steps_samples_and_due_checkpoints_then_the_final_one_once() {
    let _seeded = common::device_rng_lock();
    let mut run = run(config(), policy(2, 4, 0));
    let words = drive(&mut run, &mut RunLoop::new(Some(6), 3), None);
    let expected = [
        "start@0",
        "stats1",
        "samples1",
        "stats2",
        "Periodic2",
        "stats3",
        "samples1",
        "stats4",
        "Periodic4+keep",
        "stats5",
        "stats6",
        "samples1",
        // The last iteration's periodic checkpoint is the final state: no second one of it.
        "Periodic6",
        "stop@6",
    ];
    assert_eq!(words, expected);
    // A last iteration that is not a periodic one ends with its own final checkpoint.
    assert_eq!(drive(&mut run, &mut RunLoop::new(Some(7), 0), None), ["start@6", "stats7", "Finished7", "stop@7"]);
}

#[test]
fn a_pause_writes_a_checkpoint_before_the_stop_and_keeping_counts_from_the_newest_kept_copy() {
    let _seeded = common::device_rng_lock();
    // A copy was kept at 2 (a run continued from there): the next is due 2 later.
    let mut run = run(config(), policy(1, 2, 2));
    let words = drive(&mut run, &mut RunLoop::new(None, 0), Some(5));
    assert_eq!(
        words,
        [
            "start@0",
            "stats1",
            "Periodic1",
            "stats2",
            "Periodic2",
            "stats3",
            "Periodic3",
            "stats4",
            "Periodic4+keep",
            "stats5",
            "Periodic5",
            "Pause5",
            "stop@5"
        ]
    );
    // A policy without a stop checkpoint ends with the stop alone.
    let mut quiet = policy(0, 0, 0);
    quiet.on_stop = false;
    run.set_checkpoints(Some(quiet));
    assert_eq!(drive(&mut run, &mut RunLoop::new(Some(6), 0), None), ["start@5", "stats6", "stop@6"]);
}

#[test]
fn rolled_back_iterations_write_no_checkpoint_and_a_failed_run_none_at_the_stop() {
    let _seeded = common::device_rng_lock();
    let config = EbmConfig { guard_energy_bound: 1e-12, guard_max_rollbacks: 3, ..config() };
    let mut run = run(config, policy(1, 1, 0));
    let mut lp = RunLoop::new(None, 0);
    let mut words = Vec::new();
    let error = loop {
        match block_on(lp.next(&mut run, false)) {
            Ok(Some(event)) => words.push(word(&event)),
            Ok(None) => panic!("a run that diverges every iteration stopped without an error: {words:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(words, ["start@0", "rolled-back0", "rolled-back0"], "{error}");
    assert!(error.to_string().contains("diverged"), "{error}");
}

#[test]
fn events_serialise_as_the_workers_messages() {
    let stats = serde_json::to_value(RunEvent::Training { running: false, iteration: 3 }).unwrap();
    assert_eq!(stats, serde_json::json!({ "event": "training", "running": false, "iteration": 3 }));
    let checkpoint = RunEvent::Checkpoint { reason: CheckpointReason::Pause, iteration: 3, bytes: vec![1, 2], keep: true };
    assert_eq!(
        serde_json::to_value(checkpoint).unwrap(),
        serde_json::json!({ "event": "checkpoint", "reason": "pause", "iteration": 3, "bytes": [1, 2], "keep": true })
    );
}
