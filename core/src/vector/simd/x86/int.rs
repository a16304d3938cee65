//! The AVX2 integer kernels (`i8`, `i16`): the blocked `int_loop`, and the four metrics of each
//! type, in exact integer arithmetic.
//!
//! Invariants: every lane is drained into `i64` at least every `INT_BLOCK_ELEMS` components, so
//! no 32-bit lane overflows (see `INT_BLOCK_ELEMS`); the `vpmaddwd` pair sums of `i16` are split
//! into high and low halves with a per-step bias taken out and added back ([`add_madd_split`],
//! [`split_bias`]), so the one wrapping value is recovered; results are exactly the scalar
//! reference's. Sound to call only on a CPU with AVX2.

use std::arch::x86_64::*;

use super::*;

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
pub(super) fn l2_i8(a: &[u8], b: &[u8]) -> f32 {
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
pub(super) fn dot_i8(a: &[u8], b: &[u8]) -> f32 {
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
pub(super) fn cosine_i8(a: &[u8], b: &[u8]) -> f32 {
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
pub(super) fn l1_i8(a: &[u8], b: &[u8]) -> f32 {
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
pub(super) fn dot_i16(a: &[u8], b: &[u8]) -> f32 {
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
pub(super) fn cosine_i16(a: &[u8], b: &[u8]) -> f32 {
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
pub(super) fn l2_i16(a: &[u8], b: &[u8]) -> f32 {
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
pub(super) fn l1_i16(a: &[u8], b: &[u8]) -> f32 {
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
