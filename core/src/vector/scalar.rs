//! Scalar reference kernels: one plain loop per (element type, metric), accumulating in `f64`.
//!
//! These define what every distance means. They are the oracle the SIMD kernels are tested
//! against and the fallback on CPUs without the SIMD features. Inputs are raw little-endian
//! bytes of equal length; alignment is not required.

use super::{DistanceFn, ElemType, Metric};

#[inline]
fn f32s(b: &[u8]) -> impl Iterator<Item = f64> + '_ {
    b.chunks_exact(4)
        .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
}

#[inline]
fn f16s(b: &[u8]) -> impl Iterator<Item = f64> + '_ {
    b.chunks_exact(2)
        .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64())
}

#[inline]
fn i8s(b: &[u8]) -> impl Iterator<Item = f64> + '_ {
    b.iter().map(|&x| f64::from(x as i8))
}

#[inline]
fn i16s(b: &[u8]) -> impl Iterator<Item = f64> + '_ {
    b.chunks_exact(2)
        .map(|c| f64::from(i16::from_le_bytes([c[0], c[1]])))
}

fn l2(a: impl Iterator<Item = f64>, b: impl Iterator<Item = f64>) -> f32 {
    a.zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>() as f32
}

fn l1(a: impl Iterator<Item = f64>, b: impl Iterator<Item = f64>) -> f32 {
    a.zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() as f32
}

fn dot(a: impl Iterator<Item = f64>, b: impl Iterator<Item = f64>) -> f32 {
    -(a.zip(b).map(|(x, y)| x * y).sum::<f64>()) as f32
}

fn cosine(a: impl Iterator<Item = f64>, b: impl Iterator<Item = f64>) -> f32 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y) in a.zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    cosine_from_parts(ab, aa, bb)
}

/// `1 - ab / sqrt(aa * bb)`, clamped to `[0, 2]`; `1` when either norm is zero. Shared by every
/// cosine kernel so that they agree on the edge cases.
#[inline]
pub fn cosine_from_parts(ab: f64, aa: f64, bb: f64) -> f32 {
    if aa == 0.0 || bb == 0.0 {
        return 1.0;
    }
    (1.0 - ab / (aa * bb).sqrt()).clamp(0.0, 2.0) as f32
}

/// Number of differing bits.
pub fn hamming(a: &[u8], b: &[u8]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum::<u32>() as f32
}

macro_rules! kernels {
    ($($name:ident = $metric:ident($decode:ident);)*) => {
        $(
            #[doc = concat!("Reference `", stringify!($metric), "` over `", stringify!($decode), "`.")]
            pub fn $name(a: &[u8], b: &[u8]) -> f32 {
                debug_assert_eq!(a.len(), b.len());
                $metric($decode(a), $decode(b))
            }
        )*
    };
}

kernels! {
    l2_f32 = l2(f32s); cosine_f32 = cosine(f32s); dot_f32 = dot(f32s); l1_f32 = l1(f32s);
    l2_f16 = l2(f16s); cosine_f16 = cosine(f16s); dot_f16 = dot(f16s); l1_f16 = l1(f16s);
    l2_i8 = l2(i8s); cosine_i8 = cosine(i8s); dot_i8 = dot(i8s); l1_i8 = l1(i8s);
    l2_i16 = l2(i16s); cosine_i16 = cosine(i16s); dot_i16 = dot(i16s); l1_i16 = l1(i16s);
}

/// The reference kernel for a supported pair. Unsupported pairs (a float metric on `bin`, or
/// `hamming` on a numeric type) fall back to `hamming` on the raw bytes; configuration parsing
/// never lets them reach a collection.
pub fn kernel(ty: ElemType, metric: Metric) -> DistanceFn {
    numeric_kernel!(ty, metric, self).unwrap_or(hamming)
}

/// The reference distance between `a` and `b`.
pub fn distance(ty: ElemType, metric: Metric, a: &[u8], b: &[u8]) -> f32 {
    kernel(ty, metric)(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn known_values() {
        let a = f32_bytes(&[1.0, 2.0, 3.0]);
        let b = f32_bytes(&[4.0, 6.0, 3.0]);
        assert_eq!(l2_f32(&a, &b), 25.0);
        assert_eq!(l1_f32(&a, &b), 7.0);
        assert_eq!(dot_f32(&a, &b), -(4.0 + 12.0 + 9.0));
        assert!((cosine_f32(&a, &a)).abs() < 1e-6);
        let zero = f32_bytes(&[0.0; 3]);
        assert_eq!(cosine_f32(&a, &zero), 1.0);
        assert_eq!(hamming(&[0b1010_1010], &[0b0101_0101]), 8.0);
        assert_eq!(l2_i8(&[0x80], &[0x7f]), 255.0 * 255.0);
        let x = i16::MIN.to_le_bytes();
        let y = i16::MAX.to_le_bytes();
        assert_eq!(l1_i16(&x, &y), 65535.0);
    }
}
