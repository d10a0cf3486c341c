//! The frozen net as one flat array of numbers, to hand to another wasm instance (a chain
//! helper worker) once per update: sizes first (small integers, exact in f32), then weights.
//!
//! Layout: `[MAGIC, classes, conv × 4, dense × 2, levels, labels]`; a conv is `[cin, cout, kernel,
//! pad, stride, in_side, out_side, weight…, bias…]`, a dense layer `[inputs, outputs, weight…,
//! bias…]`, `levels` is `[T]` then, when T > 0, the five shift tables and the per-level head;
//! `labels` the same for a class-conditional level net's class rows (`[0]` when it has none).

use super::{Conv, Dense, FrozenEmbedding, FrozenNet};

/// Marks the array (and its version): a wrong or stale array is refused, not misread.
const MAGIC: f32 = 7303.0;
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
