//! x86-64 kernels on AVX2 (with FMA for floats, F16C for `f16`, POPCNT for `bin`).
//!
//! Every kernel here is a `#[target_feature]` function, which is only sound to call on a CPU
//! that has those features. The only way out of this module is [`kernel`] (and the test-only
//! [`variants`]), which checks the features with `is_x86_feature_detected!` and only then hands
//! out a safe wrapper (in `checked`) around the matching kernel. Nothing else may call the
//! wrappers: their soundness rests on that check.
//!
//! Layout of the kernels (numeric contract in the parent module):
//! - `f32`/`f16`: 8 lanes per `__m256`, four independent accumulators per sum (FMA latency),
//!   drained into `f64` every `FLOAT_BLOCK_ELEMS` components. `f16` is converted 8 halves at a
//!   time with `vcvtph2ps` inside the loop (fused; no intermediate buffer).
//! - `i8`: sign-extended to 16 bits and multiplied with `vpmaddwd` into exact `i32` lanes
//!   (l2, dot, cosine); l1 flips the sign bits and uses `vpsadbw` into `u64` lanes.
//! - `i16`: dot and cosine use `vpmaddwd`, whose pair sums lie in `[-2^31 + 2^16, 2^31]`; the one
//!   value that wraps (`2^31`, from two `(-32768)^2` products) is recovered by subtracting `2^16`
//!   before splitting each sum into a high half (arithmetic shift) and a low half (mask), each
//!   accumulated in its own `i32` lanes; the `2^16` per pair sum is added back at the end. l2 and
//!   l1 take `|x - y|` as an unsigned 16-bit value (`max - min`, wrapping), l2 squares it exactly
//!   by splitting it into bytes `h * 256 + l` (`h^2`, `h*l`, `l^2` via `vpmaddwd`).
//! - `bin`: an AVX2 nibble-table popcount (`vpshufb`) summed with `vpsadbw`, finishing the last
//!   bytes with `popcnt`; [`kernel`] prefers it, since it measured as fast as plain `popcnt` over
//!   `u64` words (the fallback without AVX2) on short vectors and 1.4-1.6x faster from 96 bytes.
//! - Components past the last whole vector (fewer than one vector's worth) are decoded and
//!   accumulated one at a time, in `f64` or `i64` like the reference; copying them into a
//!   zero-padded buffer instead measured about 20 ns per call.

use std::arch::x86_64::*;

mod bits;
mod float;
mod int;

use bits::{code_dot_avx2, hamming_avx2, hamming_popcnt, sign_sum_avx2, sign_sum_avx512};
use float::{
    cos_dot_f16, cos_dot_f32, cos_norm_f16, cos_norm_f32, cosine_f16, cosine_f32, dot_f16, dot_f32, l1_f16,
    l1_f32, l2_f16, l2_f32,
};
use int::{cosine_i8, cosine_i16, dot_i8, dot_i16, l1_i8, l1_i16, l2_i8, l2_i16};

use super::super::{DistanceFn, ElemType, Metric, scalar};
use super::{
    CODE_BLOCK_ELEMS, CodeDotFn, CosineSplit, FLOAT_BLOCK_ELEMS, INT_BLOCK_ELEMS, SignSumFn, cosine_parts_ok,
};

/// Whether the CPU can run the float kernels over `ty` (`f32` or `f16`).
fn has_float(f16: bool) -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && (!f16 || is_x86_feature_detected!("f16c"))
}

/// The AVX2 kernel for a supported pair, if this CPU has the features it needs.
pub(super) fn kernel(ty: ElemType, metric: Metric) -> Option<DistanceFn> {
    let avx2 = is_x86_feature_detected!("avx2");
    let popcnt = is_x86_feature_detected!("popcnt");
    let runs = match ty {
        ElemType::F32 => has_float(false),
        ElemType::F16 => has_float(true),
        ElemType::I8 | ElemType::I16 => avx2,
        ElemType::Bin => {
            return match metric {
                Metric::Hamming if avx2 && popcnt => Some(checked::hamming_avx2),
                Metric::Hamming if popcnt => Some(checked::hamming_popcnt),
                _ => None,
            };
        }
    };
    if !runs {
        return None;
    }
    numeric_kernel!(ty, metric, checked)
}

/// The halves of the float cosine kernel [`kernel`] returns for `ty`, if this CPU runs it.
pub(super) fn cosine_split(ty: ElemType) -> Option<CosineSplit> {
    let runs = match ty {
        ElemType::F32 => has_float(false),
        ElemType::F16 => has_float(true),
        ElemType::I8 | ElemType::I16 | ElemType::Bin => false,
    };
    if runs { cosine_split_of!(ty, checked) } else { None }
}

/// The AVX2 code kernel, if this CPU has AVX2.
pub(super) fn code_dot() -> Option<CodeDotFn> {
    is_x86_feature_detected!("avx2").then_some(checked::code_dot as CodeDotFn)
}

/// The fastest sign-sum kernel this CPU runs (AVX-512F masked adds, else AVX2), if any.
pub(super) fn sign_sum() -> Option<SignSumFn> {
    if is_x86_feature_detected!("avx512f") {
        Some(checked::sign_sum_avx512 as SignSumFn)
    } else if is_x86_feature_detected!("avx2") {
        Some(checked::sign_sum_avx2 as SignSumFn)
    } else {
        None
    }
}

/// Every x86 sign-sum kernel this CPU can run, named, for the tests.
#[cfg(test)]
pub(super) fn sign_sum_variants() -> Vec<(&'static str, SignSumFn)> {
    let mut v = Vec::new();
    if is_x86_feature_detected!("avx512f") {
        v.push(("x86::sign_sum_avx512", checked::sign_sum_avx512 as SignSumFn));
    }
    if is_x86_feature_detected!("avx2") {
        v.push(("x86::sign_sum_avx2", checked::sign_sum_avx2 as SignSumFn));
    }
    v
}

/// Every x86 kernel this CPU can run for the pair, named, so tests can check each one (not only
/// the one [`kernel`] prefers).
#[cfg(test)]
pub(super) fn variants(ty: ElemType, metric: Metric) -> Vec<(&'static str, DistanceFn)> {
    let mut v = Vec::new();
    if let Some(k) = kernel(ty, metric) {
        v.push(("x86::kernel", k));
    }
    if (ty, metric) == (ElemType::Bin, Metric::Hamming) {
        if is_x86_feature_detected!("popcnt") {
            v.push(("x86::hamming_popcnt", checked::hamming_popcnt as DistanceFn));
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("popcnt") {
            v.push(("x86::hamming_avx2", checked::hamming_avx2 as DistanceFn));
        }
    }
    v
}

/// Safe wrappers around the target-feature kernels. Private to this module: they are only ever
/// handed out by [`kernel`] and [`variants`] after the features were detected.
mod checked {
    macro_rules! wrappers {
        ($($name:ident),* $(,)?) => {
            $(
                pub(super) fn $name(a: &[u8], b: &[u8]) -> f32 {
                    // SAFETY: this wrapper is only reachable through `kernel`/`variants`, which
                    // return it only after `is_x86_feature_detected!` confirmed every feature
                    // the wrapped kernel is compiled for.
                    unsafe { super::$name(a, b) }
                }
            )*
        };
    }
    wrappers!(
        l2_f32,
        cosine_f32,
        dot_f32,
        l1_f32,
        l2_f16,
        cosine_f16,
        dot_f16,
        l1_f16,
        l2_i8,
        cosine_i8,
        dot_i8,
        l1_i8,
        l2_i16,
        cosine_i16,
        dot_i16,
        l1_i16,
        hamming_popcnt,
        hamming_avx2,
    );

    pub(super) fn sign_sum_avx512(bits: &[u32], w: &[i32]) -> i64 {
        // SAFETY: only reachable through `sign_sum`/`sign_sum_variants`, after AVX-512F was
        // detected.
        unsafe { super::sign_sum_avx512(bits, w) }
    }
    pub(super) fn sign_sum_avx2(bits: &[u32], w: &[i32]) -> i64 {
        // SAFETY: only reachable through `sign_sum`/`sign_sum_variants`, after AVX2 was
        // detected.
        unsafe { super::sign_sum_avx2(bits, w) }
    }
    pub(super) fn code_dot(codes: &[u8], weights: &[i16]) -> i64 {
        // SAFETY: only reachable through `code_dot`, after AVX2 was detected.
        unsafe { super::code_dot_avx2(codes, weights) }
    }
    pub(super) fn cos_dot_f32(a: &[u8], b: &[u8]) -> f64 {
        // SAFETY: only reachable through `cosine_split`, after the features were detected.
        unsafe { super::cos_dot_f32(a, b) }
    }
    pub(super) fn cos_dot_f16(a: &[u8], b: &[u8]) -> f64 {
        // SAFETY: only reachable through `cosine_split`, after the features were detected.
        unsafe { super::cos_dot_f16(a, b) }
    }
    pub(super) fn cos_norm_f32(a: &[u8]) -> f64 {
        // SAFETY: only reachable through `cosine_split`, after the features were detected.
        unsafe { super::cos_norm_f32(a) }
    }
    pub(super) fn cos_norm_f16(a: &[u8]) -> f64 {
        // SAFETY: only reachable through `cosine_split`, after the features were detected.
        unsafe { super::cos_norm_f16(a) }
    }
}

// ---------------------------------------------------------------------------------------------
// Horizontal helpers.

/// Widens 8 `f32` lanes to `f64` and adds the two halves (exact widening, one `f64` rounding).
#[target_feature(enable = "avx2,fma")]
#[inline]
fn widen(v: __m256) -> __m256d {
    _mm256_add_pd(
        _mm256_cvtps_pd(_mm256_castps256_ps128(v)),
        _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(v)),
    )
}

/// Sum of four `f64` lanes.
#[target_feature(enable = "avx2,fma")]
#[inline]
fn hsum_pd(v: __m256d) -> f64 {
    let s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
    _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)))
}

/// Sum of four `i64` lanes.
#[target_feature(enable = "avx2")]
#[inline]
fn hsum_epi64(v: __m256i) -> i64 {
    _mm256_extract_epi64::<0>(v)
        + _mm256_extract_epi64::<1>(v)
        + _mm256_extract_epi64::<2>(v)
        + _mm256_extract_epi64::<3>(v)
}

/// Sum of eight `i32` lanes, in `i64`.
#[target_feature(enable = "avx2")]
#[inline]
fn hsum_epi32(v: __m256i) -> i64 {
    hsum_epi64(_mm256_add_epi64(
        _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)),
        _mm256_cvtepi32_epi64(_mm256_extracti128_si256::<1>(v)),
    ))
}

// ---------------------------------------------------------------------------------------------
// Loads. Callers guarantee the pointer has the stated number of readable bytes; no alignment.

/// 8 `f32` (32 bytes).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn load_f32(p: *const u8) -> __m256 {
    // SAFETY: the caller guarantees 32 readable bytes at `p`; `loadu` needs no alignment.
    unsafe { _mm256_loadu_ps(p.cast()) }
}

/// 8 `f16` (16 bytes), converted to `f32`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
unsafe fn load_f16(p: *const u8) -> __m256 {
    // SAFETY: the caller guarantees 16 readable bytes at `p`; `loadu` needs no alignment.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(p.cast()) })
}

/// 16 `i8` (16 bytes), sign-extended to `i16`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load_i8_as_i16(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 16 readable bytes at `p`; `loadu` needs no alignment.
    _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(p.cast()) })
}

/// 32 bytes as they are (32 `i8`, 16 `i16` or 256 bits).
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn load_256(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 32 readable bytes at `p`; `loadu` needs no alignment.
    unsafe { _mm256_loadu_si256(p.cast()) }
}

// ---------------------------------------------------------------------------------------------
// Tail decoders: the last few components (fewer than one vector's worth) are handled one at a
// time with these, which is much cheaper than copying them into a padded buffer.

fn f32_at(c: &[u8]) -> f64 {
    f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

/// One `f16`, converted by F16C (the portable bit-twiddling conversion measured ~25 ns slower
/// per call here).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn f16_at(c: &[u8]) -> f64 {
    let h = i32::from(u16::from_le_bytes([c[0], c[1]]));
    f64::from(_mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))))
}

fn i8_at(c: &[u8]) -> i64 {
    i64::from(c[0] as i8)
}

fn i16_at(c: &[u8]) -> i64 {
    i64::from(i16::from_le_bytes([c[0], c[1]]))
}
