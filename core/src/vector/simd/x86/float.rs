//! The AVX2 + FMA float kernels (`f32`, and `f16` through F16C): the blocked `float_loop`, and
//! the four metrics plus the two halves of the split cosine kernel for each encoding.
//!
//! Invariants (the numeric contract is the `simd` module's): 8 lanes per `__m256` and four
//! independent accumulators per sum, drained into `f64` every `FLOAT_BLOCK_ELEMS` components;
//! the split cosine halves accumulate in exactly the lanes, blocks and order of the fused
//! kernel, so they give its bits; every load stays inside both slices (see the `SAFETY`
//! comments). Sound to call only on a CPU with the features each kernel is compiled for.

use std::arch::x86_64::*;

use super::*;

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
        pub(super) fn $l2(a: &[u8], b: &[u8]) -> f32 {
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
        pub(super) fn $dot(a: &[u8], b: &[u8]) -> f32 {
            let t = float_loop!(a, b, $elem, $load, $dec, [s => t], |x, y, k| {
                s[k] = _mm256_fmadd_ps(x, y, s[k]);
            }, |x, y| {
                t += x * y;
            });
            let r = -t as f32;
            if r.is_finite() { r } else { scalar::$dot(a, b) }
        }

        #[target_feature(enable = $feat)]
        pub(super) fn $l1(a: &[u8], b: &[u8]) -> f32 {
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
        pub(super) fn $cos(a: &[u8], b: &[u8]) -> f32 {
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
        pub(super) fn $dotp(a: &[u8], b: &[u8]) -> f64 {
            float_loop!(a, b, $elem, $load, $dec, [sab => ab], |x, y, k| {
                sab[k] = _mm256_fmadd_ps(x, y, sab[k]);
            }, |x, y| {
                ab += x * y;
            })
        }

        /// `$cos`'s `a · a` (and `b · b`): the same lanes, blocks and order, so the same bits.
        #[target_feature(enable = $feat)]
        pub(super) fn $norm(a: &[u8]) -> f64 {
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
