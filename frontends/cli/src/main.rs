//! `vexfs`: the command-line interface of SPEC §1.
//!
//! Each subcommand lives in its own module under `cmd/` with an `Args` struct (clap) and a
//! `run` function. Every failure becomes one line on stderr (`vexfs: ...`) and a non-zero exit
//! status; nothing panics on user input.

mod cmd;
mod error;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// A filesystem whose files carry embedding vectors.
#[derive(Debug, Parser)]
#[command(name = "vexfs", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an empty filesystem image.
    Mkfs(cmd::mkfs::Args),
    /// Mount an image through FUSE; stays in the foreground until unmounted (-d: in the background).
    #[command(after_help = cmd::mount::AFTER_HELP)]
    Mount(cmd::mount::Args),
    /// Verify an image: checksums, invariants, index-storage consistency.
    Fsck(cmd::fsck::Args),
    /// Print the stats document of an image or of the mount a directory is in, as JSON.
    Stats(cmd::stats::Args),
    /// Make a directory of a mounted VexFS a collection, or stop it being one.
    Index(cmd::index::Args),
    /// List the collections of a mounted VexFS: path, configuration, vectors, unindexed.
    Collections(cmd::collections::Args),
    /// Set, print or remove a file's vector.
    Vector(cmd::vector::Args),
    /// Search a collection of a mounted VexFS.
    Search(cmd::search::Args),
    /// Bulk-load vectors from a .fvecs file into a collection, one file per vector.
    Import(cmd::import::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Mkfs(a) => cmd::mkfs::run(a),
        Command::Mount(a) => cmd::mount::run(a),
        Command::Fsck(a) => cmd::fsck::run(a),
        Command::Stats(a) => cmd::stats::run(a),
        Command::Index(a) => cmd::index::run(a),
        Command::Collections(a) => cmd::collections::run(a),
        Command::Vector(a) => cmd::vector::run(a),
        Command::Search(a) => cmd::search::run(a),
        Command::Import(a) => cmd::import::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vexfs: {e}");
            ExitCode::from(e.code)
        }
    }
}
