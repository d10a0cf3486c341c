//! Spectral normalisation (Miyato, Kataoka, Koyama, Yoshida, ICLR 2018), as the recovery-
//! likelihood authors apply it to their energy net: each convolution's and the hidden dense
//! layer's weight is divided by its largest singular value σ, so no layer can stretch its input
//! by more than 1 and the energy's input gradient — the Langevin drift ½∇f, which has no step-size
//! control of its own — stays bounded. Without it this project's first recovery run blew its
//! samples out of [-1, 1] within 300 updates (weights/README.md, run 21).
//!
//! σ is estimated by power iteration from a fixed start on a detached copy of the weight every
//! time (no vector is stored: files stay as they are, and a loaded net needs no warm-up); the
//! gradient flows through σ = uᵀWv, as in the paper. Chains use the weights once normalised
//! ([`super::EnergyNet::baked`]), so a Langevin step costs nothing extra.

use burn::prelude::*;

/// Power-iteration steps per estimate of σ: the top singular values of these small layers are
/// well apart after a few steps from the all-ones start; twenty keep σ within 1 % of the
/// truth even for random Gaussian weights, whose top values crowd (tests/native/recovery.rs).
pub const POWER_ITERATIONS: usize = 20;

/// `weight` divided by its largest singular value, the weight seen as a matrix of `dims[0]`
/// rows (σ is the same for the matrix and its transpose, so either layout of a layer works).
pub fn normalised<const D: usize>(weight: Tensor<D>) -> Tensor<D> {
    let dims = weight.dims();
    let rows = dims[0];
    let cols = dims.iter().skip(1).product::<usize>();
    let device = weight.device();
    let matrix = weight.clone().reshape([rows, cols]);
    let fixed = matrix.clone().detach();
    let unit = |t: Tensor<2>| t.clone() / (t.square().sum().sqrt() + 1e-12).reshape([1, 1]);
    let mut u = Tensor::<2>::ones([rows, 1], &device) / (rows as f32).sqrt();
    let mut v = Tensor::<2>::ones([cols, 1], &device) / (cols as f32).sqrt();
    for _ in 0..POWER_ITERATIONS {
        v = unit(fixed.clone().transpose().matmul(u));
        u = unit(fixed.clone().matmul(v.clone()));
    }
    let sigma = u.detach().transpose().matmul(matrix.matmul(v.detach()));
    weight / sigma.reshape([1; D])
}
