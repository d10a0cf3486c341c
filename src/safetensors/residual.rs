//! The denoising recipe's residual energy net as safetensors. Its tensors are named by the
//! module's own structure — the path of each parameter (`stem.weight`, `blocks.3.conv1.weight`,
//! `blocks.2.skip.weight`, `embed_in.weight`, `gate.bias`, `readout.weight`, `class_table`,
//! `data_mean`, `data_std`) — so no list of names is kept beside the net: a net of another depth
//! or width exports and reads back with the same code. Layouts are PyTorch's: convolutions
//! [out, in, k, k] (3×3 with padding 1, the skips 1×1 without bias), `nn.Linear` weights
//! [out, in] (burn's are the transpose). `fourier_frequencies` [embedding / 4] holds the fixed
//! frequencies of the level's Fourier features, which the net does not store (they derive from a
//! seed); a file whose frequencies differ from this build's is refused.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::TensorData;

use super::{Entry, SafetensorsError, tensor_error, transposed};
use crate::model::residual::fourier_frequencies;
use crate::model::{EnergyNet, NetShape, ResidualNet};

/// The name of the Fourier frequencies' tensor.
pub const FREQUENCIES: &str = "fourier_frequencies";

/// How E is computed, for the metadata.
pub const ENERGY: &str = "u=c_in*(x-data_mean) with c_in=1/sqrt(s^2+sd^2), sd=data_std, s=sigma; \
    e=embed_out(silu(embed_in([sin(f*ln(s)/4), cos(f*ln(s)/4)]))) (+ class_table[k], row K = any class), f=fourier_frequencies; \
    h=stem(u); per block: avg_pool2d(h,2) first where the stage starts, h = skip(h) (or h) + conv2(silu(conv1(silu(h)) + level(e)[:,:,None,None])); \
    H=readout(sum_hw(silu(h)) * (1 + gate(e))); E(x,s)=|x-data_mean|^2/(2(s^2+sd^2)) + (sd/s)*H (lower = more likely); \
    denoiser D(x;s) = x - s^2 * grad_x E";

/// Reads one tensor of the file by name, checked against the dims it must have.
pub(super) type ReadTensor<'a> = &'a dyn Fn(&str, &[usize]) -> Result<Vec<f32>, SafetensorsError>;

/// Where a module traversal is: the names of the fields entered and the types that hold them.
#[derive(Default)]
struct ModulePath {
    names: Vec<String>,
    parents: Vec<String>,
}

impl ModulePath {
    fn enter(&mut self, name: &str, container_type: &str) {
        self.names.push(name.to_owned());
        self.parents.push(container_type.to_owned());
    }

    fn exit(&mut self) {
        self.names.pop();
        self.parents.pop();
    }

    /// The parameter's name in the file: `blocks.3.conv1.weight`.
    fn name(&self) -> String {
        self.names.join(".")
    }

    /// An `nn.Linear` weight: stored as [out, in] (burn's is the transpose).
    fn is_linear_weight(&self) -> bool {
        self.names.last().is_some_and(|n| n == "weight") && self.parents.last().is_some_and(|p| p == "Struct:Linear")
    }
}

/// Every float parameter of a module with its path and whether it is an `nn.Linear` weight.
#[derive(Default)]
struct Collect {
    path: ModulePath,
    out: Vec<(String, bool, Vec<usize>, Vec<f32>)>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let dims = t.dims().to_vec();
        let values = t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
        self.out.push((self.path.name(), self.path.is_linear_weight(), dims, values));
    }
}

/// The entries of `net` (on the CPU backend, where values read synchronously).
pub(super) fn entries(net: &ResidualNet) -> Result<Vec<Entry>, SafetensorsError> {
    let net = net.clone().to_device(&Device::flex());
    let mut collect = Collect::default();
    net.visit(&mut collect);
    let mut entries = Vec::with_capacity(collect.out.len() + 1);
    for (name, linear, dims, values) in collect.out {
        if values.len() != dims.iter().product::<usize>() {
            return Err(SafetensorsError::Readback(format!("`{name}` could not be read")));
        }
        let entry = if linear {
            let [inputs, outputs] = [dims[0], dims[1]];
            Entry { name, shape: vec![outputs, inputs], values: transposed(&values, inputs, outputs) }
        } else {
            Entry { name, shape: dims, values }
        };
        entries.push(entry);
    }
    let freqs = fourier_frequencies(net.embedding());
    entries.push(Entry { name: FREQUENCIES.into(), shape: vec![freqs.len()], values: freqs });
    Ok(entries)
}

/// Replaces every float parameter of a fresh net by the file's tensor of the same path.
struct Fill<'a> {
    read: ReadTensor<'a>,
    path: ModulePath,
    names: Vec<String>,
    error: Option<SafetensorsError>,
}

impl ModuleMapper for Fill<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.enter(name, container_type);
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.exit();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.error.is_some() {
            return param;
        }
        let name = self.path.name();
        let t = param.val();
        let dims = t.dims();
        let linear = self.path.is_linear_weight();
        let stored: Vec<usize> = if linear { vec![dims[1], dims[0]] } else { dims.to_vec() };
        let values = match (self.read)(&name, &stored) {
            Ok(v) if linear => transposed(&v, dims[1], dims[0]),
            Ok(v) => v,
            Err(e) => {
                self.error = Some(e);
                return param;
            }
        };
        self.names.push(name);
        let tensor = Tensor::<D>::from_data(TensorData::new(values, dims), &t.device());
        // `map` keeps the parameter as it was made: the fixed ones (μ and σ_d) stay fixed.
        param.map(|_| tensor)
    }
}

/// A residual net of `shape` on `device` with the file's tensors; every tensor of the file must
/// be used. `read(name, dims)` gives a tensor's values after checking its presence, type, shape
/// and finiteness.
pub(super) fn read_net(shape: NetShape, device: &Device, read: ReadTensor<'_>, names: &[&str]) -> Result<EnergyNet, SafetensorsError> {
    let EnergyNet::Residual(fresh) = EnergyNet::new(shape, device) else {
        return Err(SafetensorsError::Metadata("the configuration describes no residual net".into()));
    };
    let expected = fourier_frequencies(fresh.embedding());
    let freqs = read(FREQUENCIES, &[expected.len()])?;
    if freqs != expected {
        return Err(tensor_error(FREQUENCIES, "differs from the frequencies this build derives"));
    }
    let mut fill = Fill { read, path: ModulePath::default(), names: Vec::new(), error: None };
    let net = fresh.map(&mut fill);
    if let Some(e) = fill.error {
        return Err(e);
    }
    if let Some(extra) = names.iter().find(|n| **n != FREQUENCIES && !fill.names.iter().any(|e| e == *n)) {
        return Err(tensor_error(extra, "is not part of this net"));
    }
    Ok(EnergyNet::Residual(net))
}
