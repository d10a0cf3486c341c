//! The options of the browser's training loop (`Training.run(options, onEvent)`, and the
//! worker's `trainLoop` / `train`): camelCase in JavaScript, each with the site's default.
//!
//! An unknown name is refused, naming it: a misspelt option (`checkpointEvry`) would otherwise
//! silently become its default — a checkpoint every 25 iterations instead of the one asked for.
//! They live in the core, not the wasm shell, so that the native tests compare them with
//! client.d.ts's `TrainLoopOptions` (tests/native/js_types.rs).

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct RunOptions {
    /// Iterations to run, then stop (absent: until `pause`).
    pub iterations: Option<u64>,
    /// A checkpoint every this many iterations (0: none on the way).
    pub checkpoint_every: u64,
    /// Mark a checkpoint `keep` this many iterations after the newest kept copy (0: never).
    pub keep_every: u64,
    /// The iteration of the newest copy kept so far (0: none).
    pub kept_at: u64,
    /// A checkpoint when the loop pauses or finishes.
    pub checkpoint_on_stop: bool,
    /// Live samples every this many iterations, and after the first (0: none).
    pub sample_every: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { iterations: None, checkpoint_every: 25, keep_every: 0, kept_at: 0, checkpoint_on_stop: true, sample_every: 5 }
    }
}

impl RunOptions {
    /// Refuses what no loop can run (the names and types are serde's to check).
    pub fn check(&self) -> Result<(), String> {
        if self.iterations == Some(0) {
            return Err("iterations must be at least 1".into());
        }
        Ok(())
    }
}
