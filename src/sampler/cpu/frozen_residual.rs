//! The denoising recipe's residual energy net with its weights frozen, on plain channels-last
//! arrays: the level's embedding, one forward that keeps each activation's slope, and the
//! hand-written backward to the input — the same layers as [`ResidualNet::energy_and_gradient`],
//! in the layouts of the CPU path ([`Conv`]: im2col + gemm). The blocks come from the net's own
//! [`Layout`]; nothing here names a layer the layout does not give.

use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::conv::{Conv, matmul};
use super::fast_math::{swish_with_slope, times};
use crate::denoising::Coefficients;
use crate::model::residual::fourier_frequencies;
use crate::model::{ResidualNet, ResidualShape};

/// A dense layer `y = x · weight + bias`, weight `[inputs, outputs]` (burn's layout).
#[derive(Clone, Debug)]
pub struct Affine {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Affine {
    fn forward(&self, rows: usize, x: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(rows * self.outputs);
        for _ in 0..rows {
            out.extend_from_slice(&self.bias);
        }
        matmul(rows, self.outputs, self.inputs, &mut out, true, &x[..rows * self.inputs], &self.weight, false);
        out
    }
}

/// One residual block: conv1 → + level shift → SiLU → conv2, beside the (1×1) skip.
#[derive(Clone, Debug)]
pub struct FrozenBlock {
    pub pool_before: bool,
    pub conv1: Conv,
    pub conv2: Conv,
    pub level: Affine,
    pub skip: Option<Conv>,
}

/// The frozen residual net and its data statistics.
#[derive(Clone, Debug)]
pub struct FrozenResidual {
    pub channels: usize,
    pub side: usize,
    pub shape: ResidualShape,
    pub classes: usize,
    pub stem: Conv,
    pub blocks: Vec<FrozenBlock>,
    pub embed_in: Affine,
    pub embed_out: Affine,
    /// [classes + 1, embedding] (empty without classes).
    pub class_table: Vec<f32>,
    pub gate: Affine,
    /// [features] and the bias.
    pub readout: Vec<f32>,
    pub readout_bias: f32,
    pub mean: Vec<f32>,
    pub std: f32,
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().expect("weights are floats")
}

fn conv(layer: &Conv2d, in_side: usize) -> Conv {
    let [cout, cin, k, _] = layer.weight.dims();
    let bias = layer.bias.as_ref().map_or(vec![0.0; cout], |b| values(b.val()));
    Conv::from_burn_strided(&values(layer.weight.val()), &bias, cin, cout, k, k / 2, in_side, 1)
}

fn affine(layer: &Linear) -> Affine {
    let [inputs, outputs] = layer.weight.dims();
    let bias = layer.bias.as_ref().map_or(vec![0.0; outputs], |b| values(b.val()));
    Affine { inputs, outputs, weight: values(layer.weight.val()), bias }
}

/// 2×2 average pooling of NHWC images of side `side`.
fn pool(images: usize, side: usize, channels: usize, x: &[f32]) -> Vec<f32> {
    let half = side / 2;
    let mut out = vec![0.0; images * half * half * channels];
    for b in 0..images {
        for y in 0..half {
            for xx in 0..half {
                let o = ((b * half + y) * half + xx) * channels;
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let i = ((b * side + 2 * y + dy) * side + 2 * xx + dx) * channels;
                    for c in 0..channels {
                        out[o + c] += 0.25 * x[i + c];
                    }
                }
            }
        }
    }
    out
}

/// The transpose of [`pool`]: each value a quarter to each of its 2×2 pixels (`side` the pooled side).
fn unpool(images: usize, side: usize, channels: usize, g: &[f32]) -> Vec<f32> {
    let full = side * 2;
    let mut out = vec![0.0; images * full * full * channels];
    for b in 0..images {
        for y in 0..side {
            for xx in 0..side {
                let i = ((b * side + y) * side + xx) * channels;
                for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let o = ((b * full + 2 * y + dy) * full + 2 * xx + dx) * channels;
                    for c in 0..channels {
                        out[o + c] = 0.25 * g[i + c];
                    }
                }
            }
        }
    }
    out
}

/// `out[n, pixels, c] += per_image[n, c]` for every pixel.
fn add_per_image(out: &mut [f32], per_image: &[f32], images: usize, channels: usize) {
    let pixels = out.len() / (images * channels);
    for b in 0..images {
        let row = &per_image[b * channels..(b + 1) * channels];
        for p in 0..pixels {
            let at = (b * pixels + p) * channels;
            out[at..at + channels].iter_mut().zip(row).for_each(|(o, v)| *o += v);
        }
    }
}

/// What the backward needs of one block: the slopes at its input and after conv1.
struct Saved {
    slope_in: Vec<f32>,
    slope_mid: Vec<f32>,
}

impl FrozenResidual {
    /// `net`'s weights in these layouts (a sync read: only for a net on the `flex` device).
    pub fn of(net: &ResidualNet, side: usize) -> FrozenResidual {
        let layout_blocks = net.layout_blocks(side);
        let blocks = net
            .blocks
            .iter()
            .zip(&layout_blocks)
            .map(|(b, l)| FrozenBlock {
                pool_before: b.pool_before,
                conv1: conv(&b.conv1, l.side),
                conv2: conv(&b.conv2, l.side),
                level: affine(&b.level),
                skip: b.skip.as_ref().map(|s| conv(s, l.side)),
            })
            .collect();
        let (mean, std) = net.data_statistics_tensors();
        let readout = affine(&net.readout);
        FrozenResidual {
            channels: net.stem.weight.dims()[1],
            side,
            shape: net.shape(),
            classes: net.classes(),
            stem: conv(&net.stem, side),
            blocks,
            embed_in: affine(&net.embed_in),
            embed_out: affine(&net.embed_out),
            class_table: net.class_table.as_ref().map_or(Vec::new(), |t| values(t.val())),
            gate: affine(&net.gate),
            readout_bias: readout.bias[0],
            readout: readout.weight,
            mean: values(mean),
            std: values(std)[0],
        }
    }

    /// Values of one image.
    pub fn image_len(&self) -> usize {
        self.side * self.side * self.channels
    }

    /// The embedding of level σ for each of `images` chains under `rows` (class rows; `None`:
    /// the "any class" row of a conditional net): [images, embedding].
    fn embed(&self, images: usize, c_noise: f32, rows: Option<&[i32]>) -> Vec<f32> {
        let e = self.shape.embedding;
        let freqs = fourier_frequencies(e);
        let mut features = Vec::with_capacity(images * e / 2);
        for _ in 0..images {
            features.extend(freqs.iter().map(|f| (c_noise * f).sin()));
            features.extend(freqs.iter().map(|f| (c_noise * f).cos()));
        }
        let mut hidden = self.embed_in.forward(images, &features);
        let mut slope = vec![0.0; hidden.len()];
        swish_with_slope(&mut hidden, &mut slope);
        let mut out = self.embed_out.forward(images, &hidden);
        if self.classes > 0 {
            for (i, chunk) in out.chunks_exact_mut(e).enumerate() {
                let row = rows.map_or(self.classes, |r| r[i] as usize);
                chunk.iter_mut().zip(&self.class_table[row * e..(row + 1) * e]).for_each(|(o, t)| *o += t);
            }
        }
        out
    }

    /// ∇ᵤH at `u` (NHWC, `images` images) under embedding `e`, and H.
    fn gradient(&self, images: usize, u: &[f32], e: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let mut cols = Vec::new();
        let run_conv = |layer: &Conv, x: &[f32], cols: &mut Vec<f32>| {
            cols.resize(layer.cols_len(images), 0.0);
            let mut out = vec![0.0; images * layer.out_len()];
            layer.forward(images, x, cols, &mut out);
            out
        };
        let mut h = run_conv(&self.stem, u, &mut cols);
        let mut side = self.side;
        let mut saved = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let cin = block.conv1.cin;
            if block.pool_before {
                h = pool(images, side, cin, &h);
                side /= 2;
            }
            let mut a = h.clone();
            let mut slope_in = vec![0.0; a.len()];
            swish_with_slope(&mut a, &mut slope_in);
            let mut t1 = run_conv(&block.conv1, &a, &mut cols);
            add_per_image(&mut t1, &block.level.forward(images, e), images, block.conv1.cout);
            let mut slope_mid = vec![0.0; t1.len()];
            swish_with_slope(&mut t1, &mut slope_mid);
            let t2 = run_conv(&block.conv2, &t1, &mut cols);
            let mut out = match &block.skip {
                Some(skip) => run_conv(skip, &h, &mut cols),
                None => h,
            };
            out.iter_mut().zip(&t2).for_each(|(o, v)| *o += v);
            saved.push(Saved { slope_in, slope_mid });
            h = out;
        }
        let c = self.gate.outputs;
        let pixels = side * side;
        let gate: Vec<f32> = self.gate.forward(images, e).iter().map(|g| g + 1.0).collect();
        let mut slope = vec![0.0; h.len()];
        swish_with_slope(&mut h, &mut slope);
        let mut energy = vec![self.readout_bias; images];
        for b in 0..images {
            for p in 0..pixels {
                let at = (b * pixels + p) * c;
                energy[b] +=
                    h[at..at + c].iter().zip(&gate[b * c..(b + 1) * c]).zip(&self.readout).map(|((v, g), w)| v * g * w).sum::<f32>();
            }
        }
        // Backward: ∂H/∂silu(h) is the gated readout weight at every position.
        let mut g = vec![0.0; h.len()];
        for b in 0..images {
            for p in 0..pixels {
                let at = (b * pixels + p) * c;
                for k in 0..c {
                    g[at + k] = gate[b * c + k] * self.readout[k];
                }
            }
        }
        times(&mut g, &slope);
        for (block, s) in self.blocks.iter().zip(saved).rev() {
            let mut g_mid = vec![0.0; images * block.conv2.in_len()];
            cols.resize(block.conv2.cols_len(images), 0.0);
            block.conv2.input_grad(images, &g, &mut cols, &mut g_mid);
            times(&mut g_mid, &s.slope_mid);
            let mut g_x = vec![0.0; images * block.conv1.in_len()];
            cols.resize(block.conv1.cols_len(images), 0.0);
            block.conv1.input_grad(images, &g_mid, &mut cols, &mut g_x);
            times(&mut g_x, &s.slope_in);
            match &block.skip {
                Some(skip) => {
                    let mut g_skip = vec![0.0; images * skip.in_len()];
                    cols.resize(skip.cols_len(images), 0.0);
                    skip.input_grad(images, &g, &mut cols, &mut g_skip);
                    g_x.iter_mut().zip(&g_skip).for_each(|(a, b)| *a += b);
                }
                None => g_x.iter_mut().zip(&g).for_each(|(a, b)| *a += b),
            }
            g = if block.pool_before {
                side *= 2;
                unpool(images, side / 2, block.conv1.cin, &g_x)
            } else {
                g_x
            };
        }
        let mut g_u = vec![0.0; images * self.stem.in_len()];
        cols.resize(self.stem.cols_len(images), 0.0);
        self.stem.input_grad(images, &g, &mut cols, &mut g_u);
        (g_u, energy)
    }

    /// D(x; σ) of `images` NHWC images at level σ under `rows` (see [`Self::embed`]), written
    /// into `out`: μ + c_skip·(x − μ) − c_out·∇ᵤH(c_in·(x − μ)); returns E(x, σ) of each image
    /// (as [`ResidualNet::energy`]), which the same passes give.
    pub fn denoised(&self, images: usize, x: &[f32], sigma: f32, rows: Option<&[i32]>, out: &mut [f32]) -> Vec<f32> {
        let k = Coefficients::at(f64::from(sigma), f64::from(self.std));
        let c = self.channels;
        let len = self.image_len();
        let centred: Vec<f32> = x[..images * len].iter().enumerate().map(|(i, v)| v - self.mean[i % c]).collect();
        let u: Vec<f32> = centred.iter().map(|v| v * k.c_in).collect();
        let e = self.embed(images, k.c_noise, rows);
        let (grad, h) = self.gradient(images, &u, &e);
        for (i, o) in out[..images * len].iter_mut().enumerate() {
            *o = self.mean[i % c] + k.c_skip * centred[i] - k.c_out * grad[i];
        }
        let total = sigma * sigma + self.std * self.std;
        (0..images)
            .map(|b| centred[b * len..(b + 1) * len].iter().map(|v| v * v).sum::<f32>() / (2.0 * total) + k.energy_scale * h[b])
            .collect()
    }
}
