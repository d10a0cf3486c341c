//! The TypeScript declarations of the package (js/client.d.ts) against the Rust structs that
//! cross the JS boundary as JSON — the training loop's events included — and the worker's closed
//! list of operations (js/worker.js) against the declared `Operation`: a field or an operation
//! added, renamed or removed on one side fails here.
//! (The engine's wasm-only answers — model info, loaded weights, samples — are checked the
//! same way in the browser, tests/web.rs.)
#![cfg(not(target_arch = "wasm32"))]

use crate::common::{json_keys, ts_interface_fields};
use std::collections::BTreeSet;

use dermaebm::run_options::RunOptions;
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
fn the_training_loops_options_match_their_declaration_and_refuse_unknown_names() {
    assert_eq!(ts_interface_fields(CLIENT_DTS, "TrainLoopOptions"), json_keys(&serde_json::to_value(RunOptions::default()).unwrap()));
    // Every declared name is one the loop reads (camelCase), with its value taken.
    let options: RunOptions = serde_json::from_str(
        r#"{"iterations": 4, "checkpointEvery": 2, "keepEvery": 6, "keptAt": 3, "checkpointOnStop": false, "sampleEvery": 0}"#,
    )
    .unwrap();
    let expected =
        RunOptions { iterations: Some(4), checkpoint_every: 2, keep_every: 6, kept_at: 3, checkpoint_on_stop: false, sample_every: 0 };
    assert_eq!(options, expected);
    // A misspelt option is refused by name, not silently replaced by its default.
    let err = serde_json::from_str::<RunOptions>(r#"{"checkpointEvry": 5}"#).unwrap_err().to_string();
    assert!(err.contains("unknown field `checkpointEvry`"), "{err}");
    let err = serde_json::from_str::<RunOptions>(r#"{"checkpoint_every": 5}"#).unwrap_err().to_string();
    assert!(err.contains("unknown field `checkpoint_every`"), "the Rust spelling is not the JavaScript one: {err}");
    assert_eq!(RunOptions { iterations: Some(0), ..RunOptions::default() }.check(), Err("iterations must be at least 1".into()));
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
    // The worker dispatches from its table only: no call by an arbitrary method name. Every
    // lookup by a computed name is one of these three lines, and the call checks the name first.
    assert_eq!(
        computed_lookups(WORKER_JS),
        [
            "for (const name of ENGINE_METHODS) ops[name] = (...args) => engine[name](...args);",
            "for (const name of ENGINE_STATICS) ops[name] = (...args) => Engine[name](...args);",
            "const result = await ops[op](...args);",
        ]
    );
    let guard = WORKER_JS.find("if (!Object.hasOwn(ops, op)) throw").expect("the handler checks the operation's name");
    assert!(guard < WORKER_JS.find("await ops[op](").expect("the call"), "before calling it");
}

/// The code lines of `js` that index an object the worker dispatches through (`engine`,
/// `Engine`, `ops`, `training`, the pool, the global scope) by a computed name.
fn computed_lookups(js: &str) -> Vec<&str> {
    const OBJECTS: [&str; 7] = ["engine[", "Engine[", "ops[", "training[", "pool[", "self[", "globalThis["];
    js.lines().map(str::trim).filter(|l| !l.starts_with("//") && OBJECTS.iter().any(|o| l.contains(o))).collect()
}

#[test]
fn the_parser_reads_nested_types_and_comments() {
    let dts = "export interface A {\n  /** doc: not a field */\n  x: number; y?: string;\n  z: { inner: number }[];\n}\n";
    let fields: Vec<String> = ts_interface_fields(dts, "A").into_iter().collect();
    assert_eq!(fields, ["x", "y", "z"]);
}
