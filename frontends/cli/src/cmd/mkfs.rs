//! `vexfs mkfs IMAGE [--force] [--seed N]`: create an empty filesystem image.

use crate::error::{CliError, CliResult, context};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use vexfs::{Clock, EngineConfig, FileStorage, Vexfs};

/// Arguments of `vexfs mkfs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image file to create.
    pub image: PathBuf,
    /// Overwrite an existing non-empty file.
    #[arg(long)]
    pub force: bool,
    /// Seed of the image's random choices (HNSW levels); the same operations on images with the
    /// same seed give the same bytes. Default: one fixed seed, the same for every image.
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Creates the image.
pub fn run(args: Args) -> CliResult<ExitCode> {
    let path = &args.image;
    if let Ok(m) = std::fs::metadata(path) {
        if m.is_dir() {
            return Err(CliError::new(format!("{}: is a directory", path.display())));
        }
        if m.len() > 0 && !args.force {
            return Err(CliError::new(format!(
                "{}: exists and is not empty (use --force to overwrite)",
                path.display()
            )));
        }
    }
    let storage = FileStorage::open(path, true, true).map_err(|e| context(path.display(), e))?;
    let cfg = EngineConfig {
        seed: args.seed.unwrap_or(EngineConfig::default().seed),
        ..EngineConfig::default()
    };
    let fs =
        Vexfs::create_on(Arc::new(storage), cfg, Clock::System).map_err(|e| context(path.display(), e))?;
    fs.close().map_err(|e| context(path.display(), e))?;
    println!("created {}", path.display());
    Ok(ExitCode::SUCCESS)
}
