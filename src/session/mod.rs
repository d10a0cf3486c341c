//! The session: which model is in use, which data is loaded, which run trains — the state behind
//! the browser's `Engine`, with its rules in one place and tested natively (`debm train` and
//! `debm eval` start and read models through it too). The front ends only translate: arguments
//! in, errors and answers out.
//!
//! The rules, in short:
//! - the configuration always describes the model in use (its architecture at least): a
//!   configuration or data the model does not fit discards the model, and with it everything
//!   that belonged to it (its chains, its iteration, its file and probe);
//! - a change of configuration or data sets a training run aside rather than throwing its work
//!   away: its model stays in use, and continuing carries on from it exactly;
//! - sampling and scoring use the training run's model while there is one, else the loaded one;
//! - the probe stored with a file classifies only while that file's net is in use.

mod classify;
mod error;
mod shared;
mod start;

use std::rc::Rc;
use std::sync::Arc;

use burn::module::Module;

pub use classify::ModelClassifier;
pub use error::SessionError;
pub use shared::{Chains, SharedRun};
pub use start::{Provenance, Start};

use crate::data::Dataset;
use crate::model::ClassProbe;
use crate::persistent::ChainSnapshot;
use crate::training_run::{Origin, TrainingRun, check_data};
use crate::weights::WeightsFile;
use crate::{Device, EbmConfig, EnergyNet, NetShape};

/// The model in use.
pub enum Current {
    /// None: a new session, or one whose configuration or data the last model did not fit.
    Empty,
    /// A weights or checkpoint file's.
    Loaded(Box<Loaded>),
    /// A training run's, while it trains (the browser's `Training` handle steps it).
    Training(Rc<SharedRun>),
    /// A run set aside when the configuration or the data changed: its model is still the one in
    /// use, and [`Start::Continue`] carries on from it.
    Trained(Rc<SharedRun>),
}

/// A loaded file and what was read from it once, when it loaded.
pub struct Loaded {
    pub file: WeightsFile,
    pub model: EnergyNet,
    /// The persistent chains kept with the weights.
    pub chains: Option<ChainSnapshot>,
    /// The linear classifier fitted on this net's features (`debm probe`).
    pub probe: Option<ClassProbe>,
}

/// One front end's state: the device, the configuration, the loaded data and the model in use.
pub struct Session {
    device: Device,
    config: EbmConfig,
    dataset: Option<Arc<Dataset>>,
    current: Current,
}

impl Session {
    /// An empty session on `device`, with the default configuration.
    pub fn new(device: Device) -> Self {
        Self { device, config: EbmConfig::default(), dataset: None, current: Current::Empty }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The configuration of the model in use and of the next run.
    pub fn config(&self) -> &EbmConfig {
        &self.config
    }

    pub fn dataset(&self) -> Option<&Arc<Dataset>> {
        self.dataset.as_ref()
    }

    pub fn current(&self) -> &Current {
        &self.current
    }

    /// Whether there is a model to sample from.
    pub fn has_model(&self) -> bool {
        !matches!(self.current, Current::Empty)
    }

    /// Training iterations behind the model in use (0 without one).
    pub fn iteration(&self) -> u64 {
        match &self.current {
            Current::Empty => 0,
            Current::Loaded(loaded) => loaded.file.header.iteration,
            Current::Training(run) | Current::Trained(run) => run.iteration(),
        }
    }

    /// How many persistent chains the model in use has to continue.
    pub fn persistent_chains(&self) -> usize {
        match &self.current {
            Current::Empty => 0,
            Current::Loaded(loaded) => loaded.chains.as_ref().map_or(0, ChainSnapshot::len),
            Current::Training(run) | Current::Trained(run) => run.chains(),
        }
    }

    /// Whether `run` is the run training now (not one set aside or replaced).
    pub fn is_training(&self, run: &Rc<SharedRun>) -> bool {
        matches!(&self.current, Current::Training(current) if Rc::ptr_eq(current, run))
    }

    /// Loads a weights or checkpoint file: its net becomes the model in use and its configuration
    /// the current one; any run is discarded. Images of another shape than the loaded data's are
    /// refused, as is a damaged net, chain or probe section (now, not at first use).
    pub fn load_weights(&mut self, file: WeightsFile) -> Result<(), SessionError> {
        let fc = &file.header.config;
        if let Some(d) = &self.dataset
            && (d.channels, d.height) != (fc.channels, fc.image_size)
        {
            return Err(SessionError::WeightsDoNotFitData(format!(
                "{}-channel {}×{} images but the loaded dataset has {}-channel {}×{} images",
                fc.channels, fc.image_size, fc.image_size, d.channels, d.height, d.width
            )));
        }
        let model = file.model(&self.device)?;
        let chains = ChainSnapshot::from_file(&file)?;
        let probe = file.probe()?;
        self.config = file.header.config.clone();
        self.current = Current::Loaded(Box::new(Loaded { file, model, chains, probe }));
        Ok(())
    }

    /// Loads the data to train on. The data decides the image shape: a configuration of another
    /// shape takes the data's, and a class-conditional one whose classes the labels do not fit
    /// becomes unconditional — either way the model in use no longer fits and is discarded. A
    /// model that still fits stays in use; a training run is set aside (it trained on other data).
    pub fn load_dataset(&mut self, dataset: Dataset) {
        let mut config = self.config.clone();
        (config.channels, config.image_size) = (dataset.channels, dataset.height);
        if check_data(&dataset, &config).is_err() {
            config.classes = 0;
        }
        self.dataset = Some(Arc::new(dataset));
        self.reconfigure(config);
    }

    /// Replaces the configuration (validated, and checked against the loaded data). One of
    /// another architecture discards the model in use; a training run is set aside.
    pub fn set_config(&mut self, config: EbmConfig) -> Result<(), SessionError> {
        config.validate()?;
        if let Some(data) = &self.dataset {
            check_data(data, &config)?;
        }
        self.reconfigure(config);
        Ok(())
    }

    /// The one rule of a new configuration: the model stays in use only if it fits it, and a
    /// run under way is set aside (a run trains with the configuration and data it started with).
    fn reconfigure(&mut self, config: EbmConfig) {
        let current = std::mem::replace(&mut self.current, Current::Empty);
        self.current = if NetShape::from(&config) != NetShape::from(&self.config) {
            Current::Empty
        } else {
            match current {
                Current::Training(run) => Current::Trained(run),
                other => other,
            }
        };
        self.config = config;
    }

    /// Starts a training run of the current configuration on the loaded data ([`Start`] says
    /// from what); its model is the one in use from now on. Returns the run, to step.
    pub fn start_training(&mut self, start: Start<'_>) -> Result<Rc<SharedRun>, SessionError> {
        let data = self.dataset.clone().ok_or(SessionError::NoDataset)?;
        let config = self.config.clone();
        let device = &self.device;
        let (run, provenance) = match start {
            Start::Fresh => (TrainingRun::start(config, Origin::Fresh, data, device)?, Provenance::New),
            Start::From { file, name } => start::from_file(file, name, config, data, device)?,
            Start::Continue => match &self.current {
                Current::Empty => return Err(SessionError::NothingToContinue),
                Current::Loaded(loaded) => {
                    (TrainingRun::start(config, Origin::Checkpoint(&loaded.file), data, device)?, Provenance::continued(&loaded.file))
                }
                Current::Training(run) | Current::Trained(run) => {
                    let previous = run.read()?;
                    (TrainingRun::start(config, Origin::Run(&previous), data, device)?, run.provenance().clone())
                }
            },
        };
        let run = Rc::new(SharedRun::new(run, provenance));
        self.current = Current::Training(Rc::clone(&run));
        Ok(run)
    }

    /// The model to sample and score with: the training run's (its moving average, for the
    /// recovery recipe) while there is one, else the loaded file's.
    pub fn model(&self) -> Result<EnergyNet, SessionError> {
        match &self.current {
            Current::Empty => Err(SessionError::NoModel),
            Current::Loaded(loaded) => Ok(loaded.model.clone()),
            Current::Training(run) | Current::Trained(run) => Ok(run.read()?.trainer().sampling_model().valid()),
        }
    }

    /// The persistent chains of the model in use: a run's replay buffer, or the chains kept with
    /// the loaded file (never another model's).
    pub fn chains(&self) -> Result<Chains, SessionError> {
        match &self.current {
            Current::Empty => Err(SessionError::NoModel),
            Current::Loaded(loaded) => loaded.chains.clone().map(Chains::File).ok_or(SessionError::NoFileChains),
            Current::Training(run) | Current::Trained(run) => Ok(Chains::Run(Rc::clone(run))),
        }
    }

    /// The classifier of the model in use ([`ModelClassifier`]); `None` without a model or when
    /// it has neither a probe nor a class head.
    pub fn classifier(&self) -> Option<ModelClassifier> {
        let probe = match &self.current {
            Current::Empty => return None,
            Current::Loaded(loaded) => loaded.probe.clone(),
            // A run's net is no longer the one the file's probe was fitted on.
            Current::Training(_) | Current::Trained(_) => None,
        };
        ModelClassifier::of(self.config.head_classes(), probe)
    }

    /// The note for a file of the model in use ([`Provenance::note`]).
    pub fn note(&self, this_run: &str) -> String {
        match &self.current {
            Current::Empty => this_run.into(),
            Current::Loaded(loaded) => Provenance::continued(&loaded.file).note(this_run),
            Current::Training(run) | Current::Trained(run) => run.provenance().note(this_run),
        }
    }

    /// The training run and where its weights come from, for a front end that drives it alone
    /// (`debm train`); `None` when no run trains or another holder still shares it.
    pub fn into_run(self) -> Option<(TrainingRun, Provenance)> {
        match self.current {
            Current::Training(run) => Rc::try_unwrap(run).ok().map(SharedRun::into_parts),
            _ => None,
        }
    }
}
