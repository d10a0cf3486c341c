//! The class head's own learning rate (`head_lr_factor`): the parameter update is split in two
//! Adam steps on the one optimiser, the body at lr and the last layer at lr × factor. Adam keeps
//! its moments and step count per parameter, so the two steps update disjoint state and a
//! checkpoint's optimiser section is the same as with one step.

use burn::module::Param;
use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::model::EnergyNet;

/// Moves the last layer's gradients out of `grads` into their own set.
pub(super) fn take_head_grads(model: &EnergyNet, grads: &mut GradientsParams) -> GradientsParams {
    let head = model.head();
    let mut taken = GradientsParams::new();
    move_grad(&head.weight, grads, &mut taken);
    if let Some(bias) = &head.bias {
        move_grad(bias, grads, &mut taken);
    }
    taken
}

fn move_grad<const D: usize>(param: &Param<Tensor<D>>, from: &mut GradientsParams, to: &mut GradientsParams) {
    if let Some(grad) = from.remove::<D>(param.id) {
        to.register(param.id, grad);
    }
}
