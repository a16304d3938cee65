//! Every fast kernel against the scalar reference.
//!
//! Tolerance (the contract stated in the parent module):
//! - `i8`, `i16`, `bin`: the kernel's `f32` equals the reference's exactly (`==`; the only
//!   difference allowed is the sign of a zero dot product);
//! - `f32`, `f16` l2, l1, dot: `|got - want| <= FLOAT_REL_TOLERANCE * S + FLOAT_ABS_TOLERANCE`,
//!   where `S` is the sum of the absolute values of the reference's terms, computed in `f64`;
//! - `f32`, `f16` cosine: `|got - want| <= COSINE_ABS_TOLERANCE`;
//! - a non-finite reference (an `f32` overflow of the true value) must be matched exactly.
//!
//! Implementations checked for each pair: `vector::kernel` (the dispatched one), the portable
//! fallback, and every x86 variant this CPU can run. Inputs are placed 0 to 3 bytes into a
//! buffer so the kernels see unaligned slices.

use super::super::{DistanceFn, ElemType, Metric, decode_values, scalar, supported};
use super::*;
use proptest::prelude::*;

/// Every implementation of a pair, named.
fn implementations(ty: ElemType, metric: Metric) -> Vec<(&'static str, DistanceFn)> {
    #[allow(unused_mut)]
    let mut v: Vec<(&'static str, DistanceFn)> = vec![
        ("vector::kernel", crate::vector::kernel(ty, metric)),
        ("portable", portable::kernel(ty, metric)),
    ];
    #[cfg(target_arch = "x86_64")]
    v.extend(x86::variants(ty, metric));
    v
}

fn metrics(ty: ElemType) -> impl Iterator<Item = Metric> {
    Metric::ALL.into_iter().filter(move |&m| supported(ty, m))
}

/// Sum of the absolute values of the reference's terms.
fn abs_terms(ty: ElemType, metric: Metric, a: &[u8], b: &[u8]) -> f64 {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    decode_values(ty, a, &mut x);
    decode_values(ty, b, &mut y);
    let pairs = x.iter().zip(&y);
    match metric {
        Metric::L2 => pairs.map(|(x, y)| (x - y) * (x - y)).sum(),
        Metric::L1 => pairs.map(|(x, y)| (x - y).abs()).sum(),
        Metric::Dot => pairs.map(|(x, y)| (x * y).abs()).sum(),
        Metric::Cosine | Metric::Hamming => 0.0,
    }
}

/// Checks `got` against the reference for `(ty, metric)` on `a`, `b` (see the module docs).
fn agrees(ty: ElemType, metric: Metric, a: &[u8], b: &[u8], got: f32) -> Result<(), String> {
    let want = scalar::distance(ty, metric, a, b);
    let ok = match ty {
        _ if got.is_nan() => false,
        ElemType::I8 | ElemType::I16 | ElemType::Bin => got == want,
        _ if !want.is_finite() => got == want,
        _ if metric == Metric::Cosine => (f64::from(got) - f64::from(want)).abs() <= COSINE_ABS_TOLERANCE,
        _ => {
            let bound = FLOAT_REL_TOLERANCE * abs_terms(ty, metric, a, b) + FLOAT_ABS_TOLERANCE;
            (f64::from(got) - f64::from(want)).abs() <= bound
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("got {got:e}, reference {want:e} (a = {a:?}, b = {b:?})"))
    }
}

/// `bytes` copied `offset` bytes into a fresh buffer (behind junk), so the returned range is
/// misaligned by `offset` relative to the allocation.
fn shifted(bytes: &[u8], offset: usize) -> Vec<u8> {
    let mut buf = vec![0xa5u8; offset];
    buf.extend_from_slice(bytes);
    buf
}

/// Runs every implementation of every metric of `ty` on `a`, `b` at the given offsets.
fn check_all(ty: ElemType, a: &[u8], b: &[u8], oa: usize, ob: usize) -> Result<(), String> {
    let (ba, bb) = (shifted(a, oa), shifted(b, ob));
    let (sa, sb) = (&ba[oa..], &bb[ob..]);
    for metric in metrics(ty) {
        for (name, f) in implementations(ty, metric) {
            agrees(ty, metric, sa, sb, f(sa, sb)).map_err(|e| {
                format!(
                    "{} {} via {name}, {} bytes at offsets ({oa}, {ob}): {e}",
                    ty.name(),
                    metric.name(),
                    a.len()
                )
            })?;
        }
    }
    check_splits(ty, sa, sb).map_err(|e| format!("offsets ({oa}, {ob}): {e}"))
}

/// Every split cosine kernel for `ty`, named.
fn splits(ty: ElemType) -> Vec<(&'static str, CosineSplit)> {
    let mut v: Vec<(&'static str, CosineSplit)> = Vec::new();
    v.extend(cosine_split(ty).map(|s| ("simd::cosine_split", s)));
    v.extend(portable::cosine_split(ty).map(|s| ("portable", s)));
    #[cfg(target_arch = "x86_64")]
    v.extend(x86::cosine_split(ty).map(|s| ("x86", s)));
    v
}

/// Each split cosine kernel gives exactly its fused kernel's bits, and the dispatched split's
/// fused kernel is the dispatched cosine kernel.
fn check_splits(ty: ElemType, a: &[u8], b: &[u8]) -> Result<(), String> {
    if let Some(s) = cosine_split(ty) {
        let k = crate::vector::kernel(ty, Metric::Cosine);
        if s.full(a, b).to_bits() != k(a, b).to_bits() {
            return Err(format!(
                "{}: cosine_split's fused kernel is not kernel()'s",
                ty.name()
            ));
        }
    }
    for (name, s) in splits(ty) {
        let (got, want) = (s.distance(a, b, (s.norm)(a), (s.norm)(b)), (s.full)(a, b));
        if got.to_bits() != want.to_bits() {
            return Err(format!(
                "{} split cosine via {name}, {} bytes: {got:e}, fused {want:e} (a = {a:?}, b = {b:?})",
                ty.name(),
                a.len()
            ));
        }
    }
    Ok(())
}

/// SplitMix64: a tiny deterministic generator for the sweeps.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform in `[-1, 1)`.
    fn signed(&mut self) -> f64 {
        self.unit() * 2.0 - 1.0
    }
    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// How the values of a generated vector are distributed; each element type reads it its own way.
const DISTRIBUTIONS: usize = 5;

fn f32_value(rng: &mut Rng, dist: usize) -> f32 {
    match dist {
        // Typical embeddings.
        0 => rng.signed() as f32,
        // Every scale from 2^-30 to 2^30.
        1 => (rng.signed() * 2f64.powi((rng.next() % 61) as i32 - 30)) as f32,
        // Mostly ordinary values with huge ones mixed in: products and squares overflow f32.
        2 if rng.next().is_multiple_of(8) => (rng.signed() * f64::from(f32::MAX)) as f32,
        2 => (rng.signed() * 100.0) as f32,
        // Tiny values: squares underflow f32.
        3 => (rng.signed() * 1e-25) as f32,
        // The extremes themselves.
        _ => rng.pick(&[
            f32::MAX,
            -f32::MAX,
            f32::MIN_POSITIVE,
            -1e-45,
            0.0,
            1.0,
            -1.0,
            3e19,
        ]),
    }
}

fn f16_value(rng: &mut Rng, dist: usize) -> half::f16 {
    use half::f16;
    match dist {
        0 => f16::from_f64(rng.signed()),
        // Any finite bit pattern (subnormals to the maximum).
        1 => {
            let h = rng.next() as u16;
            f16::from_bits(if h & 0x7c00 == 0x7c00 { h & !0x4000 } else { h })
        }
        2 => f16::from_f64(rng.signed() * 65504.0),
        3 => f16::from_f64(rng.signed() * 1e-5),
        _ => rng.pick(&[
            f16::MAX,
            f16::MIN,
            f16::MIN_POSITIVE_SUBNORMAL,
            f16::ZERO,
            f16::ONE,
        ]),
    }
}

fn i8_value(rng: &mut Rng, dist: usize) -> i8 {
    match dist {
        0 => rng.next() as i8,
        1 => rng.pick(&[i8::MIN, i8::MAX, 0, -1, 1]),
        2 => i8::MIN,
        3 => i8::MAX,
        _ => (rng.next() % 7) as i8 - 3,
    }
}

fn i16_value(rng: &mut Rng, dist: usize) -> i16 {
    match dist {
        0 => rng.next() as i16,
        1 => rng.pick(&[i16::MIN, i16::MAX, 0, -1, 1, 255, 256, -256]),
        2 => i16::MIN,
        3 => i16::MAX,
        _ => (rng.next() % 601) as i16 - 300,
    }
}

fn bin_value(rng: &mut Rng, dist: usize) -> u8 {
    match dist {
        0 => rng.next() as u8,
        1 => 0xff,
        2 => 0,
        3 => 1 << (rng.next() % 8),
        _ => rng.pick(&[0x0f, 0xf0, 0xaa, 0x55]),
    }
}

/// A vector of `n` components of `ty` (for `bin`, `n` bytes) drawn from `dist`.
fn vector(ty: ElemType, n: usize, dist: usize, rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::with_capacity(n * 4);
    for _ in 0..n {
        match ty {
            ElemType::F32 => out.extend(f32_value(rng, dist).to_le_bytes()),
            ElemType::F16 => out.extend(f16_value(rng, dist).to_le_bytes()),
            ElemType::I8 => out.push(i8_value(rng, dist) as u8),
            ElemType::I16 => out.extend(i16_value(rng, dist).to_le_bytes()),
            ElemType::Bin => out.push(bin_value(rng, dist)),
        }
    }
    out
}

/// A copy of `a` with every float component nudged by a relative 1e-3 (near-duplicates are
/// where cosine loses the most precision), keeping components that would overflow; integer and
/// bit vectors come back unchanged.
fn nudged(ty: ElemType, a: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut x = Vec::new();
    decode_values(ty, a, &mut x);
    let mut out = Vec::new();
    match ty {
        ElemType::F32 => {
            for v in x {
                let w = v as f32 * (1.0 + 1e-3 * rng.signed() as f32);
                out.extend((if w.is_finite() { w } else { v as f32 }).to_le_bytes());
            }
        }
        ElemType::F16 => {
            for v in x {
                let w = half::f16::from_f64(v * (1.0 + 1e-3 * rng.signed()));
                let w = if w.is_finite() { w } else { half::f16::from_f64(v) };
                out.extend(w.to_le_bytes());
            }
        }
        _ => out.extend_from_slice(a),
    }
    out
}

/// Dimensions of the sweep: every length up to 70 (all tail shapes), the common embedding sizes,
/// the largest allowed, and one past several integer drain blocks.
fn sweep_dims() -> impl Iterator<Item = usize> {
    (1..=70).chain([128, 384, 768, 1536, 4096, 9001])
}

const OFFSETS: [(usize, usize); 4] = [(0, 0), (1, 3), (2, 1), (3, 2)];

/// The deterministic sweep for one element type: every dimension, every pair of distributions,
/// plus identical and near-identical pairs and a zero vector, at rotating offsets.
fn sweep(ty: ElemType, seed: u64) {
    let mut rng = Rng(seed);
    let mut round = 0usize;
    for n in sweep_dims() {
        let big = n > 1536;
        for da in 0..DISTRIBUTIONS {
            let a = vector(ty, n, da, &mut rng);
            let mut others: Vec<Vec<u8>> = Vec::new();
            for db in 0..DISTRIBUTIONS {
                if !big || db == da {
                    others.push(vector(ty, n, db, &mut rng));
                }
            }
            others.push(a.clone());
            others.push(nudged(ty, &a, &mut rng));
            others.push(vec![0; a.len()]);
            for b in &others {
                let (oa, ob) = OFFSETS[round % OFFSETS.len()];
                round += 1;
                if let Err(e) = check_all(ty, &a, b, oa, ob) {
                    panic!("{e} (distributions: a={da})");
                }
            }
        }
    }
}

#[test]
fn sweep_f32() {
    sweep(ElemType::F32, 1);
}

#[test]
fn sweep_f16() {
    sweep(ElemType::F16, 2);
}

#[test]
fn sweep_i8() {
    sweep(ElemType::I8, 3);
}

#[test]
fn sweep_i16() {
    sweep(ElemType::I16, 4);
}

#[test]
fn sweep_bin() {
    sweep(ElemType::Bin, 5);
}

/// On a CPU with the x86 features, every pair must actually have a SIMD variant under test (so
/// the sweeps cannot pass by testing only the portable code).
#[cfg(target_arch = "x86_64")]
#[test]
fn simd_variants_are_tested_where_available() {
    let full = ["avx2", "fma", "f16c", "popcnt"];
    let has = |f: &str| match f {
        "avx2" => is_x86_feature_detected!("avx2"),
        "fma" => is_x86_feature_detected!("fma"),
        "f16c" => is_x86_feature_detected!("f16c"),
        _ => is_x86_feature_detected!("popcnt"),
    };
    if !full.iter().all(|f| has(f)) {
        eprintln!("CPU lacks some of {full:?}: only the portable kernels are exercised");
        return;
    }
    for ty in ElemType::ALL {
        for metric in metrics(ty) {
            assert!(!x86::variants(ty, metric).is_empty(), "{ty:?} {metric:?}");
        }
    }
    assert_eq!(x86::variants(ElemType::Bin, Metric::Hamming).len(), 3);
}

#[test]
fn exact_extremes() {
    // i16: every madd pair sum is (-32768)^2 * 2 = 2^31, the one value vpmaddwd wraps.
    let n = 4096;
    let min16: Vec<u8> = std::iter::repeat_n(i16::MIN.to_le_bytes(), n).flatten().collect();
    let max16: Vec<u8> = std::iter::repeat_n(i16::MAX.to_le_bytes(), n).flatten().collect();
    for (name, f) in implementations(ElemType::I16, Metric::Dot) {
        assert_eq!(f(&min16, &min16), -((n as f64) * 2f64.powi(30)) as f32, "{name}");
        assert_eq!(f(&min16, &max16), (n as f64 * 32768.0 * 32767.0) as f32, "{name}");
    }
    for (name, f) in implementations(ElemType::I16, Metric::L2) {
        assert_eq!(f(&min16, &max16), (n as f64 * 65535.0 * 65535.0) as f32, "{name}");
    }
    for (name, f) in implementations(ElemType::I16, Metric::L1) {
        assert_eq!(f(&min16, &max16), (n as f64 * 65535.0) as f32, "{name}");
    }
    for (name, f) in implementations(ElemType::I16, Metric::Cosine) {
        assert_eq!(f(&min16, &min16), 0.0, "{name}");
        assert_eq!(f(&min16, &max16), scalar::cosine_i16(&min16, &max16), "{name}");
    }
    let min8 = vec![0x80u8; n];
    let max8 = vec![0x7fu8; n];
    for (name, f) in implementations(ElemType::I8, Metric::L2) {
        assert_eq!(f(&min8, &max8), (n * 255 * 255) as f32, "{name}");
    }
    for (name, f) in implementations(ElemType::I8, Metric::L1) {
        assert_eq!(f(&min8, &max8), (n * 255) as f32, "{name}");
    }
    for (name, f) in implementations(ElemType::Bin, Metric::Hamming) {
        assert_eq!(f(&[0xff; 8192], &[0; 8192]), 65536.0, "{name}");
    }
    // Far past the largest dimension, 32-bit lanes would overflow without the periodic drains.
    let n = 300_000;
    let (min8, max8) = (vec![0x80u8; n], vec![0x7fu8; n]);
    let (min16, max16) = (
        std::iter::repeat_n(i16::MIN.to_le_bytes(), n)
            .flatten()
            .collect::<Vec<u8>>(),
        std::iter::repeat_n(i16::MAX.to_le_bytes(), n)
            .flatten()
            .collect::<Vec<u8>>(),
    );
    for metric in metrics(ElemType::I8) {
        for (name, f) in implementations(ElemType::I8, metric) {
            agrees(ElemType::I8, metric, &min8, &max8, f(&min8, &max8))
                .unwrap_or_else(|e| panic!("{name} {metric:?}: {}", &e[..80]));
        }
    }
    for metric in metrics(ElemType::I16) {
        for (name, f) in implementations(ElemType::I16, metric) {
            agrees(ElemType::I16, metric, &min16, &max16, f(&min16, &max16))
                .unwrap_or_else(|e| panic!("{name} {metric:?}: {}", &e[..80]));
        }
    }
}

#[test]
fn float_edge_cases_match_the_reference_exactly() {
    let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let zero = f32s(&[0.0; 37]);
    let one = f32s(&[1.0; 37]);
    let huge = f32s(&[3e38; 37]);
    let tiny = f32s(&[1e-30; 37]);
    for (name, f) in implementations(ElemType::F32, Metric::Cosine) {
        assert_eq!(f(&zero, &one), 1.0, "{name}: zero vector");
        assert_eq!(f(&zero, &zero), 1.0, "{name}: two zero vectors");
        // Squares overflow f32 and underflow it: the reference answers.
        assert_eq!(f(&huge, &one), scalar::cosine_f32(&huge, &one), "{name}: huge");
        assert_eq!(f(&tiny, &one), scalar::cosine_f32(&tiny, &one), "{name}: tiny");
    }
    for (name, f) in implementations(ElemType::F32, Metric::Dot) {
        assert_eq!(f(&huge, &one), scalar::dot_f32(&huge, &one), "{name}");
        assert_eq!(f(&huge, &huge), f32::NEG_INFINITY, "{name}");
    }
    for (name, f) in implementations(ElemType::F32, Metric::L2) {
        assert_eq!(f(&one, &one), 0.0, "{name}");
        assert_eq!(f(&huge, &zero), f32::INFINITY, "{name}");
    }
    let h = |v: half::f16| {
        std::iter::repeat_n(v.to_le_bytes(), 45)
            .flatten()
            .collect::<Vec<u8>>()
    };
    let (hmax, hmin) = (h(half::f16::MAX), h(half::f16::MIN));
    for metric in metrics(ElemType::F16) {
        for (name, f) in implementations(ElemType::F16, metric) {
            agrees(ElemType::F16, metric, &hmax, &hmin, f(&hmax, &hmin))
                .unwrap_or_else(|e| panic!("{name} {metric:?}: {e}"));
        }
    }
}

#[test]
fn portable_f16_conversion_is_exact_for_every_bit_pattern() {
    for bits in 0..=u16::MAX {
        let want = half::f16::from_bits(bits).to_f32();
        let got = portable::f16_bits_to_f32(bits);
        assert!(
            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
            "{bits:#06x}: {got:e} vs {want:e}"
        );
    }
}

/// `(a, b, offset of a, offset of b)` with `a` and `b` of the same length.
fn pair_of<S: Strategy + Clone>(
    value: S,
    max_len: usize,
) -> impl Strategy<Value = (Vec<S::Value>, Vec<S::Value>, usize, usize)>
where
    S::Value: std::fmt::Debug,
{
    (1..=max_len).prop_flat_map(move |n| {
        (
            prop::collection::vec(value.clone(), n),
            prop::collection::vec(value.clone(), n),
            0..4usize,
            0..4usize,
        )
    })
}

fn bytes_of<T: Copy, const N: usize>(v: &[T], to_bytes: fn(T) -> [u8; N]) -> Vec<u8> {
    v.iter().flat_map(|&x| to_bytes(x)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn prop_f32((a, b, oa, ob) in pair_of(
        prop::num::f32::NORMAL | prop::num::f32::SUBNORMAL | prop::num::f32::ZERO, 200)) {
        let (a, b) = (bytes_of(&a, f32::to_le_bytes), bytes_of(&b, f32::to_le_bytes));
        check_all(ElemType::F32, &a, &b, oa, ob).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn prop_f32_typical((a, b, oa, ob) in pair_of(-1.0f32..1.0, 200)) {
        let (a, b) = (bytes_of(&a, f32::to_le_bytes), bytes_of(&b, f32::to_le_bytes));
        check_all(ElemType::F32, &a, &b, oa, ob).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn prop_f16((a, b, oa, ob) in pair_of(
        any::<u16>().prop_map(|h| if h & 0x7c00 == 0x7c00 { h & !0x4000 } else { h }), 200)) {
        let (a, b) = (bytes_of(&a, u16::to_le_bytes), bytes_of(&b, u16::to_le_bytes));
        check_all(ElemType::F16, &a, &b, oa, ob).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn prop_i8((a, b, oa, ob) in pair_of(
        prop_oneof![any::<i8>(), Just(i8::MIN), Just(i8::MAX)], 300)) {
        let (a, b) = (bytes_of(&a, i8::to_le_bytes), bytes_of(&b, i8::to_le_bytes));
        check_all(ElemType::I8, &a, &b, oa, ob).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn prop_i16((a, b, oa, ob) in pair_of(
        prop_oneof![any::<i16>(), Just(i16::MIN), Just(i16::MAX)], 300)) {
        let (a, b) = (bytes_of(&a, i16::to_le_bytes), bytes_of(&b, i16::to_le_bytes));
        check_all(ElemType::I16, &a, &b, oa, ob).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn prop_bin((a, b, oa, ob) in pair_of(any::<u8>(), 600)) {
        check_all(ElemType::Bin, &a, &b, oa, ob).map_err(TestCaseError::fail)?;
    }
}

/// The sq8 code kernel: every implementation returns the exact integer sum, at every length
/// (tails included), unaligned, with extreme weights and past a drain block.
#[test]
fn code_dot_is_exact_everywhere() {
    let mut x = 99u64;
    let mut next = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    for len in [
        0usize, 1, 15, 16, 17, 31, 32, 33, 100, 1023, 1024, 1025, 3000, 4096,
    ] {
        let codes: Vec<u8> = (0..len + 3).map(|_| next() as u8).collect();
        let mut weights: Vec<i16> = (0..len).map(|_| next() as i16).collect();
        if len > 2 {
            weights[0] = i16::MIN;
            weights[1] = i16::MAX;
        }
        for off in 0..3 {
            let c = &codes[off..off + len];
            let want: i64 = c
                .iter()
                .zip(&weights)
                .map(|(&a, &b)| i64::from(a) * i64::from(b))
                .sum();
            assert_eq!(portable::code_dot(c, &weights), want, "portable, len {len}");
            assert_eq!(code_dot()(c, &weights), want, "dispatched, len {len}");
            #[cfg(target_arch = "x86_64")]
            if let Some(k) = x86::code_dot() {
                assert_eq!(k(c, &weights), want, "avx2, len {len}");
            }
        }
        // All-maximum inputs: the largest lane sums, no overflow.
        let big = vec![255u8; len];
        let neg = vec![i16::MIN; len];
        assert_eq!(code_dot()(&big, &neg), -(255 * 32768) * len as i64);
    }
}

/// Every sign-sum kernel returns the reference's exact sum, whatever the lengths (weights
/// shorter or longer than the bits, tails of every size) and the weights' extremes.
#[test]
fn sign_sum_is_exact_everywhere() {
    let mut rng = Rng(0x51_6e5);
    let mut next = move || rng.next();
    for words in [0usize, 1, 2, 3, 12, 24, 48] {
        for extra in [-33i64, -17, -1, 0, 5, 40] {
            let n = (words as i64 * 32 + extra).max(0) as usize;
            let bits: Vec<u32> = (0..words).map(|_| next() as u32).collect();
            let w: Vec<i32> = (0..n)
                .map(|i| match i % 7 {
                    0 => 32767,
                    1 => -32767,
                    _ => (next() % 65535) as i32 - 32767,
                })
                .collect();
            let want: i64 = (0..n.min(32 * words))
                .filter(|&i| bits[i / 32] >> (i % 32) & 1 == 1)
                .map(|i| i64::from(w[i]))
                .sum();
            for (name, k) in super::sign_sum_variants() {
                assert_eq!(k(&bits, &w), want, "{name}: {words} words, {n} weights");
            }
            assert_eq!(super::sign_sum()(&bits, &w), want);
        }
    }
}
