//! Shared inputs for the VexFS benchmarks.
//!
//! This crate owns the benchmarks (`benches/`); the library only holds what several of them
//! need: deterministic vectors of every element type, so that every run (and every machine)
//! measures the same inputs. Nothing here draws unseeded randomness; only [`clock`] reads a
//! clock.
//!
//! Modules used by the `vexfs-bench` tool and the criterion index benches: [`vecs`] (the
//! `.fvecs`/`.ivecs` formats), [`dataset`] (seeded clustered Gaussian data and exact
//! neighbours), [`ann`] (element-type conversions, filter tags, recall) and [`clock`] (wall and
//! CPU time).

pub mod ann;
pub mod clock;
pub mod dataset;
pub mod vecs;

use vexfs_core::vector::ElemType;

/// SplitMix64: a tiny, fast, deterministic generator for bench inputs (not for anything that
/// needs statistical quality or secrecy).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator that starts from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    pub fn next_signed(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// The raw little-endian bytes of a vector of `dim` components of `ty` (for `bin`, `dim` bits),
/// as `user.vexfs.vector` stores it: floats uniform in `[-1, 1)`, integers and bits uniform over
/// their whole range. The same `(ty, dim, seed)` always gives the same bytes.
pub fn vector(ty: ElemType, dim: u32, seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(ty.vector_bytes(dim));
    match ty {
        ElemType::F32 => {
            for _ in 0..dim {
                out.extend((rng.next_signed() as f32).to_le_bytes());
            }
        }
        ElemType::F16 => {
            for _ in 0..dim {
                out.extend(half::f16::from_f64(rng.next_signed()).to_le_bytes());
            }
        }
        ElemType::I8 | ElemType::I16 | ElemType::Bin => {
            out.extend((0..ty.vector_bytes(dim)).map(|_| rng.next_u64() as u8));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_have_the_stored_length_and_are_deterministic() {
        for ty in ElemType::ALL {
            let v = vector(ty, 768, 7);
            assert_eq!(v.len(), ty.vector_bytes(768));
            assert_eq!(v, vector(ty, 768, 7));
            assert_ne!(v, vector(ty, 768, 8));
            assert!(vexfs_core::vector::validate(ty, 768, &v).is_ok());
        }
    }
}
