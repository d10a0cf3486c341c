//! The safetensors export (`dermaebm::safetensors`, `debm export --safetensors`): a net written
//! and read back gives the same energies (a contrastive net, a class-conditional one, a
//! spectrally normalised level-conditioned recovery one at every level); the file read with
//! PyTorch's semantics alone (nn.Conv2d, nn.Linear's [out, in], torch.flatten, logsumexp, the
//! level terms; written out here in plain loops) gives them too, so the names and layouts are
//! what a PyTorch module expects; and a damaged or foreign file is refused, saying why.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::HashMap;

use burn::tensor::{Int, TensorData};
use dermaebm::safetensors::{FORMAT, FORMAT_KEY, SafetensorsError, from_safetensors, to_safetensors};
use dermaebm::{Device, EbmConfig, EnergyNet, Tensor, synthetic};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::common::{conditional_config, tiny_config, tiny_recovery_config, with_random_levels};

const IMAGES: usize = 12;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

fn images(config: &EbmConfig, device: &Device) -> Tensor<4> {
    synthetic::patterns(IMAGES, config.channels, config.image_size, 0.2, 3, device)
}

/// f(x, t) of `net` for every image at level `t` (the net's output; −E).
fn outputs(net: &EnergyNet, x: Tensor<4>, t: usize) -> Vec<f32> {
    let device = x.device();
    let levels = Tensor::<1, Int>::from_data(TensorData::new(vec![t as i64; IMAGES], [IMAGES]), &device);
    values(net.forward_at(x, &levels))
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Exports `net`, reads it back and checks the configuration and f at every level.
fn round_trip(net: &EnergyNet, config: &EbmConfig) {
    let device = Device::flex();
    let bytes = to_safetensors(net, config).expect("export");
    let (read_config, read) = from_safetensors(&bytes, &device).expect("read back");
    assert_eq!(&read_config, config);
    assert_eq!((read.classes(), read.levels()), (net.classes(), net.levels()));
    assert!(!read.has_spectral_norm(), "the net read back is the baked one");
    let x = images(config, &device);
    assert_eq!(values(net.energy(x.clone())).len(), IMAGES);
    for t in 0..net.levels().max(1) {
        let (before, after) = (outputs(net, x.clone(), t), outputs(&read, x.clone(), t));
        let difference = max_difference(&before, &after);
        assert!(difference <= 1e-6, "level {t}: energies differ by {difference}: {before:?} vs {after:?}");
    }
    let difference = max_difference(&values(net.energy(x.clone())), &values(read.energy(x)));
    assert!(difference <= 1e-6, "E(x) differs by {difference}");
}

#[test]
fn a_contrastive_net_reads_back_with_the_same_energies() {
    let config = tiny_config(31);
    let net = EnergyNet::new((&config).into(), &Device::flex());
    round_trip(&net, &config);
}

#[test]
fn a_class_conditional_net_reads_back_with_the_same_energies() {
    let config = conditional_config(32);
    let net = EnergyNet::new((&config).into(), &Device::flex());
    assert!(net.classes() > 1);
    round_trip(&net, &config);
}

#[test]
fn a_spectrally_normalised_recovery_net_reads_back_with_the_same_energies_at_every_level() {
    let config = tiny_recovery_config(33);
    assert!(config.spectral_norm && config.levels() > 1);
    let net = with_random_levels(EnergyNet::new((&config).into(), &Device::flex()));
    round_trip(&net, &config);
}

#[test]
fn a_class_conditional_recovery_net_reads_back_with_the_same_energies_for_every_class() {
    let config = EbmConfig { classes: 4, ..tiny_recovery_config(34) };
    let device = Device::flex();
    let net = with_random_levels(EnergyNet::new((&config).into(), &device));
    round_trip(&net, &config);
    let (_, read) = from_safetensors(&to_safetensors(&net, &config).unwrap(), &device).unwrap();
    let x = images(&config, &device);
    for k in 0..4 {
        let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![k as i64; IMAGES], [IMAGES]), &device);
        let levels = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64; IMAGES], [IMAGES]), &device);
        let of = |n: &EnergyNet| values(n.forward_at_given(x.clone(), &levels, Some(&labels)));
        let difference = max_difference(&of(&net), &of(&read));
        assert!(difference <= 1e-6, "class {k}: energies differ by {difference}");
    }
}

/// The file's tensors by name: (shape, values).
fn tensors(bytes: &[u8]) -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    let file = SafeTensors::deserialize(bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            assert_eq!(view.dtype(), Dtype::F32, "{name}");
            let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            (name, (view.shape().to_vec(), values))
        })
        .collect()
}

/// torch.nn.functional.conv2d with stride 2 and zero padding `pad` of one image [C, S, S] by
/// `weight` [O, C, K, K], plus `bias`, in f64: [O, S', S'] and S'.
fn conv2d(x: &[f64], side: usize, weight: &(Vec<usize>, Vec<f32>), bias: &[f32], pad: usize) -> (Vec<f64>, usize) {
    let [o, c, k, _] = weight.0[..] else { panic!("a conv weight is 4-D") };
    assert_eq!(x.len(), c * side * side);
    let out_side = (side + 2 * pad - k) / 2 + 1;
    let mut out = vec![0.0; o * out_side * out_side];
    for oc in 0..o {
        for i in 0..out_side {
            for j in 0..out_side {
                let mut sum = bias[oc] as f64;
                for ic in 0..c {
                    for ki in 0..k {
                        for kj in 0..k {
                            let (r, s) = ((2 * i + ki) as isize - pad as isize, (2 * j + kj) as isize - pad as isize);
                            if r < 0 || s < 0 || r >= side as isize || s >= side as isize {
                                continue;
                            }
                            let w = weight.1[((oc * c + ic) * k + ki) * k + kj] as f64;
                            sum += w * x[(ic * side + r as usize) * side + s as usize];
                        }
                    }
                }
                out[(oc * out_side + i) * out_side + j] = sum;
            }
        }
    }
    (out, out_side)
}

fn silu(v: f64) -> f64 {
    v / (1.0 + (-v).exp())
}

/// The energy E(x) = −f(x, t) of one image [C, S, S] from the file's tensors alone, as the
/// README's PyTorch module computes it.
fn pytorch_energy(file: &HashMap<String, (Vec<usize>, Vec<f32>)>, image: &[f32], side: usize, t: usize) -> f64 {
    let get = |name: &str| file.get(name).unwrap_or_else(|| panic!("no tensor `{name}`"));
    let mut x: Vec<f64> = image.iter().map(|&v| v as f64).collect();
    let mut side = side;
    for (layer, pad) in [(1, 4), (2, 1), (3, 1), (4, 1)] {
        let (out, out_side) = conv2d(&x, side, get(&format!("conv{layer}.weight")), &get(&format!("conv{layer}.bias")).1, pad);
        let shift = get(&format!("level_shift.{}", layer - 1));
        let channels = shift.0[1];
        let pixels = out_side * out_side;
        x = out.iter().enumerate().map(|(i, &v)| silu(v + shift.1[t * channels + i / pixels] as f64)).collect();
        side = out_side;
    }
    // nn.Linear: weight [out, in]; x is flattened channel-major, as torch.flatten(x, 1).
    let linear = |name: &str, x: &[f64]| -> Vec<f64> {
        let (shape, w) = get(&format!("{name}.weight"));
        let b = &get(&format!("{name}.bias")).1;
        assert_eq!(shape[1], x.len(), "{name} reads {} inputs", shape[1]);
        (0..shape[0]).map(|o| b[o] as f64 + x.iter().enumerate().map(|(i, &v)| w[o * shape[1] + i] as f64 * v).sum::<f64>()).collect()
    };
    let shift = get("level_shift.4");
    let features = shift.0[1];
    let h: Vec<f64> = linear("fc1", &x).iter().enumerate().map(|(i, &v)| silu(v + shift.1[t * features + i] as f64)).collect();
    let logits = linear("fc2", &h);
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let logsumexp = max + logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
    let head = &get("level_head").1;
    let per_level: f64 = h.iter().enumerate().map(|(i, &v)| v * head[t * features + i] as f64).sum();
    -(logsumexp + per_level)
}

#[test]
fn the_file_read_with_pytorch_semantics_gives_the_nets_energies() {
    let device = Device::flex();
    let recovery = tiny_recovery_config(36);
    let nets = [
        (tiny_config(34), None),
        (conditional_config(35), None),
        (recovery.clone(), Some(with_random_levels(EnergyNet::new((&recovery).into(), &device)))),
    ];
    for (config, net) in nets {
        let net = net.unwrap_or_else(|| EnergyNet::new((&config).into(), &device));
        let file = tensors(&to_safetensors(&net, &config).unwrap());
        let mut names: Vec<&str> = file.keys().map(String::as_str).collect();
        names.sort_unstable();
        let expected = [
            "conv1.bias",
            "conv1.weight",
            "conv2.bias",
            "conv2.weight",
            "conv3.bias",
            "conv3.weight",
            "conv4.bias",
            "conv4.weight",
            "fc1.bias",
            "fc1.weight",
            "fc2.bias",
            "fc2.weight",
            "level_head",
            "level_shift.0",
            "level_shift.1",
            "level_shift.2",
            "level_shift.3",
            "level_shift.4",
        ];
        assert_eq!(names, expected);
        let width = 2 * config.width;
        assert_eq!(file["fc2.weight"].0, [config.classes.max(1), width], "nn.Linear's [out, in]");
        assert_eq!(file["level_head"].0, [config.levels().max(1), width]);
        let x = images(&config, &device);
        let pixels = config.channels * config.image_size * config.image_size;
        let image_values = values(x.clone());
        for t in 0..config.levels().max(1) {
            let ours: Vec<f32> = outputs(&net, x.clone(), t).iter().map(|f| -f).collect();
            for (i, e) in ours.iter().enumerate() {
                let theirs = pytorch_energy(&file, &image_values[i * pixels..(i + 1) * pixels], config.image_size, t);
                let tolerance = 1e-4 * (1.0 + theirs.abs());
                assert!(
                    (*e as f64 - theirs).abs() <= tolerance,
                    "{:?} net, level {t}, image {i}: the net says {e}, the file read as PyTorch would {theirs}",
                    config.recipe
                );
            }
        }
    }
}

#[test]
fn the_metadata_describes_the_net() {
    let config = tiny_recovery_config(37);
    let net = EnergyNet::new((&config).into(), &Device::flex());
    let bytes = to_safetensors(&net, &config).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().expect("metadata");
    assert_eq!(meta["format"], "pt");
    assert_eq!(meta[FORMAT_KEY], FORMAT);
    assert_eq!(EbmConfig::from_json(&meta["config"]).unwrap(), config);
    assert_eq!(meta["recipe"], "recovery");
    assert_eq!(meta["levels"], config.levels().to_string());
    assert_eq!(meta["classes"], "0");
    assert!(meta["spectral_norm"].starts_with("baked"), "{}", meta["spectral_norm"]);
    assert!(meta["energy"].contains("logsumexp(fc2(h),1) + h@level_head[t]"), "{}", meta["energy"]);
    let contrastive = tiny_config(38);
    let bytes = to_safetensors(&EnergyNet::new((&contrastive).into(), &Device::flex()), &contrastive).unwrap();
    let meta = SafeTensors::read_metadata(&bytes).unwrap().1.metadata().clone().unwrap();
    assert_eq!((meta["recipe"].as_str(), meta["levels"].as_str(), meta["spectral_norm"].as_str()), ("contrastive", "0", "none"));
}

/// A safetensors file of `tensors` (name, shape, values) with `metadata`.
fn write(tensors: &[(String, Vec<usize>, Vec<f32>)], metadata: Option<HashMap<String, String>>) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views =
        tensors.iter().zip(&bytes).map(|((name, shape, _), b)| (name.clone(), TensorView::new(Dtype::F32, shape.clone(), b).unwrap()));
    safetensors::serialize(views, metadata).unwrap()
}

/// `bytes` (an export) rewritten by `edit` of its tensors and metadata.
fn rewritten(bytes: &[u8], edit: impl FnOnce(&mut Vec<(String, Vec<usize>, Vec<f32>)>, &mut HashMap<String, String>)) -> Vec<u8> {
    let mut list: Vec<(String, Vec<usize>, Vec<f32>)> = tensors(bytes).into_iter().map(|(n, (s, v))| (n, s, v)).collect();
    let mut meta = SafeTensors::read_metadata(bytes).unwrap().1.metadata().clone().unwrap();
    edit(&mut list, &mut meta);
    write(&list, Some(meta))
}

fn refusal(bytes: &[u8]) -> SafetensorsError {
    match from_safetensors(bytes, &Device::flex()) {
        Ok(_) => panic!("a bad file was read"),
        Err(e) => e,
    }
}

#[test]
fn damaged_or_foreign_files_are_refused_saying_why() {
    let config = tiny_config(39);
    let good = to_safetensors(&EnergyNet::new((&config).into(), &Device::flex()), &config).unwrap();
    assert!(from_safetensors(&good, &Device::flex()).is_ok());
    let tensor = |name: &str, list: &mut Vec<(String, Vec<usize>, Vec<f32>)>| list.iter().position(|(n, _, _)| n == name).unwrap();

    // Not safetensors at all, or cut short.
    assert!(matches!(refusal(b"DEBMWTS\0 something else"), SafetensorsError::Format(_)));
    assert!(matches!(refusal(&good[..good.len() - 5]), SafetensorsError::Format(_)));
    assert!(matches!(refusal(&good[..6]), SafetensorsError::Format(_)));
    // Someone else's safetensors file.
    let foreign = write(&[("weight".into(), vec![2, 2], vec![1.0; 4])], Some(HashMap::from([("format".into(), "pt".into())])));
    let error = refusal(&foreign);
    assert_eq!(error, SafetensorsError::Foreign);
    assert!(error.to_string().contains("not an energy net exported by dermaebm"), "{error}");
    assert_eq!(refusal(&write(&[("weight".into(), vec![1], vec![1.0])], None)), SafetensorsError::Foreign);
    // A later layout.
    let later = rewritten(&good, |_, meta| {
        meta.insert(FORMAT_KEY.into(), "energy-net/2".into());
    });
    assert_eq!(refusal(&later), SafetensorsError::Layout("energy-net/2".into()));
    // A configuration that does not parse, or does not fit the tensors.
    let broken = rewritten(&good, |_, meta| {
        meta.insert("config".into(), "{\"width\": ".into());
    });
    assert!(matches!(refusal(&broken), SafetensorsError::Metadata(_)));
    let wider = rewritten(&good, |_, meta| {
        let wider = EbmConfig { width: config.width * 2, ..config.clone() };
        meta.insert("config".into(), wider.to_json());
    });
    let error = refusal(&wider);
    assert!(error.to_string().contains("conv1.weight") && error.to_string().contains("shape"), "{error}");
    // A missing, an extra, a NaN tensor; level tables that are not zero for a net without levels.
    let missing = rewritten(&good, |list, _| {
        let i = tensor("fc1.bias", list);
        list.remove(i);
    });
    assert_eq!(refusal(&missing), SafetensorsError::Tensor { name: "fc1.bias".into(), problem: "missing".into() });
    let extra = rewritten(&good, |list, _| list.push(("fc3.weight".into(), vec![1], vec![0.0])));
    assert!(matches!(refusal(&extra), SafetensorsError::Tensor { name, .. } if name == "fc3.weight"));
    let nan = rewritten(&good, |list, _| {
        let i = tensor("conv2.weight", list);
        list[i].2[3] = f32::NAN;
    });
    let error = refusal(&nan);
    assert!(error.to_string().contains("conv2.weight") && error.to_string().contains("NaN"), "{error}");
    let shifted = rewritten(&good, |list, _| {
        let i = tensor("level_shift.2", list);
        list[i].2[0] = 0.5;
    });
    let error = refusal(&shifted);
    assert!(error.to_string().contains("level_shift.2") && error.to_string().contains("no noise levels"), "{error}");
    // A flipped bit in the header's JSON.
    let mut flipped = good.clone();
    flipped[12] ^= 0x40;
    assert!(from_safetensors(&flipped, &Device::flex()).is_err());
}

#[test]
fn a_net_and_a_configuration_that_disagree_are_not_exported() {
    let config = tiny_config(40);
    let net = EnergyNet::new((&config).into(), &Device::flex());
    let conditional = EbmConfig { classes: 4, ..config };
    assert!(matches!(to_safetensors(&net, &conditional), Err(SafetensorsError::Mismatch(_))));
    let wider = EbmConfig { width: 16, ..tiny_config(40) };
    let error = to_safetensors(&net, &wider).unwrap_err();
    assert!(matches!(error, SafetensorsError::Mismatch(_)) && error.to_string().contains("the configuration"), "{error}");
}
