//! The training loop every front end drives, as typed events (brush's `ProcessMessage` is the
//! model): the run starts, each iteration's statistics, the live samples when due, the
//! checkpoints the policy writes (periodic, and one on pause or at the end), and the stop.
//! `debm train` turns them into its CSV log and files, the browser's `Training.run` hands them
//! to the worker, which forwards them to the page unchanged — so the cadence is written once.
//!
//! Events serialise as the worker's messages: `{event: "training", running, iteration}`,
//! `{event: "stats", stats}`, `{event: "samples", rgba, count, side, columns, levels, labels}`,
//! `{event: "checkpoint", reason, iteration, bytes, keep}` (js/client.d.ts, `RunEvent`).

use std::collections::VecDeque;

use serde::Serialize;

use super::{Checkpoint, LiveSamples, RunError, TrainingRun};
use crate::IterStats;

/// Images the live view asks for (the buffer's newest, or as many walks as it shows).
const LIVE_COUNT: usize = 64;

/// Why a checkpoint was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckpointReason {
    /// Due by the policy's `every`.
    Periodic,
    /// The loop was asked to stop.
    Pause,
    /// The loop reached its last iteration.
    Finished,
}

/// One thing that happened in a loop, in the order it happened.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum RunEvent {
    /// The loop started (`running: true`) or stopped (`false`, after its stop checkpoint);
    /// `iteration`: the updates behind the run's model.
    Training { running: bool, iteration: u64 },
    /// One iteration's statistics; `stats.rolled_back` when the guard undid it.
    Stats { stats: IterStats },
    /// What the model draws now (the first iteration of a loop, then every `samples_every`).
    Samples(LiveSamples),
    /// A checkpoint file; `keep`: the policy keeps a copy of it (`keep_every`).
    Checkpoint {
        reason: CheckpointReason,
        iteration: u64,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
        keep: bool,
    },
}

impl RunEvent {
    fn checkpoint(reason: CheckpointReason, c: Checkpoint) -> Self {
        RunEvent::Checkpoint { reason, iteration: c.iteration, bytes: c.bytes, keep: c.keep }
    }

    /// The last event of a loop.
    pub fn is_stop(&self) -> bool {
        matches!(self, RunEvent::Training { running: false, .. })
    }
}

/// What is still to report of the iteration just taken, or of the stop.
enum Todo {
    Samples,
    Checkpoint(Checkpoint),
    Stop(CheckpointReason),
    Stopped,
}

/// One loop over a run: call [`RunLoop::next`] until it returns `None`. The run's checkpoint
/// policy ([`super::CheckpointPolicy`]) decides the checkpoints; the loop adds when to draw
/// live samples and when to stop.
pub struct RunLoop {
    /// Stop once the run's model has this many iterations behind it (`None`: when asked).
    until: Option<u64>,
    /// Live samples every this many iterations, and after the loop's first (0: none).
    samples_every: u64,
    steps: u64,
    started: bool,
    done: bool,
    todo: VecDeque<Todo>,
    /// The iteration of the last checkpoint this loop reported.
    checkpointed: Option<u64>,
}

impl RunLoop {
    pub fn new(until: Option<u64>, samples_every: u64) -> Self {
        Self { until, samples_every, steps: 0, started: false, done: false, todo: VecDeque::new(), checkpointed: None }
    }

    /// The next event of the loop: the start, then per iteration its statistics, samples and
    /// checkpoint when due; once `stop` is asked (checked before each iteration) or `until` is
    /// reached, the stop checkpoint (none at the end when the last iteration's periodic one was
    /// just reported) and the stop. `None` after the stop. An error ends the loop
    /// where it happened, with no stop checkpoint (a failed run is not one to resume from).
    pub async fn next(&mut self, run: &mut TrainingRun, stop: bool) -> Result<Option<RunEvent>, RunError> {
        if self.done {
            return Ok(None);
        }
        if !self.started {
            self.started = true;
            return Ok(Some(RunEvent::Training { running: true, iteration: run.iteration() }));
        }
        loop {
            match self.todo.pop_front() {
                Some(Todo::Samples) => return Ok(Some(RunEvent::Samples(run.live_samples(LIVE_COUNT).await?))),
                Some(Todo::Checkpoint(c)) => {
                    self.checkpointed = Some(c.iteration);
                    return Ok(Some(RunEvent::checkpoint(CheckpointReason::Periodic, c)));
                }
                Some(Todo::Stop(reason)) => {
                    self.todo.push_back(Todo::Stopped);
                    // The end's checkpoint would be the periodic one just reported again (`debm
                    // train` wrote its final state twice). A pause keeps its own event: the page
                    // reports it as where the run paused.
                    let written = reason == CheckpointReason::Finished && self.checkpointed == Some(run.iteration());
                    if !written && let Some(c) = run.stop_checkpoint().await? {
                        return Ok(Some(RunEvent::checkpoint(reason, c)));
                    }
                }
                Some(Todo::Stopped) => {
                    self.done = true;
                    return Ok(Some(RunEvent::Training { running: false, iteration: run.iteration() }));
                }
                None if stop => self.todo.push_back(Todo::Stop(CheckpointReason::Pause)),
                None if self.until.is_some_and(|n| run.iteration() >= n) => self.todo.push_back(Todo::Stop(CheckpointReason::Finished)),
                None => return self.step(run).await.map(Some),
            }
        }
    }

    async fn step(&mut self, run: &mut TrainingRun) -> Result<RunEvent, RunError> {
        let step = run.next().await?;
        self.steps += 1;
        let iteration = step.stats.iteration;
        if self.samples_every > 0 && (self.steps == 1 || iteration.is_multiple_of(self.samples_every)) {
            self.todo.push_back(Todo::Samples);
        }
        if let Some(c) = step.checkpoint {
            self.todo.push_back(Todo::Checkpoint(c));
        }
        Ok(RunEvent::Stats { stats: step.stats })
    }

    /// Whether the loop has stopped.
    pub fn is_done(&self) -> bool {
        self.done
    }
}
