//! The TypeScript declarations of the package (js/client.d.ts) against the Rust structs that
//! cross the JS boundary as JSON — the training loop's events included — and the worker's closed
//! list of operations (js/worker.js) against the declared `Operation`: a field or an operation
//! added, renamed or removed on one side fails here.
//! (The engine's wasm-only answers — model info, loaded weights, samples — are checked the
//! same way in the browser, tests/web.rs.)
#![cfg(not(target_arch = "wasm32"))]

use crate::common::{json_keys, ts_interface_fields};
use std::collections::BTreeSet;

use dermaebm::training_run::{CheckpointReason, LiveSamples, RunEvent};
use dermaebm::{BackendInfo, EbmConfig, IterStats};

const CLIENT_DTS: &str = include_str!("../../js/client.d.ts");
const WORKER_JS: &str = include_str!("../../js/worker.js");

fn stats() -> IterStats {
    IterStats {
        iteration: 1,
        epoch: 0,
        loss: 0.0,
        cd: 0.0,
        reg: 0.0,
        class_loss: 0.0,
        class_accuracy: 0.0,
        energy_real: 0.0,
        energy_fake: 0.0,
        lr: 1e-4,
        fresh: 0,
        seconds: 0.0,
        rolled_back: false,
    }
}

/// The double-quoted strings between `start` and the next `end` in `text`.
fn quoted_after(text: &str, start: &str, end: char) -> BTreeSet<String> {
    let at = text.find(start).unwrap_or_else(|| panic!("no `{start}`")) + start.len();
    let body = &text[at..at + text[at..].find(end).expect("the list ends")];
    body.split('"').skip(1).step_by(2).map(String::from).collect()
}

#[test]
fn config_stats_and_backend_declarations_match_the_rust_structs() {
    let config = serde_json::to_value(EbmConfig::default()).unwrap();
    assert_eq!(ts_interface_fields(CLIENT_DTS, "EbmConfig"), json_keys(&config));
    assert_eq!(ts_interface_fields(CLIENT_DTS, "RecoveryConfig"), json_keys(&config["recovery"]));
    assert_eq!(ts_interface_fields(CLIENT_DTS, "DenoisingConfig"), json_keys(&config["denoising"]));

    assert_eq!(ts_interface_fields(CLIENT_DTS, "IterStats"), json_keys(&serde_json::to_value(stats()).unwrap()));

    let info = BackendInfo { backend: "cpu".into(), adapter: String::new(), software_adapter: false, note: String::new() };
    assert_eq!(ts_interface_fields(CLIENT_DTS, "BackendInfo"), json_keys(&serde_json::to_value(info).unwrap()));
}

#[test]
fn the_training_loops_events_match_their_declarations() {
    let samples = LiveSamples { rgba: vec![], count: 0, side: 28, columns: 16, levels: vec![], labels: vec![] };
    let checkpoint = RunEvent::Checkpoint { reason: CheckpointReason::Periodic, iteration: 2, bytes: vec![], keep: false };
    for (name, event) in [
        ("TrainingEvent", RunEvent::Training { running: true, iteration: 0 }),
        ("StatsEvent", RunEvent::Stats { stats: stats() }),
        ("SamplesEvent", RunEvent::Samples(samples)),
        ("CheckpointEvent", checkpoint),
    ] {
        assert_eq!(ts_interface_fields(CLIENT_DTS, name), json_keys(&serde_json::to_value(event).unwrap()), "{name}");
    }
}

#[test]
fn the_worker_accepts_exactly_the_declared_operations() {
    let declared = quoted_after(CLIENT_DTS, "export type Operation =", ';');
    let mut accepted = BTreeSet::new();
    for list in ["const WORKER_OPS = [", "const ENGINE_METHODS = [", "const ENGINE_STATICS = ["] {
        let names = quoted_after(WORKER_JS, list, ']');
        assert!(!names.is_empty(), "{list}");
        assert!(accepted.is_disjoint(&names), "an operation is listed twice: {list}");
        accepted.extend(names);
    }
    assert_eq!(accepted, declared);
    // The worker dispatches from its table only: no call by an arbitrary method name.
    assert!(!WORKER_JS.contains("typeof engine[op]") && !WORKER_JS.contains("typeof Engine[op]"));
}

#[test]
fn the_parser_reads_nested_types_and_comments() {
    let dts = "export interface A {\n  /** doc: not a field */\n  x: number; y?: string;\n  z: { inner: number }[];\n}\n";
    let fields: Vec<String> = ts_interface_fields(dts, "A").into_iter().collect();
    assert_eq!(fields, ["x", "y", "z"]);
}
