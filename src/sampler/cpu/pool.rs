//! Chains run elsewhere too: a pool of helpers (in the browser, worker threads each running
//! their own wasm instance) takes shares of a run's chains while this thread runs one more. A share is a contiguous range of chains
//! with its `first_chain`, so every chain keeps its own noise stream and the images do not
//! depend on how many helpers ran them — the same partitioning natively, where the shares are
//! rayon's tiles ([`super::run_chains`]). Only the frozen weights and the share's images travel.

use std::cell::RefCell;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::rc::Rc;

use super::{Frames, Frozen, Spec, join_shares, run_chains};
use crate::sampler::Dynamics;

/// One share of a run, for one helper.
pub struct ShareJob<'a> {
    /// The frozen net ([`Frozen::to_values`]).
    pub net: &'a [f32],
    /// The share's chains, NHWC, one after another.
    pub images: &'a [f32],
    pub labels: Option<&'a [i32]>,
    /// The share's chains' noise levels (a one-level recovery chain).
    pub levels: Option<&'a [u32]>,
    pub free: Option<&'a [bool]>,
    pub dynamics: &'a Dynamics,
    pub record_every: Option<usize>,
    pub seed: u64,
    /// Index of the share's first chain in the whole run.
    pub first_chain: usize,
}

/// A share's final images and recorded frames, or why it failed.
pub type ShareFuture = Pin<Box<dyn Future<Output = Result<(Vec<f32>, Frames), String>>>>;

/// Helpers that run shares of chains.
pub trait ChainPool {
    /// How many shares to cut a run into (≥ 1).
    fn helpers(&self) -> usize;
    /// Starts `job` at once and returns a future of its result, so that shares started one
    /// after another run at the same time. A helper that dies is the pool's to replace.
    fn start(&self, job: ShareJob<'_>) -> ShareFuture;
}

thread_local! {
    // One engine per thread (a worker, in the browser), so one pool per thread.
    static POOL: RefCell<Option<Rc<dyn ChainPool>>> = const { RefCell::new(None) };
}

/// Makes Langevin on the CPU run on `pool` from now on in this thread (`None`: here again).
pub fn install_pool(pool: Option<Rc<dyn ChainPool>>) {
    POOL.with(|p| *p.borrow_mut() = pool);
}

pub(super) fn installed() -> Option<Rc<dyn ChainPool>> {
    POOL.with(|p| p.borrow().clone())
}

/// `n` chains as `parts` contiguous shares of nearly equal size (the first ones one larger);
/// never an empty share.
pub fn shares(n: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.clamp(1, n.max(1));
    let (base, extra) = (n / parts, n % parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let len = base + usize::from(i < extra);
            start += len;
            start - len..start
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// Runs every chain of `images` (NHWC) as `helpers + 1` shares: one for each helper, started
/// first, and the last one here while they work; joined as [`super::run_chains`] joins its
/// tiles. A share whose helper fails is rerun here, so the run always completes.
pub async fn run_on_pool(pool: &dyn ChainPool, net: &Frozen, images: &[f32], spec: &Spec<'_>) -> (Vec<f32>, Frames) {
    let len = net.image_len();
    let values = net.to_values();
    let ranges = shares(images.len() / len, pool.helpers() + 1);
    let share_spec = |r: &Range<usize>| Spec {
        dynamics: spec.dynamics,
        target_labels: spec.target_labels.map(|l| &l[r.clone()]),
        levels: spec.levels.map(|l| &l[r.clone()]),
        free: spec.free.map(|f| &f[r.start * len..r.end * len]),
        record_every: spec.record_every,
        seed: spec.seed,
        first_chain: spec.first_chain + r.start,
    };
    let Some((mine, theirs)) = ranges.split_last() else { return (Vec::new(), Vec::new()) };
    let started: Vec<ShareFuture> = theirs
        .iter()
        .map(|r| {
            let s = share_spec(r);
            pool.start(ShareJob {
                net: &values,
                images: &images[r.start * len..r.end * len],
                labels: s.target_labels,
                levels: s.levels,
                free: s.free,
                dynamics: s.dynamics,
                record_every: s.record_every,
                seed: s.seed,
                first_chain: s.first_chain,
            })
        })
        .collect();
    let local = run_chains(net, &images[mine.start * len..mine.end * len], &share_spec(mine));
    let mut results = Vec::with_capacity(ranges.len());
    for (share, r) in started.into_iter().zip(theirs) {
        let done = match share.await {
            Ok(done) => done,
            Err(_) => run_chains(net, &images[r.start * len..r.end * len], &share_spec(r)),
        };
        results.push(done);
    }
    results.push(local);
    join_shares(results)
}

#[cfg(test)]
mod tests {
    use super::shares;

    #[test]
    fn shares_cover_every_chain_once_in_order() {
        assert_eq!(shares(10, 3), vec![0..4, 4..7, 7..10]);
        assert_eq!(shares(2, 8), vec![0..1, 1..2]);
        assert_eq!(shares(5, 0), vec![0..5]);
        assert!(shares(0, 4).is_empty());
    }
}
