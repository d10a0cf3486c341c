//! Which classifier answers for the model in use — the linear probe stored with its file (the
//! measured one, preferred), else a class-conditional net's own head — written once for the
//! site and `debm eval`.

use crate::Tensor;
use crate::inference::{Classifier, ClassifyError, class_probabilities};
use crate::model::{ClassProbe, EnergyNet};

/// The classifier of a model, ready to classify with it.
#[derive(Clone, Debug)]
pub struct ModelClassifier {
    kind: Classifier,
    probe: Option<ClassProbe>,
    classes: usize,
}

impl ModelClassifier {
    /// The classifier of a net with `head_classes` head classes (0: unconditional) and the probe
    /// fitted on its features, if any; `None` when it has neither.
    pub fn of(head_classes: usize, probe: Option<ClassProbe>) -> Option<Self> {
        let kind = Classifier::of(head_classes, probe.as_ref())?;
        let classes = probe.as_ref().map_or(head_classes, |p| p.classes);
        Some(Self { kind, probe, classes })
    }

    /// Which one answers: the probe or the head.
    pub fn kind(&self) -> Classifier {
        self.kind
    }

    /// The classes it answers with (a probe may know more than the net's head).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// p(y | x) under `model` (the net this classifier belongs to): one row per image.
    pub async fn probabilities(&self, model: &EnergyNet, images: Tensor<4>, chunk: usize) -> Result<Vec<Vec<f32>>, ClassifyError> {
        class_probabilities(model, self.probe.as_ref(), images, chunk).await
    }
}
