//! The `.fvecs` / `.ivecs` formats of the classic ANN data sets (SIFT1M, GIST1M, ...): a file is a
//! sequence of records, each a little-endian `i32` dimension followed by that many little-endian
//! `f32` (`.fvecs`) or `i32` (`.ivecs`) values. Every record of a file has the same dimension.
//!
//! Readers load the whole file and validate it completely (positive and constant dimension, no
//! truncated record, finite floats) before returning; errors are one line naming the file, the
//! record and its byte offset.

use anyhow::{Context, Result, bail};
use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Rows of `dim` values each, stored row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows<T> {
    /// Values per row.
    pub dim: usize,
    /// `len() * dim` values.
    pub data: Vec<T>,
}

impl<T> Rows<T> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[T] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// The rows in order.
    pub fn iter(&self) -> std::slice::ChunksExact<'_, T> {
        self.data.chunks_exact(self.dim.max(1))
    }
}

/// Float vectors (`.fvecs`).
pub type Vectors = Rows<f32>;
/// Integer rows (`.ivecs`, e.g. ground-truth neighbour ids).
pub type IdRows = Rows<i32>;

/// Largest dimension accepted in a file (far above what any collection allows; it only guards
/// against reading a file of another format as `.fvecs`).
const FILE_DIM_MAX: usize = 1 << 20;

/// Parses a whole `.fvecs`/`.ivecs` image. `what` names the file in errors.
fn parse<T>(bytes: &[u8], what: &str, value: impl Fn([u8; 4]) -> Result<T>) -> Result<Rows<T>> {
    if bytes.is_empty() {
        bail!("{what}: empty file");
    }
    let word = |at: usize| -> [u8; 4] { [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]] };
    let mut data = Vec::new();
    let mut dim = 0usize;
    let mut at = 0usize;
    let mut record = 0usize;
    while at < bytes.len() {
        if bytes.len() - at < 4 {
            bail!("{what}: record {record} at byte {at} is truncated (no full dimension word)");
        }
        let d = i32::from_le_bytes(word(at));
        let Ok(d) = usize::try_from(d) else {
            bail!("{what}: record {record} at byte {at} has dimension {d} (not a vecs file?)");
        };
        if d == 0 || d > FILE_DIM_MAX {
            bail!("{what}: record {record} at byte {at} has dimension {d} (not a vecs file?)");
        }
        if record == 0 {
            dim = d;
            data.reserve(bytes.len() / (4 * (d + 1)) * d);
        } else if d != dim {
            bail!("{what}: record {record} at byte {at} has dimension {d}, the first had {dim}");
        }
        if (bytes.len() - at - 4) / 4 < d {
            bail!("{what}: record {record} at byte {at} is truncated ({d} values announced)");
        }
        for i in 0..d {
            let v = value(word(at + 4 + 4 * i))
                .with_context(|| format!("{what}: record {record} at byte {at}, value {i}"))?;
            data.push(v);
        }
        at += 4 + 4 * d;
        record += 1;
    }
    Ok(Rows { dim, data })
}

/// Reads a `.fvecs` file.
pub fn read_fvecs(path: &Path) -> Result<Vectors> {
    let what = path.display().to_string();
    let bytes = fs::read(path).with_context(|| format!("{what}: cannot read"))?;
    parse(&bytes, &what, |w| {
        let v = f32::from_le_bytes(w);
        if !v.is_finite() {
            bail!("not a finite float ({v})");
        }
        Ok(v)
    })
}

/// Reads an `.ivecs` file.
pub fn read_ivecs(path: &Path) -> Result<IdRows> {
    let what = path.display().to_string();
    let bytes = fs::read(path).with_context(|| format!("{what}: cannot read"))?;
    parse(&bytes, &what, |w| Ok(i32::from_le_bytes(w)))
}

fn write<T: Copy>(path: &Path, rows: &Rows<T>, bytes_of: impl Fn(T) -> [u8; 4]) -> Result<()> {
    let what = path.display();
    let dim = i32::try_from(rows.dim).with_context(|| format!("{what}: dimension too large"))?;
    let file = fs::File::create(path).with_context(|| format!("{what}: cannot create"))?;
    let mut w = BufWriter::new(file);
    for row in rows.iter() {
        w.write_all(&dim.to_le_bytes())
            .with_context(|| format!("{what}: write failed"))?;
        for &v in row {
            w.write_all(&bytes_of(v))
                .with_context(|| format!("{what}: write failed"))?;
        }
    }
    w.flush().with_context(|| format!("{what}: write failed"))
}

/// Writes a `.fvecs` file.
pub fn write_fvecs(path: &Path, rows: &Vectors) -> Result<()> {
    write(path, rows, f32::to_le_bytes)
}

/// Writes an `.ivecs` file.
pub fn write_ivecs(path: &Path, rows: &IdRows) -> Result<()> {
    write(path, rows, i32::to_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("vexfs-benches-{}-{name}", std::process::id()))
    }

    #[test]
    fn round_trips() {
        let v = Rows {
            dim: 3,
            data: vec![1.0, -2.0, 0.5, 3.0, 4.0, 5.0],
        };
        let p = tmp("a.fvecs");
        write_fvecs(&p, &v).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().len(), 2 * 16);
        assert_eq!(read_fvecs(&p).unwrap(), v);
        let ids = Rows {
            dim: 2,
            data: vec![7, 1, 0, 9],
        };
        let q = tmp("a.ivecs");
        write_ivecs(&q, &ids).unwrap();
        assert_eq!(read_ivecs(&q).unwrap(), ids);
        assert_eq!(ids.row(1), &[0, 9]);
        assert_eq!(ids.len(), 2);
        fs::remove_file(p).unwrap();
        fs::remove_file(q).unwrap();
    }

    #[test]
    fn rejects_malformed_files() {
        let f = |w: [u8; 4]| Ok(f32::from_le_bytes(w));
        let rec = |d: i32, vals: &[f32]| -> Vec<u8> {
            let mut b = d.to_le_bytes().to_vec();
            vals.iter().for_each(|v| b.extend(v.to_le_bytes()));
            b
        };
        let err = |bytes: &[u8]| parse(bytes, "x", f).unwrap_err().to_string();
        assert!(err(&[]).contains("empty"));
        assert!(err(&[1, 0]).contains("truncated"));
        assert!(err(&rec(0, &[])).contains("dimension 0"));
        assert!(err(&rec(-4, &[])).contains("dimension -4"));
        assert!(err(&rec(2, &[1.0])).contains("truncated"));
        let mut two = rec(2, &[1.0, 2.0]);
        two.extend(rec(3, &[1.0, 2.0, 3.0]));
        assert!(err(&two).contains("record 1 at byte 12 has dimension 3, the first had 2"));
        let nan = read_fvecs_bytes(&rec(1, &[f32::NAN]));
        assert!(nan.unwrap_err().to_string().contains("not a finite"));
    }

    fn read_fvecs_bytes(b: &[u8]) -> Result<Vectors> {
        let p = tmp("nan.fvecs");
        fs::write(&p, b).unwrap();
        let r = read_fvecs(&p);
        fs::remove_file(p).unwrap();
        r.map_err(|e| anyhow::anyhow!("{e:#}"))
    }
}
