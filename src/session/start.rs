//! How a training run starts: fresh, continuing the model in use, or from another file's net —
//! and what the run's checkpoints then say about where their weights come from. One rule for
//! the browser's `startTraining` and `debm train` (`--resume`, `--init-from`).

use std::sync::Arc;

use super::SessionError;
use crate::data::Dataset;
use crate::persistent::ChainSnapshot;
use crate::training_run::{Origin, TrainingRun};
use crate::weights::{WeightsFile, describe};
use crate::{Device, EbmConfig, NetShape};

/// Where a new run's weights come from.
pub enum Start<'a> {
    /// A new random net.
    Fresh,
    /// The model in use, where it stands: a loaded file resumes (its iteration, optimiser state
    /// where the file keeps it, moving average and chains); a run set aside when the settings or
    /// the data changed carries on exactly (the same in memory). The session's configuration
    /// must keep the architecture, which [`super::Session::set_config`] ensures by discarding a
    /// model it does not fit.
    Continue,
    /// A new run (iteration 0, a new optimiser) from `file`'s net, made class-conditional or
    /// wider when the configuration asks; the file's chains seed the replay buffer while they
    /// still fit (the same conditioning). `name` says where the file came from, in the notes.
    From { file: &'a WeightsFile, name: &'a str },
}

/// Where a run's weights come from, for the note its checkpoints carry.
#[derive(Clone, Debug, PartialEq)]
pub enum Provenance {
    /// A new random net: the run's own description is the whole story.
    New,
    /// A file's run, continued: that file's note already says where the weights come from.
    Continued { note: String },
    /// A new run from another file's net.
    StartedFrom { name: String, iteration: u64, widened: Option<(usize, usize)>, note: String },
}

impl Provenance {
    /// The provenance of a run that continues `file`.
    pub fn continued(file: &WeightsFile) -> Self {
        Self::Continued { note: file.header.note.clone() }
    }

    /// The note for a checkpoint of this run, given how the front end describes the run itself
    /// (`this_run`: what trained it, on what data). A resumed run keeps its first note, so
    /// resuming many times does not grow it.
    pub fn note(&self, this_run: &str) -> String {
        match self {
            Self::New => this_run.into(),
            Self::Continued { note } if note.is_empty() => this_run.into(),
            Self::Continued { note } => note.clone(),
            Self::StartedFrom { name, iteration, note, .. } => {
                format!("{this_run}; it started from {name} ({iteration} iterations{}: {note})", self.widening())
            }
        }
    }

    /// ", widened from width A to B" when the run widened the net it started from, else "".
    pub fn widening(&self) -> String {
        match self {
            Self::StartedFrom { widened: Some((from, to)), .. } => format!(", widened from width {from} to {to}"),
            _ => String::new(),
        }
    }
}

/// A new run of `config` from `file`'s net ([`Start::From`]).
pub(super) fn from_file(
    file: &WeightsFile,
    name: &str,
    config: EbmConfig,
    data: Arc<Dataset>,
    device: &Device,
) -> Result<(TrainingRun, Provenance), SessionError> {
    let (from, to) = (file.header.net, NetShape::from(&config));
    check_growth(name, &from, &to)?;
    let model = file.model(device)?;
    let becomes_conditional = from.classes == 0 && to.classes > 0;
    let model = if becomes_conditional { model.into_conditional(to.classes) } else { model };
    // The file's chains are samples of this very energy (a widened net computes the same one),
    // so they seed the buffer — unless the net just became conditional: they carry no labels.
    let chains = if becomes_conditional { None } else { ChainSnapshot::from_file(file)? };
    let origin = Origin::Model { model: Box::new(model), iteration: 0, chains };
    let run = TrainingRun::start(config, origin, data, device)?;
    let widened = (to.width != from.width).then_some((from.width, to.width));
    Ok((run, Provenance::StartedFrom { name: name.into(), iteration: file.header.iteration, widened, note: file.header.note.clone() }))
}

/// A run can start from a net of shape `from` with shape `to` when only the classes (an
/// unconditional net becoming conditional) or the width (wider) change.
fn check_growth(name: &str, from: &NetShape, to: &NetShape) -> Result<(), SessionError> {
    let same_kind =
        (from.channels, from.image_size, from.levels, from.spectral_norm) == (to.channels, to.image_size, to.levels, to.spectral_norm);
    let classes_fit = from.classes == to.classes || (from.classes == 0 && to.classes >= 2);
    if same_kind && classes_fit && to.width >= from.width {
        return Ok(());
    }
    let kind = |n: &NetShape| {
        let levels = if n.levels > 0 { format!(", {} noise levels", n.levels) } else { String::new() };
        let norm = if n.spectral_norm { ", spectrally normalised" } else { "" };
        format!("{}{levels}{norm}", describe(n))
    };
    Err(SessionError::CannotGrow(format!(
        "{name} holds a net for {}, and the configuration asks for {}: a run can start from a net only to make it \
         class-conditional (an unconditional one) or wider",
        kind(from),
        kind(to)
    )))
}
