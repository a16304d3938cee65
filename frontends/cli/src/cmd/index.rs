//! `vexfs index create DIR --dim D [--metric M] [--type T] [--m M] [--ef-construction N]
//! [--ef-search N] [--quantization none|sq8] [--rerank R]`: make a directory of a mounted VexFS a collection (SPEC §3); `vexfs index
//! drop DIR`: stop it being one (its files and vectors stay).
//!
//! This is exactly setting the directory's `user.vexfs.index` to the canonical configuration; the
//! configuration is built and validated with [`IndexConfig`] before the filesystem is touched,
//! so a bad option changes nothing.

use super::mounted::{self, INDEX_XATTR, io_message};
use crate::error::{CliError, CliResult, context};
use std::path::PathBuf;
use std::process::ExitCode;
use vexfs_core::IndexConfig;
use vexfs_core::index::Quantization;
use vexfs_core::vector::{ElemType, Metric};

/// Arguments of `vexfs index`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: IndexCommand,
}

/// `vexfs index create` / `vexfs index drop`.
#[derive(Debug, clap::Subcommand)]
pub enum IndexCommand {
    /// Make a directory a collection (sets `user.vexfs.index`).
    Create(CreateArgs),
    /// Stop a directory being a collection (removes `user.vexfs.index` and its index; the
    /// files and their vectors stay).
    Drop(DropArgs),
}

/// Arguments of `vexfs index drop`.
#[derive(Debug, clap::Args)]
pub struct DropArgs {
    /// The collection (a directory inside a mounted VexFS).
    pub dir: PathBuf,
}

/// Arguments of `vexfs index create`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The directory (inside a mounted VexFS).
    pub dir: PathBuf,
    /// Dimension of the vectors (bits for `--type bin`).
    #[arg(long)]
    pub dim: u32,
    /// Distance metric: l2, cosine, dot, l1, or hamming (bin only). Default: l2 (hamming for bin).
    #[arg(long)]
    pub metric: Option<String>,
    /// Element type: f32, f16, i8, i16 or bin. Default: f32.
    #[arg(long = "type", value_name = "TYPE")]
    pub elem: Option<String>,
    /// HNSW links per node (2..=64).
    #[arg(long, default_value_t = IndexConfig::M_DEFAULT)]
    pub m: u32,
    /// HNSW candidate list size while inserting.
    #[arg(long, default_value_t = IndexConfig::EF_CONSTRUCTION_DEFAULT)]
    pub ef_construction: u32,
    /// Default search breadth.
    #[arg(long, default_value_t = IndexConfig::EF_SEARCH_DEFAULT)]
    pub ef_search: u32,
    /// Quantization: none, or sq8 (the search walks 8-bit codes and re-scores the best
    /// candidates exactly; f32, f16 and i16 with l2, cosine or dot). Default: none.
    #[arg(long)]
    pub quantization: Option<String>,
    /// Candidates a quantized search re-scores exactly (with --quantization sq8).
    #[arg(long, value_name = "R")]
    pub rerank: Option<u32>,
}

/// Runs `vexfs index create`.
pub fn run(args: Args) -> CliResult<ExitCode> {
    match args.command {
        IndexCommand::Create(a) => create(a),
        IndexCommand::Drop(a) => drop_index(a),
    }
}

fn drop_index(args: DropArgs) -> CliResult<ExitCode> {
    let dir = &args.dir;
    let located = mounted::locate(dir)?;
    let Some(before) = mounted::collection_config(&located.canonical)? else {
        return Err(CliError::new(format!("{}: not a collection", dir.display())));
    };
    xattr::remove(&located.canonical, INDEX_XATTR).map_err(|e| context(dir.display(), io_message(&e)))?;
    println!(
        "{}: no longer a collection (was {before}); its files keep their vectors",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The configuration the options describe, validated.
pub fn config(args: &CreateArgs) -> Result<IndexConfig, String> {
    let elem = match &args.elem {
        Some(t) => {
            ElemType::parse(t).ok_or_else(|| format!("unknown type {t:?} (f32, f16, i8, i16 or bin)"))?
        }
        None => ElemType::F32,
    };
    let mut cfg = IndexConfig::new(args.dim, elem);
    if let Some(m) = &args.metric {
        cfg.metric = Metric::parse(m)
            .ok_or_else(|| format!("unknown metric {m:?} (l2, cosine, dot, l1 or hamming)"))?;
    }
    cfg.m = args.m;
    cfg.ef_construction = args.ef_construction;
    cfg.ef_search = args.ef_search;
    if let Some(q) = &args.quantization {
        cfg.quantization =
            Quantization::parse(q).ok_or_else(|| format!("unknown quantization {q:?} (none or sq8)"))?;
    }
    if let Some(r) = args.rerank {
        if cfg.quantization == Quantization::None {
            return Err("--rerank applies only with --quantization sq8".to_owned());
        }
        cfg.rerank = r;
    }
    cfg.validate().map_err(|e| e.to_string())?;
    Ok(cfg)
}

fn create(args: CreateArgs) -> CliResult<ExitCode> {
    let dir = &args.dir;
    let cfg = config(&args).map_err(|e| context(dir.display(), e))?;
    let located = mounted::locate(dir)?;
    let meta = std::fs::metadata(&located.canonical).map_err(|e| context(dir.display(), io_message(&e)))?;
    if !meta.is_dir() {
        return Err(CliError::new(format!("{}: not a directory", dir.display())));
    }
    let before = mounted::collection_config(&located.canonical)?;
    let text = cfg.to_string();
    xattr::set(&located.canonical, INDEX_XATTR, text.as_bytes()).map_err(|e| {
        let why = match e.raw_os_error() {
            Some(libc::EBUSY) => format!(
                "already a collection ({}) that holds vectors; dim, metric and type can only change while it is empty",
                before.map(|c| c.to_string()).unwrap_or_default()
            ),
            _ => io_message(&e),
        };
        context(dir.display(), why)
    })?;
    let verb = match before {
        None => "collection",
        Some(b) if b == cfg => "already a collection",
        Some(_) => "collection reconfigured",
    };
    println!("{}: {verb}: {text}", dir.display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: IndexCommand,
    }

    fn parse(args: &[&str]) -> Result<IndexConfig, String> {
        let cli = Cli::try_parse_from(["index"].iter().chain(args)).map_err(|e| e.kind().to_string())?;
        match cli.command {
            IndexCommand::Create(a) => config(&a),
            IndexCommand::Drop(_) => Err("drop".to_owned()),
        }
    }

    #[test]
    fn defaults_and_options() {
        assert_eq!(
            parse(&["create", "d", "--dim", "384"]).unwrap().to_string(),
            "dim=384 metric=l2 type=f32 m=16 ef_construction=200 ef_search=64"
        );
        assert_eq!(
            parse(&[
                "create",
                "d",
                "--dim",
                "384",
                "--metric",
                "cosine",
                "--type",
                "f16",
                "--m",
                "8",
                "--ef-construction",
                "100",
                "--ef-search",
                "32"
            ])
            .unwrap()
            .to_string(),
            "dim=384 metric=cosine type=f16 m=8 ef_construction=100 ef_search=32"
        );
        assert_eq!(
            parse(&["create", "d", "--dim", "256", "--type", "bin"])
                .unwrap()
                .to_string(),
            "dim=256 metric=hamming type=bin m=16 ef_construction=200 ef_search=64"
        );
        assert_eq!(
            parse(&[
                "create",
                "d",
                "--dim",
                "384",
                "--metric",
                "cosine",
                "--quantization",
                "sq8"
            ])
            .unwrap()
            .to_string(),
            format!(
                "dim=384 metric=cosine type=f32 m=16 ef_construction=200 ef_search=64 quantization=sq8 rerank={}",
                IndexConfig::RERANK_DEFAULT
            )
        );
        assert_eq!(
            parse(&[
                "create",
                "d",
                "--dim",
                "8",
                "--quantization",
                "sq8",
                "--rerank",
                "20"
            ])
            .unwrap()
            .rerank,
            20
        );
    }

    #[test]
    fn invalid_configurations() {
        assert_eq!(
            parse(&["create", "d", "--dim", "3", "--type", "f64"]).unwrap_err(),
            "unknown type \"f64\" (f32, f16, i8, i16 or bin)"
        );
        assert_eq!(
            parse(&["create", "d", "--dim", "3", "--metric", "L2"]).unwrap_err(),
            "unknown metric \"L2\" (l2, cosine, dot, l1 or hamming)"
        );
        assert!(
            parse(&["create", "d", "--dim", "0"])
                .unwrap_err()
                .contains("dim out of range")
        );
        assert!(parse(&["create", "d", "--dim", "4097"]).is_err());
        assert!(
            parse(&["create", "d", "--dim", "12", "--type", "bin"])
                .unwrap_err()
                .contains("multiple of 8")
        );
        assert!(parse(&["create", "d", "--dim", "8", "--type", "bin", "--metric", "l2"]).is_err());
        assert!(parse(&["create", "d", "--dim", "8", "--metric", "hamming"]).is_err());
        assert!(parse(&["create", "d", "--dim", "8", "--m", "1"]).is_err());
        assert!(parse(&["create", "d", "--dim", "8", "--ef-search", "0"]).is_err());
        assert_eq!(
            parse(&["create", "d", "--dim", "8", "--quantization", "pq"]).unwrap_err(),
            "unknown quantization \"pq\" (none or sq8)"
        );
        assert_eq!(
            parse(&["create", "d", "--dim", "8", "--rerank", "5"]).unwrap_err(),
            "--rerank applies only with --quantization sq8"
        );
        assert!(
            parse(&[
                "create",
                "d",
                "--dim",
                "8",
                "--quantization",
                "sq8",
                "--metric",
                "l1"
            ])
            .unwrap_err()
            .contains("quantization=sq8 needs")
        );
        assert!(
            parse(&[
                "create",
                "d",
                "--dim",
                "8",
                "--quantization",
                "sq8",
                "--rerank",
                "0"
            ])
            .is_err()
        );
        // Missing --dim is clap's business.
        assert!(parse(&["create", "d"]).is_err());
    }
}
