//! Checkpoints: a weights file (see [`crate::weights`]) with the trainer's state added, so a run
//! resumes where it stopped — optimiser moments and replay buffer included where available.
//!
//! The `model` section is always the net to sample from. For the recovery recipe that is the
//! moving average of the weights, and the weights being trained go in their own section
//! ([`section::TRAINING_MODEL`]), which is what a resumed run continues (with Adam's state).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use burn::tensor::{Bytes, TensorData};

use crate::model::EnergyNet;
use crate::persistent::ChainSnapshot;
use crate::trainer::Trainer;
use crate::weights::{WeightsError, WeightsFile, model_bytes, section};
use crate::{EbmConfig, NetShape};

// The drift guard's running mean is kept (section::DRIFT_LEVEL): without it a resumed run would
// restart the mean from its first iteration's level and forget a drift already under way.

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
    let net = NetShape::from(&config);
    let mut sections = vec![(section::MODEL.to_string(), model_bytes(trainer.sampling_model(), net).await?)];
    if trainer.ema().is_some() {
        sections.push((section::TRAINING_MODEL.into(), model_bytes(trainer.model(), net).await?));
    }
    if contents.optimizer {
        let bytes = trainer.optimizer().into_bytes().map_err(|e| WeightsError::Record(e.to_string()))?;
        sections.push((section::OPTIMIZER.into(), bytes.to_vec()));
        // Adam's state is keyed by parameter id: keep the ids so a resumed model can take them.
        sections.push((section::PARAM_IDS.into(), param_ids(trainer.model()).iter().flat_map(|id| id.to_le_bytes()).collect()));
    }
    if let Some(level) = trainer.drift_level() {
        sections.push((section::DRIFT_LEVEL.into(), level.to_le_bytes().to_vec()));
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
    let shape = NetShape::from(&config);
    let sampled = file.model_for(shape, device)?;
    let (mut model, average) = match file.section(section::TRAINING_MODEL) {
        Some(bytes) => (crate::weights::load_section(shape, section::TRAINING_MODEL, bytes, device)?, Some(sampled)),
        None => (sampled, None),
    };
    if let Some(bytes) = file.section(section::PARAM_IDS) {
        let ids: Vec<u64> = bytes.chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes"))).collect();
        if ids.len() != param_ids(&model).len() || bytes.len() % 8 != 0 {
            return Err(WeightsError::Damaged("the parameter ids do not match the model".into()));
        }
        model = with_param_ids(model, &ids);
    }
    let mut trainer = Trainer::with_model(config.clone(), device, model).map_err(|e| WeightsError::Damaged(e.to_string()))?;
    if let Some(average) = average {
        trainer.set_ema(average);
    }
    let optim = match file.section(section::OPTIMIZER).filter(|_| crate::platform::OPTIMIZER_STATE_IN_CHECKPOINTS) {
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
    if let Some(bytes) = file.section(section::DRIFT_LEVEL) {
        let level = <[u8; 8]>::try_from(bytes).map(f64::from_le_bytes).ok().filter(|l| l.is_finite() && *l >= 0.0);
        let level =
            level.ok_or_else(|| WeightsError::Damaged(format!("the `{}` section is not one finite number ≥ 0", section::DRIFT_LEVEL)))?;
        trainer.resume_drift_level(level);
    }
    if let Some(chains) = ChainSnapshot::from_file(file)? {
        seed_buffer(&mut trainer, &chains)?;
    }
    Ok(trainer)
}

/// Fills `trainer`'s replay buffer with `chains` (oldest first), as far as it holds them.
pub fn seed_buffer(trainer: &mut Trainer, chains: &ChainSnapshot) -> Result<(), WeightsError> {
    let config = trainer.config().clone();
    if chains.labels.iter().any(|&l| config.classes > 0 && l as usize >= config.classes) {
        return Err(WeightsError::Damaged(format!("the buffer holds a label outside the model's {} classes", config.classes)));
    }
    let [c, h, w] = config.image_shape();
    if chains.shape != [c, h, w] {
        return Err(WeightsError::Damaged(format!("the chains are {:?} images; the model takes {:?}", chains.shape, [c, h, w])));
    }
    let images = Tensor::from_data(TensorData::new(chains.values(), [chains.len(), c, h, w]), &trainer.device());
    // Oldest first: the ring's oldest entry is slot 0.
    trainer.buffer_mut().restore(images, &chains.labels, &chains.ages, 0);
    Ok(())
}

/// The id of every float parameter of `model`, in visiting order.
fn param_ids(model: &EnergyNet) -> Vec<u64> {
    struct Ids(Vec<u64>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id.val());
        }
    }
    let mut ids = Ids(Vec::new());
    model.visit(&mut ids);
    ids.0
}

/// `model` with its parameters carrying `ids` (visiting order): a restored model then matches
/// the optimiser state saved with it, instead of starting Adam afresh beside stale entries.
fn with_param_ids(model: EnergyNet, ids: &[u64]) -> EnergyNet {
    struct Assign<'a>(std::slice::Iter<'a, u64>);
    impl ModuleMapper for Assign<'_> {
        fn map_float<const D: usize>(&mut self, mut param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            if let Some(&id) = self.0.next() {
                // Only the id changes; the tensor and its gradient tracking stay as they are.
                param.id = ParamId::from(id);
            }
            param
        }
    }
    model.map(&mut Assign(ids.iter()))
}
