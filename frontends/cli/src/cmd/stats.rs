//! `vexfs stats IMAGE|DIR`: the stats document of SPEC §6 as JSON. A directory inside a mount
//! (its mountpoint or any directory under it) is read through the mount's `/.vexfs/stats`; an
//! image is opened read-only.

use super::mounted::{self, Mount};
use crate::error::{CliError, CliResult, context};
use std::path::PathBuf;
use std::process::ExitCode;
use vexfs::{Error, OpenOptions, Vexfs};

/// Arguments of `vexfs stats`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// An image file, or a directory of a mounted VexFS (its mountpoint or any directory in it).
    pub target: PathBuf,
}

/// Prints the stats document.
pub fn run(args: Args) -> CliResult<ExitCode> {
    let path = &args.target;
    let meta = std::fs::metadata(path).map_err(|e| mounted::path_error(path, &e))?;
    if meta.is_dir() {
        let located = mounted::locate(path)?;
        let text = read_stats(&located.mount)?;
        println!("{}", text.trim_end());
        return Ok(ExitCode::SUCCESS);
    }
    let fs = Vexfs::open_with(path, OpenOptions::read_only()).map_err(|e| match e {
        Error::Locked => CliError::new(format!(
            "{}: image is in use (mounted?); run stats on the mountpoint",
            path.display()
        )),
        Error::NotAnImage => CliError::new(mounted::not_an_image(path)),
        e => context(path.display(), e),
    })?;
    let doc = serde_json::to_string_pretty(&fs.stats()).map_err(|e| context("stats", e))?;
    println!("{doc}");
    Ok(ExitCode::SUCCESS)
}

/// The text of a mount's `/.vexfs/stats`.
pub fn read_stats(mount: &Mount) -> CliResult<String> {
    let stats = mount.root.join(".vexfs/stats");
    std::fs::read_to_string(&stats).map_err(|e| mounted::path_error(&stats, &e))
}
