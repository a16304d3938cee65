//! `vexfs search DIR (--vector VALUES|--like FILE|--from FILE.f32|--from -) [-k N] [--ef N]
//! [--filter EXPR] [--exact] [--max-distance D] [--include FIELDS] [--json|--paths-only]`: search
//! a collection of a mounted VexFS through its `/.vexfs/search` file (SPEC §4).
//!
//! The mount's root is found by walking up from DIR; the query names DIR (and the `--like` file)
//! relative to it. The query is built and checked here first (values, `k`, `ef`, the filter, the
//! collection's dimension and type), then written to `/.vexfs/search` in one write on a file
//! opened read-write, and the JSON lines read back on the same open file are printed as
//! `rank distance path` with paths as the user reaches them (mountpoint + path) and, with
//! `--include`, the fields asked for as one JSON object after a tab; or as they came with
//! `--json`, or as paths alone with `--paths-only`. A query vector the collection cannot
//! take (wrong count, out of range, the zero vector of a `cosine` collection) fails here.
//!
//! Batches: a `--from` file holding several vectors (a multiple of the collection's dimension
//! in values) is searched as one batch per write (SPEC §4: a JSON array, at most
//! `BATCH_QUERIES_MAX` queries and `QUERY_LEN_MAX` bytes each; a longer file takes several).
//! Each query is checked before any is sent. Text lines then start with the query's index in
//! the file (from 0), `--json` lines carry it as `"query"` (renumbered across writes), and
//! `--paths-only` prints `INDEX PATH`.

use super::mounted::{self, Mount, io_message};
use super::vector::{encode, parse_values, read_f32_file};
use crate::error::{CliError, CliResult, context};
use std::fs::OpenOptions;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use vexfs_core::limits::{BATCH_QUERIES_MAX, QUERY_LEN_MAX};
use vexfs_core::query::{Filter, Include, Query, Target, batch_to_json, parse_query};

/// Arguments of `vexfs search`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["vector", "like", "from"])))]
#[command(override_usage = "vexfs search <DIR> <--vector VALUES|--like FILE|--from FILE.f32> [OPTIONS]")]
pub struct Args {
    /// The collection (a directory inside a mounted VexFS).
    pub dir: PathBuf,
    /// The query vector: decimals separated by commas or spaces (one 0/1 per bit for bin).
    #[arg(long, allow_hyphen_values = true, value_name = "VALUES")]
    pub vector: Option<String>,
    /// Use this file's vector as the query.
    #[arg(long, value_name = "FILE")]
    pub like: Option<PathBuf>,
    /// Read the query vector from a file of raw little-endian f32 (`-`: standard input).
    #[arg(long, value_name = "FILE.f32")]
    pub from: Option<PathBuf>,
    /// Number of results (1..=1000).
    #[arg(short, default_value_t = 10)]
    pub k: u32,
    /// Search breadth (default: the collection's ef_search).
    #[arg(long)]
    pub ef: Option<u32>,
    /// Only files whose metadata match, e.g. `lang = en and year >= 2020`.
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Exact (brute-force) search instead of the index.
    #[arg(long)]
    pub exact: bool,
    /// Only results at most this far from the query (radius search; at most -k of them).
    #[arg(long, value_name = "D", allow_hyphen_values = true)]
    pub max_distance: Option<f64>,
    /// Fields each result carries, comma-separated: metadata, metadata.KEY, vector, vector_b64,
    /// size, mtime.
    #[arg(long, value_name = "FIELDS")]
    pub include: Option<String>,
    /// Print the JSON lines as the filesystem returned them.
    #[arg(long, conflicts_with = "paths_only")]
    pub json: bool,
    /// Print only the paths, one per line, nearest first (for `xargs`, `grep`).
    #[arg(long)]
    pub paths_only: bool,
}

/// One result line.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Mount-relative path.
    pub path: String,
    /// Distance, as the filesystem printed it.
    pub distance: String,
}

/// Runs the search and prints the results.
pub fn run(args: Args) -> CliResult<ExitCode> {
    let dir = &args.dir;
    let (located, cfg) = mounted::locate_collection(dir)?;
    // Read once: `--from -` is standard input.
    let from = match (&args.vector, &args.from) {
        (None, Some(src)) => Some(read_f32_file(src)?),
        _ => None,
    };
    if let Some(values) = &from {
        let per = cfg.dim as usize;
        if values.len() > per && values.len().is_multiple_of(per) {
            return run_batch(&located, &cfg, values.chunks(per), &args);
        }
    }
    let given = match (&args.vector, from) {
        (Some(v), _) => Some(("--vector", parse_values(v).map_err(|e| context("--vector", e))?)),
        (None, Some(values)) => Some(("--from", values)),
        (None, None) => None,
    };
    let target = match (given, &args.like) {
        (Some((what, values)), _) => {
            // Checks the count and each value against the collection before asking the mount.
            let bytes = encode(Some(&cfg), &values).map_err(|e| context(what, e))?;
            cfg.check_vector(&bytes)
                .map_err(|e| context(what, e.to_string().trim_start_matches("invalid argument: ")))?;
            Target::Values(values)
        }
        (None, Some(file)) => {
            let like = mounted::locate(file)?;
            if like.mount.root != located.mount.root {
                return Err(CliError::new(format!(
                    "{}: not in the same mount as {}",
                    file.display(),
                    dir.display()
                )));
            }
            Target::Like(like.relative()?)
        }
        (None, None) => return Err(CliError::new("give --vector, --like or --from")),
    };
    let query = build_query(located.relative()?, target, &args)?;
    let lines = transact(&located.mount, &query.to_json())?;
    let mut out = io::stdout().lock();
    for (rank, line) in lines.iter().enumerate() {
        let written = if args.json {
            writeln!(out, "{line}")
        } else if args.paths_only {
            let hit = parse_hit(line).map_err(|e| context("search", e))?;
            writeln!(out, "{}", located.mount.user_path(&hit.path).display())
        } else {
            let hit = parse_hit(line).map_err(|e| context("search", e))?;
            let extra = if args.include.is_some() {
                format!("\t{}", extra_fields(line))
            } else {
                String::new()
            };
            writeln!(
                out,
                "{} {} {}{extra}",
                rank + 1,
                hit.distance,
                located.mount.user_path(&hit.path).display()
            )
        };
        match written {
            Ok(()) => {}
            // `vexfs search ... | head` is not an error.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break,
            Err(e) => return Err(context("stdout", e)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Searches each vector of `vectors` (in file order) as batches through the mount, printing
/// each answer line with the index of its query in the file.
fn run_batch<'a>(
    located: &mounted::Located,
    cfg: &vexfs_core::IndexConfig,
    vectors: impl Iterator<Item = &'a [f64]>,
    args: &Args,
) -> CliResult<ExitCode> {
    let dir = located.relative()?;
    let mut queries = Vec::new();
    for (i, values) in vectors.enumerate() {
        let what = format!("--from: vector {i}");
        let bytes = encode(Some(cfg), values).map_err(|e| context(&what, e))?;
        cfg.check_vector(&bytes)
            .map_err(|e| context(&what, e.to_string().trim_start_matches("invalid argument: ")))?;
        queries.push(build_query(dir.clone(), Target::Values(values.to_vec()), args)?);
    }
    let mut out = io::stdout().lock();
    let mut first = 0;
    for batch in batches(&queries) {
        let lines = transact(&located.mount, &batch_to_json(batch))?;
        for (rank, query, line) in ranked(&lines, first)? {
            let written = if args.json {
                writeln!(out, "{}", renumbered(&line, query))
            } else {
                let hit = parse_hit(&line).map_err(|e| context("search", e))?;
                let path = located.mount.user_path(&hit.path);
                if args.paths_only {
                    writeln!(out, "{query} {}", path.display())
                } else {
                    let extra = if args.include.is_some() {
                        format!("\t{}", extra_fields(&line))
                    } else {
                        String::new()
                    };
                    writeln!(out, "{query} {rank} {} {}{extra}", hit.distance, path.display())
                }
            };
            match written {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
                Err(e) => return Err(context("stdout", e)),
            }
        }
        first += batch.len();
    }
    Ok(ExitCode::SUCCESS)
}

/// `queries` cut into batches the mount takes: at most `BATCH_QUERIES_MAX` queries and
/// `QUERY_LEN_MAX` bytes of JSON each (a query alone always fits: `build_query` parsed it).
fn batches(queries: &[Query]) -> Vec<&[Query]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 2);
    for (i, q) in queries.iter().enumerate() {
        let len = q.to_json().len() + 1;
        if i > start && (i - start == BATCH_QUERIES_MAX || bytes + len > QUERY_LEN_MAX) {
            out.push(&queries[start..i]);
            (start, bytes) = (i, 2);
        }
        bytes += len;
    }
    if start < queries.len() {
        out.push(&queries[start..]);
    }
    out
}

/// The answer lines of one batch whose first query is `first` in the file, as (rank within
/// its query from 1, the query's index in the file, line).
fn ranked(lines: &[String], first: usize) -> CliResult<Vec<(usize, usize, String)>> {
    let mut out = Vec::with_capacity(lines.len());
    let mut last: Option<(usize, usize)> = None;
    for line in lines {
        let n = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("query")?.as_u64())
            .ok_or_else(|| CliError::new(format!("search: answer line without its query: {line}")))?
            as usize;
        let rank = match last {
            Some((q, r)) if q == n => r + 1,
            _ => 1,
        };
        last = Some((n, rank));
        out.push((rank, first + n, line.clone()));
    }
    Ok(out)
}

/// `line` with its leading `"query":N` replaced by `query` (its index in the file).
fn renumbered(line: &str, query: usize) -> String {
    match line
        .strip_prefix("{\"query\":")
        .and_then(|rest| rest.split_once(','))
    {
        Some((_, rest)) => format!("{{\"query\":{query},{rest}"),
        None => line.to_owned(),
    }
}

/// The query the options describe, checked by the same parser the filesystem uses.
pub fn build_query(dir: String, target: Target, args: &Args) -> CliResult<Query> {
    let mut query = Query::new(dir, target);
    query.k = args.k;
    query.ef = args.ef;
    query.exact = args.exact;
    if let Some(expr) = &args.filter {
        query.filter = Some(Filter::parse(expr).map_err(|e| context("--filter", e))?);
    }
    if let Some(d) = args.max_distance {
        // A non-finite value would print as null, which reads back as no radius at all.
        if !d.is_finite() {
            return Err(CliError::new(format!(
                "--max-distance: must be a finite number, not {d}"
            )));
        }
        query.max_distance = Some(d);
    }
    if let Some(list) = &args.include {
        let names = list.split(',').map(str::trim).filter(|n| !n.is_empty());
        query.include = Include::parse(names).map_err(|e| context("--include", e))?;
    }
    parse_query(query.to_json().as_bytes()).map_err(|e| CliError::new(e.to_string()))?;
    Ok(query)
}

/// Writes `json` to the mount's search file and returns the result lines read back on the same
/// open file. A query the filesystem refuses becomes an error with its `{"error":...}` message.
pub fn transact(mount: &Mount, json: &str) -> CliResult<Vec<String>> {
    let path = mount.search_file();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| context(path.display(), io_message(&e)))?;
    let written = file.write_all(json.as_bytes());
    let mut text = String::new();
    let read = file.read_to_string(&mut text);
    if let Some(line) = text.lines().find_map(error_line) {
        return Err(CliError::new(format!("search: {line}")));
    }
    written.map_err(|e| context(path.display(), io_message(&e)))?;
    read.map_err(|e| context(path.display(), io_message(&e)))?;
    Ok(text
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The fields of a result line other than its path and distance, as one JSON object.
fn extra_fields(line: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(line) {
        Ok(serde_json::Value::Object(mut m)) => {
            m.remove("path");
            m.remove("distance");
            serde_json::Value::Object(m).to_string()
        }
        _ => String::new(),
    }
}

/// The message of an `{"error":"..."}` line.
fn error_line(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    v.get("error")?.as_str().map(str::to_owned)
}

/// Reads one `{"path":...,"distance":...}` line.
pub fn parse_hit(line: &str) -> Result<Hit, String> {
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("unreadable result line {line:?}: {e}"))?;
    let path = v.get("path").and_then(|p| p.as_str());
    let distance = v.get("distance").filter(|d| d.is_number());
    match (path, distance) {
        (Some(p), Some(d)) => Ok(Hit {
            path: p.to_owned(),
            distance: d.to_string(),
        }),
        _ => Err(format!("unexpected result line {line:?}")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn args(argv: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(["search"].iter().chain(argv)).map(|c| c.args)
    }

    #[test]
    fn options_become_a_query() {
        let a = args(&[
            "d",
            "--vector",
            "-1,2.5",
            "-k",
            "3",
            "--ef",
            "50",
            "--filter",
            "lang = en",
            "--exact",
        ])
        .unwrap();
        assert_eq!(a.vector.as_deref(), Some("-1,2.5"));
        let q = build_query("/d".into(), Target::Values(parse_values("-1,2.5").unwrap()), &a).unwrap();
        assert_eq!(
            q.to_json(),
            r#"{"dir":"/d","vector":[-1,2.5],"k":3,"ef":50,"filter":"lang = en","exact":true}"#
        );
        let a = args(&["d", "--like", "x"]).unwrap();
        let q = build_query("/d".into(), Target::Like("/d/x".into()), &a).unwrap();
        assert_eq!(q.to_json(), r#"{"dir":"/d","like":"/d/x","k":10}"#);
    }

    #[test]
    fn radius_and_include_options() {
        let a = args(&[
            "d",
            "--vector",
            "1",
            "--max-distance",
            "0.5",
            "--include",
            "metadata.lang, size,vector",
        ])
        .unwrap();
        let q = build_query("/d".into(), Target::Values(vec![1.0]), &a).unwrap();
        assert_eq!(
            q.to_json(),
            r#"{"dir":"/d","vector":[1],"k":10,"max_distance":0.5,"include":["metadata.lang","vector","size"]}"#
        );
        // Negative parses (dot distances can be negative; the mount judges per metric).
        let a = args(&["d", "--vector", "1", "--max-distance", "-2"]).unwrap();
        assert_eq!(a.max_distance, Some(-2.0));
        for bad in ["NaN", "inf", "x"] {
            let r = args(&["d", "--vector", "1", "--max-distance", bad]);
            if let Ok(a) = r {
                let e = build_query("/d".into(), Target::Values(vec![1.0]), &a).unwrap_err();
                assert!(e.to_string().starts_with("--max-distance: "), "{e}");
            }
        }
        let a = args(&["d", "--vector", "1", "--include", "embeddings"]).unwrap();
        let e = build_query("/d".into(), Target::Values(vec![1.0]), &a).unwrap_err();
        assert!(e.to_string().starts_with("--include: "), "{e}");
        assert_eq!(
            extra_fields(r#"{"path":"/d/a","distance":1,"size":3}"#),
            r#"{"size":3}"#
        );
    }

    #[test]
    fn exactly_one_target() {
        assert!(args(&["d"]).is_err());
        assert!(args(&["d", "--vector", "1", "--like", "x"]).is_err());
    }

    #[test]
    fn bad_options_are_one_line_errors() {
        let t = || Target::Values(vec![1.0]);
        let e = build_query(
            "/d".into(),
            t(),
            &args(&["d", "--vector", "1", "-k", "0"]).unwrap(),
        )
        .unwrap_err();
        assert!(e.to_string().contains('k'), "{e}");
        let e = build_query(
            "/d".into(),
            t(),
            &args(&["d", "--vector", "1", "-k", "1001"]).unwrap(),
        )
        .unwrap_err();
        assert!(!e.to_string().contains('\n'));
        let e = build_query(
            "/d".into(),
            t(),
            &args(&["d", "--vector", "1", "--filter", "lang = "]).unwrap(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("--filter: "), "{e}");
        assert!(
            build_query(
                "/d".into(),
                t(),
                &args(&["d", "--vector", "1", "--ef", "0"]).unwrap()
            )
            .is_err()
        );
    }

    #[test]
    fn result_lines() {
        assert_eq!(
            parse_hit(r#"{"path":"/docs/b.txt","distance":0.0123}"#).unwrap(),
            Hit {
                path: "/docs/b.txt".into(),
                distance: "0.0123".into()
            }
        );
        assert!(parse_hit(r#"{"path":"/docs/b.txt"}"#).is_err());
        assert!(parse_hit("not json").is_err());
        assert_eq!(error_line(r#"{"error":"bad k"}"#).as_deref(), Some("bad k"));
        assert_eq!(error_line(r#"{"path":"/a","distance":1}"#), None);
    }
}
