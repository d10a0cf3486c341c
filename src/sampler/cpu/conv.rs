//! The layers of the frozen net on plain slices, channels-last (NHWC): a matrix product
//! (the `gemm` crate, which burn's CPU backend uses too), and a strided convolution as
//! im2col + product forward and product + col2im for the input gradient.

/// `dst[m×n] = (accumulate ? dst : 0) + a[m×k] · b`, all row-major; `b` is `k×n`, or `n×k`
/// read transposed when `b_transposed`.
pub fn matmul(m: usize, n: usize, k: usize, dst: &mut [f32], accumulate: bool, a: &[f32], b: &[f32], b_transposed: bool) {
    assert!(dst.len() >= m * n && a.len() >= m * k && b.len() >= k * n, "matmul operands too short");
    let (b_cs, b_rs) = if b_transposed { (k as isize, 1) } else { (1, n as isize) };
    // SAFETY: the lengths are checked above and every index gemm forms with these strides lies
    // inside the slices; `dst` does not alias `a` or `b` (distinct borrows).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// A strided convolution with square kernels and symmetric zero padding.
#[derive(Clone, Debug)]
pub struct Conv {
    pub cin: usize,
    pub cout: usize,
    pub kernel: usize,
    pub pad: usize,
    pub stride: usize,
    pub in_side: usize,
    pub out_side: usize,
    /// `[kernel·kernel·cin, cout]`, rows in (ky, kx, ci) order: one im2col row times this
    /// matrix is one output pixel.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Conv {
    /// From burn's layout: weight `[cout, cin, k, k]`, bias `[cout]`.
    pub fn from_burn(weight: &[f32], bias: &[f32], cin: usize, cout: usize, kernel: usize, pad: usize, in_side: usize) -> Self {
        Self::from_burn_strided(weight, bias, cin, cout, kernel, pad, in_side, 2)
    }

    /// [`Self::from_burn`] with another stride (1: the residual net's same-size convolutions).
    pub fn from_burn_strided(
        weight: &[f32],
        bias: &[f32],
        cin: usize,
        cout: usize,
        kernel: usize,
        pad: usize,
        in_side: usize,
        stride: usize,
    ) -> Self {
        let out_side = (in_side + 2 * pad - kernel) / stride + 1;
        let mut packed = vec![0.0; kernel * kernel * cin * cout];
        for co in 0..cout {
            for ci in 0..cin {
                for ky in 0..kernel {
                    for kx in 0..kernel {
                        let row = (ky * kernel + kx) * cin + ci;
                        packed[row * cout + co] = weight[((co * cin + ci) * kernel + ky) * kernel + kx];
                    }
                }
            }
        }
        Self { cin, cout, kernel, pad, stride, in_side, out_side, weight: packed, bias: bias.to_vec() }
    }

    /// Values in one image's input / output.
    pub fn in_len(&self) -> usize {
        self.in_side * self.in_side * self.cin
    }
    pub fn out_len(&self) -> usize {
        self.out_side * self.out_side * self.cout
    }
    fn patch_len(&self) -> usize {
        self.kernel * self.kernel * self.cin
    }
    /// Scratch values `forward` and `input_grad` need for `images` images.
    pub fn cols_len(&self, images: usize) -> usize {
        images * self.out_side * self.out_side * self.patch_len()
    }

    /// For each output pixel and kernel row `ky`: the pixel, and where that row of the patch
    /// reads from: `None` when the row lies in the padding, else the first input value and the
    /// range of kernel columns inside the image. In channels-last order one patch row is one
    /// contiguous run of `kernel·cin` values, in the patch and (for the columns inside) in the
    /// input, so im2col and col2im move whole runs.
    fn for_each_patch_row(&self, mut f: impl FnMut(usize, usize, Option<(usize, std::ops::Range<usize>)>)) {
        let (k, s, p, side) = (self.kernel as isize, self.stride as isize, self.pad as isize, self.in_side as isize);
        for oy in 0..self.out_side {
            for ox in 0..self.out_side {
                let pixel = oy * self.out_side + ox;
                let x0 = ox as isize * s - p;
                let columns = (-x0).clamp(0, k) as usize..(side - x0).clamp(0, k) as usize;
                for ky in 0..k {
                    let iy = oy as isize * s + ky - p;
                    let source = ((0..side).contains(&iy) && !columns.is_empty())
                        .then(|| ((iy * side + x0 + columns.start as isize) as usize, columns.clone()));
                    f(pixel, ky as usize, source);
                }
            }
        }
    }

    /// Pre-activations `out = conv(x) + bias` for `images` NHWC images.
    pub fn forward(&self, images: usize, x: &[f32], cols: &mut [f32], out: &mut [f32]) {
        let (cin, patch, pixels) = (self.cin, self.patch_len(), self.out_side * self.out_side);
        let run = self.kernel * cin;
        for b in 0..images {
            let image = &x[b * self.in_len()..(b + 1) * self.in_len()];
            let cols = &mut cols[b * pixels * patch..(b + 1) * pixels * patch];
            self.for_each_patch_row(|pixel, ky, source| {
                let dst = &mut cols[pixel * patch + ky * run..pixel * patch + (ky + 1) * run];
                match source {
                    Some((first, columns)) => {
                        dst[..columns.start * cin].fill(0.0);
                        dst[columns.end * cin..].fill(0.0);
                        dst[columns.start * cin..columns.end * cin].copy_from_slice(&image[first * cin..(first + columns.len()) * cin]);
                    }
                    None => dst.fill(0.0),
                }
            });
        }
        let rows = images * pixels;
        for row in out[..rows * self.cout].chunks_exact_mut(self.cout) {
            row.copy_from_slice(&self.bias);
        }
        matmul(rows, self.cout, patch, out, true, &cols[..rows * patch], &self.weight, false);
    }

    /// The gradient with respect to the input, given the one with respect to the
    /// pre-activations `grad_out`: `grad_in` is overwritten.
    pub fn input_grad(&self, images: usize, grad_out: &[f32], cols: &mut [f32], grad_in: &mut [f32]) {
        let (cin, patch, pixels) = (self.cin, self.patch_len(), self.out_side * self.out_side);
        let rows = images * pixels;
        // cols = grad_out · Wᵀ: each row is one output pixel's share of every tap's input.
        matmul(rows, patch, self.cout, cols, false, &grad_out[..rows * self.cout], &self.weight, true);
        grad_in[..images * self.in_len()].fill(0.0);
        let run = self.kernel * cin;
        for b in 0..images {
            let grad = &mut grad_in[b * self.in_len()..(b + 1) * self.in_len()];
            let cols = &cols[b * pixels * patch..(b + 1) * pixels * patch];
            self.for_each_patch_row(|pixel, ky, source| {
                if let Some((first, columns)) = source {
                    let row = pixel * patch + ky * run;
                    let src = &cols[row + columns.start * cin..row + columns.end * cin];
                    for (g, v) in grad[first * cin..(first + columns.len()) * cin].iter_mut().zip(src) {
                        *g += v;
                    }
                }
            });
        }
    }
}
