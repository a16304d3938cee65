//! Synthetic data sets: seeded clustered Gaussian vectors and their exact nearest neighbours, so
//! that no benchmark needs a download.
//!
//! A data set of `clusters` clusters in `dim` dimensions: cluster centres are drawn from the
//! standard normal distribution (each component independent, variance 1), and every vector
//! (base or query) picks a centre uniformly at random and adds isotropic Gaussian noise of
//! standard deviation `spread`. Everything comes from one `Xoshiro256PlusPlus` stream seeded
//! with `seed` (centres, then base vectors, then queries), with `rand_distr`'s normal sampler,
//! so the same parameters always give the same bytes.

use crate::vecs::{IdRows, Vectors};
use rand_distr::{Distribution, StandardNormal, Uniform};
use rand_xoshiro::Xoshiro256PlusPlus;
use rand_xoshiro::rand_core::SeedableRng;
use std::sync::atomic::{AtomicU64, Ordering};
use vexfs_core::vector::{self, ElemType, Metric};

/// Shape of a clustered Gaussian data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClusterSpec {
    /// Base vectors.
    pub n: usize,
    /// Query vectors.
    pub queries: usize,
    /// Dimension.
    pub dim: usize,
    /// Number of clusters (at least 1).
    pub clusters: usize,
    /// Standard deviation of the noise around each centre (centres have variance 1).
    pub spread: f32,
    /// Seed of the whole data set.
    pub seed: u64,
}

/// The base and query vectors of `spec`.
pub fn clustered(spec: &ClusterSpec) -> (Vectors, Vectors) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(spec.seed);
    let normal = StandardNormal;
    let dim = spec.dim;
    let clusters = spec.clusters.max(1);
    let centres: Vec<f32> = (0..clusters * dim)
        .map(|_| Distribution::<f32>::sample(&normal, &mut rng))
        .collect();
    let pick = Uniform::new(0, clusters).unwrap_or_else(|_| unreachable!("clusters >= 1"));
    let mut draw = |count: usize| -> Vectors {
        let mut data = Vec::with_capacity(count * dim);
        for _ in 0..count {
            let c = pick.sample(&mut rng);
            let centre = &centres[c * dim..(c + 1) * dim];
            for &x in centre {
                let noise: f32 = normal.sample(&mut rng);
                data.push(x + spec.spread * noise);
            }
        }
        Vectors { dim, data }
    };
    let base = draw(spec.n);
    let queries = draw(spec.queries);
    (base, queries)
}

/// The exact `k` nearest base vectors of every query under `metric` (f32 vectors), by brute
/// force with the core's distance kernel; ties are broken by the smaller index. Rows hold
/// `min(k, base.len())` ids. Runs on every available core; `progress(done)` is called with the
/// number of queries finished (from any thread).
pub fn exact_knn(
    base: &Vectors,
    queries: &Vectors,
    k: usize,
    metric: Metric,
    progress: &(dyn Fn(u64) + Sync),
) -> IdRows {
    let kernel = vector::kernel(ElemType::F32, metric);
    let k = k.min(base.len());
    let nq = queries.len();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(nq.max(1));
    let per = nq.div_ceil(threads.max(1)).max(1);
    let mut out = vec![0i32; nq * k];
    let done = AtomicU64::new(0);
    std::thread::scope(|s| {
        for (t, chunk) in out.chunks_mut((per * k).max(1)).enumerate() {
            let done = &done;
            s.spawn(move || {
                let mut dists: Vec<(f32, u32)> = Vec::with_capacity(base.len());
                for (j, row) in chunk.chunks_mut(k.max(1)).enumerate() {
                    let q = bytes_of(queries.row(t * per + j));
                    dists.clear();
                    dists.extend(
                        base.iter()
                            .enumerate()
                            .map(|(i, b)| (kernel(q, bytes_of(b)), i as u32)),
                    );
                    let by = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
                    if k < dists.len() {
                        dists.select_nth_unstable_by(k, by);
                    }
                    let top = &mut dists[..k];
                    top.sort_unstable_by(by);
                    for (slot, &(_, i)) in row.iter_mut().zip(top.iter()) {
                        *slot = i as i32;
                    }
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                }
            });
        }
    });
    IdRows { dim: k, data: out }
}

/// The raw little-endian bytes of an f32 vector (the `f32` element type's encoding).
pub fn bytes_of(v: &[f32]) -> &[u8] {
    bytemuck::cast_slice(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ClusterSpec {
        ClusterSpec {
            n: 500,
            queries: 20,
            dim: 8,
            clusters: 5,
            spread: 0.3,
            seed: 42,
        }
    }

    #[test]
    fn deterministic_and_shaped() {
        let (b, q) = clustered(&spec());
        assert_eq!((b.len(), b.dim, q.len()), (500, 8, 20));
        assert_eq!(clustered(&spec()), (b.clone(), q));
        let other = clustered(&ClusterSpec { seed: 43, ..spec() }).0;
        assert_ne!(other, b);
        assert!(b.data.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn exact_knn_matches_a_plain_scan() {
        let (b, q) = clustered(&spec());
        let gt = exact_knn(&b, &q, 7, Metric::L2, &|_| {});
        assert_eq!((gt.len(), gt.dim), (20, 7));
        for (qi, row) in gt.iter().enumerate() {
            let d = |i: usize| -> f64 {
                b.row(i)
                    .iter()
                    .zip(q.row(qi))
                    .map(|(x, y)| f64::from(x - y).powi(2))
                    .sum()
            };
            let mut all: Vec<usize> = (0..b.len()).collect();
            all.sort_by(|&x, &y| d(x).total_cmp(&d(y)));
            let want: Vec<i32> = all[..7].iter().map(|&i| i as i32).collect();
            assert_eq!(row, &want[..], "query {qi}");
        }
    }
}
