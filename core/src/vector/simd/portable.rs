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

use super::super::{DistanceFn, ElemType, Metric, scalar};
use super::{FLOAT_BLOCK_ELEMS, INT_BLOCK_ELEMS, cosine_parts_ok, padded};

/// Lanes of the float accumulators.
const FL: usize = 8;
/// Lanes of the `i8` accumulators.
const IL: usize = 16;

/// The portable kernel for a supported pair (unsupported pairs get the reference's fallback).
pub fn kernel(ty: ElemType, metric: Metric) -> DistanceFn {
    use ElemType::*;
    use Metric::*;
    match (ty, metric) {
        (F32, L2) => l2_f32,
        (F32, Cosine) => cosine_f32,
        (F32, Dot) => dot_f32,
        (F32, L1) => l1_f32,
        (F16, L2) => l2_f16,
        (F16, Cosine) => cosine_f16,
        (F16, Dot) => dot_f16,
        (F16, L1) => l1_f16,
        (I8, L2) => l2_i8,
        (I8, Cosine) => cosine_i8,
        (I8, Dot) => dot_i8,
        (I8, L1) => l1_i8,
        (I16, L2) => l2_i16,
        (I16, Cosine) => cosine_i16,
        (I16, Dot) => dot_i16,
        (I16, L1) => l1_i16,
        (Bin, Hamming) => hamming,
        _ => scalar::kernel(ty, metric),
    }
}

/// Folds `a` and `b` (read up to the shorter one's last whole `elem`-byte element) `C` bytes at a
/// time: `decode` turns a chunk into `L` lanes, `step` adds one chunk pair into the `P` lane
/// accumulators, and `drain` empties the accumulators after every `block` chunks and at the end.
/// The trailing partial chunk is zero-padded.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fold<const C: usize, const L: usize, const P: usize, A: Copy + Default>(
    a: &[u8],
    b: &[u8],
    elem: usize,
    block: usize,
    decode: impl Fn(&[u8; C]) -> [A; L],
    step: impl Fn(&mut [[A; L]; P], &[A; L], &[A; L]),
    mut drain: impl FnMut(&[[A; L]; P]),
) {
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
}

/// Sum of `f32` lanes in `f64`.
#[inline(always)]
fn lanes_f64(v: &[f32; FL]) -> f64 {
    v.iter().map(|&x| f64::from(x)).sum()
}

/// Sum of `i32` lanes in `i64`.
#[inline(always)]
fn lanes_i64(v: &[i32; IL]) -> i64 {
    v.iter().map(|&x| i64::from(x)).sum()
}

#[inline(always)]
fn decode_f32(c: &[u8; 4 * FL]) -> [f32; FL] {
    std::array::from_fn(|j| f32::from_le_bytes([c[4 * j], c[4 * j + 1], c[4 * j + 2], c[4 * j + 3]]))
}

#[inline(always)]
fn decode_f16(c: &[u8; 2 * FL]) -> [f32; FL] {
    std::array::from_fn(|j| f16_bits_to_f32(u16::from_le_bytes([c[2 * j], c[2 * j + 1]])))
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
    std::array::from_fn(|j| i32::from(c[j] as i8))
}

#[inline(always)]
fn decode_i16(c: &[u8; 2 * FL]) -> [f64; FL] {
    std::array::from_fn(|j| f64::from(i16::from_le_bytes([c[2 * j], c[2 * j + 1]])))
}

const FLOAT_BLOCK: usize = FLOAT_BLOCK_ELEMS / FL;
const I8_BLOCK: usize = INT_BLOCK_ELEMS / IL;

/// The four float kernels over one float encoding (`E` bytes per element, `C = FL * E`).
macro_rules! float_family {
    ($c:literal, $elem:literal, $decode:ident,
     $l2:ident, $dot:ident, $l1:ident, $cos:ident,
     $rl2:path, $rdot:path, $rl1:path, $rcos:path) => {
        /// Squared Euclidean distance (see the module documentation for accuracy).
        pub fn $l2(a: &[u8], b: &[u8]) -> f32 {
            let mut t = 0.0f64;
            fold::<$c, FL, 1, f32>(
                a,
                b,
                $elem,
                FLOAT_BLOCK,
                $decode,
                |acc, x, y| {
                    for ((s, &x), &y) in acc[0].iter_mut().zip(x).zip(y) {
                        let d = x - y;
                        *s += d * d;
                    }
                },
                |acc| t += lanes_f64(&acc[0]),
            );
            let r = t as f32;
            if r.is_finite() { r } else { $rl2(a, b) }
        }

        /// Negative inner product (see the module documentation for accuracy).
        pub fn $dot(a: &[u8], b: &[u8]) -> f32 {
            let mut t = 0.0f64;
            fold::<$c, FL, 1, f32>(
                a,
                b,
                $elem,
                FLOAT_BLOCK,
                $decode,
                |acc, x, y| {
                    for ((s, &x), &y) in acc[0].iter_mut().zip(x).zip(y) {
                        *s += x * y;
                    }
                },
                |acc| t += lanes_f64(&acc[0]),
            );
            let r = -t as f32;
            if r.is_finite() { r } else { $rdot(a, b) }
        }

        /// Sum of absolute differences (see the module documentation for accuracy).
        pub fn $l1(a: &[u8], b: &[u8]) -> f32 {
            let mut t = 0.0f64;
            fold::<$c, FL, 1, f32>(
                a,
                b,
                $elem,
                FLOAT_BLOCK,
                $decode,
                |acc, x, y| {
                    for ((s, &x), &y) in acc[0].iter_mut().zip(x).zip(y) {
                        *s += (x - y).abs();
                    }
                },
                |acc| t += lanes_f64(&acc[0]),
            );
            let r = t as f32;
            if r.is_finite() { r } else { $rl1(a, b) }
        }

        /// `1 - cos(a, b)` (see the module documentation for accuracy and edge cases).
        pub fn $cos(a: &[u8], b: &[u8]) -> f32 {
            let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
            fold::<$c, FL, 3, f32>(
                a,
                b,
                $elem,
                FLOAT_BLOCK,
                $decode,
                |acc, x, y| {
                    let [sab, saa, sbb] = acc;
                    for ((((pab, paa), pbb), &x), &y) in sab
                        .iter_mut()
                        .zip(saa.iter_mut())
                        .zip(sbb.iter_mut())
                        .zip(x)
                        .zip(y)
                    {
                        *pab += x * y;
                        *paa += x * x;
                        *pbb += y * y;
                    }
                },
                |acc| {
                    ab += lanes_f64(&acc[0]);
                    aa += lanes_f64(&acc[1]);
                    bb += lanes_f64(&acc[2]);
                },
            );
            if cosine_parts_ok(ab, aa, bb) {
                scalar::cosine_from_parts(ab, aa, bb)
            } else {
                $rcos(a, b)
            }
        }
    };
}

float_family!(
    32,
    4,
    decode_f32,
    l2_f32,
    dot_f32,
    l1_f32,
    cosine_f32,
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
    scalar::l2_f16,
    scalar::dot_f16,
    scalar::l1_f16,
    scalar::cosine_f16
);

/// i8 squared Euclidean distance, exact.
pub fn l2_i8(a: &[u8], b: &[u8]) -> f32 {
    let mut t = 0i64;
    fold::<IL, IL, 1, i32>(
        a,
        b,
        1,
        I8_BLOCK,
        decode_i8,
        |acc, x, y| {
            for ((s, &x), &y) in acc[0].iter_mut().zip(x).zip(y) {
                let d = x - y;
                *s += d * d;
            }
        },
        |acc| t += lanes_i64(&acc[0]),
    );
    t as f64 as f32
}

/// i8 negative inner product, exact.
pub fn dot_i8(a: &[u8], b: &[u8]) -> f32 {
    let mut t = 0i64;
    fold::<IL, IL, 1, i32>(
        a,
        b,
        1,
        I8_BLOCK,
        decode_i8,
        |acc, x, y| {
            for ((s, &x), &y) in acc[0].iter_mut().zip(x).zip(y) {
                *s += x * y;
            }
        },
        |acc| t += lanes_i64(&acc[0]),
    );
    -(t as f64) as f32
}

/// i8 sum of absolute differences, exact.
pub fn l1_i8(a: &[u8], b: &[u8]) -> f32 {
    let mut t = 0i64;
    fold::<IL, IL, 1, i32>(
        a,
        b,
        1,
        I8_BLOCK,
        decode_i8,
        |acc, x, y| {
            for ((s, &x), &y) in acc[0].iter_mut().zip(x).zip(y) {
                *s += (x - y).abs();
            }
        },
        |acc| t += lanes_i64(&acc[0]),
    );
    t as f64 as f32
}

/// i8 `1 - cos(a, b)`, from exact integer parts.
pub fn cosine_i8(a: &[u8], b: &[u8]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0i64, 0i64, 0i64);
    fold::<IL, IL, 3, i32>(
        a,
        b,
        1,
        I8_BLOCK,
        decode_i8,
        |acc, x, y| {
            let [sab, saa, sbb] = acc;
            for ((((pab, paa), pbb), &x), &y) in sab
                .iter_mut()
                .zip(saa.iter_mut())
                .zip(sbb.iter_mut())
                .zip(x)
                .zip(y)
            {
                *pab += x * y;
                *paa += x * x;
                *pbb += y * y;
            }
        },
        |acc| {
            ab += lanes_i64(&acc[0]);
            aa += lanes_i64(&acc[1]);
            bb += lanes_i64(&acc[2]);
        },
    );
    scalar::cosine_from_parts(ab as f64, aa as f64, bb as f64)
}

/// Sum of `f64` lanes. Every lane and the total are integers below 2^53, so this is exact.
#[inline(always)]
fn lanes_exact(v: &[f64; FL]) -> f64 {
    v.iter().sum()
}

/// i16 squared Euclidean distance, exact (integer-valued `f64` lanes).
pub fn l2_i16(a: &[u8], b: &[u8]) -> f32 {
    let mut t = 0.0f64;
    fold::<16, FL, 1, f64>(
        a,
        b,
        2,
        usize::MAX,
        decode_i16,
        |acc, x, y| {
            for ((s, &x), &y) in acc[0].iter_mut().zip(x).zip(y) {
                let d = x - y;
                *s += d * d;
            }
        },
        |acc| t += lanes_exact(&acc[0]),
    );
    t as f32
}

/// i16 negative inner product, exact (integer-valued `f64` lanes).
pub fn dot_i16(a: &[u8], b: &[u8]) -> f32 {
    let mut t = 0.0f64;
    fold::<16, FL, 1, f64>(
        a,
        b,
        2,
        usize::MAX,
        decode_i16,
        |acc, x, y| {
            for ((s, &x), &y) in acc[0].iter_mut().zip(x).zip(y) {
                *s += x * y;
            }
        },
        |acc| t += lanes_exact(&acc[0]),
    );
    -t as f32
}

/// i16 sum of absolute differences, exact (integer-valued `f64` lanes).
pub fn l1_i16(a: &[u8], b: &[u8]) -> f32 {
    let mut t = 0.0f64;
    fold::<16, FL, 1, f64>(
        a,
        b,
        2,
        usize::MAX,
        decode_i16,
        |acc, x, y| {
            for ((s, &x), &y) in acc[0].iter_mut().zip(x).zip(y) {
                *s += (x - y).abs();
            }
        },
        |acc| t += lanes_exact(&acc[0]),
    );
    t as f32
}

/// i16 `1 - cos(a, b)`, from exact integer-valued parts.
pub fn cosine_i16(a: &[u8], b: &[u8]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    fold::<16, FL, 3, f64>(
        a,
        b,
        2,
        usize::MAX,
        decode_i16,
        |acc, x, y| {
            let [sab, saa, sbb] = acc;
            for ((((pab, paa), pbb), &x), &y) in sab
                .iter_mut()
                .zip(saa.iter_mut())
                .zip(sbb.iter_mut())
                .zip(x)
                .zip(y)
            {
                *pab += x * y;
                *paa += x * x;
                *pbb += y * y;
            }
        },
        |acc| {
            ab += lanes_exact(&acc[0]);
            aa += lanes_exact(&acc[1]);
            bb += lanes_exact(&acc[2]);
        },
    );
    scalar::cosine_from_parts(ab, aa, bb)
}

/// Number of differing bits, four `u64` words at a time.
pub fn hamming(a: &[u8], b: &[u8]) -> f32 {
    let mut t = 0u64;
    fold::<32, 4, 1, u64>(
        a,
        b,
        1,
        usize::MAX,
        |c| std::array::from_fn(|j| u64::from_le_bytes(word(c, j))),
        |acc, x, y| {
            for ((s, &x), &y) in acc[0].iter_mut().zip(x).zip(y) {
                *s += u64::from((x ^ y).count_ones());
            }
        },
        |acc| t += acc[0].iter().sum::<u64>(),
    );
    t as f32
}

/// The `j`-th 8-byte word of a 32-byte chunk.
#[inline(always)]
fn word(c: &[u8; 32], j: usize) -> [u8; 8] {
    std::array::from_fn(|k| c[8 * j + k])
}
