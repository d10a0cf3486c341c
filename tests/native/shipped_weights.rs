//! Every weights file shipped under weights/ — the models visitors and `<ebm-sampler>` load
//! first — is in the current format version and loads fully, so one shipped in an old format
//! (without checksums: a flipped bit is sampled from silently) fails CI. `debm upgrade FILE`
//! rewrites such a file, keeping every section.
#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;

use dermaebm::upgrade::check_loads;
use dermaebm::weights::{FORMAT_VERSION, WeightsFile};

/// The `.debm` files under weights/ (kept copies of a local `debm train` run included: they are
/// written in the current version too).
fn shipped() -> Vec<PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("weights");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "debm"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shipped_weights_file_is_the_current_version_loads_and_refuses_damage() {
    let files = shipped();
    assert!(files.iter().any(|p| p.ends_with("dermamnist.debm")), "the default model is shipped: {files:?}");
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy();
        let bytes = std::fs::read(path).unwrap();
        let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        assert_eq!(version, FORMAT_VERSION, "weights/{name} is format version {version}: rewrite it with `debm upgrade weights/{name}`");
        let file = WeightsFile::decode(&bytes).unwrap_or_else(|e| panic!("weights/{name}: {e}"));
        check_loads(&file).unwrap_or_else(|e| panic!("weights/{name}: {e}"));
        // Issue 40's trial on the file itself: one bit flipped at k/13 of its length, k = 1…12.
        let mut refused = Vec::new();
        for k in 1..=12 {
            let mut damaged = bytes.clone();
            damaged[bytes.len() * k / 13] ^= 1 << (k % 8);
            let loaded = WeightsFile::decode(&damaged).and_then(|f| check_loads(&f));
            refused.extend(loaded.err());
        }
        eprintln!("weights/{name} ({} bytes): {} / 12 damaged copies refused: {refused:?}", bytes.len(), refused.len());
        assert_eq!(refused.len(), 12, "weights/{name}: {refused:?}");
        assert!(refused.iter().all(|e| e.to_string().contains("fails its checksum")), "weights/{name}: {refused:?}");
    }
}
