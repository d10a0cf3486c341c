//! The TypeScript declarations of the package (js/client.d.ts) against the Rust structs that
//! cross the JS boundary as JSON: a field added, renamed or removed on one side fails here.
//! (The engine's wasm-only answers — model info, loaded weights, samples — are checked the
//! same way in the browser, tests/web.rs.)
#![cfg(not(target_arch = "wasm32"))]

use crate::common::{json_keys, ts_interface_fields};
use dermaebm::{BackendInfo, EbmConfig, IterStats};

const CLIENT_DTS: &str = include_str!("../../js/client.d.ts");

#[test]
fn config_stats_and_backend_declarations_match_the_rust_structs() {
    let config = serde_json::to_value(EbmConfig::default()).unwrap();
    assert_eq!(ts_interface_fields(CLIENT_DTS, "EbmConfig"), json_keys(&config));
    assert_eq!(ts_interface_fields(CLIENT_DTS, "RecoveryConfig"), json_keys(&config["recovery"]));

    let stats = IterStats {
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
    };
    assert_eq!(ts_interface_fields(CLIENT_DTS, "IterStats"), json_keys(&serde_json::to_value(stats).unwrap()));

    let info = BackendInfo { backend: "cpu".into(), adapter: String::new(), software_adapter: false, note: String::new() };
    assert_eq!(ts_interface_fields(CLIENT_DTS, "BackendInfo"), json_keys(&serde_json::to_value(info).unwrap()));
}

#[test]
fn the_parser_reads_nested_types_and_comments() {
    let dts = "export interface A {\n  /** doc: not a field */\n  x: number; y?: string;\n  z: { inner: number }[];\n}\n";
    let fields: Vec<String> = ts_interface_fields(dts, "A").into_iter().collect();
    assert_eq!(fields, ["x", "y", "z"]);
}
