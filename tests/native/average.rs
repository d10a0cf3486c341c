//! Averaging snapshots of one run (stochastic weight averaging): the mean net holds the
//! element-wise mean of the parameters with the last snapshot's ids, nets of other shapes are
//! refused with a clear error, and a checkpoint whose net is replaced by the mean keeps its
//! chains and Adam's state and resumes.
#![cfg(not(target_arch = "wasm32"))]

use crate::common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use dermaebm::checkpoint::{self, Contents};
use dermaebm::model::{AverageError, averaged};
use dermaebm::platform::block_on;
use dermaebm::weights::WeightsFile;
use dermaebm::{EbmConfig, EnergyNet, Trainer};

/// Every float parameter: (id, values), in visiting order.
fn parameters(net: &EnergyNet) -> Vec<(u64, Vec<f32>)> {
    struct Read(Vec<(u64, Vec<f32>)>);
    impl ModuleVisitor for Read {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let values = param.val().into_data().convert::<f32>().try_into_vec::<f32>().expect("floats");
            self.0.push((param.id.val(), values));
        }
    }
    let mut read = Read(Vec::new());
    net.visit(&mut read);
    read.0
}

/// A trainer of `config` after `steps` CD updates.
fn trained(config: &EbmConfig, steps: u64) -> Trainer {
    let mut trainer = Trainer::new(config.clone(), &Device::flex()).expect("valid config");
    for seed in 0..steps {
        let (real, labels) = common::labelled_patterns(config, seed, &trainer.device());
        block_on(trainer.step(real, config.is_conditional().then_some(labels.as_slice()))).expect("a step");
    }
    trainer
}

#[test]
fn the_mean_net_holds_the_mean_of_the_parameters_with_the_last_ids() {
    let _seeded = common::device_rng_lock();
    let config = common::conditional_config(3);
    let a = trained(&config, 2).model().valid();
    let b = trained(&common::conditional_config(4), 3).model().valid();
    let (pa, pb) = (parameters(&a), parameters(&b));
    assert!(pa.iter().zip(&pb).any(|(x, y)| x.1 != y.1), "two different nets to average");
    let mean = averaged(&[a, b]).expect("same shapes");
    let pm = parameters(&mean);
    assert_eq!(pm.len(), pa.len());
    for ((ida, va), ((idb, vb), (idm, vm))) in pa.iter().zip(pb.iter().zip(&pm)) {
        assert_eq!(idm, idb, "the last snapshot's parameter ids (Adam's state is keyed by them)");
        assert_ne!(ida, idb);
        for ((x, y), m) in va.iter().zip(vb).zip(vm) {
            assert!((m - (x + y) / 2.0).abs() <= 1e-6 * (1.0 + m.abs()), "mean of {x} and {y} is {m}");
        }
    }
}

#[test]
fn the_mean_of_copies_of_one_net_computes_what_it_does() {
    let _seeded = common::device_rng_lock();
    let config = common::tiny_config(5);
    let net = trained(&config, 2).model().valid();
    let (x, _) = common::labelled_patterns(&config, 9, &Device::flex());
    let before = net.logits(x.clone()).into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
    let mean = averaged(&[net.clone(), net.clone(), net]).expect("same shapes");
    let after = mean.logits(x).into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
    for (b, a) in before.iter().zip(&after) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{b} became {a}");
    }
}

#[test]
fn nets_of_other_shapes_or_none_are_refused() {
    let _seeded = common::device_rng_lock();
    let narrow = common::tiny_config(1);
    let wide = EbmConfig { width: 2 * narrow.width, ..narrow.clone() };
    let device = Device::flex();
    let nets = [EnergyNet::new((&narrow).into(), &device), EnergyNet::new((&wide).into(), &device)];
    let error = averaged(&nets).expect_err("different widths");
    assert!(matches!(error, AverageError::Shapes { index: 1, .. }), "{error:?}");
    assert!(error.to_string().contains("only snapshots of one network"), "{error}");
    assert_eq!(averaged(&[]).expect_err("nothing"), AverageError::Empty);
}

#[test]
fn a_checkpoint_with_the_mean_net_keeps_its_state_and_resumes() {
    let _seeded = common::device_rng_lock();
    let config = common::conditional_config(7);
    let early = trained(&config, 2);
    let late = trained(&config, 4);
    let contents = Contents { optimizer: true, buffer: true, newest_chains: None };
    let file = WeightsFile::decode(&block_on(checkpoint::save(&late, contents, "late")).expect("saves")).expect("decodes");
    let mean = averaged(&[early.model().valid(), late.model().valid()]).expect("same shapes");
    let bytes = block_on(file.with_model(&mean, "mean of 2")).expect("re-encodes");
    let averaged_file = WeightsFile::decode(&bytes).expect("decodes");
    assert_eq!(averaged_file.header.note, "mean of 2");
    assert_eq!(averaged_file.header.iteration, file.header.iteration);
    for name in ["optimizer", "param_ids", "buffer"] {
        assert_eq!(averaged_file.section(name), file.section(name), "section `{name}` is kept");
    }
    let loaded = averaged_file.model(&Device::flex()).expect("loads");
    assert_eq!(
        parameters(&loaded).into_iter().map(|p| p.1).collect::<Vec<_>>(),
        parameters(&mean).into_iter().map(|p| p.1).collect::<Vec<_>>()
    );
    let mut resumed = checkpoint::restore(&averaged_file, config.clone(), &Device::flex()).expect("resumes");
    let (real, labels) = common::labelled_patterns(&config, 11, &resumed.device());
    let stats = block_on(resumed.step(real, Some(labels.as_slice()))).expect("trains on");
    assert!(stats.loss.is_finite());
}
