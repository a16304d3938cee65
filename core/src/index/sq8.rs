//! 8-bit scalar quantization (`quantization=sq8`): per-dimension ranges, one byte per
//! component, and the query preparation that lets the graph walk score codes with an exact
//! integer kernel ([`crate::vector::code_dot`]).
//!
//! # What this module owns
//! The training state of one index ([`Sq8`]: a range `[lo_d, hi_d]` per dimension and the
//! number of live vectors it was trained on), the encoding of a vector into its code and its
//! per-vector statistic, and [`Sq8Query`], a query prepared for scoring codes. Where codes live
//! (in each node record of the HNSW graph, next to the level-0 list) and when training runs are
//! the graph's business (`super::hnsw`); this module only computes.
//!
//! # Encoding
//! With `step_d = (hi_d - lo_d) / 255` (in `f32`), component `x_d` becomes the code
//! `c_d = round((x_d - lo_d) / step_d)` clamped to `0..=255` (0 when `step_d` is 0), and stands
//! for `x'_d = lo_d + step_d * c_d`. A value outside the trained range is clamped to its
//! nearest end: its code is still valid and only its approximate distance suffers, which the
//! exact rerank repairs. Encoding is scalar code, run once per stored vector, so every CPU
//! computes the same bytes (codes are derived state, recomputed when a checkpoint is decoded).
//!
//! # Scoring
//! Every supported metric is a function of one inner product with the codes:
//! - `l2`: `|q - x'|^2 = |q - lo|^2 - 2 sum((q_d - lo_d) step_d c_d) + sum((step_d c_d)^2)`;
//! - `dot`: `-(q . x') = -(q . lo + sum(q_d step_d c_d))`;
//! - `cosine`: `1 - (q . lo + sum(q_d step_d c_d)) / (|q| |x'|)`.
//!
//! The per-vector term (`sum((step_d c_d)^2)` for `l2`, `|x'|` for cosine, nothing for dot) is
//! the vector's *statistic*, stored next to its code. The query's weights `w_d` (the factor of
//! `c_d` above) are rounded to `i16` with one scale per query (`w_d ~ alpha * iw_d`, `|iw_d| <=
//! 32767`), so a distance costs one exact integer dot product of `u8` codes with `i16`
//! weights plus a few `f64` operations. The relative rounding of the weights (`2^-16` of the
//! largest) is far below the codes' own.
//!
//! # Training (deterministic)
//! The ranges are the per-dimension minimum and maximum of the live vectors, taken in node
//! order, so the same operations always give the same ranges. An index is *untrained* until it
//! holds [`SQ8_TRAIN_MIN`] live vectors (a search of an untrained index walks the exact
//! vectors, exactly as `quantization=none` does); the insert that reaches it trains and encodes
//! every node. Training is redone, re-encoding every node (tombstones included, which the walk
//! still navigates through), when the live count reaches twice the count of the last training
//! (so ranges follow a growing collection and retraining costs O(1) encodings per insert,
//! amortized), at compaction, and when the index is rebuilt (configuration, `fsck
//! --rebuild-index`). Removing the last vector resets the index to untrained.
//!
//! Invariants (verified by `Hnsw::check` and when decoding): an untrained index has all ranges
//! zero and every code region zero; a trained one has finite ranges with `lo_d <= hi_d` and
//! every node's code and statistic equal to what [`Sq8::encode`] gives for its stored vector.

use crate::limits::SQ8_TRAIN_MIN;
use crate::vector::{ElemType, Metric};

/// Largest magnitude of a query weight.
const WEIGHT_MAX: f64 = 32767.0;

/// Component `d` of a vector of type `elem`, as `f32` (`f32`, `f16` and `i16` only).
#[inline]
pub(crate) fn component(elem: ElemType, v: &[u8], d: usize) -> f32 {
    match elem {
        ElemType::F32 => f32::from_le_bytes([v[4 * d], v[4 * d + 1], v[4 * d + 2], v[4 * d + 3]]),
        ElemType::F16 => half::f16::from_le_bytes([v[2 * d], v[2 * d + 1]]).to_f32(),
        ElemType::I16 => f32::from(i16::from_le_bytes([v[2 * d], v[2 * d + 1]])),
        ElemType::I8 => f32::from(v[d] as i8),
        ElemType::Bin => 0.0,
    }
}

/// Whether sq8 applies to vectors of `elem` measured by `metric`: `f32`, `f16` and `i16` (an
/// `i8` or `bin` vector is no larger than its code) under `l2`, `cosine` or `dot` (`l1` is not
/// a function of one inner product).
pub const fn supported(elem: ElemType, metric: Metric) -> bool {
    matches!(elem, ElemType::F32 | ElemType::F16 | ElemType::I16)
        && matches!(metric, Metric::L2 | Metric::Cosine | Metric::Dot)
}

/// The training state of one sq8 index.
#[derive(Debug, Clone, PartialEq)]
pub struct Sq8 {
    elem: ElemType,
    metric: Metric,
    /// Live vectors the ranges were computed from; 0 while untrained.
    pub(crate) trained_at: u64,
    pub(crate) lo: Vec<f32>,
    pub(crate) hi: Vec<f32>,
    /// `(hi - lo) / 255`, derived.
    step: Vec<f32>,
}

impl Sq8 {
    /// An untrained state for vectors of `dim` components.
    pub fn new(elem: ElemType, metric: Metric, dim: usize) -> Self {
        Sq8 {
            elem,
            metric,
            trained_at: 0,
            lo: vec![0.0; dim],
            hi: vec![0.0; dim],
            step: vec![0.0; dim],
        }
    }

    /// Components per vector (bytes per code).
    pub fn dim(&self) -> usize {
        self.lo.len()
    }

    /// Whether the ranges are trained.
    pub fn is_trained(&self) -> bool {
        self.trained_at > 0
    }

    /// Whether an index of `live` vectors trained as this one must (re)train now.
    pub fn due(&self, live: u64) -> bool {
        if self.is_trained() {
            live >= self.trained_at.saturating_mul(2)
        } else {
            live >= SQ8_TRAIN_MIN
        }
    }

    /// Forgets the training.
    pub fn reset(&mut self) {
        self.trained_at = 0;
        self.lo.fill(0.0);
        self.hi.fill(0.0);
        self.step.fill(0.0);
    }

    /// Trains on `vectors` (`live` of them, at least [`SQ8_TRAIN_MIN`], else it resets): the
    /// per-dimension minimum and maximum.
    pub fn train<'a>(&mut self, live: u64, vectors: impl Iterator<Item = &'a [u8]>) {
        self.reset();
        if live < SQ8_TRAIN_MIN {
            return;
        }
        self.lo.fill(f32::INFINITY);
        self.hi.fill(f32::NEG_INFINITY);
        for v in vectors {
            for d in 0..self.lo.len() {
                let x = component(self.elem, v, d);
                self.lo[d] = self.lo[d].min(x);
                self.hi[d] = self.hi[d].max(x);
            }
        }
        if self.lo.iter().any(|x| !x.is_finite()) {
            // No vector was given after all: stay untrained.
            self.reset();
            return;
        }
        self.trained_at = live;
        self.derive();
    }

    /// Sets the ranges as decoded from a checkpoint; false (nothing changed) when they are not
    /// valid: untrained with nonzero ranges, or trained below [`SQ8_TRAIN_MIN`] or with a range
    /// that is not finite or has `lo > hi`.
    pub fn load(&mut self, trained_at: u64, lo: &[f32], hi: &[f32]) -> bool {
        if lo.len() != self.lo.len() || hi.len() != self.hi.len() {
            return false;
        }
        let ok = if trained_at == 0 {
            lo.iter().chain(hi).all(|x| x.to_bits() == 0)
        } else {
            trained_at >= SQ8_TRAIN_MIN
                && lo
                    .iter()
                    .zip(hi)
                    .all(|(l, h)| l.is_finite() && h.is_finite() && l <= h && (h - l).is_finite())
        };
        if ok {
            self.trained_at = trained_at;
            self.lo.copy_from_slice(lo);
            self.hi.copy_from_slice(hi);
            self.derive();
        }
        ok
    }

    fn derive(&mut self) {
        for ((s, l), h) in self.step.iter_mut().zip(&self.lo).zip(&self.hi) {
            *s = (h - l) / 255.0;
        }
    }

    /// Writes `v`'s code into `code` (`dim` bytes) and returns its statistic (see the module
    /// docs); an untrained state writes zeros and returns 0.
    pub fn encode(&self, v: &[u8], code: &mut [u8]) -> f32 {
        if !self.is_trained() {
            code.fill(0);
            return 0.0;
        }
        let mut stat = 0f64;
        for (d, c) in code.iter_mut().enumerate().take(self.lo.len()) {
            let x = component(self.elem, v, d);
            let s = self.step[d];
            let q = if s > 0.0 {
                ((x - self.lo[d]) / s).round().clamp(0.0, 255.0)
            } else {
                0.0
            };
            *c = q as u8;
            let t = f64::from(s) * f64::from(*c);
            stat += match self.metric {
                Metric::L2 => t * t,
                _ => {
                    let r = f64::from(self.lo[d]) + t;
                    r * r
                }
            };
        }
        match self.metric {
            Metric::L2 => stat as f32,
            Metric::Cosine => stat.sqrt() as f32,
            _ => 0.0,
        }
    }

    /// Prepares `q` (a vector of the index's type) for scoring codes, into `out` (whose weight
    /// buffer is resized once to `dim`, then reused).
    pub fn prepare(&self, q: &[u8], out: &mut Sq8Query) {
        let dim = self.lo.len();
        if out.w.len() != dim {
            out.w.resize(dim, 0);
        }
        let weight = |d: usize| {
            let x = f64::from(component(self.elem, q, d));
            let base = match self.metric {
                Metric::L2 => x - f64::from(self.lo[d]),
                _ => x,
            };
            (x, base * f64::from(self.step[d]))
        };
        // Pass 1: the constants and the largest weight; pass 2: the rounded weights.
        let (mut c0, mut qq, mut wmax) = (0f64, 0f64, 0f64);
        for d in 0..dim {
            let (x, w) = weight(d);
            let lo = f64::from(self.lo[d]);
            match self.metric {
                Metric::L2 => c0 += (x - lo) * (x - lo),
                _ => {
                    c0 += x * lo;
                    qq += x * x;
                }
            }
            wmax = wmax.max(w.abs());
        }
        let alpha = if wmax > 0.0 { wmax / WEIGHT_MAX } else { 0.0 };
        for (d, w) in out.w.iter_mut().enumerate() {
            *w = if alpha > 0.0 {
                (weight(d).1 / alpha).round().clamp(-WEIGHT_MAX, WEIGHT_MAX) as i16
            } else {
                0
            };
        }
        out.alpha = alpha;
        out.c0 = c0;
        out.qn = qq.sqrt();
        out.metric = self.metric;
    }
}

/// A query prepared by [`Sq8::prepare`]: `i16` weights and the constants of the metric's
/// formula. Kept in the caller's search scratch, so a warm search allocates nothing.
#[derive(Debug, Clone)]
pub struct Sq8Query {
    /// The rounded weights, `dim` of them.
    pub(crate) w: Vec<i16>,
    /// Scale of the weights.
    alpha: f64,
    /// `|q - lo|^2` (`l2`) or `q . lo` (dot, cosine).
    c0: f64,
    /// `|q|` (cosine).
    qn: f64,
    metric: Metric,
}

impl Default for Sq8Query {
    fn default() -> Self {
        Sq8Query {
            w: Vec::new(),
            alpha: 0.0,
            c0: 0.0,
            qn: 0.0,
            metric: Metric::L2,
        }
    }
}

impl Sq8Query {
    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.w.capacity() * 2
    }

    /// The approximate distance to a code whose dot product with the weights is `idot` and
    /// whose statistic is `stat`.
    #[inline(always)]
    pub fn distance(&self, idot: i64, stat: f32) -> f32 {
        let p = self.alpha * idot as f64;
        match self.metric {
            Metric::L2 => (self.c0 - 2.0 * p + f64::from(stat)) as f32,
            Metric::Cosine => {
                let den = self.qn * f64::from(stat);
                if den > 0.0 {
                    (1.0 - (self.c0 + p) / den) as f32
                } else {
                    1.0
                }
            }
            _ => (-(self.c0 + p)) as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn encode_clamps_and_reconstructs() {
        let mut q = Sq8::new(ElemType::F32, Metric::L2, 2);
        let vs: Vec<Vec<u8>> = (0..SQ8_TRAIN_MIN)
            .map(|i| f32s(&[i as f32 / (SQ8_TRAIN_MIN - 1) as f32, 5.0]))
            .collect();
        q.train(SQ8_TRAIN_MIN, vs.iter().map(|v| v.as_slice()));
        assert!(q.is_trained());
        assert_eq!((q.lo[0], q.hi[0], q.lo[1], q.hi[1]), (0.0, 1.0, 5.0, 5.0));
        let mut c = [0u8; 2];
        q.encode(&f32s(&[0.6, 5.0]), &mut c);
        assert_eq!(c, [153, 0]);
        // Outside the trained range: clamped to its ends.
        q.encode(&f32s(&[-3.0, 9.0]), &mut c);
        assert_eq!(c, [0, 0]);
        q.encode(&f32s(&[7.0, 1.0]), &mut c);
        assert_eq!(c, [255, 0]);
    }

    #[test]
    fn small_sets_stay_untrained_and_load_validates() {
        let mut q = Sq8::new(ElemType::F32, Metric::Dot, 1);
        let v = f32s(&[1.0]);
        q.train(SQ8_TRAIN_MIN - 1, std::iter::repeat_n(v.as_slice(), 3));
        assert!(!q.is_trained());
        let mut c = [9u8];
        assert_eq!(q.encode(&v, &mut c), 0.0);
        assert_eq!(c, [0]);
        assert!(!q.load(SQ8_TRAIN_MIN, &[2.0], &[1.0]));
        assert!(!q.load(SQ8_TRAIN_MIN, &[f32::NAN], &[1.0]));
        assert!(!q.load(0, &[1.0], &[1.0]));
        assert!(!q.load(1, &[0.0], &[1.0]));
        assert!(!q.is_trained());
        assert!(q.load(SQ8_TRAIN_MIN, &[0.0], &[1.0]));
        assert!(q.is_trained());
    }

    #[test]
    fn code_distances_approximate_exact_ones() {
        let dim = 48;
        let mut x = 7u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        let vs: Vec<Vec<f32>> = (0..200).map(|_| (0..dim).map(|_| next()).collect()).collect();
        let bytes: Vec<Vec<u8>> = vs.iter().map(|v| f32s(v)).collect();
        for metric in [Metric::L2, Metric::Dot, Metric::Cosine] {
            let mut q = Sq8::new(ElemType::F32, metric, dim);
            q.train(200, bytes.iter().map(|v| v.as_slice()));
            let mut pq = Sq8Query::default();
            q.prepare(&bytes[0], &mut pq);
            let exact = crate::vector::kernel(ElemType::F32, metric);
            let mut code = vec![0u8; dim];
            for b in &bytes[1..] {
                let stat = q.encode(b, &mut code);
                let idot = crate::vector::code_dot()(&code, &pq.w);
                let got = pq.distance(idot, stat);
                let want = exact(&bytes[0], b);
                let tol = match metric {
                    Metric::L2 => 0.05 * want.abs() + 0.05,
                    _ => 0.05,
                };
                assert!((got - want).abs() <= tol, "{metric:?}: {got} vs {want}");
            }
        }
    }
}
