//! Checkpoints: a weights file (see [`crate::weights`]) with the trainer's state added, so a run
//! resumes where it stopped — optimiser moments and replay buffer included where available.

use burn::prelude::*;
use burn::tensor::{Bytes, TensorData};

use crate::inference::read_values;
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
}

pub async fn save(trainer: &Trainer, contents: Contents, note: &str) -> Result<Vec<u8>, WeightsError> {
    let config = trainer.config().clone();
    let mut sections = vec![("model".to_string(), model_bytes(trainer.model(), NetShape::from(&config)).await?)];
    if contents.optimizer {
        let bytes = trainer.optimizer().into_bytes().map_err(|e| WeightsError::Record(e.to_string()))?;
        sections.push(("optimizer".into(), bytes.to_vec()));
    }
    if contents.buffer
        && let Some(images) = trainer.buffer().contents()
    {
        let values = read_values(images).await.map_err(|e| WeightsError::Readback(e.0))?;
        let mut bytes = (trainer.buffer().next_slot() as u64).to_le_bytes().to_vec();
        bytes.extend(values.iter().map(|v| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8));
        sections.push(("buffer".into(), bytes));
        if config.is_conditional() {
            // Labels are below MAX_CLASSES (256), so one byte each.
            sections.push(("buffer_labels".into(), trainer.buffer().labels().iter().map(|&l| l as u8).collect()));
        }
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
    if let Some(bytes) = file.section("buffer") {
        let per_image: usize = config.image_shape().iter().product();
        if bytes.len() < 8 || (bytes.len() - 8) % per_image != 0 {
            return Err(WeightsError::Damaged("the buffer section does not hold whole images".into()));
        }
        let next = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let n = (bytes.len() - 8) / per_image;
        let values: Vec<f32> = bytes[8..].iter().map(|&b| b as f32 / 127.5 - 1.0).collect();
        let [c, h, w] = config.image_shape();
        let images = Tensor::from_data(TensorData::new(values, [n, c, h, w]), &trainer.device());
        let labels: Vec<i32> = match file.section("buffer_labels") {
            Some(l) if l.len() == n => l.iter().map(|&b| b as i32).collect(),
            Some(_) => return Err(WeightsError::Damaged("the buffer's labels do not match its images".into())),
            None => Vec::new(),
        };
        if let Some(&bad) = labels.iter().find(|&&l| config.classes > 0 && l as usize >= config.classes) {
            return Err(WeightsError::Damaged(format!("the buffer holds label {bad}, outside the model's {} classes", config.classes)));
        }
        trainer.buffer_mut().restore(images, &labels, next);
    }
    Ok(trainer)
}
