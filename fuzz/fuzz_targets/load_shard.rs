//! Fuzzes the shard loader (npz/npy parsing) on arbitrary bytes: it must return Ok or a typed
//! error, never panic, and never allocate beyond its cap.
//!
//! The loader's files are compiled in directly so the fuzz build does not instrument all of
//! burn; they depend only on zip, npyz, serde and thiserror.
#![no_main]
#![allow(dead_code)]

#[path = "../../src/data/error.rs"]
mod error;
#[path = "../../src/data/npy.rs"]
mod npy;
#[path = "../../src/data/npz.rs"]
mod npz;
#[path = "../../src/data/shard.rs"]
mod shard;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = npz::Limits { max_entry_bytes: 16 << 20 };
    // Both roles: as a .npz/.npy with a neutral name, and as a bare labels file.
    if let Ok(shard) = shard::load_shard("fuzz.npz", data, limits) {
        for images in shard.images.values() {
            assert_eq!(images.pixels.len(), images.count * images.image_bytes());
            if let Some(labels) = &images.labels {
                assert_eq!(labels.len(), images.count);
            }
        }
    }
    let _ = shard::load_shard("val_labels.npy", data, limits);
});
