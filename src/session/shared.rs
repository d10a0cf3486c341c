//! A training run as the session holds it: shared with whoever steps it (the browser's
//! `Training` handle, which keeps it across the awaits of an iteration while other calls come in)
//! and read by the session to sample from its model and to continue its chains ([`Chains`]).
//!
//! The lock is only ever tried, never waited for: a call that finds the run held by a step is
//! refused ("busy") rather than queued, as every front end expects. What the session reports
//! without the lock (the iteration behind the model, the chains it holds) is noted after each
//! step, so a description of the model never has to wait for, or fail on, a running step.

use std::cell::Cell;
use std::ops::Deref;
use std::rc::Rc;

use async_lock::Mutex;

use super::{Provenance, SessionError};
use crate::persistent::ChainSnapshot;
use crate::training_run::{CheckpointPolicy, RunEvent, RunLoop, Step, TrainingRun};

pub struct SharedRun {
    run: Mutex<TrainingRun>,
    provenance: Provenance,
    seen: Cell<Seen>,
}

/// What is known of the run without its lock, as of its last step (or its start).
#[derive(Clone, Copy)]
struct Seen {
    iteration: u64,
    chains: usize,
}

impl Seen {
    fn of(run: &TrainingRun) -> Self {
        Self { iteration: run.iteration(), chains: run.trainer().buffer().len() }
    }
}

impl SharedRun {
    pub(super) fn new(run: TrainingRun, provenance: Provenance) -> Self {
        Self { seen: Cell::new(Seen::of(&run)), run: Mutex::new(run), provenance }
    }

    /// The run, unless a step holds it.
    pub fn read(&self) -> Result<impl Deref<Target = TrainingRun> + '_, SessionError> {
        self.run.try_lock().ok_or(SessionError::Busy)
    }

    /// One iteration of the run ([`TrainingRun::next`]).
    pub async fn next(&self) -> Result<Step, SessionError> {
        let mut run = self.run.try_lock().ok_or(SessionError::Busy)?;
        let step = run.next().await;
        // A failed step may still have moved the run (a roll-back), so note it either way.
        self.seen.set(Seen::of(&run));
        Ok(step?)
    }

    /// The next event of `lp` over this run ([`RunLoop::next`]), the run held only meanwhile.
    pub async fn advance(&self, lp: &mut RunLoop, stop: bool) -> Result<Option<RunEvent>, SessionError> {
        let mut run = self.run.try_lock().ok_or(SessionError::Busy)?;
        let event = lp.next(&mut run, stop).await;
        self.seen.set(Seen::of(&run));
        Ok(event?)
    }

    /// Replaces the run's checkpoint policy ([`TrainingRun::set_checkpoints`]).
    pub fn set_checkpoints(&self, policy: Option<CheckpointPolicy>) -> Result<(), SessionError> {
        self.run.try_lock().ok_or(SessionError::Busy)?.set_checkpoints(policy);
        Ok(())
    }

    /// Iterations behind the run's model.
    pub fn iteration(&self) -> u64 {
        self.seen.get().iteration
    }

    /// Chains in the run's replay buffer (the persistent chains sampling can continue).
    pub fn chains(&self) -> usize {
        self.seen.get().chains
    }

    /// Where the run's weights come from.
    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    pub(super) fn into_parts(self) -> (TrainingRun, Provenance) {
        (self.run.into_inner(), self.provenance)
    }
}

/// The persistent chains of the model in use, to read without the session borrowed (reading a
/// run's buffer back waits for the device).
pub enum Chains {
    File(ChainSnapshot),
    Run(Rc<SharedRun>),
}

impl Chains {
    pub async fn read(self) -> Result<ChainSnapshot, SessionError> {
        match self {
            Chains::File(chains) => Ok(chains),
            Chains::Run(run) => {
                let run = run.read()?;
                ChainSnapshot::of_buffer(run.trainer().buffer()).await?.ok_or(SessionError::NoRunChains)
            }
        }
    }
}
