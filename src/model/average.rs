//! The mean of several snapshots of one training run's net: stochastic weight averaging
//! (Izmailov et al., *Averaging Weights Leads to Wider Optima and Better Generalization*, 2018).
//!
//! Why: from one kept checkpoint to the next (250 updates apart) this project's persistent FID
//! moves by ±4–5 while its trend stays flat, so each snapshot is the run's point plus a random
//! excursion. The mean of the weights of snapshots from one trajectory keeps the point and
//! cancels much of the excursion, at no training cost. Nets from different runs do not share a
//! basin and their mean is meaningless; this module cannot tell, so callers average one run.
//!
//! The result keeps the *last* net's parameter ids, so a checkpoint whose model is replaced by
//! the average still matches its Adam state and resumes.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::tensor::TensorData;

use super::EnergyNet;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AverageError {
    #[error("nothing to average: give at least one net")]
    Empty,
    #[error(
        "net {index} has parameters of other shapes than the first ({found:?} against {expected:?}): only snapshots of one network can be averaged"
    )]
    Shapes { index: usize, found: Vec<Vec<usize>>, expected: Vec<Vec<usize>> },
}

/// Every float parameter of `net`, in visiting order, with its shape (a sync read: only for a
/// net on the `flex` device, where reading never waits).
fn parameters(net: &EnergyNet) -> Vec<(Vec<usize>, Vec<f32>)> {
    struct Read(Vec<(Vec<usize>, Vec<f32>)>);
    impl ModuleVisitor for Read {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let t = param.val();
            let dims = t.dims().to_vec();
            self.0.push((dims, t.into_data().convert::<f32>().try_into_vec::<f32>().expect("parameters are floats")));
        }
    }
    let mut read = Read(Vec::new());
    net.visit(&mut read);
    read.0
}

/// The element-wise mean of `nets`' parameters, as a net with the last one's parameter ids.
pub fn averaged(nets: &[EnergyNet]) -> Result<EnergyNet, AverageError> {
    let last = nets.last().ok_or(AverageError::Empty)?;
    let mut sum = parameters(&nets[0]);
    let expected: Vec<Vec<usize>> = sum.iter().map(|(d, _)| d.clone()).collect();
    for (index, net) in nets.iter().enumerate().skip(1) {
        let params = parameters(net);
        let found: Vec<Vec<usize>> = params.iter().map(|(d, _)| d.clone()).collect();
        if found != expected {
            return Err(AverageError::Shapes { index, found, expected });
        }
        for ((_, total), (_, values)) in sum.iter_mut().zip(params) {
            total.iter_mut().zip(values).for_each(|(t, v)| *t += v);
        }
    }
    let n = nets.len() as f32;
    struct Fill(std::vec::IntoIter<(Vec<usize>, Vec<f32>)>);
    impl ModuleMapper for Fill {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (dims, values) = self.0.next().expect("one mean per parameter");
            let device = param.val().device();
            Param::initialized(param.id, Tensor::from_data(TensorData::new(values, dims), &device))
        }
    }
    let means: Vec<(Vec<usize>, Vec<f32>)> =
        sum.into_iter().map(|(dims, total)| (dims, total.into_iter().map(|t| t / n).collect())).collect();
    Ok(last.clone().map(&mut Fill(means.into_iter())))
}
