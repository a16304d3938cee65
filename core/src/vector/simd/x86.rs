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

use super::super::{DistanceFn, ElemType, Metric, scalar};
use super::{CODE_BLOCK_ELEMS, CodeDotFn, CosineSplit, FLOAT_BLOCK_ELEMS, INT_BLOCK_ELEMS, cosine_parts_ok};

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

// ---------------------------------------------------------------------------------------------
// Float kernels.

/// The blocked float loop. Reads `$a`/`$b` up to the shorter one's last whole `$elem`-byte
/// element, 8 lanes (`W` bytes) at a time via `$load`, four groups per iteration; `$step` runs
/// with `$x`, `$y` bound to the lanes and `$k` to the accumulator index (0..4) and updates the
/// `[__m256; 4]` arrays named in `$acc`, which are drained into `f64` totals named in `$tot`
/// every `FLOAT_BLOCK_ELEMS` components. The remaining components (fewer than 8) are decoded
/// one at a time with `$dec` and `$tail` adds them into the `f64` totals. Evaluates to the
/// totals.
macro_rules! float_loop {
    (@one $a:ident, $b:ident, $load:ident, $at:expr, $x:ident, $y:ident, $k:ident, $kv:literal,
     $step:block) => {{
        let at = $at;
        // SAFETY: `at + W <= end <= full <= len <= min(a.len(), b.len())` (loop conditions), so
        // both `W`-byte loads are in bounds.
        let ($x, $y) = unsafe { ($load($a.as_ptr().add(at)), $load($b.as_ptr().add(at))) };
        let $k = $kv;
        $step
    }};
    ($a:ident, $b:ident, $elem:expr, $load:ident, $dec:ident, [$($acc:ident => $tot:ident),+],
     |$x:ident, $y:ident, $k:ident| $step:block, |$tx:ident, $ty:ident| $tail:block) => {{
        const W: usize = 8 * $elem;
        let len = $a.len().min($b.len()) / $elem * $elem;
        let full = len - len % W;
        $(let mut $tot = _mm256_setzero_pd();)+
        let mut i = 0;
        while i < full {
            let end = full.min(i + FLOAT_BLOCK_ELEMS * $elem);
            $(let mut $acc = [_mm256_setzero_ps(); 4];)+
            while i + 4 * W <= end {
                float_loop!(@one $a, $b, $load, i, $x, $y, $k, 0, $step);
                float_loop!(@one $a, $b, $load, i + W, $x, $y, $k, 1, $step);
                float_loop!(@one $a, $b, $load, i + 2 * W, $x, $y, $k, 2, $step);
                float_loop!(@one $a, $b, $load, i + 3 * W, $x, $y, $k, 3, $step);
                i += 4 * W;
            }
            while i < end {
                float_loop!(@one $a, $b, $load, i, $x, $y, $k, 0, $step);
                i += W;
            }
            $($tot = _mm256_add_pd($tot, widen(_mm256_add_ps(
                _mm256_add_ps($acc[0], $acc[1]),
                _mm256_add_ps($acc[2], $acc[3]),
            )));)+
        }
        $(let mut $tot = hsum_pd($tot);)+
        let tail = $a[full..len].chunks_exact($elem).zip($b[full..len].chunks_exact($elem));
        for (ca, cb) in tail {
            let ($tx, $ty) = ($dec(ca), $dec(cb));
            $tail
        }
        ($($tot),+)
    }};
}

/// The four float kernels over one float encoding, and the two halves of the cosine kernel
/// (`$dotp`: its `a · b`, `$norm`: its `a · a`, each accumulated exactly as `$cos` does).
macro_rules! float_kernels {
    ($feat:literal, $elem:literal, $load:ident, $dec:ident,
     $l2:ident, $dot:ident, $l1:ident, $cos:ident, $dotp:ident, $norm:ident) => {
        #[target_feature(enable = $feat)]
        fn $l2(a: &[u8], b: &[u8]) -> f32 {
            let t = float_loop!(a, b, $elem, $load, $dec, [s => t], |x, y, k| {
                let d = _mm256_sub_ps(x, y);
                s[k] = _mm256_fmadd_ps(d, d, s[k]);
            }, |x, y| {
                t += (x - y) * (x - y);
            });
            let r = t as f32;
            if r.is_finite() { r } else { scalar::$l2(a, b) }
        }

        #[target_feature(enable = $feat)]
        fn $dot(a: &[u8], b: &[u8]) -> f32 {
            let t = float_loop!(a, b, $elem, $load, $dec, [s => t], |x, y, k| {
                s[k] = _mm256_fmadd_ps(x, y, s[k]);
            }, |x, y| {
                t += x * y;
            });
            let r = -t as f32;
            if r.is_finite() { r } else { scalar::$dot(a, b) }
        }

        #[target_feature(enable = $feat)]
        fn $l1(a: &[u8], b: &[u8]) -> f32 {
            let sign = _mm256_set1_ps(-0.0);
            let t = float_loop!(a, b, $elem, $load, $dec, [s => t], |x, y, k| {
                s[k] = _mm256_add_ps(s[k], _mm256_andnot_ps(sign, _mm256_sub_ps(x, y)));
            }, |x, y| {
                t += (x - y).abs();
            });
            let r = t as f32;
            if r.is_finite() { r } else { scalar::$l1(a, b) }
        }

        #[target_feature(enable = $feat)]
        fn $cos(a: &[u8], b: &[u8]) -> f32 {
            let (ab, aa, bb) = float_loop!(
                a, b, $elem, $load, $dec, [sab => ab, saa => aa, sbb => bb],
                |x, y, k| {
                    sab[k] = _mm256_fmadd_ps(x, y, sab[k]);
                    saa[k] = _mm256_fmadd_ps(x, x, saa[k]);
                    sbb[k] = _mm256_fmadd_ps(y, y, sbb[k]);
                },
                |x, y| {
                    ab += x * y;
                    aa += x * x;
                    bb += y * y;
                }
            );
            if cosine_parts_ok(ab, aa, bb) {
                scalar::cosine_from_parts(ab, aa, bb)
            } else {
                scalar::$cos(a, b)
            }
        }

        /// `$cos`'s `a · b`: the same lanes, blocks and order, so the same bits.
        #[target_feature(enable = $feat)]
        fn $dotp(a: &[u8], b: &[u8]) -> f64 {
            float_loop!(a, b, $elem, $load, $dec, [sab => ab], |x, y, k| {
                sab[k] = _mm256_fmadd_ps(x, y, sab[k]);
            }, |x, y| {
                ab += x * y;
            })
        }

        /// `$cos`'s `a · a` (and `b · b`): the same lanes, blocks and order, so the same bits.
        #[target_feature(enable = $feat)]
        fn $norm(a: &[u8]) -> f64 {
            float_loop!(a, a, $elem, $load, $dec, [saa => aa], |x, y, k| {
                let _ = y;
                saa[k] = _mm256_fmadd_ps(x, x, saa[k]);
            }, |x, y| {
                let _ = y;
                aa += x * x;
            })
        }
    };
}

float_kernels!(
    "avx2,fma",
    4,
    load_f32,
    f32_at,
    l2_f32,
    dot_f32,
    l1_f32,
    cosine_f32,
    cos_dot_f32,
    cos_norm_f32
);
float_kernels!(
    "avx2,fma,f16c",
    2,
    load_f16,
    f16_at,
    l2_f16,
    dot_f16,
    l1_f16,
    cosine_f16,
    cos_dot_f16,
    cos_norm_f16
);

// ---------------------------------------------------------------------------------------------
// Integer kernels.

/// The blocked integer loop. Reads `$a`/`$b` up to the shorter one's last whole `$elem`-byte
/// element, `W` bytes at a time via `$load`; `$step` runs with `$x`, `$y` bound to the loaded
/// vectors and updates the `__m256i` accumulators named in `$acc`, which are zeroed at the start
/// of each block of `INT_BLOCK_ELEMS` components and handed to `$drain` at its end. The
/// remaining components (fewer than one vector) are decoded one at a time with `$dec` and
/// handed to `$tail`. Evaluates to the number of vector steps taken.
macro_rules! int_loop {
    ($a:ident, $b:ident, $elem:expr, $w:expr, $load:ident, $dec:ident, [$($acc:ident),+],
     |$x:ident, $y:ident| $step:block, $drain:block, |$tx:ident, $ty:ident| $tail:block) => {{
        const W: usize = $w;
        let len = $a.len().min($b.len()) / $elem * $elem;
        let full = len - len % W;
        let mut i = 0;
        while i < full {
            let end = full.min(i + INT_BLOCK_ELEMS * $elem);
            $(let mut $acc = _mm256_setzero_si256();)+
            while i < end {
                // SAFETY: `i + W <= end <= full <= len <= min(a.len(), b.len())`, so both
                // `W`-byte loads are in bounds.
                let ($x, $y) = unsafe { ($load($a.as_ptr().add(i)), $load($b.as_ptr().add(i))) };
                $step
                i += W;
            }
            $drain
        }
        let tail = $a[full..len].chunks_exact($elem).zip($b[full..len].chunks_exact($elem));
        for (ca, cb) in tail {
            let ($tx, $ty) = ($dec(ca), $dec(cb));
            $tail
        }
        let steps: usize = full / W;
        steps
    }};
}

#[target_feature(enable = "avx2")]
fn l2_i8(a: &[u8], b: &[u8]) -> f32 {
    let mut t = 0i64;
    int_loop!(
        a,
        b,
        1,
        16,
        load_i8_as_i16,
        i8_at,
        [s],
        |x, y| {
            let d = _mm256_sub_epi16(x, y);
            s = _mm256_add_epi32(s, _mm256_madd_epi16(d, d));
        },
        {
            t += hsum_epi32(s);
        },
        |x, y| {
            t += (x - y) * (x - y);
        }
    );
    t as f64 as f32
}

#[target_feature(enable = "avx2")]
fn dot_i8(a: &[u8], b: &[u8]) -> f32 {
    let mut t = 0i64;
    int_loop!(
        a,
        b,
        1,
        16,
        load_i8_as_i16,
        i8_at,
        [s],
        |x, y| {
            s = _mm256_add_epi32(s, _mm256_madd_epi16(x, y));
        },
        {
            t += hsum_epi32(s);
        },
        |x, y| {
            t += x * y;
        }
    );
    -(t as f64) as f32
}

#[target_feature(enable = "avx2")]
fn cosine_i8(a: &[u8], b: &[u8]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0i64, 0i64, 0i64);
    int_loop!(
        a,
        b,
        1,
        16,
        load_i8_as_i16,
        i8_at,
        [sab, saa, sbb],
        |x, y| {
            sab = _mm256_add_epi32(sab, _mm256_madd_epi16(x, y));
            saa = _mm256_add_epi32(saa, _mm256_madd_epi16(x, x));
            sbb = _mm256_add_epi32(sbb, _mm256_madd_epi16(y, y));
        },
        {
            ab += hsum_epi32(sab);
            aa += hsum_epi32(saa);
            bb += hsum_epi32(sbb);
        },
        |x, y| {
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
    );
    scalar::cosine_from_parts(ab as f64, aa as f64, bb as f64)
}

#[target_feature(enable = "avx2")]
fn l1_i8(a: &[u8], b: &[u8]) -> f32 {
    // Flipping the sign bit maps i8 order-preservingly onto u8, so |x - y| is unchanged and
    // `vpsadbw` can sum it.
    let flip = _mm256_set1_epi8(i8::MIN);
    let mut t = 0i64;
    int_loop!(
        a,
        b,
        1,
        32,
        load_256,
        i8_at,
        [s],
        |x, y| {
            let d = _mm256_sad_epu8(_mm256_xor_si256(x, flip), _mm256_xor_si256(y, flip));
            s = _mm256_add_epi64(s, d);
        },
        {
            t += hsum_epi64(s);
        },
        |x, y| {
            t += (x - y).abs();
        }
    );
    t as f64 as f32
}

/// Adds the `vpmaddwd` pair sums `m` (each in `[-2^31 + 2^16, 2^31]`, with `2^31` wrapped to
/// `i32::MIN`) into split accumulators: `hi += (m - 2^16) >> 16`, `lo += (m - 2^16) & 0xffff`.
/// The true sum of a lane is `2^16 * (hi + steps) + lo`.
#[target_feature(enable = "avx2")]
#[inline]
fn add_madd_split(hi: &mut __m256i, lo: &mut __m256i, m: __m256i) {
    let t = _mm256_sub_epi32(m, _mm256_set1_epi32(1 << 16));
    *hi = _mm256_add_epi32(*hi, _mm256_srai_epi32::<16>(t));
    *lo = _mm256_add_epi32(*lo, _mm256_and_si256(t, _mm256_set1_epi32(0xffff)));
}

/// The split accumulators' contribution, without the per-step bias (see [`add_madd_split`]).
#[target_feature(enable = "avx2")]
#[inline]
fn drain_split(hi: __m256i, lo: __m256i) -> i64 {
    (hsum_epi32(hi) << 16) + hsum_epi32(lo)
}

/// The bias [`add_madd_split`] takes out: `2^16` for each of the 8 lanes of each step.
fn split_bias(steps: usize) -> i64 {
    (steps as i64) * 8 * (1 << 16)
}

#[target_feature(enable = "avx2")]
fn dot_i16(a: &[u8], b: &[u8]) -> f32 {
    let mut t = 0i64;
    let steps = int_loop!(
        a,
        b,
        2,
        32,
        load_256,
        i16_at,
        [hi, lo],
        |x, y| {
            add_madd_split(&mut hi, &mut lo, _mm256_madd_epi16(x, y));
        },
        {
            t += drain_split(hi, lo);
        },
        |x, y| {
            t += x * y;
        }
    );
    -((t + split_bias(steps)) as f64) as f32
}

#[target_feature(enable = "avx2")]
fn cosine_i16(a: &[u8], b: &[u8]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0i64, 0i64, 0i64);
    let steps = int_loop!(
        a,
        b,
        2,
        32,
        load_256,
        i16_at,
        [abh, abl, aah, aal, bbh, bbl],
        |x, y| {
            add_madd_split(&mut abh, &mut abl, _mm256_madd_epi16(x, y));
            add_madd_split(&mut aah, &mut aal, _mm256_madd_epi16(x, x));
            add_madd_split(&mut bbh, &mut bbl, _mm256_madd_epi16(y, y));
        },
        {
            ab += drain_split(abh, abl);
            aa += drain_split(aah, aal);
            bb += drain_split(bbh, bbl);
        },
        |x, y| {
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
    );
    let bias = split_bias(steps);
    scalar::cosine_from_parts((ab + bias) as f64, (aa + bias) as f64, (bb + bias) as f64)
}

/// `|x - y|` of 16 `i16` lanes as unsigned 16-bit values (exact: it lies in `0..=65535`).
#[target_feature(enable = "avx2")]
#[inline]
fn absdiff_epu16(x: __m256i, y: __m256i) -> __m256i {
    _mm256_sub_epi16(_mm256_max_epi16(x, y), _mm256_min_epi16(x, y))
}

#[target_feature(enable = "avx2")]
fn l2_i16(a: &[u8], b: &[u8]) -> f32 {
    // d = 256 h + l with h, l in 0..=255, so d^2 = 65536 h^2 + 512 h l + l^2, each part an exact
    // `vpmaddwd` of small non-negative values.
    let low = _mm256_set1_epi16(0xff);
    let (mut hh, mut hl, mut ll, mut t) = (0i64, 0i64, 0i64, 0i64);
    int_loop!(
        a,
        b,
        2,
        32,
        load_256,
        i16_at,
        [shh, shl, sll],
        |x, y| {
            let d = absdiff_epu16(x, y);
            let h = _mm256_srli_epi16::<8>(d);
            let l = _mm256_and_si256(d, low);
            shh = _mm256_add_epi32(shh, _mm256_madd_epi16(h, h));
            shl = _mm256_add_epi32(shl, _mm256_madd_epi16(h, l));
            sll = _mm256_add_epi32(sll, _mm256_madd_epi16(l, l));
        },
        {
            hh += hsum_epi32(shh);
            hl += hsum_epi32(shl);
            ll += hsum_epi32(sll);
        },
        |x, y| {
            t += (x - y) * (x - y);
        }
    );
    ((hh << 16) + (hl << 9) + ll + t) as f64 as f32
}

#[target_feature(enable = "avx2")]
fn l1_i16(a: &[u8], b: &[u8]) -> f32 {
    let low = _mm256_set1_epi32(0xffff);
    let mut t = 0i64;
    int_loop!(
        a,
        b,
        2,
        32,
        load_256,
        i16_at,
        [s],
        |x, y| {
            let d = absdiff_epu16(x, y);
            let pair = _mm256_add_epi32(_mm256_srli_epi32::<16>(d), _mm256_and_si256(d, low));
            s = _mm256_add_epi32(s, pair);
        },
        {
            t += hsum_epi32(s);
        },
        |x, y| {
            t += (x - y).abs();
        }
    );
    t as f64 as f32
}

// ---------------------------------------------------------------------------------------------
// Binary kernels.

/// Hamming distance with `popcnt`: `u64` words four at a time into independent counts, then the
/// remaining words, then the remaining bytes (no padding copy: short vectors are common here).
#[target_feature(enable = "popcnt")]
fn hamming_popcnt(a: &[u8], b: &[u8]) -> f32 {
    #[inline(always)]
    fn ones(x: &[u8; 8], y: &[u8; 8]) -> u64 {
        u64::from((u64::from_le_bytes(*x) ^ u64::from_le_bytes(*y)).count_ones())
    }
    let len = a.len().min(b.len());
    let (wa, ra) = a[..len].as_chunks::<8>();
    let (wb, rb) = b[..len].as_chunks::<8>();
    let (qa, sa) = wa.as_chunks::<4>();
    let (qb, sb) = wb.as_chunks::<4>();
    let mut n = [0u64; 4];
    for (x, y) in qa.iter().zip(qb) {
        for k in 0..4 {
            n[k] += ones(&x[k], &y[k]);
        }
    }
    let mut total = n[0] + n[1] + n[2] + n[3];
    for (x, y) in sa.iter().zip(sb) {
        total += ones(x, y);
    }
    for (x, y) in ra.iter().zip(rb) {
        total += u64::from((x ^ y).count_ones());
    }
    total as f32
}

/// Hamming distance with an AVX2 nibble-table popcount: per byte, `table[lo] + table[hi]`, with
/// byte counts gathered for up to 16 steps (at most 128 per byte) before `vpsadbw` sums them.
/// The last bytes (fewer than 32) are counted by [`hamming_popcnt`].
#[target_feature(enable = "avx2,popcnt")]
fn hamming_avx2(a: &[u8], b: &[u8]) -> f32 {
    const W: usize = 32;
    const BLOCK: usize = 16 * W;
    let table = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
    );
    let nibble = _mm256_set1_epi8(0x0f);
    let count = |x: __m256i, y: __m256i| {
        let v = _mm256_xor_si256(x, y);
        let lo = _mm256_shuffle_epi8(table, _mm256_and_si256(v, nibble));
        let hi = _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16::<4>(v), nibble));
        _mm256_add_epi8(lo, hi)
    };
    let len = a.len().min(b.len());
    let full = len - len % W;
    let mut total = _mm256_setzero_si256();
    let mut i = 0;
    while i < full {
        let end = full.min(i + BLOCK);
        let mut bytes = _mm256_setzero_si256();
        while i < end {
            // SAFETY: `i + W <= end <= full <= len <= min(a.len(), b.len())`.
            let (x, y) = unsafe { (load_256(a.as_ptr().add(i)), load_256(b.as_ptr().add(i))) };
            bytes = _mm256_add_epi8(bytes, count(x, y));
            i += W;
        }
        total = _mm256_add_epi64(total, _mm256_sad_epu8(bytes, _mm256_setzero_si256()));
    }
    // The last few bytes (fewer than 32) go through the popcnt kernel (this one has its feature).
    let rest = hamming_popcnt(&a[full..len], &b[full..len]);
    hsum_epi64(total) as f32 + rest
}

/// `sum(codes[i] * weights[i])`, exact: 16 codes zero-extended to `i16` and multiplied with 16
/// weights by `vpmaddwd` into 8 `i32` lanes (two accumulators), drained into `i64` every
/// [`CODE_BLOCK_ELEMS`] codes; the last codes (fewer than 16) one at a time.
#[target_feature(enable = "avx2")]
fn code_dot_avx2(codes: &[u8], weights: &[i16]) -> i64 {
    let n = codes.len().min(weights.len());
    let full = n / 16 * 16;
    let mut total = 0i64;
    let mut i = 0;
    while i < full {
        let end = (i + CODE_BLOCK_ELEMS).min(full);
        let (mut s0, mut s1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        while i + 32 <= end {
            // SAFETY: `i + 32 <= full <= n`: 32 readable codes and 32 weights (64 bytes).
            let (c0, c1, w0, w1) = unsafe {
                let c = codes.as_ptr().add(i);
                let w = weights.as_ptr().add(i).cast::<u8>();
                (
                    _mm256_cvtepu8_epi16(_mm_loadu_si128(c.cast())),
                    _mm256_cvtepu8_epi16(_mm_loadu_si128(c.add(16).cast())),
                    load_256(w),
                    load_256(w.add(32)),
                )
            };
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(c0, w0));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(c1, w1));
            i += 32;
        }
        if i + 16 <= end {
            // SAFETY: `i + 16 <= full <= n`.
            let (c0, w0) = unsafe {
                (
                    _mm256_cvtepu8_epi16(_mm_loadu_si128(codes.as_ptr().add(i).cast())),
                    load_256(weights.as_ptr().add(i).cast()),
                )
            };
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(c0, w0));
            i += 16;
        }
        total += hsum_epi32(s0) + hsum_epi32(s1);
    }
    for (&c, &w) in codes[full..n].iter().zip(&weights[full..n]) {
        total += i64::from(c) * i64::from(w);
    }
    total
}
