//! Fast distance kernels and their runtime dispatch.
//!
//! This module owns the choice of distance implementation: [`kernel`] looks at the CPU once and
//! returns a plain `fn` pointer, so no feature check happens per distance. On x86-64 with AVX2
//! (plus FMA for floats, F16C for `f16`) it returns the `std::arch` kernels in `x86`; otherwise it
//! returns the portable kernels in [`portable`] (several independent accumulators over fixed-size
//! chunks, which LLVM vectorises for the baseline target). `scalar` stays the definition of every
//! distance; everything here is an optimisation of it.
//!
//! Invariants, for every supported (type, metric) pair and every implementation here:
//! - inputs are raw little-endian bytes at any alignment and any length; both slices are read up
//!   to the shorter one's last whole element, exactly as the scalar reference zips them. The
//!   components past the last whole group of lanes are either accumulated one at a time (x86) or
//!   copied into a zeroed stack buffer (portable), which is neutral for every metric (zeros add
//!   nothing to any sum). Kernels never allocate and never recurse.
//! - `i8`, `i16` and `bin` kernels use exact integer arithmetic (32-bit lanes drained into `i64`
//!   often enough that no lane can overflow) and convert once, so they return **exactly** the
//!   reference's `f32` (the reference sums exact integers in `f64`, below 2^53).
//! - `f32` and `f16` kernels multiply and add in `f32` lanes, drain the lanes into `f64` every
//!   [`FLOAT_BLOCK_ELEMS`] components, and must agree with the reference within
//!   `FLOAT_REL_TOLERANCE * S + FLOAT_ABS_TOLERANCE`, where `S` is the sum of the absolute values
//!   of the reference's terms (`(x-y)^2` for l2, `|x-y|` for l1, `|x*y|` for dot), and within
//!   [`COSINE_ABS_TOLERANCE`] absolutely for cosine (a value in `[0, 2]`). Why these numbers:
//!   with at most `FLOAT_BLOCK_ELEMS / 8` additions per lane between drains, the rounding error
//!   of a block is below about `40 * f32::EPSILON / 2 ≈ 2.4e-6` of its absolute sum, so
//!   `1e-5` leaves a margin of four; cosine combines three such sums.
//! - `f32` lanes can overflow (values above about 1e19) or lose precision to subnormals where
//!   the reference's `f64` does not. Every float kernel therefore checks its result: a
//!   non-finite sum, or for cosine a squared norm below [`COSINE_MIN_NORM`], falls back to the
//!   scalar reference for that call. So the extremes give exactly the reference's answer
//!   (including `1.0` for a zero vector under cosine), and a kernel never returns NaN for
//!   validated input.

pub mod portable;
#[cfg(test)]
mod tests;
#[cfg(target_arch = "x86_64")]
mod x86;

use super::{DistanceFn, ElemType, Metric};

/// Relative tolerance of the float kernels against the scalar reference, as a fraction of the sum
/// of the absolute values of the reference's terms (see the module documentation).
pub const FLOAT_REL_TOLERANCE: f64 = 1e-5;
/// Absolute slack on top of [`FLOAT_REL_TOLERANCE`], covering `f32` subnormal rounding of tiny
/// terms (each term can lose at most 2^-149, far below this).
pub const FLOAT_ABS_TOLERANCE: f64 = 1e-30;
/// Absolute tolerance of the float cosine kernels against the scalar reference.
pub const COSINE_ABS_TOLERANCE: f64 = 1e-5;
/// Components summed in `f32` lanes before the lanes are drained into `f64` partial sums.
pub const FLOAT_BLOCK_ELEMS: usize = 256;
/// Smallest squared norm (in the kernel's own `f32`-lane arithmetic) that float cosine kernels
/// trust; below it, underflow could matter and the reference answers instead. Every term lost to
/// subnormal rounding is below 2^-149, so at this norm the relative error stays under 1e-11.
pub const COSINE_MIN_NORM: f64 = 1e-30;
/// Integer components summed in 32-bit lanes before the lanes are drained into `i64`. Each step
/// takes 16 components and adds at most `2 * 65535` to a lane (i16 l1; i8 and the byte-split
/// i16 l2 add at most `2 * 255^2`), so a lane stays below `4096 / 16 * 131070 < 2^25`.
pub const INT_BLOCK_ELEMS: usize = 4096;

/// The fastest kernel for `(ty, metric)` on this CPU. Detects the CPU's features here, once per
/// call of this function, never inside the returned kernel. `supported(ty, metric)` must hold;
/// unsupported pairs get the scalar reference's fallback (see [`super::scalar::kernel`]).
pub fn kernel(ty: ElemType, metric: Metric) -> DistanceFn {
    if !super::supported(ty, metric) {
        return super::scalar::kernel(ty, metric);
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = x86::kernel(ty, metric) {
        return k;
    }
    portable::kernel(ty, metric)
}

/// A float cosine kernel in two halves, for callers that keep each stored vector's squared norm
/// (the HNSW index does): `distance(a, b, norm(a), norm(b))` returns exactly the bits of
/// `full(a, b)`, at the cost of one inner product instead of three sums. `dot` and `norm`
/// accumulate `a · b` and `a · a` in the same lanes, blocks and order as `full` does, and the
/// pairs `full` would hand to the scalar reference (parts not finite, a norm below
/// [`COSINE_MIN_NORM`]) go to `full` itself.
#[derive(Clone, Copy, Debug)]
pub struct CosineSplit {
    /// `a · b` as `full` accumulates it.
    pub dot: fn(&[u8], &[u8]) -> f64,
    /// `a · a` as `full` accumulates it.
    pub norm: fn(&[u8]) -> f64,
    /// The fused cosine kernel (what [`kernel`] returns for the type).
    pub full: DistanceFn,
}

#[cfg(test)]
impl CosineSplit {
    fn full(&self, a: &[u8], b: &[u8]) -> f32 {
        (self.full)(a, b)
    }
}

impl CosineSplit {
    /// `1 - cos(a, b)`, bit for bit `full(a, b)`, given `aa = norm(a)` and `bb = norm(b)`.
    #[inline(always)]
    pub fn distance(&self, a: &[u8], b: &[u8], aa: f64, bb: f64) -> f32 {
        let ab = (self.dot)(a, b);
        if cosine_parts_ok(ab, aa, bb) {
            super::scalar::cosine_from_parts(ab, aa, bb)
        } else {
            (self.full)(a, b)
        }
    }
}

/// The split form of the cosine kernel [`kernel`] returns for `ty` (`f32` and `f16`; `None` for
/// the integer types, whose fused kernels are exact and cheap).
pub fn cosine_split(ty: ElemType) -> Option<CosineSplit> {
    #[cfg(target_arch = "x86_64")]
    if let Some(s) = x86::cosine_split(ty) {
        return Some(s);
    }
    portable::cosine_split(ty)
}

/// The integer kernel of 8-bit scalar-quantized search: `sum(codes[i] * weights[i])` over the
/// shorter slice, computed exactly (every implementation returns the same `i64`; see
/// [`code_dot`]).
pub type CodeDotFn = fn(&[u8], &[i16]) -> i64;

/// Codes summed in 32-bit lanes before they are drained into `i64` by [`CodeDotFn`] kernels. A
/// lane takes at most `2 * 255 * 32768 < 2^24` per 16 codes, so 1024 codes (64 steps) keep it
/// below `2^30`.
pub const CODE_BLOCK_ELEMS: usize = 1024;

/// The fastest [`CodeDotFn`] on this CPU (AVX2 `vpmaddwd` over zero-extended codes on x86-64
/// when present, the portable lane-folding loop otherwise). Chosen once per index, never per
/// distance.
pub fn code_dot() -> CodeDotFn {
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = x86::code_dot() {
        return k;
    }
    portable::code_dot
}

/// The kernel of 1-bit sketch bounds (`index::sketch`): `sum(w[i])` over the set bits `i` of
/// `bits` (bit `i % 32` of word `i / 32`), for `i` below `min(32 * bits.len(), w.len())`,
/// computed exactly (every implementation returns the same `i64`). Weights are at most `2^15`
/// in magnitude, so 32-bit lanes cannot overflow below `2^16` weights per lane.
pub type SignSumFn = fn(&[u32], &[i32]) -> i64;

/// The fastest [`SignSumFn`] on this CPU (AVX-512F masked adds or AVX2 on x86-64, the portable
/// loop otherwise). Chosen once per index.
pub fn sign_sum() -> SignSumFn {
    #[cfg(target_arch = "x86_64")]
    if let Some(k) = x86::sign_sum() {
        return k;
    }
    portable::sign_sum
}

/// Every [`SignSumFn`] this CPU runs, named (for the tests).
#[cfg(test)]
pub(crate) fn sign_sum_variants() -> Vec<(&'static str, SignSumFn)> {
    #[cfg(target_arch = "x86_64")]
    let mut v = x86::sign_sum_variants();
    #[cfg(not(target_arch = "x86_64"))]
    let mut v = Vec::new();
    v.push(("portable::sign_sum", portable::sign_sum as SignSumFn));
    v
}

/// `tail` (shorter than `N` bytes) copied into the front of a zeroed `N`-byte buffer.
#[inline]
fn padded<const N: usize>(tail: &[u8]) -> [u8; N] {
    let mut buf = [0u8; N];
    buf[..tail.len()].copy_from_slice(tail);
    buf
}

/// Whether float cosine parts computed in `f32` lanes are trustworthy (see [`COSINE_MIN_NORM`]).
#[inline]
fn cosine_parts_ok(ab: f64, aa: f64, bb: f64) -> bool {
    ab.is_finite() && aa.is_finite() && bb.is_finite() && aa >= COSINE_MIN_NORM && bb >= COSINE_MIN_NORM
}
