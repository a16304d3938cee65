//! `vexfs stats IMAGE|MOUNTPOINT`: the stats document of SPEC §6 as JSON. A mountpoint is read
//! through its `/.vexfs/stats`; an image is opened read-only.

use crate::error::{CliError, CliResult, context};
use std::path::PathBuf;
use std::process::ExitCode;
use vexfs::{Error, OpenOptions, Vexfs};

/// Arguments of `vexfs stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An image file, or the mountpoint of a mounted VexFS.
    pub target: PathBuf,
}

/// Prints the stats document.
pub fn run(args: Args) -> CliResult<ExitCode> {
    let path = &args.target;
    let meta = std::fs::metadata(path).map_err(|e| context(path.display(), e))?;
    if meta.is_dir() {
        let stats = path.join(".vexfs/stats");
        let text = std::fs::read_to_string(&stats)
            .map_err(|e| CliError::new(format!("{}: not a mounted VexFS ({e})", path.display())))?;
        println!("{}", text.trim_end());
        return Ok(ExitCode::SUCCESS);
    }
    let fs = Vexfs::open_with(path, OpenOptions::read_only()).map_err(|e| match e {
        Error::Locked => CliError::new(format!(
            "{}: image is in use (mounted?); run stats on the mountpoint",
            path.display()
        )),
        e => context(path.display(), e),
    })?;
    let doc = serde_json::to_string_pretty(&fs.stats()).map_err(|e| context("stats", e))?;
    println!("{doc}");
    Ok(ExitCode::SUCCESS)
}
