//! Checkpoints: a weights file (see [`crate::weights`]) with the trainer's state added, so a run
//! resumes where it stopped — optimiser moments and replay buffer included where available.

use burn::prelude::*;
use burn::tensor::{Bytes, TensorData};

use crate::persistent::ChainSnapshot;
use crate::trainer::Trainer;
use crate::weights::{WeightsError, WeightsFile, model_bytes};
use crate::{EbmConfig, NetShape};

/// What to put in a checkpoint besides the model.
#[derive(Clone, Copy, Debug)]
pub struct Contents {
    /// Adam's state (not in the browser: see [`crate::platform::OPTIMIZER_STATE_IN_CHECKPOINTS`]).
    pub optimizer: bool,
    /// The replay buffer, quantised to 8 bits per value.
    pub buffer: bool,
    /// Keep only the newest this many chains of the buffer (a compact checkpoint that can be
    /// committed and shipped as the persistent chains); `None` keeps all.
    pub newest_chains: Option<usize>,
}

pub async fn save(trainer: &Trainer, contents: Contents, note: &str) -> Result<Vec<u8>, WeightsError> {
    let config = trainer.config().clone();
    let mut sections = vec![("model".to_string(), model_bytes(trainer.model(), NetShape::from(&config)).await?)];
    if contents.optimizer {
        let bytes = trainer.optimizer().into_bytes().map_err(|e| WeightsError::Record(e.to_string()))?;
        sections.push(("optimizer".into(), bytes.to_vec()));
    }
    let chains =
        if contents.buffer { ChainSnapshot::of_buffer(trainer.buffer()).await.map_err(|e| WeightsError::Readback(e.0))? } else { None };
    if let Some(chains) = chains {
        let chains = match contents.newest_chains {
            Some(n) => chains.newest(n),
            None => chains,
        };
        sections.extend(chains.sections(config.is_conditional()));
    }
    Ok(WeightsFile::encode(&config, trainer.iteration(), note, sections))
}

/// Rebuilds a trainer from a checkpoint (or plain weights) with `config` (which must keep the
/// file's architecture; other settings may change between runs).
pub fn restore(file: &WeightsFile, config: EbmConfig, device: &Device) -> Result<Trainer, WeightsError> {
    let model = file.model_for(NetShape::from(&config), device)?;
    let mut trainer = Trainer::with_model(config.clone(), device, model).map_err(|e| WeightsError::Damaged(e.to_string()))?;
    let optim = match file.section("optimizer").filter(|_| crate::platform::OPTIMIZER_STATE_IN_CHECKPOINTS) {
        Some(bytes) => Some(
            trainer
                .optimizer()
                .clone()
                .from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
                .map_err(|e| WeightsError::Record(e.to_string()))?,
        ),
        None => None,
    };
    trainer.resume_from(file.header.iteration, optim);
    if let Some(chains) = ChainSnapshot::from_file(file)? {
        if chains.labels.iter().any(|&l| config.classes > 0 && l as usize >= config.classes) {
            return Err(WeightsError::Damaged(format!("the buffer holds a label outside the model's {} classes", config.classes)));
        }
        let [c, h, w] = config.image_shape();
        let images = Tensor::from_data(TensorData::new(chains.values(), [chains.len(), c, h, w]), &trainer.device());
        // Oldest first: the ring's oldest entry is slot 0.
        trainer.buffer_mut().restore(images, &chains.labels, &chains.ages, 0);
    }
    Ok(trainer)
}
