//! Weights other tools can load: the energy net as a safetensors file (Hugging Face's format,
//! which PyTorch, JAX and NumPy read) with PyTorch's parameter names and layouts, so that a
//! short `nn.Module` (README, "Weights for PyTorch"; `scripts/safetensors_check.py`) loads it
//! with `load_state_dict` and computes the same energies.
//!
//! The denoising recipe's residual net names its tensors by its module structure instead
//! (`residual.rs`, with its own `energy` formula in the metadata). The CNN's tensors, all float32
//! little-endian:
//! - `conv1.weight` … `conv4.weight` [out, in, k, k] and `convN.bias` [out]: `nn.Conv2d` with
//!   stride 2, kernel 5 and padding 4 for conv1, kernel 3 and padding 1 for the others;
//! - `fc1.weight` [out, in] (`nn.Linear`'s layout; burn's is the transpose), reading conv4's
//!   output flattened channel-major (`torch.flatten(x, 1)`), and `fc1.bias`;
//! - `fc2.weight` [outputs, features] and `fc2.bias`: one output, or one logit per class;
//! - `level_shift.0` … `level_shift.4` [T, c] (an `nn.ParameterList`): the per-level shifts of
//!   conv1…conv4's and fc1's pre-activations, and `level_head` [T, features], each level's part
//!   of the output. A net without levels has them too, as one level of zeros (adding them
//!   changes nothing), so one module loads every net;
//! - a class-conditional level net also has `class_shift.0` … `class_shift.4` [K + 1, c] and
//!   `class_head` [K + 1, features]: the same form per class, row K being "any class"
//!   (f(x, t, k) adds `class_shift.(i−1)[k]` beside the level's shift and ⟨h, class_head[k]⟩;
//!   f(x, t) is row K).
//!
//! With a = SiLU, a₀ = x and aᵢ = a(convᵢ(aᵢ₋₁) + level_shift.(i−1)[t]),
//! h = a(fc1(flatten(a₄)) + level_shift.4[t]) and f(x, t) = logsumexp(fc2(h)) + ⟨h, level_head[t]⟩;
//! the energy of an image is E(x) = −f(x, 0). logsumexp of one output is that output; of class
//! logits it is the class-conditional net's marginal energy. A spectrally normalised net is
//! exported as it is used ([`EnergyNet::baked`]): its weights are already divided by their
//! largest singular value, so a reader normalises nothing (the metadata says so).
//!
//! `__metadata__` (strings): `format` `pt`; `dermaebm` [`FORMAT`] (what [`from_safetensors`]
//! checks first: a safetensors file without it is someone else's); `config`
//! ([`EbmConfig::to_json`]); `recipe`; `levels` (T of the net, 0 for none); `classes`;
//! `spectral_norm`; `energy` (how f is computed, one line).

use std::collections::HashMap;

use ::safetensors::tensor::TensorView;
use ::safetensors::{Dtype, SafeTensors};
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::config::EbmConfig;
use crate::model::{EnergyNet, NetShape};

mod residual;

/// The `dermaebm` metadata entry of the files this module writes: the layout above, version 1.
pub const FORMAT: &str = "energy-net/1";

/// The metadata key that marks a file as this project's export.
pub const FORMAT_KEY: &str = "dermaebm";

/// How f is computed, for the metadata.
pub const ENERGY: &str = "a=silu; a0=x in [-1,1] NCHW; ai=a(convi(a(i-1)) + level_shift.(i-1)[t][:,None,None]) for i=1..4; \
                          h=a(fc1(flatten(a4,1)) + level_shift.4[t]); f(x,t)=logsumexp(fc2(h),1) + h@level_head[t]; \
                          energy E(x)=-f(x,0) (lower = more likely)";

/// Why a net could not be written or a file not read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SafetensorsError {
    #[error("not a safetensors file, or a damaged one: {0}")]
    Format(String),
    #[error("a safetensors file, but not an energy net exported by dermaebm (its metadata has no `{FORMAT_KEY}` entry)")]
    Foreign,
    #[error("an energy net exported in layout `{0}`, which this build does not read (it reads `{FORMAT}`)")]
    Layout(String),
    #[error("the net does not match its configuration: {0}")]
    Mismatch(String),
    #[error("the file's metadata is wrong: {0}")]
    Metadata(String),
    #[error("tensor `{name}`: {problem}")]
    Tensor { name: String, problem: String },
    #[error("reading the weights' values failed: {0}")]
    Readback(String),
}

fn tensor_error(name: &str, problem: impl Into<String>) -> SafetensorsError {
    SafetensorsError::Tensor { name: name.into(), problem: problem.into() }
}

/// One tensor of the file: name, shape (PyTorch's) and values.
struct Entry {
    name: String,
    shape: Vec<usize>,
    values: Vec<f32>,
}

/// `values` ([rows, cols] row-major) transposed to [cols, rows].
fn transposed(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// Values of a tensor on the flex device (a synchronous read).
fn values<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>, SafetensorsError> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().map_err(|e| SafetensorsError::Readback(format!("{e:?}")))
}

/// The names, in file order of the layers, of the per-level shifts.
fn shift_name(layer: usize) -> String {
    format!("level_shift.{layer}")
}

fn class_shift_name(layer: usize) -> String {
    format!("class_shift.{layer}")
}

/// `net` (configured by `config`) as a safetensors file; see the module doc for the layout.
/// Reads the weights synchronously on the CPU backend: the net is copied there first (a net on
/// WebGPU in the browser must be read back asynchronously before: see `Engine.saveSafetensors`).
pub fn to_safetensors(net: &EnergyNet, config: &EbmConfig) -> Result<Vec<u8>, SafetensorsError> {
    let shape = NetShape::from(config);
    let net = match net {
        EnergyNet::Conv(net) => net,
        EnergyNet::Residual(net) => {
            if shape.residual.is_none() || net.classes != shape.classes {
                return Err(SafetensorsError::Mismatch("the net is a residual one, the configuration describes another".into()));
            }
            return serialize(residual::entries(net)?, config);
        }
    };
    // Channels, width and image size show in conv1's and fc1's shapes.
    let (c1, c3, side) = (shape.width / 2, shape.feature_width(), shape.final_side());
    let net_is = (net.conv1.weight.dims(), net.fc1.weight.dims(), net.classes(), net.levels(), net.has_spectral_norm());
    let config_says = ([c1, shape.channels, 5, 5], [c3 * side * side, c3], shape.classes, shape.levels, shape.spectral_norm);
    if net_is != config_says {
        return Err(SafetensorsError::Mismatch(format!(
            "the net has (conv1 weight, fc1 weight, classes, levels, spectral norm) {net_is:?}, the configuration {config_says:?}"
        )));
    }
    // The weights as used: normalised once, on the CPU backend, where values read synchronously.
    let net = net.clone().to_device(&Device::flex()).baked();
    let mut entries = Vec::new();
    for (i, layer) in [&net.conv1, &net.conv2, &net.conv3, &net.conv4].into_iter().enumerate() {
        let dims = layer.weight.dims();
        let bias = match &layer.bias {
            Some(b) => values(b.val())?,
            None => vec![0.0; dims[0]],
        };
        entries.push(Entry { name: format!("conv{}.weight", i + 1), shape: dims.to_vec(), values: values(layer.weight.val())? });
        entries.push(Entry { name: format!("conv{}.bias", i + 1), shape: vec![dims[0]], values: bias });
    }
    for (name, layer) in [("fc1", &net.fc1), ("fc2", &net.fc2)] {
        let [inputs, outputs] = layer.weight.dims();
        let bias = match &layer.bias {
            Some(b) => values(b.val())?,
            None => vec![0.0; outputs],
        };
        let weight = transposed(&values(layer.weight.val())?, inputs, outputs);
        entries.push(Entry { name: format!("{name}.weight"), shape: vec![outputs, inputs], values: weight });
        entries.push(Entry { name: format!("{name}.bias"), shape: vec![outputs], values: bias });
    }
    let widths = level_widths(&shape);
    match &net.levels {
        Some(levels) => {
            for (i, shift) in levels.shifts.iter().enumerate() {
                entries.push(Entry { name: shift_name(i), shape: shift.dims().to_vec(), values: values(shift.val())? });
            }
            entries.push(Entry { name: "level_head".into(), shape: levels.head.dims().to_vec(), values: values(levels.head.val())? });
        }
        None => {
            for (i, &c) in widths.iter().enumerate() {
                entries.push(Entry { name: shift_name(i), shape: vec![1, c], values: vec![0.0; c] });
            }
            let features = shape.feature_width();
            entries.push(Entry { name: "level_head".into(), shape: vec![1, features], values: vec![0.0; features] });
        }
    }
    // A class-conditional level net's class embedding (classes + 1 rows, the last "any class").
    if let Some(classes) = &net.labels {
        for (i, shift) in classes.shifts.iter().enumerate() {
            entries.push(Entry { name: class_shift_name(i), shape: shift.dims().to_vec(), values: values(shift.val())? });
        }
        entries.push(Entry { name: "class_head".into(), shape: classes.head.dims().to_vec(), values: values(classes.head.val())? });
    }
    serialize(entries, config)
}

/// `entries` and the metadata of `config` as a safetensors file.
fn serialize(entries: Vec<Entry>, config: &EbmConfig) -> Result<Vec<u8>, SafetensorsError> {
    let bytes: Vec<Vec<u8>> = entries.iter().map(|e| e.values.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let views = entries
        .iter()
        .zip(&bytes)
        .map(|(e, b)| TensorView::new(Dtype::F32, e.shape.clone(), b).map(|v| (e.name.clone(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SafetensorsError::Format(e.to_string()))?;
    ::safetensors::serialize(views, Some(metadata(config))).map_err(|e| SafetensorsError::Format(e.to_string()))
}

fn metadata(config: &EbmConfig) -> HashMap<String, String> {
    let recipe = serde_json::to_value(config.recipe).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    let spectral = if config.spectral_norm {
        "baked: conv1-conv4 and fc1 are stored divided by their largest singular value; use them as they are"
    } else {
        "none"
    };
    [
        ("format", "pt".to_owned()),
        (FORMAT_KEY, FORMAT.to_owned()),
        ("config", config.to_json()),
        ("recipe", recipe),
        ("levels", config.levels().to_string()),
        ("classes", config.classes.to_string()),
        ("spectral_norm", spectral.to_owned()),
        ("energy", if config.is_denoising() { residual::ENERGY } else { ENERGY }.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Channels of the five shifted layers: conv1…conv4 and fc1.
fn level_widths(shape: &NetShape) -> [usize; 5] {
    let (c1, c2, c3) = (shape.width / 2, shape.width, shape.feature_width());
    [c1, c2, c3, c3, c3]
}

/// Reads a file [`to_safetensors`] wrote: its configuration and the net on `device`. The net is
/// the one used, spectral normalisation done ([`EnergyNet::baked`]): it has none of its own
/// (`has_spectral_norm()` is false) even where the configuration says `spectral_norm` — its
/// energies are the exported net's; to train on, load the weights file it came from. Every
/// tensor must be there with its shape, float32, finite; nothing else may be.
pub fn from_safetensors(bytes: &[u8], device: &Device) -> Result<(EbmConfig, EnergyNet), SafetensorsError> {
    let format = |e: ::safetensors::SafeTensorError| SafetensorsError::Format(e.to_string());
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(format)?;
    let file = SafeTensors::deserialize(bytes).map_err(format)?;
    let empty = HashMap::new();
    let meta = header.metadata().as_ref().unwrap_or(&empty);
    match meta.get(FORMAT_KEY) {
        None => return Err(SafetensorsError::Foreign),
        Some(layout) if layout != FORMAT => return Err(SafetensorsError::Layout(layout.clone())),
        Some(_) => {}
    }
    let json = meta.get("config").ok_or_else(|| SafetensorsError::Metadata("no `config` entry".into()))?;
    let config = EbmConfig::from_json(json).map_err(|e| SafetensorsError::Metadata(e.to_string()))?;
    let shape = NetShape { spectral_norm: false, ..NetShape::from(&config) };

    let mut expected = Vec::new();
    let read = |name: &str, dims: &[usize]| -> Result<Vec<f32>, SafetensorsError> {
        let view = file.tensor(name).map_err(|_| tensor_error(name, "missing"))?;
        if view.dtype() != Dtype::F32 {
            return Err(tensor_error(name, format!("is {:?}, not float32", view.dtype())));
        }
        if view.shape() != dims {
            return Err(tensor_error(name, format!("has shape {:?}, not the {dims:?} the configuration gives", view.shape())));
        }
        let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes"))).collect();
        let bad = values.iter().filter(|v| !v.is_finite()).count();
        if bad > 0 {
            return Err(tensor_error(name, format!("holds {bad} NaN or infinite values")));
        }
        Ok(values)
    };
    if shape.residual.is_some() {
        return Ok((config, residual::read_net(shape, device, &read, &file.names())?));
    }
    let EnergyNet::Conv(mut net) = EnergyNet::new(shape, device) else {
        unreachable!("a configuration without a residual shape describes the CNN")
    };
    let param = |values: Vec<f32>, dims: [usize; 1]| Param::from_tensor(Tensor::<1>::from_data(TensorData::new(values, dims), device));

    let conv = |layer: &Conv2d, name: &str, expected: &mut Vec<String>| -> Result<Conv2d, SafetensorsError> {
        let dims = layer.weight.dims();
        let weight_name = format!("{name}.weight");
        let bias_name = format!("{name}.bias");
        let weight = read(&weight_name, &dims)?;
        let bias = read(&bias_name, &[dims[0]])?;
        expected.extend([weight_name, bias_name]);
        Ok(Conv2d {
            weight: Param::initialized(layer.weight.id, Tensor::from_data(TensorData::new(weight, dims), device)),
            bias: Some(param(bias, [dims[0]])),
            ..layer.clone()
        })
    };
    net.conv1 = conv(&net.conv1, "conv1", &mut expected)?;
    net.conv2 = conv(&net.conv2, "conv2", &mut expected)?;
    net.conv3 = conv(&net.conv3, "conv3", &mut expected)?;
    net.conv4 = conv(&net.conv4, "conv4", &mut expected)?;

    let dense = |layer: &Linear, name: &str, expected: &mut Vec<String>| -> Result<Linear, SafetensorsError> {
        let [inputs, outputs] = layer.weight.dims();
        let weight_name = format!("{name}.weight");
        let bias_name = format!("{name}.bias");
        let weight = transposed(&read(&weight_name, &[outputs, inputs])?, outputs, inputs);
        let bias = read(&bias_name, &[outputs])?;
        expected.extend([weight_name, bias_name]);
        Ok(Linear {
            weight: Param::initialized(layer.weight.id, Tensor::from_data(TensorData::new(weight, [inputs, outputs]), device)),
            bias: Some(param(bias, [outputs])),
        })
    };
    net.fc1 = dense(&net.fc1, "fc1", &mut expected)?;
    net.fc2 = dense(&net.fc2, "fc2", &mut expected)?;

    let widths = level_widths(&shape);
    let features = shape.feature_width();
    let table = |values: Vec<f32>, dims: [usize; 2]| Param::from_tensor(Tensor::<2>::from_data(TensorData::new(values, dims), device));
    match net.levels.as_mut() {
        Some(levels) => {
            let t = shape.levels;
            for (i, &c) in widths.iter().enumerate() {
                levels.shifts[i] = table(read(&shift_name(i), &[t, c])?, [t, c]);
            }
            levels.head = table(read("level_head", &[t, features])?, [t, features]);
        }
        None => {
            // A net without levels carries one level of zeros; anything else would be dropped.
            let names = (0..5).map(shift_name).chain(["level_head".to_owned()]);
            for (name, c) in names.zip(widths.into_iter().chain([features])) {
                if read(&name, &[1, c])?.iter().any(|&v| v != 0.0) {
                    return Err(tensor_error(&name, "is not zero, but the configuration has no noise levels"));
                }
            }
        }
    }
    expected.extend((0..5).map(shift_name).chain(["level_head".to_owned()]));
    if let Some(classes) = net.labels.as_mut() {
        let rows = shape.classes + 1;
        for (i, &c) in widths.iter().enumerate() {
            classes.shifts[i] = table(read(&class_shift_name(i), &[rows, c])?, [rows, c]);
        }
        classes.head = table(read("class_head", &[rows, features])?, [rows, features]);
        expected.extend((0..5).map(class_shift_name).chain(["class_head".to_owned()]));
    }
    if let Some(extra) = file.names().into_iter().find(|n| !expected.iter().any(|e| e == n)) {
        return Err(tensor_error(extra, "is not part of this net"));
    }
    Ok((config, EnergyNet::Conv(net)))
}
