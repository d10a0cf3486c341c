//! The frozen net as one flat array of numbers, to hand to another wasm instance (a chain
//! helper worker) once per update: sizes first (small integers, exact in f32), then weights.
//!
//! Layout: `[MAGIC, classes, conv × 4, dense × 2, levels, labels]`; a conv is `[cin, cout, kernel,
//! pad, stride, in_side, out_side, weight…, bias…]`, a dense layer `[inputs, outputs, weight…,
//! bias…]`, `levels` is `[T]` then, when T > 0, the five shift tables and the per-level head;
//! `labels` the same for a class-conditional level net's class rows (`[0]` when it has none).

use super::{Affine, Conv, Dense, Frozen, FrozenBlock, FrozenEmbedding, FrozenNet, FrozenResidual};
use crate::model::ResidualShape;
use crate::model::residual::Layout;

/// Marks the array (and its version): a wrong or stale array is refused, not misread.
const MAGIC: f32 = 7303.0;
/// Marks a frozen residual net's array: `[MAGIC_RESIDUAL, channels, side, width, stages, blocks,
/// embedding, classes]`, then every tensor in the order of its [`Layout`] — the stem's weight and
/// bias; each block's conv1, conv2 (weight, bias), level shift (weight, bias) and skip (weight,
/// where the width changes); the embedding's two layers; the class table; the gate; the
/// readout's weight and bias; μ and σ_d. Convolution weights are in the CPU path's packed order.
const MAGIC_RESIDUAL: f32 = 7304.0;

impl Frozen {
    /// The net as flat values ([`Frozen::from_values`] reads them back).
    pub fn to_values(&self) -> Vec<f32> {
        match self {
            Frozen::Conv(net) => net.to_values(),
            Frozen::Residual(net) => net.to_values(),
        }
    }

    /// Reads either kind of frozen net, by its first value.
    pub fn from_values(values: &[f32]) -> Result<Frozen, String> {
        match values.first() {
            Some(&MAGIC) => FrozenNet::from_values(values).map(|net| Frozen::Conv(Box::new(net))),
            Some(&MAGIC_RESIDUAL) => FrozenResidual::from_values(values).map(|net| Frozen::Residual(Box::new(net))),
            _ => Err("not a frozen net of this version".into()),
        }
    }
}

impl FrozenResidual {
    /// The net as flat values (see [`MAGIC_RESIDUAL`]).
    pub fn to_values(&self) -> Vec<f32> {
        let s = self.shape;
        let width = self.stem.cout;
        let mut out = vec![MAGIC_RESIDUAL];
        out.extend([self.channels, self.side, width, s.stages, s.blocks, s.embedding, self.classes].map(|v| v as f32));
        let conv = |out: &mut Vec<f32>, c: &Conv| {
            out.extend(&c.weight);
            out.extend(&c.bias);
        };
        let affine = |out: &mut Vec<f32>, a: &Affine| {
            out.extend(&a.weight);
            out.extend(&a.bias);
        };
        conv(&mut out, &self.stem);
        for b in &self.blocks {
            conv(&mut out, &b.conv1);
            conv(&mut out, &b.conv2);
            affine(&mut out, &b.level);
            if let Some(skip) = &b.skip {
                out.extend(&skip.weight);
            }
        }
        affine(&mut out, &self.embed_in);
        affine(&mut out, &self.embed_out);
        out.extend(&self.class_table);
        affine(&mut out, &self.gate);
        out.extend(&self.readout);
        out.push(self.readout_bias);
        out.extend(&self.mean);
        out.push(self.std);
        out
    }

    /// Reads [`Self::to_values`]'s layout back: the sizes of every tensor follow from the header
    /// through the net's [`Layout`], and the array must end exactly where the net does.
    pub fn from_values(values: &[f32]) -> Result<FrozenResidual, String> {
        let mut r = Reader { values, at: 0 };
        if r.take(1)?[0] != MAGIC_RESIDUAL {
            return Err("not a frozen residual net of this version".into());
        }
        let [channels, side, width, stages, blocks, embedding, classes] = [(); 7].map(|_| r.size()).map(|s| s.unwrap_or(usize::MAX));
        if [channels, side, width, stages, blocks, embedding, classes].contains(&usize::MAX)
            || !(1..=4).contains(&stages)
            || blocks == 0
            || embedding < 4
            || !embedding.is_multiple_of(4)
            || channels == 0
            || width == 0
            || !side.is_multiple_of(1 << (stages - 1))
        {
            return Err("the residual net's sizes are damaged".into());
        }
        let shape = ResidualShape { stages, blocks, embedding };
        let layout = Layout::new(channels, side, width, shape);
        let stem = r.conv(channels, width, 3, side, true)?;
        let mut frozen_blocks = Vec::with_capacity(layout.blocks.len());
        for b in &layout.blocks {
            frozen_blocks.push(FrozenBlock {
                pool_before: b.pool_before,
                conv1: r.conv(b.channels_in, b.channels_out, 3, b.side, true)?,
                conv2: r.conv(b.channels_out, b.channels_out, 3, b.side, true)?,
                level: r.affine(embedding, b.channels_out)?,
                skip: if b.channels_in != b.channels_out { Some(r.conv(b.channels_in, b.channels_out, 1, b.side, false)?) } else { None },
            });
        }
        let features = layout.features();
        let embed_in = r.affine(embedding / 2, embedding)?;
        let embed_out = r.affine(embedding, embedding)?;
        let class_table = if classes > 0 { r.take((classes + 1) * embedding)?.to_vec() } else { Vec::new() };
        let gate = r.affine(embedding, features)?;
        let readout = r.take(features)?.to_vec();
        let readout_bias = r.take(1)?[0];
        let mean = r.take(channels)?.to_vec();
        let std = r.take(1)?[0];
        if r.at != values.len() {
            return Err(format!("{} values left over after the net", values.len() - r.at));
        }
        if !(std.is_finite() && std > 0.0) {
            return Err(format!("the data's σ_d is {std}"));
        }
        Ok(FrozenResidual {
            channels,
            side,
            shape,
            classes,
            stem,
            blocks: frozen_blocks,
            embed_in,
            embed_out,
            class_table,
            gate,
            readout,
            readout_bias,
            mean,
            std,
        })
    }
}
/// Largest size field accepted (guards the lengths derived from them).
const MAX_DIM: f32 = 65_536.0;

impl FrozenNet {
    /// The net as flat values ([`FrozenNet::from_values`] reads them back).
    pub fn to_values(&self) -> Vec<f32> {
        let mut out = vec![MAGIC, self.classes as f32];
        for c in &self.convs {
            out.extend([c.cin, c.cout, c.kernel, c.pad, c.stride, c.in_side, c.out_side].map(|v| v as f32));
            out.extend(&c.weight);
            out.extend(&c.bias);
        }
        for d in [&self.fc1, &self.fc2] {
            out.extend([d.inputs as f32, d.outputs as f32]);
            out.extend(&d.weight);
            out.extend(&d.bias);
        }
        for embedding in [&self.levels, &self.labels] {
            match embedding {
                None => out.push(0.0),
                Some(e) => {
                    out.push(e.rows as f32);
                    e.shifts.iter().for_each(|s| out.extend(s));
                    out.extend(&e.head);
                }
            }
        }
        out
    }

    /// Reads [`FrozenNet::to_values`]'s layout back, checking every size against the data.
    pub fn from_values(values: &[f32]) -> Result<FrozenNet, String> {
        let mut r = Reader { values, at: 0 };
        if r.take(1)?[0] != MAGIC {
            return Err("not a frozen net of this version".into());
        }
        let classes = r.size()?;
        let mut conv = || -> Result<Conv, String> {
            let [cin, cout, kernel, pad, stride, in_side, out_side] = [(); 7].map(|_| r.size()).map(|s| s.unwrap_or(usize::MAX));
            if [cin, cout, kernel, pad, stride, in_side, out_side].contains(&usize::MAX) || stride == 0 {
                return Err("a convolution's sizes are damaged".into());
            }
            let weight = r.take(kernel * kernel * cin * cout)?.to_vec();
            let bias = r.take(cout)?.to_vec();
            Ok(Conv { cin, cout, kernel, pad, stride, in_side, out_side, weight, bias })
        };
        let convs = [conv()?, conv()?, conv()?, conv()?];
        let mut dense = || -> Result<Dense, String> {
            let (inputs, outputs) = (r.size()?, r.size()?);
            Ok(Dense { inputs, outputs, weight: r.take(inputs * outputs)?.to_vec(), bias: r.take(outputs)?.to_vec() })
        };
        let (fc1, fc2) = (dense()?, dense()?);
        let widths = [convs[0].cout, convs[1].cout, convs[2].cout, convs[3].cout, fc1.outputs];
        let mut embedding = || -> Result<Option<FrozenEmbedding>, String> {
            let rows = r.size()?;
            if rows == 0 {
                return Ok(None);
            }
            let mut shifts: [Vec<f32>; 5] = Default::default();
            for (shift, width) in shifts.iter_mut().zip(widths) {
                *shift = r.take(rows * width)?.to_vec();
            }
            Ok(Some(FrozenEmbedding { rows, shifts, head: r.take(rows * widths[4])?.to_vec() }))
        };
        let levels = embedding()?;
        let labels = embedding()?;
        if labels.is_some() && levels.is_none() {
            return Err("class rows without noise levels".into());
        }
        if r.at != values.len() {
            return Err(format!("{} values left over after the net", values.len() - r.at));
        }
        let chained = convs.windows(2).all(|w| w[0].out_side == w[1].in_side && w[0].cout == w[1].cin);
        if !chained || fc1.inputs != convs[3].out_len() || fc2.inputs != fc1.outputs {
            return Err("the layers' sizes do not fit together".into());
        }
        Ok(FrozenNet { convs, fc1, fc2, classes, levels, labels })
    }
}

struct Reader<'a> {
    values: &'a [f32],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A stride-1 same-size convolution's packed weight (and bias, when it has one).
    fn conv(&mut self, cin: usize, cout: usize, kernel: usize, in_side: usize, bias: bool) -> Result<Conv, String> {
        let weight = self.take(kernel * kernel * cin * cout)?.to_vec();
        let bias = if bias { self.take(cout)?.to_vec() } else { vec![0.0; cout] };
        Ok(Conv { cin, cout, kernel, pad: kernel / 2, stride: 1, in_side, out_side: in_side, weight, bias })
    }

    fn affine(&mut self, inputs: usize, outputs: usize) -> Result<Affine, String> {
        Ok(Affine { inputs, outputs, weight: self.take(inputs * outputs)?.to_vec(), bias: self.take(outputs)?.to_vec() })
    }

    fn take(&mut self, n: usize) -> Result<&'a [f32], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.values.len()).ok_or("the frozen net is cut short")?;
        let out = &self.values[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn size(&mut self) -> Result<usize, String> {
        let v = self.take(1)?[0];
        if !(0.0..=MAX_DIM).contains(&v) || v.fract() != 0.0 {
            return Err(format!("a size field holds {v}"));
        }
        Ok(v as usize)
    }
}
