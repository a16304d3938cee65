//! Pieces of the ANN benchmark (`vexfs-bench ann`) that are worth testing on their own:
//! converting float data to a collection's element type, the pseudo-random tags of filtered
//! search and the filter that reads them, and recall.
//!
//! # Conversions (deterministic, documented in the output)
//! - `f32`, `f16`: each value through [`vector::encode_values`] (round to nearest f16).
//! - `i8`, `i16`: when every base and query value is already an integer in the type's range, the
//!   values are used as they are. Otherwise they are quantized with one global scale,
//!   `s = MAX / max|x|` over the base vectors (`MAX` = 127 or 32767), each value becoming
//!   `round(x * s)` (half away from zero) clamped to `-MAX..=MAX`; queries use the same `s`.
//! - `bin` (metric `hamming`): bit `i` is set when component `i` is greater than zero (sign
//!   binarization); the dimension (bits) must be a multiple of 8.

use crate::vecs::Vectors;
use anyhow::{Result, bail};
use vexfs_core::query::{FileMeta, Filter};
use vexfs_core::vector::{self, ElemType};

/// Vectors encoded in one element type: `len()` vectors of `vbytes` bytes each.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    /// Bytes per vector.
    pub vbytes: usize,
    /// All vectors, back to back.
    pub bytes: Vec<u8>,
}

impl Encoded {
    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.bytes.len().checked_div(self.vbytes).unwrap_or(0)
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    /// Vector `i`.
    pub fn get(&self, i: usize) -> &[u8] {
        &self.bytes[i * self.vbytes..(i + 1) * self.vbytes]
    }
}

/// How float data was turned into `elem` vectors (one line for the report).
#[derive(Debug, Clone, PartialEq)]
pub enum Conversion {
    /// Values encoded as they are (`f32`, `f16`, integer data in range for `i8`/`i16`).
    Exact,
    /// Quantized to integers with scale `s` (see the module docs).
    Quantized {
        /// The scale.
        scale: f64,
    },
    /// Sign-binarized (see the module docs).
    Binarized,
}

impl std::fmt::Display for Conversion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Conversion::Exact => write!(f, "values encoded as given"),
            Conversion::Quantized { scale } => write!(
                f,
                "values quantized to integers: round(x * {scale:.6}) clamped (scale = MAX / max|x| over the base)"
            ),
            Conversion::Binarized => write!(f, "values binarized: bit i = (x_i > 0)"),
        }
    }
}

fn int_max(elem: ElemType) -> Option<f64> {
    match elem {
        ElemType::I8 => Some(127.0),
        ElemType::I16 => Some(32767.0),
        _ => None,
    }
}

/// Encodes `base` and `queries` (same dimension) as `elem` vectors for a collection of
/// dimension `base.dim` (bits for `bin`).
pub fn encode(elem: ElemType, base: &Vectors, queries: &Vectors) -> Result<(Encoded, Encoded, Conversion)> {
    if base.dim != queries.dim {
        bail!(
            "base vectors have dimension {} but queries have {}",
            base.dim,
            queries.dim
        );
    }
    let dim = u32::try_from(base.dim)?;
    if elem == ElemType::Bin && !dim.is_multiple_of(8) {
        bail!("bin needs a dimension that is a multiple of 8 (bits), not {dim}");
    }
    let conversion = match (elem, int_max(elem)) {
        (ElemType::Bin, _) => Conversion::Binarized,
        (_, Some(max)) => {
            let fits = |v: &f32| v.fract() == 0.0 && f64::from(v.abs()) <= max;
            if base.data.iter().chain(&queries.data).all(fits) {
                Conversion::Exact
            } else {
                let top = base.data.iter().fold(0f64, |m, v| m.max(f64::from(v.abs())));
                Conversion::Quantized {
                    scale: if top > 0.0 { max / top } else { 1.0 },
                }
            }
        }
        _ => Conversion::Exact,
    };
    let max = int_max(elem).unwrap_or(0.0);
    let value = |x: f32| -> f64 {
        match &conversion {
            Conversion::Exact => f64::from(x),
            Conversion::Quantized { scale } => (f64::from(x) * scale).round().clamp(-max, max),
            Conversion::Binarized => f64::from(u8::from(x > 0.0)),
        }
    };
    let vbytes = elem.vector_bytes(dim);
    let mut values = Vec::with_capacity(base.dim);
    let mut one = Vec::with_capacity(vbytes);
    let mut run = |rows: &Vectors, what: &str| -> Result<Encoded> {
        let mut bytes = Vec::with_capacity(rows.len() * vbytes);
        for (i, row) in rows.iter().enumerate() {
            values.clear();
            values.extend(row.iter().map(|&x| value(x)));
            if let Err(e) = vector::encode_values(elem, dim, &values, &mut one) {
                bail!("{what} vector {i} does not fit type {}: {e}", elem.name());
            }
            bytes.extend_from_slice(&one);
        }
        Ok(Encoded { vbytes, bytes })
    };
    let b = run(base, "base")?;
    let q = run(queries, "query")?;
    Ok((b, q, conversion))
}

/// The tag value of a matching file.
pub const TAG_MATCH: &[u8] = b"1";
/// The tag value of a file that does not match.
pub const TAG_OTHER: &[u8] = b"0";
/// The filter used by filtered runs (the query language of `/.vexfs/search`).
pub const FILTER_EXPR: &str = "tag = 1";

/// Tags of `n` files: file `i` gets [`TAG_MATCH`] when a SplitMix64 hash of `(seed, i)` falls
/// below `p * 2^64`, so a fraction `p` matches in expectation.
pub fn tags(n: usize, p: f64, seed: u64) -> Vec<&'static [u8]> {
    let threshold = (p.clamp(0.0, 1.0) * 2f64.powi(64)).min(u64::MAX as f64) as u64;
    (0..n as u64)
        .map(|i| {
            let h = crate::SplitMix64::new(seed ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64();
            if h < threshold { TAG_MATCH } else { TAG_OTHER }
        })
        .collect()
}

/// The metadata a filter sees of one benchmark file: only its `user.tag` attribute.
#[derive(Debug, Clone, Copy)]
pub struct TagMeta<'a> {
    /// The value of `user.tag`.
    pub tag: &'a [u8],
}

impl FileMeta for TagMeta<'_> {
    fn attr(&self, key: &[u8]) -> Option<&[u8]> {
        (key == b"tag").then_some(self.tag)
    }
    fn name(&self) -> &[u8] {
        b""
    }
    fn size(&self) -> u64 {
        0
    }
    fn mtime_secs(&self) -> i64 {
        0
    }
}

/// The filter callback of a filtered run, as the engine builds it: for each label the search
/// asks about, look the file's metadata up and evaluate the parsed filter expression on it.
#[derive(Debug, Clone)]
pub struct TagFilter {
    filter: Filter,
    tags: Vec<&'static [u8]>,
}

impl TagFilter {
    /// A filter over files tagged `tags` (label `i` is file `i`).
    pub fn new(tags: Vec<&'static [u8]>) -> Result<Self> {
        Ok(TagFilter {
            filter: Filter::parse(FILTER_EXPR)?,
            tags,
        })
    }
    /// Whether `label` passes.
    pub fn eval(&self, label: u64) -> bool {
        self.tags
            .get(label as usize)
            .is_some_and(|&tag| self.filter.eval(&TagMeta { tag }))
    }
    /// Number of labels that pass.
    pub fn matching(&self) -> usize {
        (0..self.tags.len() as u64).filter(|&l| self.eval(l)).count()
    }
}

/// recall@k of one query: the fraction of `found` (at most `k` labels are looked at) that is in
/// `truth`, over `k`. `truth` is the exact top-k, possibly with extra entries tied with the
/// k-th distance (any of them counts), and `k` is capped at the number of true neighbours.
pub fn recall_one(found: &[u64], truth: &[u64], k: usize) -> f64 {
    let k = k.min(truth.len());
    if k == 0 {
        return 1.0;
    }
    let hits = found.iter().take(k).filter(|l| truth.contains(l)).count();
    hits as f64 / k as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(dim: usize, data: &[f32]) -> Vectors {
        Vectors {
            dim,
            data: data.to_vec(),
        }
    }

    #[test]
    fn integer_data_is_kept_and_float_data_quantized() {
        let b = rows(2, &[1.0, -3.0, 127.0, 0.0]);
        let q = rows(2, &[2.0, 2.0]);
        let (eb, eq, c) = encode(ElemType::I8, &b, &q).unwrap();
        assert_eq!(c, Conversion::Exact);
        assert_eq!(eb.get(0), &[1, (-3i8) as u8]);
        assert_eq!(eb.get(1), &[127, 0]);
        assert_eq!(eq.get(0), &[2, 2]);
        let b = rows(2, &[0.5, -2.0, 1.0, 0.25]);
        let q = rows(2, &[4.0, -0.01]);
        let (eb, eq, c) = encode(ElemType::I8, &b, &q).unwrap();
        assert_eq!(c, Conversion::Quantized { scale: 63.5 });
        assert_eq!(eb.get(0), &[32, (-127i8) as u8]);
        assert_eq!(eb.get(1), &[64, 16]);
        assert_eq!(eq.get(0), &[127, (-1i8) as u8], "clamped and rounded");
        let (eb, _, _) = encode(ElemType::I16, &b, &q).unwrap();
        assert_eq!(eb.vbytes, 4);
    }

    #[test]
    fn floats_and_bits() {
        let b = rows(8, &[1.0, -1.0, 0.0, 2.0, 0.5, -0.5, 3.0, -3.0]);
        let (eb, _, c) = encode(ElemType::Bin, &b, &b).unwrap();
        assert_eq!(c, Conversion::Binarized);
        assert_eq!(eb.get(0), &[0b0101_1001]);
        let (eb, _, _) = encode(ElemType::F16, &b, &b).unwrap();
        assert_eq!(eb.vbytes, 16);
        assert_eq!(&eb.get(0)[..2], &half::f16::from_f32(1.0).to_le_bytes());
        assert!(encode(ElemType::Bin, &rows(3, &[1.0; 3]), &rows(3, &[1.0; 3])).is_err());
        assert!(encode(ElemType::F32, &rows(2, &[1.0; 2]), &rows(1, &[1.0])).is_err());
        assert!(encode(ElemType::F16, &rows(1, &[1e6]), &rows(1, &[1.0])).is_err());
    }

    #[test]
    fn tags_hit_the_fraction_and_the_filter_reads_them() {
        let t = tags(100_000, 0.1, 7);
        let f = TagFilter::new(t.clone()).unwrap();
        let m = f.matching();
        assert!((9_000..11_000).contains(&m), "{m}");
        assert_eq!(t, tags(100_000, 0.1, 7));
        assert!(f.eval((0..).find(|&i| t[i as usize] == TAG_MATCH).unwrap()));
        assert!(!f.eval(1_000_000));
        assert_eq!(TagFilter::new(tags(1000, 0.0, 1)).unwrap().matching(), 0);
        assert_eq!(TagFilter::new(tags(1000, 1.0, 1)).unwrap().matching(), 1000);
    }

    #[test]
    fn recall_counts_ties_and_caps_k() {
        assert_eq!(recall_one(&[1, 2, 3], &[3, 2, 9], 3), 2.0 / 3.0);
        assert_eq!(recall_one(&[5, 6], &[6, 5, 7, 8], 2), 1.0, "tied extras");
        assert_eq!(recall_one(&[1], &[1], 10), 1.0, "k capped at the truth");
        assert_eq!(recall_one(&[], &[], 10), 1.0);
    }
}
