//! 1-bit sketches of stored vectors (RaBitQ, Gao & Long, SIGMOD 2024) that bound a distance
//! from below before the vector is read, so the graph walk can skip the exact distances that
//! could not change its result.
//!
//! # What this module owns
//! The sketch of one vector (its signs after a seeded orthogonal rotation, packed one bit per
//! dimension, and three factors), the query prepared for bounding distances with sketches
//! ([`SketchQuery`]), and the bound itself. Where sketches live (in each node record of the HNSW
//! graph, right after its level-0 list) and when the walk consults them are the graph's business
//! (`super::hnsw`); this module only computes.
//!
//! # Why
//! A beam search at recall 0.95 computes most of its exact distances for nothing: 65-85 % of the
//! neighbours it measures are farther than the worst of its `ef` results and are dropped
//! (counted on `gauss100k`). Each of them costs a whole vector read from memory (a 384-d `f32`
//! vector is 24 cache lines), which is what bounds the walk on a graph larger than the cache. A
//! sketch is one or two lines: when it proves a neighbour cannot enter the results, the vector is
//! never read.
//!
//! # Rotation
//! `P` is a product of [`ROUNDS`] steps, each a seeded sign flip of every coordinate followed by
//! a normalised Walsh-Hadamard transform on a window of `p` coordinates (`p` the largest power of
//! two not above the dimension `D`), alternately the first `p` and the last `p`, so that when `D`
//! is not a power of two every coordinate is mixed with every other (the Kac-walk construction).
//! Every step is orthogonal, so `P` is. It runs in `O(D log D)` and in plain `f32` operations in
//! a fixed order, so every CPU computes the same bits.
//!
//! # Sketch and estimate
//! For a stored vector `o` (norm `r`), `o' = P o`; the sketch holds the bits `b_d = [o'_d > 0]`
//! and, with `s = sum |o'_d|` and `f = s / (sqrt(D) r)` (the cosine between `o'` and its sign
//! vector, about 0.8 for most data):
//! - `A = r^2 / s`, so that `A * sum_d (2 b_d - 1) q'_d` estimates `o . q` for `q' = P q`;
//! - `B = r * EPS0 * sqrt(1 - f^2) / (f * sqrt(D - 1))`: the estimate's error, `o . q` minus
//!   the estimate, is close to normal with standard deviation `|q| B / EPS0` (RaBitQ, Theorem
//!   3.2), so `estimate + |q| B` bounds `o . q` from above except with the probability the
//!   normal tail gives [`EPS0`];
//! - `N = r^2`.
//!
//! The query's rotated components are rounded to integer weights (`|w| <= 2^15 - 1`) with one
//! scale per query, and summed over the set bits by [`vector::sign_sum`] in exact integer
//! arithmetic; the rounding is added to the bound. The bound on the inner product
//! gives one on each metric's distance: `l2` `N + |q|^2 - 2 (o . q)`, `dot` `-(o . q)`, `cosine`
//! `1 - (o . q) / (|o| |q|)`.
//!
//! A bound that fails (for about one pair in six, see [`EPS0`]) only makes the walk skip a
//! neighbour it would have measured: the search stays a search, returned distances stay exact,
//! and the recall it costs is measured (`vexfs-bench ann`).
//!
//! Invariants: a sketch is derived state, a function of the stored vector and the index's seed
//! only (verified by `Hnsw::check`, recomputed when a checkpoint is decoded); the query tables
//! are sized once per index dimension, so preparing a query does not allocate in steady state.

use super::hnsw::{GAMMA, splitmix64};
use super::sq8::component;
use crate::vector::{self, ElemType, Metric, SignSumFn};

/// Rotation steps (sign flip + Hadamard on a window).
const ROUNDS: usize = 4;
/// The bound in standard deviations of the estimate. The paper's 1.9 (the bound holds for
/// about 97 % of pairs) let the walk skip 60 % of the neighbours it bounds on
/// `real-minilm-100k`; 1.0 (about 84 %) skipped 72 % at the same recall (within 0.002 at ef
/// 24-96) and answered 10-15 % more queries/s; 0.5 and 0.7 skipped more but cost recall
/// (`gauss100k`, `l2`, lost 0.03 at ef 32 with 0.5). A failed bound only skips a neighbour the
/// walk would have measured (one that was near the worst result anyway).
const EPS0: f64 = 1.0;
/// Largest magnitude of a query weight.
const WEIGHT_MAX: f64 = 32767.0;
/// Words of a sketch before its bits: `A`, `B` and `N` as `f32`.
pub(crate) const SKETCH_HEAD: usize = 3;

/// Whether vectors of `elem` measured by `metric` get sketches: `f32` and `f16` (the types whose
/// vectors are many times their sketch) under `l2`, `cosine` and `dot` (functions of one inner
/// product).
pub const fn supported(elem: ElemType, metric: Metric) -> bool {
    matches!(elem, ElemType::F32 | ElemType::F16)
        && matches!(metric, Metric::L2 | Metric::Cosine | Metric::Dot)
}

/// Words of a sketch of a `dim`-dimensional vector.
pub(crate) const fn words(dim: usize) -> usize {
    SKETCH_HEAD + dim.div_ceil(32)
}

/// The rotation and metric of one index's sketches.
#[derive(Debug, Clone)]
pub struct Sketcher {
    elem: ElemType,
    metric: Metric,
    dim: usize,
    /// The Hadamard window: the largest power of two not above `dim`.
    p: usize,
    /// `1 / sqrt(p)`.
    scale: f32,
    /// The sign flips, `ROUNDS` runs of `dim` factors, each `1.0` or `-1.0` (multiplying by
    /// one is exactly negating or keeping).
    signs: Vec<f32>,
    /// `EPS0 / sqrt(dim - 1)`.
    eps: f64,
}

/// A query prepared for bounding distances with sketches (see the module docs).
#[derive(Debug, Clone)]
pub struct SketchQuery {
    /// The query's weights, one per sketch bit (zero past the dimension).
    w: Vec<i32>,
    /// The sign-sum kernel.
    sum: SignSumFn,
    /// The rotated query.
    rot: Vec<f32>,
    /// `1 / alpha` (the weights are `alpha * q'`).
    inv_alpha: f64,
    /// `sum_d q'_d`.
    total: f64,
    /// Bound on the weights' rounding in `2 S / alpha` (`D / alpha`).
    round: f64,
    /// `|q|` and `|q|^2`.
    qn: f64,
    qq: f64,
    metric: Option<Metric>,
}

impl Default for SketchQuery {
    fn default() -> Self {
        SketchQuery {
            w: Vec::new(),
            sum: vector::sign_sum(),
            rot: Vec::new(),
            inv_alpha: 0.0,
            total: 0.0,
            round: 0.0,
            qn: 0.0,
            qq: 0.0,
            metric: None,
        }
    }
}

impl SketchQuery {
    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.w.capacity() * 4 + self.rot.capacity() * 4
    }
}

/// The in-place fast Walsh-Hadamard transform of `x` (a power-of-two length), unnormalised.
fn fwht(x: &mut [f32]) {
    let n = x.len();
    debug_assert!(n.is_power_of_two());
    let mut h = 1;
    while h < n {
        for pair in x.chunks_exact_mut(2 * h) {
            let (lo, hi) = pair.split_at_mut(h);
            for (a, b) in lo.iter_mut().zip(hi) {
                let (s, d) = (*a + *b, *a - *b);
                *a = s;
                *b = d;
            }
        }
        h *= 2;
    }
}

impl Sketcher {
    /// The sketcher of an index over `dim`-dimensional vectors (`dim >= 2`), its signs drawn
    /// from `seed`.
    pub fn new(elem: ElemType, metric: Metric, dim: usize, seed: u64) -> Self {
        assert!(dim >= 2 && supported(elem, metric));
        let p = 1usize << (usize::BITS - 1 - dim.leading_zeros());
        let mut state = seed ^ 0x5ce7_c4e5_1b17_0001;
        let mut word = 0u64;
        let signs = (0..ROUNDS * dim)
            .map(|i| {
                if i % 64 == 0 {
                    state = state.wrapping_add(GAMMA);
                    word = splitmix64(state);
                }
                if word >> (i % 64) & 1 == 1 { -1.0 } else { 1.0 }
            })
            .collect();
        Sketcher {
            elem,
            metric,
            dim,
            p,
            scale: 1.0 / (p as f32).sqrt(),
            signs,
            eps: EPS0 / ((dim - 1) as f64).sqrt(),
        }
    }

    /// Rotates `x` (`dim` components) in place by `P`.
    fn rotate(&self, x: &mut [f32]) {
        debug_assert_eq!(x.len(), self.dim);
        for (r, signs) in self.signs.chunks_exact(self.dim).enumerate() {
            for (v, &s) in x.iter_mut().zip(signs) {
                *v *= s;
            }
            let w = if r % 2 == 0 {
                &mut x[..self.p]
            } else {
                &mut x[self.dim - self.p..]
            };
            fwht(w);
            for v in w {
                *v *= self.scale;
            }
        }
    }

    /// `v`'s components as `f32`, into `buf` (resized to `dim`).
    fn load(&self, v: &[u8], buf: &mut Vec<f32>) {
        buf.clear();
        buf.extend((0..self.dim).map(|d| component(self.elem, v, d)));
    }

    /// Writes `v`'s sketch into `out` ([`words`] words; the bits past `dim` stay zero), using
    /// `buf` for the rotation.
    #[inline(never)] // its own frame: callers sit on deep insert and replay paths
    pub fn encode(&self, v: &[u8], out: &mut [u32], buf: &mut Vec<f32>) {
        debug_assert_eq!(out.len(), words(self.dim));
        self.load(v, buf);
        let nn: f64 = buf.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        self.rotate(buf);
        let (head, bits) = out.split_at_mut(SKETCH_HEAD);
        bits.fill(0);
        let mut s = 0f64;
        for (d, &x) in buf.iter().enumerate() {
            s += f64::from(x.abs());
            if x > 0.0 {
                bits[d / 32] |= 1 << (d % 32);
            }
        }
        let (a, b) = if nn > 0.0 && s > 0.0 && nn.is_finite() && s.is_finite() {
            let r = nn.sqrt();
            let f = (s / ((self.dim as f64).sqrt() * r)).min(1.0);
            (nn / s, r * self.eps * (1.0 - f * f).max(0.0).sqrt() / f)
        } else {
            (0.0, 0.0)
        };
        head[0] = (a as f32).to_bits();
        head[1] = (b as f32).to_bits();
        head[2] = (nn as f32).to_bits();
    }

    /// Prepares `q` (a vector of the index's type) for [`Sketcher::lower_bound`].
    #[inline(never)] // its own frame: callers sit on deep insert and replay paths
    pub fn prepare(&self, q: &[u8], out: &mut SketchQuery) {
        let mut rot = std::mem::take(&mut out.rot);
        self.load(q, &mut rot);
        let qq: f64 = rot.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        self.rotate(&mut rot);
        let amax = rot.iter().fold(0f32, |m, &x| m.max(x.abs()));
        let alpha = if amax > 0.0 && amax.is_finite() {
            WEIGHT_MAX / f64::from(amax)
        } else {
            1.0
        };
        out.w.clear();
        out.w.extend(
            rot.iter()
                .map(|&x| (f64::from(x) * alpha).round().clamp(-WEIGHT_MAX, WEIGHT_MAX) as i32),
        );
        out.w.resize(32 * self.dim.div_ceil(32), 0);
        out.total = rot.iter().map(|&x| f64::from(x)).sum();
        out.inv_alpha = 1.0 / alpha;
        out.round = self.dim as f64 / alpha;
        out.qq = qq;
        out.qn = qq.sqrt();
        out.metric = Some(self.metric);
        out.rot = rot;
    }
}

/// A lower bound on the distance from the prepared query `q` to the vector whose sketch is
/// `sk` (see the module docs); `-inf` when there is none (a zero vector under cosine).
#[inline(always)]
pub(crate) fn lower_bound(q: &SketchQuery, sk: &[u32]) -> f64 {
    let a = f64::from(f32::from_bits(sk[0]));
    let b = f64::from(f32::from_bits(sk[1]));
    let n = f64::from(f32::from_bits(sk[2]));
    let s = (q.sum)(&sk[SKETCH_HEAD..], &q.w);
    let x2 = 2.0 * s as f64 * q.inv_alpha - q.total;
    let ub = a * x2 + a * q.round + q.qn * b;
    match q.metric {
        Some(Metric::L2) => n + q.qq - 2.0 * ub,
        Some(Metric::Dot) => -ub,
        Some(Metric::Cosine) => {
            let den = (n * q.qq).sqrt();
            if den > 0.0 {
                1.0 - ub / den
            } else {
                f64::NEG_INFINITY
            }
        }
        _ => f64::NEG_INFINITY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic test data: SplitMix64, roughly normal components.
    struct Rng(u64);
    impl Rng {
        fn normal(&mut self) -> f32 {
            let mut s = 0.0;
            for _ in 0..4 {
                self.0 = self.0.wrapping_add(GAMMA);
                s += (splitmix64(self.0) >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            }
            s * 1.7
        }
    }

    fn bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    /// Vectors like sentence embeddings: a shared direction plus noise, unit length.
    fn embeddings(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut r = Rng(seed);
        let common: Vec<f32> = (0..dim).map(|_| r.normal()).collect();
        (0..n)
            .map(|_| {
                let v: Vec<f32> = common.iter().map(|&c| 0.6 * c + r.normal()).collect();
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter().map(|x| x / n).collect()
            })
            .collect()
    }

    fn exact(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
        let dot: f64 = a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
        let aa: f64 = a.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        let bb: f64 = b.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        match metric {
            Metric::L2 => aa + bb - 2.0 * dot,
            Metric::Dot => -dot,
            _ => 1.0 - dot / (aa * bb).sqrt(),
        }
    }

    #[test]
    fn the_rotation_is_orthogonal_and_seeded() {
        for dim in [256usize, 384, 1000] {
            let s = Sketcher::new(ElemType::F32, Metric::L2, dim, 7);
            let mut r = Rng(dim as u64);
            let x: Vec<f32> = (0..dim).map(|_| r.normal()).collect();
            let y: Vec<f32> = (0..dim).map(|_| r.normal()).collect();
            let (mut px, mut py) = (x.clone(), y.clone());
            s.rotate(&mut px);
            s.rotate(&mut py);
            let dot = |a: &[f32], b: &[f32]| {
                a.iter()
                    .zip(b)
                    .map(|(&p, &q)| f64::from(p) * f64::from(q))
                    .sum::<f64>()
            };
            let scale = dot(&x, &x).sqrt() * dot(&y, &y).sqrt();
            assert!(
                (dot(&px, &px) - dot(&x, &x)).abs() < 1e-4 * dot(&x, &x),
                "norm at {dim}"
            );
            assert!(
                (dot(&px, &py) - dot(&x, &y)).abs() < 1e-5 * scale,
                "inner product at {dim}"
            );
            assert_ne!(px, x, "the rotation moves vectors");
            let t = Sketcher::new(ElemType::F32, Metric::L2, dim, 8);
            let mut tx = x.clone();
            t.rotate(&mut tx);
            assert_ne!(tx, px, "another seed, another rotation");
            let mut again = x.clone();
            Sketcher::new(ElemType::F32, Metric::L2, dim, 7).rotate(&mut again);
            assert_eq!(again, px, "the same seed, the same bits");
        }
    }

    /// The bound holds for most pairs and is never vacuous. With [`EPS0`] = 1 it is one
    /// standard deviation of the estimate, so it holds for about 84 % of pairs (the estimate's
    /// error is close to normal); the mean gap between bound and distance stays small.
    #[test]
    fn bounds_hold_for_most_pairs_and_are_tight() {
        for metric in [Metric::L2, Metric::Cosine, Metric::Dot] {
            let dim = 384;
            let v = embeddings(300, dim, 11);
            let s = Sketcher::new(ElemType::F32, metric, dim, 3);
            let mut buf = Vec::new();
            let sketches: Vec<Vec<u32>> = v
                .iter()
                .map(|x| {
                    let mut out = vec![0u32; words(dim)];
                    s.encode(&bytes(x), &mut out, &mut buf);
                    out
                })
                .collect();
            let mut q = SketchQuery::default();
            let (mut held, mut pairs, mut gap) = (0usize, 0usize, 0f64);
            for a in &v[..30] {
                s.prepare(&bytes(a), &mut q);
                for (b, sk) in v[30..].iter().zip(&sketches[30..]) {
                    let (lb, d) = (lower_bound(&q, sk), exact(metric, a, b));
                    pairs += 1;
                    held += usize::from(lb <= d + 1e-9);
                    gap += d - lb;
                }
            }
            let rate = held as f64 / pairs as f64;
            let gap = gap / pairs as f64;
            eprintln!(
                "{}: bound held for {rate:.4} of pairs, mean gap {gap:.4}",
                metric.name()
            );
            assert!(rate >= 0.8, "{metric:?}: the bound held for only {rate}");
            assert!(gap < 0.25, "{metric:?}: the bound is loose (mean gap {gap})");
        }
    }

    #[test]
    fn zero_vectors_and_queries_are_never_skipped_under_cosine() {
        let dim = 256;
        let s = Sketcher::new(ElemType::F32, Metric::Cosine, dim, 1);
        let mut out = vec![0u32; words(dim)];
        s.encode(&bytes(&vec![0.0; dim]), &mut out, &mut Vec::new());
        assert_eq!(&out[..SKETCH_HEAD], &[0, 0, 0]);
        let mut q = SketchQuery::default();
        s.prepare(&bytes(&embeddings(1, dim, 2)[0]), &mut q);
        assert_eq!(lower_bound(&q, &out), f64::NEG_INFINITY);
        let mut other = vec![0u32; words(dim)];
        s.encode(&bytes(&embeddings(1, dim, 3)[0]), &mut other, &mut Vec::new());
        s.prepare(&bytes(&vec![0.0; dim]), &mut q);
        assert_eq!(lower_bound(&q, &other), f64::NEG_INFINITY);
    }

    #[test]
    fn f16_vectors_sketch_like_their_f32_values() {
        let dim = 512;
        let v = &embeddings(1, dim, 5)[0];
        let h: Vec<u8> = v
            .iter()
            .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
            .collect();
        let back: Vec<f32> = v.iter().map(|&x| half::f16::from_f32(x).to_f32()).collect();
        let (s16, s32) = (
            Sketcher::new(ElemType::F16, Metric::Dot, dim, 9),
            Sketcher::new(ElemType::F32, Metric::Dot, dim, 9),
        );
        let (mut a, mut b) = (vec![0u32; words(dim)], vec![0u32; words(dim)]);
        s16.encode(&h, &mut a, &mut Vec::new());
        s32.encode(&bytes(&back), &mut b, &mut Vec::new());
        assert_eq!(a, b);
    }
}
