//! What a session operation can refuse, and why (a refused operation changes nothing).

use crate::config::ConfigError;
use crate::inference::ReadError;
use crate::training_run::RunError;
use crate::weights::WeightsError;

/// Why a session operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no model yet: load weights or train first")]
    NoModel,
    #[error("load a dataset before training")]
    NoDataset,
    #[error("there is no model to continue: none was loaded, or a configuration of another architecture discarded it")]
    NothingToContinue,
    #[error("the training run is busy with another call; wait for it to finish")]
    Busy,
    #[error("these weights carry no persistent chains: sample from noise, or load weights or a checkpoint saved with them")]
    NoFileChains,
    #[error("this training run holds no persistent chains (yet): sample from noise")]
    NoRunChains,
    #[error("these weights are for {0}")]
    WeightsDoNotFitData(String),
    /// A run cannot start from a file's net with this configuration.
    #[error("{0}")]
    CannotGrow(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    Read(#[from] ReadError),
}
