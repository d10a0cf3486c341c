//! What a run's model draws now, to watch it train: the `count` newest replay-buffer samples
//! (contrastive), or up to eight chains walked from noise down every level with the
//! moving-average weights (recovery, denoising). One function for the loop's `samples` events and the
//! browser's `Training.liveSamples`.

use burn::module::Module;
use serde::Serialize;

use super::{RunError, TrainingRun};
use crate::data::dataset::{tensor_values_to_images, to_rgba};
use crate::inference::{generate, read_values};
use crate::limits::MAX_BUFFER_IMAGES_SHOWN;
use crate::sampler::Dynamics;

/// Chains a recovery or denoising run's live view walks.
const LIVE_WALKS: usize = 8;

/// Columns of the buffer's grid (a contrastive run).
const BUFFER_COLUMNS: usize = 16;

/// Images as RGBA, one row per chain: a walk has one column per level (the start, then
/// levels T−1 … 0, named in `levels`); the buffer fills rows of 16 (`levels` empty).
#[derive(Clone, Debug, Serialize)]
pub struct LiveSamples {
    /// RGBA bytes of each image, concatenated.
    #[serde(with = "serde_bytes")]
    pub rgba: Vec<u8>,
    pub count: usize,
    pub side: usize,
    pub columns: usize,
    pub levels: Vec<usize>,
    /// The label each buffer chain samples under (class-conditional runs; empty for a walk).
    pub labels: Vec<i32>,
}

impl TrainingRun {
    /// What the model draws now (see the module's doc).
    pub async fn live_samples(&self, count: usize) -> Result<LiveSamples, RunError> {
        let config = self.trainer().config().clone();
        if !config.walks_levels() {
            return self.buffer_samples(count).await;
        }
        let chains = count.clamp(1, LIVE_WALKS);
        let shape = config.image_shape();
        let model = self.trainer().sampling_model().valid();
        let dynamics = Dynamics::sampling(&config, None);
        let walk = generate(&model, chains, shape, &dynamics, Some(1), None, &self.trainer().device())
            .await
            .map_err(|e| RunError::Samples(e.to_string()))?;
        let per_image: usize = shape.iter().product();
        let columns = walk.chain.len();
        let mut values = Vec::with_capacity(chains * columns * per_image);
        for chain in 0..chains {
            for frame in &walk.chain {
                values.extend(frame.values[chain * per_image..(chain + 1) * per_image].iter().map(|v| v.clamp(-1.0, 1.0)));
            }
        }
        Ok(LiveSamples {
            rgba: rgba(&values, shape),
            count: chains * columns,
            side: shape[1],
            columns,
            levels: walk.chain.iter().filter_map(|f| f.level).collect(),
            labels: Vec::new(),
        })
    }

    /// The `count` newest replay-buffer samples (oldest first), rows of 16.
    pub async fn buffer_samples(&self, count: usize) -> Result<LiveSamples, RunError> {
        let shape = self.trainer().config().image_shape();
        let empty =
            LiveSamples { rgba: Vec::new(), count: 0, side: shape[1], columns: BUFFER_COLUMNS, levels: Vec::new(), labels: Vec::new() };
        let Some((images, labels)) = self.trainer().buffer().latest(count.clamp(1, MAX_BUFFER_IMAGES_SHOWN)) else {
            return Ok(empty);
        };
        let values = read_values(images).await.map_err(|e| RunError::Samples(e.to_string()))?;
        Ok(LiveSamples { rgba: rgba(&values, shape), count: labels.len(), labels, ..empty })
    }
}

/// NCHW values in [-1, 1] → RGBA bytes of each image, concatenated.
fn rgba(values: &[f32], [c, h, w]: [usize; 3]) -> Vec<u8> {
    tensor_values_to_images(values, c, h, w).iter().flat_map(|image| to_rgba(image, c)).collect()
}
