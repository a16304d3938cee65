//! Vectors: element types, metrics, byte codecs, validation and distance kernels.
//!
//! A vector is always handled as the raw little-endian bytes of its element type, exactly as the
//! `user.vexfs.vector` attribute stores it; nothing here assumes the bytes are aligned. For each
//! (element type, metric) pair there is a scalar reference implementation in [`scalar`] and a
//! fastest implementation chosen once at runtime by [`kernel`] (SIMD where the CPU has it).
//!
//! Invariants:
//! - a distance is never NaN for vectors that passed [`validate`]; smaller is closer;
//! - `kernel(t, m)(a, b)` equals `scalar::distance(t, m, a, b)` within the tolerance stated in
//!   [`simd`] (exactly for `i8`, `i16` and `bin`), for every supported pair;
//! - callers pass two slices of exactly `t.vector_bytes(dim)` bytes (checked by a debug assertion).

/// The element type × metric → kernel table, written once for every backend (`scalar`,
/// `simd::portable`, `simd::x86`): the kernel of a numeric type (`f32`, `f16`, `i8`, `i16`)
/// under a numeric metric (l2, cosine, dot, l1) among the sixteen functions `l2_f32` …
/// `l1_i16` that each backend defines in the module `$m` (a path, e.g. `self`), as
/// `Some(DistanceFn)`; `None` for every pair with `bin` or `hamming`, which each backend
/// resolves itself (it has its own bit-counting kernels and its own fallback).
macro_rules! numeric_kernel {
    ($ty:expr, $metric:expr, $($m:ident)::+) => {{
        use $crate::vector::{DistanceFn, ElemType as T, Metric as M};
        let k: Option<DistanceFn> = match ($ty, $metric) {
            (T::F32, M::L2) => Some($($m)::+::l2_f32),
            (T::F32, M::Cosine) => Some($($m)::+::cosine_f32),
            (T::F32, M::Dot) => Some($($m)::+::dot_f32),
            (T::F32, M::L1) => Some($($m)::+::l1_f32),
            (T::F16, M::L2) => Some($($m)::+::l2_f16),
            (T::F16, M::Cosine) => Some($($m)::+::cosine_f16),
            (T::F16, M::Dot) => Some($($m)::+::dot_f16),
            (T::F16, M::L1) => Some($($m)::+::l1_f16),
            (T::I8, M::L2) => Some($($m)::+::l2_i8),
            (T::I8, M::Cosine) => Some($($m)::+::cosine_i8),
            (T::I8, M::Dot) => Some($($m)::+::dot_i8),
            (T::I8, M::L1) => Some($($m)::+::l1_i8),
            (T::I16, M::L2) => Some($($m)::+::l2_i16),
            (T::I16, M::Cosine) => Some($($m)::+::cosine_i16),
            (T::I16, M::Dot) => Some($($m)::+::dot_i16),
            (T::I16, M::L1) => Some($($m)::+::l1_i16),
            (T::Bin, _) | (_, M::Hamming) => None,
        };
        k
    }};
}

/// The split float cosine kernel ([`simd::CosineSplit`]) of a backend's module `$m` for `$ty`,
/// from its `cos_dot_*`, `cos_norm_*` and `cosine_*` functions; `None` for the integer types.
/// Written once for `simd::portable` and `simd::x86`.
macro_rules! cosine_split_of {
    ($ty:expr, $($m:ident)::+) => {{
        use $crate::vector::{ElemType as T, simd::CosineSplit};
        match $ty {
            T::F32 => Some(CosineSplit {
                dot: $($m)::+::cos_dot_f32,
                norm: $($m)::+::cos_norm_f32,
                full: $($m)::+::cosine_f32,
            }),
            T::F16 => Some(CosineSplit {
                dot: $($m)::+::cos_dot_f16,
                norm: $($m)::+::cos_norm_f16,
                full: $($m)::+::cosine_f16,
            }),
            T::I8 | T::I16 | T::Bin => None,
        }
    }};
}

pub mod scalar;
pub mod simd;

use crate::error::{Error, Result};
use crate::limits::{BIN_DIM_MAX, DIM_MAX};

/// The attribute holding a file's vector (defined here, below every layer that names it;
/// `collections` re-exports it).
pub const VECTOR_XATTR: &[u8] = b"user.vexfs.vector";

/// How the components of a vector are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ElemType {
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary16 (`half::f16`).
    F16,
    /// Signed 8-bit integers.
    I8,
    /// Signed 16-bit integers.
    I16,
    /// Packed bits, lowest bit of each byte first; the dimension counts bits.
    Bin,
}

impl ElemType {
    /// Every element type, in canonical order.
    pub const ALL: [ElemType; 5] = [
        ElemType::F32,
        ElemType::F16,
        ElemType::I8,
        ElemType::I16,
        ElemType::Bin,
    ];

    /// The name used in collection configurations (`f32`, `f16`, `i8`, `i16`, `bin`).
    pub const fn name(self) -> &'static str {
        match self {
            ElemType::F32 => "f32",
            ElemType::F16 => "f16",
            ElemType::I8 => "i8",
            ElemType::I16 => "i16",
            ElemType::Bin => "bin",
        }
    }

    /// Parses a configuration name.
    pub fn parse(s: &str) -> Option<ElemType> {
        ElemType::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Size in bytes of one vector of `dim` components (for `Bin`, `dim` counts bits).
    pub const fn vector_bytes(self, dim: u32) -> usize {
        let dim = dim as usize;
        match self {
            ElemType::F32 => dim * 4,
            ElemType::F16 | ElemType::I16 => dim * 2,
            ElemType::I8 => dim,
            ElemType::Bin => dim / 8,
        }
    }

    /// The largest dimension this type allows.
    pub const fn dim_max(self) -> u32 {
        match self {
            ElemType::Bin => BIN_DIM_MAX,
            _ => DIM_MAX,
        }
    }

    /// Stable one-byte code used by the on-disk format.
    pub const fn code(self) -> u8 {
        match self {
            ElemType::F32 => 0,
            ElemType::F16 => 1,
            ElemType::I8 => 2,
            ElemType::I16 => 3,
            ElemType::Bin => 4,
        }
    }

    /// Inverse of [`ElemType::code`].
    pub fn from_code(c: u8) -> Option<ElemType> {
        ElemType::ALL.into_iter().find(|t| t.code() == c)
    }
}

/// How the distance between two vectors is measured. Smaller is always closer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Squared Euclidean distance.
    L2,
    /// `1 - cos(a, b)`; `1` when either vector is zero.
    Cosine,
    /// Negative inner product.
    Dot,
    /// Sum of absolute differences.
    L1,
    /// Number of differing bits (`Bin` only).
    Hamming,
}

impl Metric {
    /// Every metric, in canonical order.
    pub const ALL: [Metric; 5] = [
        Metric::L2,
        Metric::Cosine,
        Metric::Dot,
        Metric::L1,
        Metric::Hamming,
    ];

    /// The name used in collection configurations.
    pub const fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Cosine => "cosine",
            Metric::Dot => "dot",
            Metric::L1 => "l1",
            Metric::Hamming => "hamming",
        }
    }

    /// Parses a configuration name.
    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Stable one-byte code used by the on-disk format.
    pub const fn code(self) -> u8 {
        match self {
            Metric::L2 => 0,
            Metric::Cosine => 1,
            Metric::Dot => 2,
            Metric::L1 => 3,
            Metric::Hamming => 4,
        }
    }

    /// Inverse of [`Metric::code`].
    pub fn from_code(c: u8) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.code() == c)
    }
}

/// Whether `metric` is defined on vectors of type `ty`: `hamming` exactly on `bin`.
pub const fn supported(ty: ElemType, metric: Metric) -> bool {
    matches!(
        (ty, metric),
        (ElemType::Bin, Metric::Hamming)
            | (
                ElemType::F32 | ElemType::F16 | ElemType::I8 | ElemType::I16,
                Metric::L2 | Metric::Cosine | Metric::Dot | Metric::L1
            )
    )
}

/// A distance kernel over two raw vectors of the same type and length.
pub type DistanceFn = fn(&[u8], &[u8]) -> f32;

/// The fastest kernel for `(ty, metric)` on this CPU, chosen at runtime (AVX2/FMA, F16C and
/// POPCNT on x86-64 when present, the scalar reference otherwise). Call it once per collection
/// or search, not per distance. `supported(ty, metric)` must hold.
pub fn kernel(ty: ElemType, metric: Metric) -> DistanceFn {
    debug_assert!(supported(ty, metric));
    simd::kernel(ty, metric)
}

pub use simd::{CODE_BLOCK_ELEMS, CodeDotFn, CosineSplit, SignSumFn, code_dot, sign_sum};

/// The cosine kernel of `ty` in two halves (one inner product per distance, given each vector's
/// squared norm), returning exactly the bits of `kernel(ty, Metric::Cosine)`; `None` where the
/// fused kernel is all there is (the integer types). See [`CosineSplit`].
pub fn cosine_split(ty: ElemType) -> Option<CosineSplit> {
    simd::cosine_split(ty)
}

/// Checks that `bytes` is a valid vector of `dim` components of type `ty`: the exact length,
/// and no NaN or infinity in float types.
pub fn validate(ty: ElemType, dim: u32, bytes: &[u8]) -> Result<()> {
    if bytes.len() != ty.vector_bytes(dim) {
        return Err(Error::Invalid(
            "vector length does not match the collection's dim and type",
        ));
    }
    let finite = match ty {
        ElemType::F32 => bytes
            .chunks_exact(4)
            .all(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite()),
        // An f16 is non-finite exactly when its exponent bits are all ones.
        ElemType::F16 => bytes
            .chunks_exact(2)
            .all(|c| u16::from_le_bytes([c[0], c[1]]) & 0x7c00 != 0x7c00),
        ElemType::I8 | ElemType::I16 | ElemType::Bin => true,
    };
    if finite {
        Ok(())
    } else {
        Err(Error::Invalid("vector contains NaN or infinity"))
    }
}

/// Whether every component of the valid vector `bytes` of type `ty` is zero (`-0.0` included):
/// such a vector has no direction, so its cosine distance to anything is undefined.
pub fn is_zero(ty: ElemType, bytes: &[u8]) -> bool {
    match ty {
        // A float is zero exactly when all bits but the sign are clear.
        ElemType::F32 => bytes
            .chunks_exact(4)
            .all(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) & 0x7fff_ffff == 0),
        ElemType::F16 => bytes
            .chunks_exact(2)
            .all(|c| u16::from_le_bytes([c[0], c[1]]) & 0x7fff == 0),
        ElemType::I8 | ElemType::I16 | ElemType::Bin => bytes.iter().all(|&b| b == 0),
    }
}

/// Encodes query values (as JSON numbers give them) into `out` as a vector of `dim` components
/// of type `ty`. Floats must be finite and in range of the type; integer types take integers in
/// their range; `bin` takes `dim` values that are each 0 or 1 (packed lowest bit first).
pub fn encode_values(ty: ElemType, dim: u32, values: &[f64], out: &mut Vec<u8>) -> Result<()> {
    if values.len() != dim as usize {
        return Err(Error::Invalid("query vector has the wrong number of values"));
    }
    out.clear();
    out.reserve(ty.vector_bytes(dim));
    match ty {
        ElemType::F32 => {
            for &v in values {
                if !v.is_finite() || v.abs() > f64::from(f32::MAX) {
                    return Err(Error::Invalid("f32 query value is not a finite f32"));
                }
                out.extend_from_slice(&(v as f32).to_le_bytes());
            }
        }
        ElemType::F16 => {
            for &v in values {
                let h = half::f16::from_f64(v);
                if !v.is_finite() || !h.is_finite() {
                    return Err(Error::Invalid("f16 query value is not a finite f16"));
                }
                out.extend_from_slice(&h.to_le_bytes());
            }
        }
        ElemType::I8 => {
            for &v in values {
                if v.fract() != 0.0 || !(-128.0..=127.0).contains(&v) {
                    return Err(Error::Invalid("i8 query values must be integers in -128..=127"));
                }
                out.push(v as i8 as u8);
            }
        }
        ElemType::I16 => {
            for &v in values {
                if v.fract() != 0.0 || !(-32768.0..=32767.0).contains(&v) {
                    return Err(Error::Invalid(
                        "i16 query values must be integers in -32768..=32767",
                    ));
                }
                out.extend_from_slice(&(v as i16).to_le_bytes());
            }
        }
        ElemType::Bin => {
            out.resize(ty.vector_bytes(dim), 0);
            for (i, &v) in values.iter().enumerate() {
                if v == 1.0 {
                    out[i / 8] |= 1 << (i % 8);
                } else if v != 0.0 {
                    return Err(Error::Invalid("bin query values must be 0 or 1"));
                }
            }
        }
    }
    Ok(())
}

/// Decodes a stored vector into its component values (bits for `bin`), for display.
pub fn decode_values(ty: ElemType, bytes: &[u8], out: &mut Vec<f64>) {
    out.clear();
    match ty {
        ElemType::F32 => out.extend(
            bytes
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        ),
        ElemType::F16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64()),
        ),
        ElemType::I8 => out.extend(bytes.iter().map(|&b| f64::from(b as i8))),
        ElemType::I16 => out.extend(
            bytes
                .chunks_exact(2)
                .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]]))),
        ),
        ElemType::Bin => out.extend(
            bytes
                .iter()
                .flat_map(|&b| (0..8).map(move |i| f64::from((b >> i) & 1))),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in ElemType::ALL {
            assert_eq!(ElemType::parse(t.name()), Some(t));
            assert_eq!(ElemType::from_code(t.code()), Some(t));
        }
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.name()), Some(m));
            assert_eq!(Metric::from_code(m.code()), Some(m));
        }
        assert_eq!(ElemType::parse("f64"), None);
        assert_eq!(Metric::parse("L2"), None);
    }

    #[test]
    fn validate_checks_length_and_finiteness() {
        let ok: Vec<u8> = [1.0f32, -2.5].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(validate(ElemType::F32, 2, &ok), Ok(()));
        assert!(validate(ElemType::F32, 3, &ok).is_err());
        let nan: Vec<u8> = [1.0f32, f32::NAN].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert!(validate(ElemType::F32, 2, &nan).is_err());
        let inf = half::f16::INFINITY.to_le_bytes();
        assert!(validate(ElemType::F16, 1, &inf).is_err());
        assert_eq!(validate(ElemType::F16, 1, &half::f16::MAX.to_le_bytes()), Ok(()));
        assert_eq!(validate(ElemType::Bin, 16, &[0xff, 0]), Ok(()));
        assert!(validate(ElemType::Bin, 16, &[0xff]).is_err());
    }

    #[test]
    fn encode_values_checks_ranges() {
        let mut out = Vec::new();
        encode_values(
            ElemType::Bin,
            8,
            &[1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, vec![0b1000_1001]);
        assert!(encode_values(ElemType::Bin, 8, &[2.0; 8], &mut out).is_err());
        assert!(encode_values(ElemType::I8, 1, &[128.0], &mut out).is_err());
        assert!(encode_values(ElemType::I8, 1, &[1.5], &mut out).is_err());
        encode_values(ElemType::I8, 2, &[-128.0, 127.0], &mut out).unwrap();
        assert_eq!(out, vec![0x80, 0x7f]);
        assert!(encode_values(ElemType::F16, 1, &[1e6], &mut out).is_err());
        assert!(encode_values(ElemType::F32, 1, &[f64::NAN], &mut out).is_err());
        assert!(encode_values(ElemType::F32, 2, &[1.0], &mut out).is_err());
        let mut back = Vec::new();
        encode_values(ElemType::I16, 2, &[-300.0, 7.0], &mut out).unwrap();
        decode_values(ElemType::I16, &out, &mut back);
        assert_eq!(back, vec![-300.0, 7.0]);
    }

    #[test]
    fn supported_pairs() {
        assert!(supported(ElemType::Bin, Metric::Hamming));
        assert!(!supported(ElemType::Bin, Metric::L2));
        assert!(!supported(ElemType::F32, Metric::Hamming));
        assert!(supported(ElemType::I8, Metric::Cosine));
    }
}
