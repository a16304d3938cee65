//! `vexfs mount IMAGE MOUNTPOINT [--threads N] [--readahead-kib N] [-o ro] [-o allow_other]`: mount an image
//! through FUSE in the foreground until it is unmounted (`umount`, `fusermount3 -u`, SIGINT or
//! SIGTERM), then write a checkpoint and exit 0.
//!
//! `-o` takes comma-separated options and may be repeated: `ro`, `rw`, `allow_other`.

use crate::error::{CliError, CliResult, context};
use std::path::PathBuf;
use std::process::ExitCode;
use vexfs_fuse::MountOptions;

/// Arguments of `vexfs mount`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Image file to mount.
    pub image: PathBuf,
    /// Directory to mount it on.
    pub mountpoint: PathBuf,
    /// Worker threads serving requests.
    #[arg(long, default_value_t = MountOptions::default().threads)]
    pub threads: usize,
    /// Readahead window in KiB (0: the kernel's default, 128); set when run as root.
    #[arg(long, value_name = "KIB", default_value_t = MountOptions::default().readahead_kib)]
    pub readahead_kib: u32,
    /// Mount options, comma-separated or repeated: ro, rw, allow_other.
    #[arg(short = 'o', value_name = "OPTIONS", value_delimiter = ',')]
    pub options: Vec<String>,
}

/// Turns the arguments into mount options.
fn options(args: &Args) -> CliResult<MountOptions> {
    if args.threads == 0 {
        return Err(CliError::new("--threads must be at least 1"));
    }
    let mut opts = MountOptions {
        threads: args.threads,
        readahead_kib: args.readahead_kib,
        ..MountOptions::default()
    };
    for o in args.options.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        match o {
            "ro" => opts.read_only = true,
            "rw" => opts.read_only = false,
            "allow_other" => opts.allow_other = true,
            other => {
                return Err(CliError::new(format!(
                    "unknown mount option {other:?} (known: ro, rw, allow_other)"
                )));
            }
        }
    }
    Ok(opts)
}

/// Mounts and serves until unmounted.
pub fn run(args: Args) -> CliResult<ExitCode> {
    let opts = options(&args)?;
    let dir = std::fs::metadata(&args.mountpoint).map_err(|e| context(args.mountpoint.display(), e))?;
    if !dir.is_dir() {
        return Err(CliError::new(format!(
            "{}: not a directory",
            args.mountpoint.display()
        )));
    }
    vexfs_fuse::mount(&args.image, &args.mountpoint, &opts).map_err(|e| CliError::new(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
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

    fn parse(argv: &[&str]) -> CliResult<MountOptions> {
        let cli = Cli::try_parse_from(["mount", "img", "mnt"].iter().chain(argv)).unwrap();
        options(&cli.args)
    }

    #[test]
    fn options_repeat_and_split_on_commas() {
        let o = parse(&["-o", "ro", "-o", "allow_other"]).unwrap();
        assert!(o.read_only && o.allow_other);
        let o = parse(&["-o", "ro,allow_other", "--threads", "2"]).unwrap();
        assert!(o.read_only && o.allow_other);
        assert_eq!(o.threads, 2);
        let o = parse(&[]).unwrap();
        assert_eq!(o, MountOptions::default());
    }

    #[test]
    fn bad_options_are_one_line_errors() {
        assert!(parse(&["-o", "bogus"]).unwrap_err().message.contains("bogus"));
        assert!(parse(&["--threads", "0"]).is_err());
    }
}
