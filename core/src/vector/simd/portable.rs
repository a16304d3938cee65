//! Portable fast kernels: the fallback on CPUs without AVX2 and on other architectures.
//!
//! Each kernel folds the two vectors a fixed-size chunk at a time into several independent lane
//! accumulators (`[A; L]` arrays), which LLVM turns into SIMD code for whatever the baseline
//! target offers (SSE2 on x86-64, NEON on aarch64), without `unsafe` or target features. The
//! numeric contract is the one in the parent module: `f32`/`f16` sum in `f32` lanes drained into
//! `f64` every `FLOAT_BLOCK_ELEMS` components, with the scalar reference answering when the
//! lanes overflow or underflow; `i8` sums in exact `i32` lanes drained into `i64`; `i16` sums in
//! `f64` lanes, which hold every partial sum exactly (each term is an integer below 2^32, and
//! 4096 of them stay below 2^53); `bin` counts bits of `u64` words.

// Lane-indexed loops over fixed-size arrays are deliberate: LLVM's SLP vectoriser maps them lane
// for lane onto SIMD registers.
#![allow(clippy::needless_range_loop)]

use super::super::{DistanceFn, ElemType, Metric, scalar};
use std::ops::AddAssign;

use super::{CODE_BLOCK_ELEMS, CosineSplit, FLOAT_BLOCK_ELEMS, INT_BLOCK_ELEMS, cosine_parts_ok, padded};

/// Lanes of the float accumulators.
const FL: usize = 8;
/// Lanes of the `i8` accumulators.
const IL: usize = 16;

/// The portable kernel for a supported pair (unsupported pairs get the reference's fallback).
pub fn kernel(ty: ElemType, metric: Metric) -> DistanceFn {
    if (ty, metric) == (ElemType::Bin, Metric::Hamming) {
        return hamming;
    }
    numeric_kernel!(ty, metric, self).unwrap_or_else(|| scalar::kernel(ty, metric))
}

/// Folds `a` and `b` (read up to the shorter one's last whole `elem`-byte element) `C` bytes at a
/// time: `decode` turns a chunk into `L` lanes and `step` adds one chunk pair into `P` arrays of
/// `L` narrow lane accumulators (`A`). After every `block` chunks, and at the end, each narrow
/// lane is widened into the matching wide lane (`T`) of the result. Everything stays lane-wise
/// until the caller sums the wide lanes, which is what lets LLVM keep each array in SIMD
/// registers. The trailing partial chunk is zero-padded.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fold<const C: usize, const L: usize, const P: usize, A, T>(
    a: &[u8],
    b: &[u8],
    elem: usize,
    block: usize,
    decode: impl Fn(&[u8; C]) -> [A; L],
    step: impl Fn(&mut [[A; L]; P], &[A; L], &[A; L]),
    widen: impl Fn(A) -> T,
) -> [[T; L]; P]
where
    A: Copy + Default,
    T: Copy + Default + AddAssign,
{
    let mut total = [[T::default(); L]; P];
    let mut drain = |acc: &[[A; L]; P]| {
        for p in 0..P {
            for j in 0..L {
                total[p][j] += widen(acc[p][j]);
            }
        }
    };
    let len = a.len().min(b.len()) / elem * elem;
    let (ca, ra) = a[..len].as_chunks::<C>();
    let (cb, rb) = b[..len].as_chunks::<C>();
    for (ba, bb) in ca.chunks(block).zip(cb.chunks(block)) {
        let mut acc = [[A::default(); L]; P];
        for (x, y) in ba.iter().zip(bb) {
            step(&mut acc, &decode(x), &decode(y));
        }
        drain(&acc);
    }
    if !ra.is_empty() {
        let mut acc = [[A::default(); L]; P];
        step(&mut acc, &decode(&padded(ra)), &decode(&padded(rb)));
        drain(&acc);
    }
    total
}

/// The sum of some wide lanes.
#[inline(always)]
fn sum<T: Copy + Default + AddAssign, const L: usize>(lanes: &[T; L]) -> T {
    let mut s = T::default();
    for &x in lanes {
        s += x;
    }
    s
}

// The decoders read a whole chunk with one unaligned load (`pod_read_unaligned`) and then fix
// the byte order per lane (a no-op on little-endian targets): LLVM vectorises that cleanly,
// where per-lane `from_le_bytes` of byte pairs gets split into byte loads and shuffles.

#[inline(always)]
fn decode_f32(c: &[u8; 4 * FL]) -> [f32; FL] {
    let w: [u32; FL] = bytemuck::pod_read_unaligned(c);
    w.map(|x| f32::from_bits(u32::from_le(x)))
}

#[inline(always)]
fn decode_f16(c: &[u8; 2 * FL]) -> [f32; FL] {
    let w: [u16; FL] = bytemuck::pod_read_unaligned(c);
    w.map(|x| f16_bits_to_f32(u16::from_le(x)))
}

/// IEEE binary16 bits to `f32`, exactly, without branches (so it vectorises): shift exponent and
/// mantissa into place and rescale by 2^112, which also normalises subnormals exactly; infinity
/// and NaN keep an all-ones exponent.
#[inline(always)]
pub(super) fn f16_bits_to_f32(h: u16) -> f32 {
    let h = u32::from(h);
    let magnitude = f32::from_bits((h & 0x7fff) << 13) * f32::from_bits((254 - 15) << 23);
    let mut bits = magnitude.to_bits();
    if magnitude >= f32::from_bits((127 + 16) << 23) {
        bits |= 255 << 23;
    }
    f32::from_bits(bits | ((h & 0x8000) << 16))
}

#[inline(always)]
fn decode_i8(c: &[u8; IL]) -> [i32; IL] {
    c.map(|x| i32::from(x as i8))
}

#[inline(always)]
fn decode_i16(c: &[u8; 2 * FL]) -> [f64; FL] {
    let w: [i16; FL] = bytemuck::pod_read_unaligned(c);
    w.map(|x| f64::from(i16::from_le(x)))
}

const FLOAT_BLOCK: usize = FLOAT_BLOCK_ELEMS / FL;
const I8_BLOCK: usize = INT_BLOCK_ELEMS / IL;

/// The four float kernels over one float encoding (`$elem` bytes per element, `$c = FL * $elem`).
macro_rules! float_family {
    ($c:literal, $elem:literal, $decode:ident,
     $l2:ident, $dot:ident, $l1:ident, $cos:ident, $dotp:ident, $norm:ident,
     $rl2:path, $rdot:path, $rl1:path, $rcos:path) => {
        /// Squared Euclidean distance (see the module documentation for accuracy).
        pub fn $l2(a: &[u8], b: &[u8]) -> f32 {
            let [t] = fold::<$c, FL, 1, f32, f64>(
                a,
                b,
                $elem,
                FLOAT_BLOCK,
                $decode,
                |acc, x, y| {
                    for j in 0..FL {
                        let d = x[j] - y[j];
                        acc[0][j] += d * d;
                    }
                },
                f64::from,
            );
            let r = sum(&t) as f32;
            if r.is_finite() { r } else { $rl2(a, b) }
        }

        /// Negative inner product (see the module documentation for accuracy).
        pub fn $dot(a: &[u8], b: &[u8]) -> f32 {
            let [t] = fold::<$c, FL, 1, f32, f64>(
                a,
                b,
                $elem,
                FLOAT_BLOCK,
                $decode,
                |acc, x, y| {
                    for j in 0..FL {
                        acc[0][j] += x[j] * y[j];
                    }
                },
                f64::from,
            );
            let r = -sum(&t) as f32;
            if r.is_finite() { r } else { $rdot(a, b) }
        }

        /// Sum of absolute differences (see the module documentation for accuracy).
        pub fn $l1(a: &[u8], b: &[u8]) -> f32 {
            let [t] = fold::<$c, FL, 1, f32, f64>(
                a,
                b,
                $elem,
                FLOAT_BLOCK,
                $decode,
                |acc, x, y| {
                    for j in 0..FL {
                        acc[0][j] += (x[j] - y[j]).abs();
                    }
                },
                f64::from,
            );
            let r = sum(&t) as f32;
            if r.is_finite() { r } else { $rl1(a, b) }
        }

        /// `1 - cos(a, b)` (see the module documentation for accuracy and edge cases).
        pub fn $cos(a: &[u8], b: &[u8]) -> f32 {
            let [ab, aa, bb] = fold::<$c, FL, 3, f32, f64>(
                a,
                b,
                $elem,
                FLOAT_BLOCK,
                $decode,
                |acc, x, y| {
                    for j in 0..FL {
                        acc[0][j] += x[j] * y[j];
                    }
                    for j in 0..FL {
                        acc[1][j] += x[j] * x[j];
                    }
                    for j in 0..FL {
                        acc[2][j] += y[j] * y[j];
                    }
                },
                f64::from,
            );
            let (ab, aa, bb) = (sum(&ab), sum(&aa), sum(&bb));
            if cosine_parts_ok(ab, aa, bb) {
                scalar::cosine_from_parts(ab, aa, bb)
            } else {
                $rcos(a, b)
            }
        }

        /// The cosine kernel's `a · b`: the same lanes, blocks and order, so the same bits.
        pub fn $dotp(a: &[u8], b: &[u8]) -> f64 {
            let [ab] = fold::<$c, FL, 1, f32, f64>(
                a,
                b,
                $elem,
                FLOAT_BLOCK,
                $decode,
                |acc, x, y| {
                    for j in 0..FL {
                        acc[0][j] += x[j] * y[j];
                    }
                },
                f64::from,
            );
            sum(&ab)
        }

        /// The cosine kernel's `a · a`: the same lanes, blocks and order, so the same bits.
        pub fn $norm(a: &[u8]) -> f64 {
            let [aa] = fold::<$c, FL, 1, f32, f64>(
                a,
                a,
                $elem,
                FLOAT_BLOCK,
                $decode,
                |acc, x, _| {
                    for j in 0..FL {
                        acc[0][j] += x[j] * x[j];
                    }
                },
                f64::from,
            );
            sum(&aa)
        }
    };
}

/// The halves of the portable float cosine kernel for `ty`.
pub fn cosine_split(ty: ElemType) -> Option<CosineSplit> {
    cosine_split_of!(ty, self)
}

float_family!(
    32,
    4,
    decode_f32,
    l2_f32,
    dot_f32,
    l1_f32,
    cosine_f32,
    cos_dot_f32,
    cos_norm_f32,
    scalar::l2_f32,
    scalar::dot_f32,
    scalar::l1_f32,
    scalar::cosine_f32
);
float_family!(
    16,
    2,
    decode_f16,
    l2_f16,
    dot_f16,
    l1_f16,
    cosine_f16,
    cos_dot_f16,
    cos_norm_f16,
    scalar::l2_f16,
    scalar::dot_f16,
    scalar::l1_f16,
    scalar::cosine_f16
);

/// The four integer kernels over one integer encoding, exact: chunks of `$c` bytes decoded by
/// `$decode` into `$l` lanes of `$a`, widened by `$widen` into `$t` lanes every `$block` chunks;
/// `$to_f64` turns a total into the `f64` the result is rounded from (exact: every total is an
/// integer below 2^53).
macro_rules! int_family {
    ($ty:literal, $c:expr, $l:expr, $a:ty, $t:ty, $elem:literal, $block:expr, $decode:ident,
     $widen:expr, $to_f64:expr, $l2:ident, $dot:ident, $l1:ident, $cos:ident) => {
        #[doc = concat!($ty, " squared Euclidean distance, exact.")]
        pub fn $l2(a: &[u8], b: &[u8]) -> f32 {
            let [t] = fold::<{ $c }, { $l }, 1, $a, $t>(
                a,
                b,
                $elem,
                $block,
                $decode,
                |acc, x, y| {
                    for j in 0..$l {
                        let d = x[j] - y[j];
                        acc[0][j] += d * d;
                    }
                },
                $widen,
            );
            $to_f64(sum(&t)) as f32
        }

        #[doc = concat!($ty, " negative inner product, exact.")]
        pub fn $dot(a: &[u8], b: &[u8]) -> f32 {
            let [t] = fold::<{ $c }, { $l }, 1, $a, $t>(
                a,
                b,
                $elem,
                $block,
                $decode,
                |acc, x, y| {
                    for j in 0..$l {
                        acc[0][j] += x[j] * y[j];
                    }
                },
                $widen,
            );
            -$to_f64(sum(&t)) as f32
        }

        #[doc = concat!($ty, " sum of absolute differences, exact.")]
        pub fn $l1(a: &[u8], b: &[u8]) -> f32 {
            let [t] = fold::<{ $c }, { $l }, 1, $a, $t>(
                a,
                b,
                $elem,
                $block,
                $decode,
                |acc, x, y| {
                    for j in 0..$l {
                        acc[0][j] += (x[j] - y[j]).abs();
                    }
                },
                $widen,
            );
            $to_f64(sum(&t)) as f32
        }

        #[doc = concat!($ty, " `1 - cos(a, b)`, from exact integer parts.")]
        pub fn $cos(a: &[u8], b: &[u8]) -> f32 {
            let [ab, aa, bb] = fold::<{ $c }, { $l }, 3, $a, $t>(
                a,
                b,
                $elem,
                $block,
                $decode,
                |acc, x, y| {
                    for j in 0..$l {
                        acc[0][j] += x[j] * y[j];
                    }
                    for j in 0..$l {
                        acc[1][j] += x[j] * x[j];
                    }
                    for j in 0..$l {
                        acc[2][j] += y[j] * y[j];
                    }
                },
                $widen,
            );
            scalar::cosine_from_parts($to_f64(sum(&ab)), $to_f64(sum(&aa)), $to_f64(sum(&bb)))
        }
    };
}

// i8 sums in exact `i32` lanes, drained into `i64` every `INT_BLOCK_ELEMS` components.
int_family!(
    "i8",
    IL,
    IL,
    i32,
    i64,
    1,
    I8_BLOCK,
    decode_i8,
    i64::from,
    |x: i64| x as f64,
    l2_i8,
    dot_i8,
    l1_i8,
    cosine_i8
);

// The i16 kernels accumulate in `f64` lanes and never need draining: every lane and every
// total is an integer below 2^53, so all of it is exact.
int_family!(
    "i16",
    16,
    FL,
    f64,
    f64,
    2,
    usize::MAX,
    decode_i16,
    |x| x,
    |x: f64| x,
    l2_i16,
    dot_i16,
    l1_i16,
    cosine_i16
);

/// Number of differing bits, four `u64` words at a time.
pub fn hamming(a: &[u8], b: &[u8]) -> f32 {
    let [t] = fold::<32, 4, 1, u64, u64>(
        a,
        b,
        1,
        usize::MAX,
        |c| {
            let w: [u64; 4] = bytemuck::pod_read_unaligned(c);
            w.map(u64::from_le)
        },
        |acc, x, y| {
            for j in 0..4 {
                acc[0][j] += u64::from((x[j] ^ y[j]).count_ones());
            }
        },
        |x| x,
    );
    sum(&t) as f32
}

/// `sum(codes[i] * weights[i])`, exact: 16 `i32` lanes per chunk of 16 codes, drained into `i64`
/// every [`CODE_BLOCK_ELEMS`] codes (no lane can overflow, see there); the last partial chunk is
/// summed one code at a time.
pub fn code_dot(codes: &[u8], weights: &[i16]) -> i64 {
    let n = codes.len().min(weights.len());
    let (codes, weights) = (&codes[..n], &weights[..n]);
    let mut total = 0i64;
    for (cb, wb) in codes
        .chunks(CODE_BLOCK_ELEMS)
        .zip(weights.chunks(CODE_BLOCK_ELEMS))
    {
        let mut lanes = [0i32; IL];
        let mut cc = cb.chunks_exact(IL);
        let mut wc = wb.chunks_exact(IL);
        for (c, w) in (&mut cc).zip(&mut wc) {
            for l in 0..IL {
                lanes[l] += i32::from(c[l]) * i32::from(w[l]);
            }
        }
        total += lanes.iter().map(|&x| i64::from(x)).sum::<i64>();
        for (&c, &w) in cc.remainder().iter().zip(wc.remainder()) {
            total += i64::from(c) * i64::from(w);
        }
    }
    total
}

/// `sum(w[i])` over the set bits `i` of `bits` (see `SignSumFn`): each weight masked by its
/// bit, branch-free, summed exactly in `i64`.
pub fn sign_sum(bits: &[u32], w: &[i32]) -> i64 {
    let mut total = 0i64;
    for (&word, wc) in bits.iter().zip(w.chunks(32)) {
        let mut acc = 0i32;
        for (j, &x) in wc.iter().enumerate() {
            acc += x & (((word >> j) & 1) as i32).wrapping_neg();
        }
        total += i64::from(acc);
    }
    total
}
