//! The bit-counting and code kernels: Hamming distance with POPCNT (over `u64` words) and with
//! an AVX2 nibble-table popcount, and the AVX2 sq8 code dot product.
//!
//! Invariants: both Hamming kernels count exactly the differing bits of the shorter slice's
//! bytes; byte counters of the AVX2 one are summed with `vpsadbw` before they can reach 256;
//! `code_dot_avx2` drains its `i32` lanes every `CODE_BLOCK_ELEMS` codes, so it is exact. Sound
//! to call only on a CPU with the features each kernel is compiled for.

use std::arch::x86_64::*;

use super::*;

/// Hamming distance with `popcnt`: `u64` words four at a time into independent counts, then the
/// remaining words, then the remaining bytes (no padding copy: short vectors are common here).
#[target_feature(enable = "popcnt")]
pub(super) fn hamming_popcnt(a: &[u8], b: &[u8]) -> f32 {
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
pub(super) fn hamming_avx2(a: &[u8], b: &[u8]) -> f32 {
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
pub(super) fn code_dot_avx2(codes: &[u8], weights: &[i16]) -> i64 {
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

/// `sum(w[i] for each set bit i of bits)`, exact: 16 weights per step added under the mask of
/// the next 16 bits into 16 `i32` lanes (no lane can overflow: at most `bits.len() * 2` steps of
/// `|w| <= 2^15` each, see `SignSumFn`); the weights past the last whole 16 one at a time.
#[target_feature(enable = "avx512f")]
pub(super) fn sign_sum_avx512(bits: &[u32], w: &[i32]) -> i64 {
    let n = (bits.len() * 32).min(w.len());
    let full = n / 16 * 16;
    let mut acc = _mm512_setzero_si512();
    let mut i = 0;
    while i < full {
        let k = (bits[i / 32] >> (i % 32)) as u16;
        // SAFETY: `i + 16 <= full <= w.len()`: 16 readable `i32`s.
        let x = unsafe { _mm512_loadu_si512(w.as_ptr().add(i).cast()) };
        acc = _mm512_mask_add_epi32(acc, k, acc, x);
        i += 16;
    }
    let mut total = i64::from(_mm512_reduce_add_epi32(acc));
    for (j, &x) in w[full..n].iter().enumerate() {
        let b = full + j;
        if bits[b / 32] >> (b % 32) & 1 == 1 {
            total += i64::from(x);
        }
    }
    total
}

/// [`sign_sum_avx512`] on AVX2: each byte of bits is broadcast to 8 lanes, tested against the
/// lane's bit, and the matching weights added.
#[target_feature(enable = "avx2")]
pub(super) fn sign_sum_avx2(bits: &[u32], w: &[i32]) -> i64 {
    let n = (bits.len() * 32).min(w.len());
    let full = n / 8 * 8;
    let lane_bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i < full {
        let byte = (bits[i / 32] >> (i % 32)) as i32 & 0xff;
        let m = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(byte), lane_bits), lane_bits);
        // SAFETY: `i + 8 <= full <= w.len()`: 8 readable `i32`s (32 bytes).
        let x = unsafe { load_256(w.as_ptr().add(i).cast()) };
        acc = _mm256_add_epi32(acc, _mm256_and_si256(m, x));
        i += 8;
    }
    let mut total = hsum_epi32(acc);
    for (j, &x) in w[full..n].iter().enumerate() {
        let b = full + j;
        if bits[b / 32] >> (b % 32) & 1 == 1 {
            total += i64::from(x);
        }
    }
    total
}
