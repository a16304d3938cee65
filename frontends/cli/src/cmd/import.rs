//! `vexfs import DIR --fvecs FILE [--prefix NAME]`: bulk-load vectors from a `.fvecs` file into
//! a collection of a mounted VexFS, one new empty file per vector.
//!
//! A `.fvecs` record is a little-endian `i32` dimension followed by that many little-endian
//! `f32`. The whole file is checked first (every record's dimension against the collection's,
//! every value against its element type, no truncated record) and the new names must all be free,
//! so bad input writes nothing. Files are named `PREFIX` + the record's number, zero-padded to at
//! least [`WIDTH_MIN`] digits so that names sort in file order, and each gets its vector with one
//! `fsetxattr` on the file just created. A progress bar goes to stderr.
//!
//! Before it reports success the import is made durable: an fsync of the collection directory
//! (VexFS syncs everything applied so far on any fsync), so a crash right after the report loses
//! none of it.

use super::mounted::{self, VECTOR_XATTR, io_message};
use super::vector::encode;
use crate::error::{CliError, CliResult, context};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vexfs_core::IndexConfig;
use vexfs_core::limits::NAME_LEN_MAX;
use xattr::FileExt;

/// Fewest digits of a file number.
pub const WIDTH_MIN: usize = 9;

/// Arguments of `vexfs import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The collection (a directory inside a mounted VexFS).
    pub dir: PathBuf,
    /// The .fvecs file to read.
    #[arg(long, value_name = "FILE")]
    pub fvecs: PathBuf,
    /// Start of every new file's name.
    #[arg(long, default_value = "vec")]
    pub prefix: String,
}

/// Runs the import.
pub fn run(args: Args) -> CliResult<ExitCode> {
    let dir = &args.dir;
    check_prefix(&args.prefix).map_err(|e| context("--prefix", e))?;
    let (located, cfg) = mounted::locate_collection(dir)?;
    let src = &args.fvecs;
    // Pass 1: check everything.
    let count = for_each_record(src, &cfg, |_, _| Ok(()))?;
    if count == 0 {
        return Err(CliError::new(format!("{}: no vectors", src.display())));
    }
    let width = digits(count - 1).max(WIDTH_MIN);
    let existing = existing_names(&located.canonical).map_err(|e| context(dir.display(), io_message(&e)))?;
    if let Some(taken) = (0..count)
        .map(|i| name(&args.prefix, i, width))
        .find(|n| existing.contains(n))
    {
        return Err(CliError::new(format!(
            "{}: {taken} already exists (choose another --prefix)",
            dir.display()
        )));
    }
    // Pass 2: write.
    let bar = ProgressBar::new(count);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {rate} eta {eta}")
            .map_err(|e| context("progress bar", e))?
            .with_key(
                "rate",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = w.write_str(&whole_rate(state.per_sec()));
                },
            )
            .progress_chars("=> "),
    );
    bar.set_message("importing");
    let result = for_each_record(src, &cfg, |i, bytes| {
        let path = located.canonical.join(name(&args.prefix, i, width));
        write_one(&path, bytes).map_err(|e| {
            context(
                dir.join(name(&args.prefix, i, width)).display(),
                format!("{} (imported {i} of {count})", io_message(&e)),
            )
        })?;
        bar.inc(1);
        Ok(())
    });
    bar.finish_and_clear();
    result?;
    File::open(&located.canonical)
        .and_then(|d| d.sync_all())
        .map_err(|e| {
            context(
                dir.display(),
                format!("making the import durable: {}", io_message(&e)),
            )
        })?;
    println!(
        "{}: imported {count} vectors as {}..{}",
        dir.display(),
        name(&args.prefix, 0, width),
        name(&args.prefix, count - 1, width)
    );
    Ok(ExitCode::SUCCESS)
}

/// Creates `path` (which must not exist) and sets its vector.
fn write_one(path: &Path, vector: &[u8]) -> io::Result<()> {
    let file = File::options().write(true).create_new(true).open(path)?;
    file.set_xattr(VECTOR_XATTR, vector)
}

/// The name of file number `i`.
pub fn name(prefix: &str, i: u64, width: usize) -> String {
    format!("{prefix}{i:0width$}")
}

/// Number of decimal digits of `n`.
pub fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// A prefix must make valid single names: no `/`, no NUL, room for the number.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    if prefix.contains(['/', '\0']) {
        return Err(format!("{prefix:?} must not contain '/' or NUL"));
    }
    if prefix.len() + 20 > NAME_LEN_MAX {
        return Err("too long".to_owned());
    }
    Ok(())
}

fn existing_names(dir: &Path) -> io::Result<HashSet<String>> {
    let mut names = HashSet::new();
    for entry in std::fs::read_dir(dir)? {
        names.insert(entry?.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

/// Reads every record of `src`, checks it against `cfg`, encodes it in the collection's type and
/// hands it to `f` with its number. Returns the number of records.
pub fn for_each_record(
    src: &Path,
    cfg: &IndexConfig,
    mut f: impl FnMut(u64, &[u8]) -> CliResult<()>,
) -> CliResult<u64> {
    let file = File::open(src).map_err(|e| context(src.display(), io_message(&e)))?;
    let mut reader = Reader::new(BufReader::with_capacity(1 << 20, file));
    let mut values = Vec::new();
    let mut i = 0u64;
    while let Some(dim) = reader
        .next_record(&mut values)
        .map_err(|e| context(src.display(), e))?
    {
        if dim != cfg.dim as usize {
            return Err(CliError::new(format!(
                "{}: record {i} has dimension {dim}, the collection's is {} ({cfg})",
                src.display(),
                cfg.dim
            )));
        }
        let bytes =
            encode(Some(cfg), &values).map_err(|e| context(src.display(), format!("record {i}: {e}")))?;
        f(i, &bytes)?;
        i += 1;
    }
    Ok(i)
}

/// Reads `.fvecs` records one at a time.
#[derive(Debug)]
pub struct Reader<R> {
    inner: R,
    offset: u64,
    buf: Vec<u8>,
}

impl<R: Read> Reader<R> {
    /// A reader at the start of a `.fvecs` stream.
    pub fn new(inner: R) -> Self {
        Reader {
            inner,
            offset: 0,
            buf: Vec::new(),
        }
    }

    /// Reads the next record's values into `values` and returns its dimension, or `None` at the
    /// end of the stream. A truncated record, a dimension that is not positive or larger than any
    /// collection allows, or a non-finite value is an error saying where.
    pub fn next_record(&mut self, values: &mut Vec<f64>) -> Result<Option<usize>, String> {
        let mut head = [0u8; 4];
        let got = read_full(&mut self.inner, &mut head).map_err(|e| io_message(&e))?;
        if got == 0 {
            return Ok(None);
        }
        if got < 4 {
            return Err(format!("truncated record header at byte {}", self.offset));
        }
        let dim = i32::from_le_bytes(head);
        let max = vexfs_core::limits::BIN_DIM_MAX as i32;
        if dim <= 0 || dim > max {
            return Err(format!(
                "bad dimension {dim} at byte {} (not a .fvecs file?)",
                self.offset
            ));
        }
        let dim = dim as usize;
        self.buf.resize(dim * 4, 0);
        let got = read_full(&mut self.inner, &mut self.buf).map_err(|e| io_message(&e))?;
        if got < self.buf.len() {
            return Err(format!(
                "truncated record at byte {}: {got} of {} value bytes",
                self.offset,
                dim * 4
            ));
        }
        values.clear();
        values.extend(
            self.buf
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        );
        if let Some(j) = values.iter().position(|v| !v.is_finite()) {
            return Err(format!(
                "value {} of the record at byte {} is not finite",
                j + 1,
                self.offset
            ));
        }
        self.offset += 4 + dim as u64 * 4;
        Ok(Some(dim))
    }
}

/// Reads until `buf` is full or the end of the stream; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A rate as the progress bar shows it: a whole number of vectors per second (`12345/s`).
pub fn whole_rate(per_sec: f64) -> String {
    if per_sec.is_finite() && per_sec >= 0.0 {
        format!("{}/s", per_sec.round() as u64)
    } else {
        "-/s".to_owned()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use vexfs_core::vector::ElemType;

    #[test]
    fn rates_are_whole_numbers() {
        assert_eq!(whole_rate(1234.5678), "1235/s");
        assert_eq!(whole_rate(0.2), "0/s");
        assert_eq!(whole_rate(f64::NAN), "-/s");
        assert_eq!(whole_rate(f64::INFINITY), "-/s");
    }

    fn fvecs(records: &[&[f32]]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            out.extend_from_slice(&(r.len() as i32).to_le_bytes());
            for v in *r {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Vec<f64>>, String> {
        let mut r = Reader::new(bytes);
        let mut out = Vec::new();
        let mut v = Vec::new();
        while let Some(d) = r.next_record(&mut v)? {
            assert_eq!(d, v.len());
            out.push(v.clone());
        }
        Ok(out)
    }

    #[test]
    fn reads_records() {
        let bytes = fvecs(&[&[1.0, 2.0], &[-0.5, 3.0]]);
        assert_eq!(read_all(&bytes).unwrap(), vec![vec![1.0, 2.0], vec![-0.5, 3.0]]);
        assert_eq!(read_all(&[]).unwrap(), Vec::<Vec<f64>>::new());
    }

    #[test]
    fn malformed_files() {
        let bytes = fvecs(&[&[1.0, 2.0], &[-0.5, 3.0]]);
        assert_eq!(
            read_all(&bytes[..bytes.len() - 1]).unwrap_err(),
            "truncated record at byte 12: 7 of 8 value bytes"
        );
        assert_eq!(
            read_all(&bytes[..16]).unwrap_err(),
            "truncated record at byte 12: 0 of 8 value bytes"
        );
        assert_eq!(
            read_all(&bytes[..14]).unwrap_err(),
            "truncated record header at byte 12"
        );
        assert_eq!(
            read_all(&bytes[..2]).unwrap_err(),
            "truncated record header at byte 0"
        );
        assert_eq!(
            read_all(&(-3i32).to_le_bytes()).unwrap_err(),
            "bad dimension -3 at byte 0 (not a .fvecs file?)"
        );
        assert_eq!(
            read_all(&fvecs(&[&[1.0], &[f32::INFINITY]])).unwrap_err(),
            "value 1 of the record at byte 8 is not finite"
        );
    }

    #[test]
    fn records_are_checked_against_the_collection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.fvecs");
        std::fs::write(&path, fvecs(&[&[1.0, 2.0], &[3.0, 4.0, 5.0]])).unwrap();
        let cfg = IndexConfig::new(2, ElemType::F32);
        let mut seen = Vec::new();
        let e = for_each_record(&path, &cfg, |i, b| {
            seen.push((i, b.to_vec()));
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert!(
            e.ends_with(&format!(
                "record 1 has dimension 3, the collection's is 2 ({cfg})"
            )),
            "{e}"
        );
        assert_eq!(seen.len(), 1);
        std::fs::write(&path, fvecs(&[&[1.0, 2.5]])).unwrap();
        let e = for_each_record(&path, &IndexConfig::new(2, ElemType::I8), |_, _| Ok(())).unwrap_err();
        assert!(
            e.to_string()
                .contains("record 0: value 2 (2.5) is not an integer"),
            "{e}"
        );
        let n = for_each_record(&path, &IndexConfig::new(2, ElemType::F16), |_, b| {
            assert_eq!(b, [0x00, 0x3c, 0x00, 0x41]);
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn names_sort() {
        assert_eq!(digits(0), 1);
        assert_eq!(digits(9), 1);
        assert_eq!(digits(10), 2);
        assert_eq!(digits(999_999_999), 9);
        assert_eq!(digits(1_000_000_000), 10);
        assert_eq!(name("vec", 123, 9), "vec000000123");
        let mut names: Vec<String> = (0..1000).map(|i| name("p", i, 9)).collect();
        let before = names.clone();
        names.sort();
        assert_eq!(names, before);
        assert!(check_prefix("a/b").is_err());
        assert!(check_prefix(&"x".repeat(250)).is_err());
        assert!(check_prefix("").is_ok());
    }
}
