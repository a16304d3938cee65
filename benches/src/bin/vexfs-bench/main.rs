//! `vexfs-bench`: the VexFS search and image benchmarks.
//!
//! - `ann`: builds a collection's HNSW index from `.fvecs` files through the core's public
//!   index API, then measures recall@k and queries/s over an `ef` sweep (optionally filtered);
//! - `gen`: writes a seeded clustered Gaussian data set with exact ground truth;
//! - `image reopen` / `image ingest`: the cost of opening a large image, and ingest through the
//!   API into an image (with periodic syncs) compared with an in-memory instance.
//!
//! Every rate is computed from the process's CPU time (the benchmarks are single-threaded and
//! the machine they were written on is shared), with the wall-clock figure printed beside it.
//! Errors are one line on stderr and exit status 1.

mod ann;
mod gen_cmd;
mod image;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::process::ExitCode;
use vexfs_core::vector::{ElemType, Metric};

#[derive(Debug, Parser)]
#[command(
    name = "vexfs-bench",
    about = "VexFS benchmarks: ANN recall and speed, data sets, images"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Build an index from .fvecs files and measure recall@k and queries/s per ef.
    Ann(ann::Args),
    /// Write a seeded clustered Gaussian data set (base.fvecs, query.fvecs, gt.ivecs).
    Gen(gen_cmd::Args),
    /// Image benchmarks: reopen time, ingest rate.
    #[command(subcommand)]
    Image(image::Cmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Ann(a) => ann::run(&a),
        Cmd::Gen(a) => gen_cmd::run(&a),
        Cmd::Image(c) => image::run(&c),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vexfs-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Parses a metric name (`l2`, `cosine`, `dot`, `l1`, `hamming`).
fn parse_metric(s: &str) -> Result<Metric, String> {
    Metric::parse(s).ok_or_else(|| format!("unknown metric {s:?} (l2, cosine, dot, l1, hamming)"))
}

/// Parses an element type name (`f32`, `f16`, `i8`, `i16`, `bin`).
fn parse_type(s: &str) -> Result<ElemType, String> {
    ElemType::parse(s).ok_or_else(|| format!("unknown type {s:?} (f32, f16, i8, i16, bin)"))
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// Prints one JSON object on a line of stdout.
fn json_line(v: &serde_json::Value) {
    println!("{v}");
}
