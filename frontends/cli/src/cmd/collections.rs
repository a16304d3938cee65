//! `vexfs collections [DIR] [--json]`: the collections of the mount DIR is in (default: the
//! current directory), read from the mount's `/.vexfs/stats` (SPEC §6): for each its path,
//! configuration, indexed vectors and unindexed files (a vector that does not fit).
//!
//! The table shows paths as the user reaches them (mountpoint + path), like `vexfs search`;
//! `--json` prints the stats document's `collections` array as the filesystem returned it.

use super::mounted;
use super::stats::read_stats;
use crate::error::{CliError, CliResult, context};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `vexfs collections`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A directory of a mounted VexFS (its mountpoint or any directory in it).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Print the collections as a JSON array (every field of the stats document).
    #[arg(long)]
    pub json: bool,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Mount-relative path.
    pub path: String,
    /// Canonical configuration.
    pub config: String,
    /// Indexed vectors.
    pub vectors: u64,
    /// Files with a vector that does not fit.
    pub unindexed: u64,
}

/// Lists the collections.
pub fn run(args: Args) -> CliResult<ExitCode> {
    let located = mounted::locate(&args.dir)?;
    let text = read_stats(&located.mount)?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| context("/.vexfs/stats", format!("unreadable: {e}")))?;
    let list = doc
        .get("collections")
        .and_then(|c| c.as_array())
        .ok_or_else(|| CliError::new("/.vexfs/stats: no collections array"))?;
    let mut out = io::stdout().lock();
    let written = if args.json {
        writeln!(out, "{}", serde_json::Value::Array(list.clone()))
    } else {
        let rows = list.iter().map(row).collect::<Result<Vec<_>, _>>()?;
        let shown: Vec<String> = rows
            .iter()
            .map(|r| located.mount.user_path(&r.path).display().to_string())
            .collect();
        write_table(&mut out, &rows, &shown)
    };
    match written {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(context("stdout", e)),
    }
}

/// Reads one collection object of the stats document.
pub fn row(v: &serde_json::Value) -> CliResult<Row> {
    let field = |k: &str| {
        v.get(k)
            .ok_or_else(|| CliError::new(format!("/.vexfs/stats: collection without {k}")))
    };
    let num = |k: &str| {
        field(k)?
            .as_u64()
            .ok_or_else(|| CliError::new(format!("/.vexfs/stats: {k} is not a count")))
    };
    let text = |k: &str| {
        field(k)?
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| CliError::new(format!("/.vexfs/stats: {k} is not a string")))
    };
    Ok(Row {
        path: text("path")?,
        config: text("config")?,
        vectors: num("vectors")?,
        unindexed: num("unindexed")?,
    })
}

/// The table: a header, then one line per collection, columns aligned; `shown` are the paths
/// to print for `rows`. Nothing but the header when there are none.
pub fn write_table(out: &mut impl Write, rows: &[Row], shown: &[String]) -> io::Result<()> {
    let w = shown.iter().map(String::len).chain([4]).max().unwrap_or(4);
    let nv = rows
        .iter()
        .map(|r| r.vectors.to_string().len())
        .chain([7])
        .max()
        .unwrap_or(7);
    let nu = rows
        .iter()
        .map(|r| r.unindexed.to_string().len())
        .chain([9])
        .max()
        .unwrap_or(9);
    writeln!(
        out,
        "{:<w$}  {:>nv$}  {:>nu$}  CONFIGURATION",
        "PATH", "VECTORS", "UNINDEXED"
    )?;
    for (r, p) in rows.iter().zip(shown) {
        writeln!(
            out,
            "{p:<w$}  {:>nv$}  {:>nu$}  {}",
            r.vectors, r.unindexed, r.config
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rows_and_table() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"path":"/docs","config":"dim=2 metric=l2 type=f32 m=16 ef_construction=200 ef_search=64","vectors":12,"unindexed":1,"deleted":0,"memory_bytes":9}"#,
        )
        .unwrap();
        let r = row(&v).unwrap();
        assert_eq!((r.path.as_str(), r.vectors, r.unindexed), ("/docs", 12, 1));
        let mut out = Vec::new();
        write_table(&mut out, &[r], &["/mnt/docs".to_owned()]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "PATH       VECTORS  UNINDEXED  CONFIGURATION\n\
             /mnt/docs       12          1  dim=2 metric=l2 type=f32 m=16 ef_construction=200 ef_search=64\n"
        );
        assert!(row(&serde_json::json!({"path": "/a"})).is_err());
    }
}
