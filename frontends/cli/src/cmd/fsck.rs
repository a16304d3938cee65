//! `vexfs fsck IMAGE [--repair] [--rebuild-index]`: verify checksums, filesystem invariants and
//! index-storage consistency. Exit 0 clean, 1 problems found (each printed), 2 unusable.

use super::mounted;
use crate::error::{CliError, CliResult, context};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use vexfs::FileStorage;

/// Arguments of `vexfs fsck`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image file to check.
    pub image: PathBuf,
    /// Fix what can be fixed (indexes that disagree with storage), then write a checkpoint.
    #[arg(long)]
    pub repair: bool,
    /// Rebuild every collection's index from storage.
    #[arg(long)]
    pub rebuild_index: bool,
}

/// Checks the image.
pub fn run(args: Args) -> CliResult<ExitCode> {
    let path = &args.image;
    let writable = args.repair || args.rebuild_index;
    let storage = FileStorage::open(path, false, writable)
        .map_err(|e| CliError::with_code(format!("{}: {e}", path.display()), 2))?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>20} [{bar:40}] {pos}/{len}")
            .map_err(|e| context("progress bar", e))?
            .progress_chars("=> "),
    );
    let report = vexfs_core::engine::fsck(
        Arc::new(storage),
        args.repair,
        args.rebuild_index,
        |what, done, total| {
            bar.set_message(what.to_owned());
            bar.set_length(total);
            bar.set_position(done);
        },
    );
    bar.finish_and_clear();
    let report = report.map_err(|e| match e {
        vexfs::Error::NotAnImage => CliError::with_code(mounted::not_an_image(path), 2),
        e => CliError::with_code(format!("{}: unusable: {e}", path.display()), 2),
    })?;
    for fixed in &report.repaired {
        println!("repaired: {fixed}");
    }
    if args.rebuild_index {
        println!(
            "rebuilt the index of every collection from storage: {} collections, {} vectors indexed",
            report.collections, report.vectors
        );
    }
    for p in &report.problems {
        println!("problem: {p}");
    }
    println!(
        "{}: {} inodes, {} collections, {} vectors, {} log records replayed: {}",
        path.display(),
        report.inodes,
        report.collections,
        report.vectors,
        report.replayed,
        if report.problems.is_empty() && report.repaired.is_empty() {
            "clean"
        } else {
            "problems found"
        }
    );
    Ok(if report.problems.is_empty() && report.repaired.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
