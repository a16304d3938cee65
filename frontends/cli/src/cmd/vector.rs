//! `vexfs vector set FILE (VALUES|--from FILE.f32|--from -)`, `vexfs vector get FILE [--json]`
//! and `vexfs vector rm FILE`: set, print or remove a file's vector (its `user.vexfs.vector`
//! attribute, SPEC §3). Setting a vector on a file outside every collection stores it and says
//! on stderr, in one line, that it is not indexed and why.
//!
//! Values are encoded in the element type of the file's collection (the parent directory's
//! `user.vexfs.index`): `f32`, `f16`, `i8`, `i16`, or `bin` with one 0/1 value per bit. A file that
//! is not in a collection gets raw little-endian f32. Everything is checked (count against the
//! collection's `dim`, each value against the type) before the attribute is touched, so bad
//! input changes nothing.

use super::mounted::{self, VECTOR_XATTR, io_message};
use crate::error::{CliError, CliResult, context};
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vexfs_core::IndexConfig;
use vexfs_core::limits::XATTR_VALUE_LEN_MAX;
use vexfs_core::vector::{self, ElemType};

/// Arguments of `vexfs vector`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: VectorCommand,
}

/// `vexfs vector set` / `vexfs vector get` / `vexfs vector rm`.
#[derive(Debug, clap::Subcommand)]
pub enum VectorCommand {
    /// Set a file's vector.
    #[command(override_usage = "vexfs vector set <FILE> <VALUES...|--from FILE.f32>")]
    Set(SetArgs),
    /// Print a file's vector, comma-separated (or as JSON).
    Get(GetArgs),
    /// Remove a file's vector (the file stays; it leaves its collection's index).
    Rm(RmArgs),
}

/// Arguments of `vexfs vector set`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["values", "from"])))]
pub struct SetArgs {
    /// The file (inside a mounted VexFS).
    pub file: PathBuf,
    /// The values: decimals separated by commas or spaces (`0.1,-2,3e-4` or `"0.1 -2 3e-4"`);
    /// for a `bin` collection one 0 or 1 per bit.
    #[arg(allow_hyphen_values = true, num_args = 1..)]
    pub values: Vec<String>,
    /// Read the values from a file of raw little-endian f32 (`-`: standard input).
    #[arg(long, value_name = "FILE.f32")]
    pub from: Option<PathBuf>,
}

/// Arguments of `vexfs vector get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// The file (inside a mounted VexFS).
    pub file: PathBuf,
    /// Print one JSON object: the file's path in the mount, the type, the dimension and the
    /// values.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `vexfs vector rm`.
#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// The file (inside a mounted VexFS).
    pub file: PathBuf,
}

/// Runs `vexfs vector set`, `get` or `rm`.
pub fn run(args: Args) -> CliResult<ExitCode> {
    match args.command {
        VectorCommand::Set(a) => set(a),
        VectorCommand::Get(a) => get(a),
        VectorCommand::Rm(a) => rm(a),
    }
}

fn set(args: SetArgs) -> CliResult<ExitCode> {
    let file = &args.file;
    // VALUES take anything (negative numbers start with '-'), so an option after them lands there.
    if let Some(opt) = args.values.iter().find(|v| v.starts_with("--")) {
        return Err(CliError::new(format!(
            "{opt}: options go before the values; give either VALUES or --from"
        )));
    }
    let values = match &args.from {
        Some(src) => read_f32_file(src)?,
        None => parse_values(&args.values.join(" ")).map_err(|e| context(file.display(), e))?,
    };
    let located = mounted::locate(file)?;
    let meta = std::fs::metadata(&located.canonical).map_err(|e| context(file.display(), io_message(&e)))?;
    if !meta.is_file() {
        return Err(CliError::new(format!("{}: not a regular file", file.display())));
    }
    let cfg = mounted::parent_collection(&located.canonical)?;
    let bytes = encode(cfg.as_ref(), &values).map_err(|e| context(file.display(), e))?;
    xattr::set(&located.canonical, VECTOR_XATTR, &bytes)
        .map_err(|e| set_error(file, cfg.as_ref(), &bytes, &e))?;
    if cfg.is_none() {
        eprintln!(
            "vexfs: note: {}",
            not_indexed_notice(file, &located, values.len())
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Why a vector set on a file outside every collection is stored but not indexed, and what to
/// do: the nearest collection above it indexes only the files directly in it, or there is none.
fn not_indexed_notice(file: &Path, located: &mounted::Located, dim: usize) -> String {
    let parent = located.canonical.parent().unwrap_or(&located.mount.root);
    let above = parent
        .ancestors()
        .skip(1)
        .take_while(|a| a.starts_with(&located.mount.root))
        .find_map(|a| match mounted::collection_config(a) {
            Ok(Some(_)) => Some(a.to_path_buf()),
            _ => None,
        });
    let parent_shown = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match above {
        Some(c) => format!(
            "{}: vector stored but not indexed: its directory is not a collection, and the collection {} indexes only the files directly in it",
            file.display(),
            c.display()
        ),
        None => format!(
            "{}: vector stored but not indexed: its directory is not a collection (make it one with `vexfs index create {} --dim {}`)",
            file.display(),
            parent_shown.display(),
            dim
        ),
    }
}

fn rm(args: RmArgs) -> CliResult<ExitCode> {
    let file = &args.file;
    let located = mounted::locate(file)?;
    xattr::remove(&located.canonical, VECTOR_XATTR).map_err(|e| match e.raw_os_error() {
        Some(libc::ENODATA) => CliError::new(format!("{}: has no vector", file.display())),
        _ => context(file.display(), io_message(&e)),
    })?;
    Ok(ExitCode::SUCCESS)
}

fn get(args: GetArgs) -> CliResult<ExitCode> {
    let file = &args.file;
    let located = mounted::locate(file)?;
    let bytes = xattr::get(&located.canonical, VECTOR_XATTR)
        .map_err(|e| context(file.display(), io_message(&e)))?
        .ok_or_else(|| CliError::new(format!("{}: has no vector", file.display())))?;
    let cfg = mounted::parent_collection(&located.canonical)?;
    let elem = match cfg {
        Some(c) if bytes.len() == c.elem.vector_bytes(c.dim) => c.elem,
        _ if bytes.len().is_multiple_of(4) => ElemType::F32,
        _ => {
            return Err(CliError::new(format!(
                "{}: the vector ({} bytes) fits neither its collection nor f32",
                file.display(),
                bytes.len()
            )));
        }
    };
    if args.json {
        let dim = match elem {
            ElemType::Bin => bytes.len() * 8,
            _ => bytes.len() / (elem.vector_bytes(1)),
        };
        // The values in the same shortest form as the text output: valid JSON numbers.
        println!(
            "{{\"path\":{},\"type\":\"{}\",\"dim\":{dim},\"vector\":[{}]}}",
            serde_json::Value::from(located.relative()?),
            elem.name(),
            format_values(elem, &bytes)
        );
    } else {
        println!("{}", format_values(elem, &bytes));
    }
    Ok(ExitCode::SUCCESS)
}

/// Explains a failed `setxattr` of a vector.
fn set_error(file: &Path, cfg: Option<&IndexConfig>, bytes: &[u8], e: &io::Error) -> CliError {
    let why = match e.raw_os_error() {
        Some(libc::EINVAL) => match cfg.map(|c| c.check_vector(bytes)) {
            Some(Err(why)) => format!(
                "the filesystem rejected the vector: {}",
                why.to_string().trim_start_matches("invalid argument: ")
            ),
            _ => "the filesystem rejected the vector (invalid argument): it fits none of the file's collections (another name of the file is in a collection of another shape?)".to_owned(),
        },
        _ => io_message(e),
    };
    context(file.display(), why)
}

/// Parses values separated by commas and/or whitespace: `1,2,3`, `1 2 3`, `1, 2, 3`. Every
/// value must be a finite decimal; an empty value between two commas is an error.
pub fn parse_values(src: &str) -> Result<Vec<f64>, String> {
    let mut values = Vec::new();
    for (i, part) in src.split(',').enumerate() {
        let mut any = false;
        for tok in part.split_whitespace() {
            any = true;
            let v: f64 = tok
                .parse()
                .map_err(|_| format!("value {} ({tok:?}) is not a decimal number", values.len() + 1))?;
            if !v.is_finite() {
                return Err(format!("value {} ({tok:?}) is not finite", values.len() + 1));
            }
            values.push(v);
        }
        if !any && (i > 0 || src.contains(',')) {
            return Err(format!("empty value after value {}", values.len()));
        }
    }
    if values.is_empty() {
        return Err("no values given".to_owned());
    }
    Ok(values)
}

/// Encodes `values` as the attribute bytes for a file in collection `cfg`, or as raw f32 when
/// `cfg` is `None`. The error names the first value that does not fit.
pub fn encode(cfg: Option<&IndexConfig>, values: &[f64]) -> Result<Vec<u8>, String> {
    let (elem, dim) = match cfg {
        Some(c) => {
            if values.len() != c.dim as usize {
                return Err(format!(
                    "expected {} values (the collection is {}), got {}",
                    c.dim,
                    c,
                    values.len()
                ));
            }
            (c.elem, c.dim)
        }
        None => {
            if values.len() * 4 > XATTR_VALUE_LEN_MAX {
                return Err(format!(
                    "{} values are too many for an f32 vector outside a collection (at most {})",
                    values.len(),
                    XATTR_VALUE_LEN_MAX / 4
                ));
            }
            // Dimensions of unindexed vectors are not limited by DIM_MAX.
            (
                ElemType::F32,
                u32::try_from(values.len()).map_err(|_| "too many values".to_owned())?,
            )
        }
    };
    if let Some((i, v)) = values.iter().enumerate().find(|&(_, &v)| !fits(elem, v)) {
        return Err(format!("value {} ({v}) is not {}", i + 1, describe(elem)));
    }
    let mut out = Vec::new();
    vector::encode_values(elem, dim, values, &mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// Whether one value is representable in `elem`.
fn fits(elem: ElemType, v: f64) -> bool {
    match elem {
        // A bin vector of one value is not a whole byte; check the bit directly.
        ElemType::Bin => v == 0.0 || v == 1.0,
        _ => vector::encode_values(elem, 1, &[v], &mut Vec::new()).is_ok(),
    }
}

/// What a value of `elem` must be, for error messages.
fn describe(elem: ElemType) -> &'static str {
    match elem {
        ElemType::F32 => "a finite f32",
        ElemType::F16 => "within the range of f16",
        ElemType::I8 => "an integer in -128..=127 (the collection's type is i8)",
        ElemType::I16 => "an integer in -32768..=32767 (the collection's type is i16)",
        ElemType::Bin => "0 or 1 (a bin collection takes one value per bit)",
    }
}

/// Formats a stored vector of type `elem` as comma-separated values: floats in their shortest
/// form that reads back to the same value, integers and bits as integers.
pub fn format_values(elem: ElemType, bytes: &[u8]) -> String {
    let mut values = Vec::new();
    vector::decode_values(elem, bytes, &mut values);
    let mut out = String::with_capacity(values.len() * 8);
    for (i, v) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match elem {
            // Exact: both types widen losslessly into f32.
            ElemType::F32 | ElemType::F16 => out.push_str(&(v as f32).to_string()),
            ElemType::I8 | ElemType::I16 | ElemType::Bin => out.push_str(&(v as i64).to_string()),
        }
    }
    out
}

/// Reads a file of raw little-endian f32 values; `-` reads standard input.
pub fn read_f32_file(path: &Path) -> CliResult<Vec<f64>> {
    let bytes = if path == Path::new("-") {
        let mut b = Vec::new();
        io::Read::read_to_end(&mut io::stdin().lock(), &mut b)
            .map_err(|e| context("standard input", io_message(&e)))?;
        b
    } else {
        std::fs::read(path).map_err(|e| context(path.display(), io_message(&e)))?
    };
    if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
        return Err(CliError::new(format!(
            "{}: not raw f32 values (size {} is not a positive multiple of 4)",
            path.display(),
            bytes.len()
        )));
    }
    let values: Vec<f64> = bytes
        .chunks_exact(4)
        .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(CliError::new(format!(
            "{}: value {} is not finite",
            path.display(),
            i + 1
        )));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use vexfs_core::vector::Metric;

    #[test]
    fn values_separated_by_commas_or_spaces() {
        assert_eq!(parse_values("1,2,3").unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(parse_values("1 2\t3").unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(parse_values(" 1, -2.5 ,3e-2 ").unwrap(), vec![1.0, -2.5, 0.03]);
        assert_eq!(parse_values("1,2 3").unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(parse_values("-0").unwrap(), vec![0.0]);
    }

    #[test]
    fn malformed_values_are_errors() {
        assert_eq!(parse_values("").unwrap_err(), "no values given");
        assert_eq!(parse_values("  ").unwrap_err(), "no values given");
        assert_eq!(parse_values("1,,2").unwrap_err(), "empty value after value 1");
        assert_eq!(parse_values("1,2,").unwrap_err(), "empty value after value 2");
        assert_eq!(parse_values(",1").unwrap_err(), "empty value after value 0");
        assert_eq!(
            parse_values("1,x").unwrap_err(),
            "value 2 (\"x\") is not a decimal number"
        );
        assert_eq!(
            parse_values("nan").unwrap_err(),
            "value 1 (\"nan\") is not finite"
        );
        assert_eq!(
            parse_values("1 inf").unwrap_err(),
            "value 2 (\"inf\") is not finite"
        );
        assert!(parse_values("1e999").is_err());
        assert!(parse_values("0x10").is_err());
    }

    fn cfg(dim: u32, elem: ElemType) -> IndexConfig {
        IndexConfig::new(dim, elem)
    }

    #[test]
    fn encoding_follows_the_collection_type() {
        let f32s = encode(Some(&cfg(2, ElemType::F32)), &[1.0, -0.5]).unwrap();
        assert_eq!(f32s, [1.0f32.to_le_bytes(), (-0.5f32).to_le_bytes()].concat());
        let f16s = encode(Some(&cfg(2, ElemType::F16)), &[1.0, -0.5]).unwrap();
        assert_eq!(f16s, vec![0x00, 0x3c, 0x00, 0xb8]);
        assert_eq!(
            encode(Some(&cfg(2, ElemType::I8)), &[-128.0, 127.0]).unwrap(),
            vec![0x80, 0x7f]
        );
        let i16s = encode(Some(&cfg(1, ElemType::I16)), &[-300.0]).unwrap();
        assert_eq!(i16s, (-300i16).to_le_bytes().to_vec());
        let bits = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        assert_eq!(
            encode(Some(&cfg(8, ElemType::Bin)), &bits).unwrap(),
            vec![0b1000_1001]
        );
        // Outside a collection: raw f32 of any length.
        assert_eq!(encode(None, &[2.0]).unwrap(), 2.0f32.to_le_bytes().to_vec());
    }

    #[test]
    fn encoding_errors_name_the_value() {
        let c = cfg(3, ElemType::F32);
        assert_eq!(
            encode(Some(&c), &[1.0, 2.0]).unwrap_err(),
            format!("expected 3 values (the collection is {c}), got 2")
        );
        assert_eq!(
            encode(Some(&cfg(2, ElemType::I8)), &[1.0, 1.5]).unwrap_err(),
            "value 2 (1.5) is not an integer in -128..=127 (the collection's type is i8)"
        );
        assert!(encode(Some(&cfg(1, ElemType::I8)), &[128.0]).is_err());
        assert!(encode(Some(&cfg(1, ElemType::I16)), &[40000.0]).is_err());
        assert_eq!(
            encode(Some(&cfg(1, ElemType::F16)), &[1e6]).unwrap_err(),
            "value 1 (1000000) is not within the range of f16"
        );
        assert!(encode(Some(&cfg(1, ElemType::F32)), &[1e300]).is_err());
        assert!(encode(Some(&cfg(8, ElemType::Bin)), &[2.0; 8]).is_err());
        assert!(encode(None, &vec![0.0; XATTR_VALUE_LEN_MAX / 4 + 1]).is_err());
        assert!(encode(None, &vec![0.0; XATTR_VALUE_LEN_MAX / 4]).is_ok());
    }

    #[test]
    fn formatting_round_trips_through_parsing() {
        for (elem, values) in [
            (ElemType::F32, vec![0.1, -2.5, 3e-7, 123456.78]),
            (ElemType::F16, vec![0.5, -1.25, 1000.0, 0.0999755859375]),
            (ElemType::I8, vec![-128.0, 0.0, 127.0]),
            (ElemType::I16, vec![-32768.0, 5.0, 32767.0]),
            (ElemType::Bin, vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0]),
        ] {
            let mut c = cfg(values.len() as u32, elem);
            if elem == ElemType::Bin {
                c.metric = Metric::Hamming;
            }
            let bytes = encode(Some(&c), &values).unwrap();
            let text = format_values(elem, &bytes);
            let again = encode(Some(&c), &parse_values(&text).unwrap()).unwrap();
            assert_eq!(again, bytes, "{elem:?}: {text}");
        }
        let bytes = encode(None, &[0.1, -2.0]).unwrap();
        assert_eq!(format_values(ElemType::F32, &bytes), "0.1,-2");
        assert_eq!(format_values(ElemType::Bin, &[0b0000_0101]), "1,0,1,0,0,0,0,0");
        assert_eq!(format_values(ElemType::I8, &[0xff, 0x02]), "-1,2");
    }

    #[test]
    fn f32_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.f32");
        std::fs::write(&path, [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat()).unwrap();
        assert_eq!(read_f32_file(&path).unwrap(), vec![1.5, -2.0]);
        std::fs::write(&path, [0u8; 6]).unwrap();
        let e = read_f32_file(&path).unwrap_err().to_string();
        assert!(
            e.ends_with("not raw f32 values (size 6 is not a positive multiple of 4)"),
            "{e}"
        );
        std::fs::write(&path, f32::NAN.to_le_bytes()).unwrap();
        assert!(
            read_f32_file(&path)
                .unwrap_err()
                .to_string()
                .ends_with("value 1 is not finite")
        );
        let e = read_f32_file(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.ends_with("missing: No such file or directory"), "{e}");
    }
}
