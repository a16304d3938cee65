//! `vexfs mount IMAGE MOUNTPOINT [-d] [--threads N] [--readahead-kib N] [--search-memory-mib N]
//! [-o ro] [-o allow_other] [-o commit=SECONDS]`: mount an image through FUSE in the foreground
//! until it is unmounted (`umount`, `fusermount3 -u`, SIGINT or SIGTERM), then write a
//! checkpoint and exit 0. Once the mount answers it prints one line saying so. With `-d`
//! (`--background`) the command returns at that point (exit 0), the mount serving on in a
//! process of its own; a mount that fails prints its error and exits non-zero, as in the
//! foreground.
//!
//! `-o` takes comma-separated options and may be repeated: `ro`, `rw`, `allow_other`,
//! `commit=SECONDS` (default 5; 0: changes become durable only on fsync and unmount).
//! `--log-segment-blocks` (hidden) sets the log segment size for tests.

use super::mounted;
use crate::error::{CliError, CliResult, context};
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use vexfs_core::limits::{LOG_SEGMENT_BLOCKS_DEFAULT, LOG_SEGMENT_BLOCKS_MIN};
use vexfs_fuse::{MountError, MountOptions};

/// What `vexfs mount --help` says after the options.
pub const AFTER_HELP: &str = "\
Durability: fsync (of a file or a directory) makes every change made so far durable. Without \
fsync, the mount commits every commit=SECONDS (default 5): a crash (power loss, kill -9) loses \
at most the changes of the last interval. With commit=0, changes made without fsync become \
durable only at unmount. sync(1) and syncfs(2) do not reach a FUSE filesystem on Linux, so \
`sync` alone makes nothing durable. Unmounting writes a checkpoint and loses nothing.

Read-only (-o ro): the server refuses every change with EROFS, and searches work (the kernel \
sees a read-write mount, so /.vexfs/search can be opened for writing; statfs does not show \
ST_RDONLY). Several read-only mounts of one image may run at once; a read-write mount excludes \
every other mount of the image.";

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
    /// Mount options, comma-separated or repeated: ro, rw, allow_other, commit=SECONDS (sync
    /// changes at least this often without fsync; default 5, 0: only on fsync and unmount).
    #[arg(short = 'o', value_name = "OPTIONS", value_delimiter = ',')]
    pub options: Vec<String>,
    /// Memory budget of open /.vexfs/search files in MiB (their query and result buffers);
    /// one user other than root may hold a quarter. Past it, opening search fails with ENFILE
    /// and a query with ENOBUFS.
    #[arg(long, value_name = "MIB", default_value_t = MountOptions::default().search_memory_mib)]
    pub search_memory_mib: u32,
    /// Log segment length in blocks, for tests that must reach segment ends quickly.
    #[arg(long, value_name = "BLOCKS", hide = true, default_value_t = LOG_SEGMENT_BLOCKS_DEFAULT)]
    pub log_segment_blocks: u32,
    /// Run in the background: return once the mount answers (unmount with `umount MOUNTPOINT`).
    #[arg(short = 'd', long)]
    pub background: bool,
    /// Set on the process `--background` starts: it says when it is ready on stderr (a pipe to
    /// the starting process), then sends its stderr to /dev/null.
    #[arg(long, hide = true)]
    pub detached: bool,
}

/// The line a detached mount writes on its stderr once the mount answers.
const READY_MARKER: &str = "vexfs-mount-ready";

/// Turns the arguments into mount options.
fn options(args: &Args) -> CliResult<MountOptions> {
    if args.threads == 0 {
        return Err(CliError::new("--threads must be at least 1"));
    }
    if !(LOG_SEGMENT_BLOCKS_MIN..=LOG_SEGMENT_BLOCKS_DEFAULT).contains(&args.log_segment_blocks) {
        return Err(CliError::new(format!(
            "--log-segment-blocks must be {LOG_SEGMENT_BLOCKS_MIN} to {LOG_SEGMENT_BLOCKS_DEFAULT}"
        )));
    }
    if args.search_memory_mib == 0 {
        return Err(CliError::new("--search-memory-mib must be at least 1"));
    }
    let mut opts = MountOptions {
        threads: args.threads,
        search_memory_mib: args.search_memory_mib,
        readahead_kib: args.readahead_kib,
        log_segment_blocks: args.log_segment_blocks,
        ..MountOptions::default()
    };
    for o in args.options.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
        match o {
            "ro" => opts.read_only = true,
            "rw" => opts.read_only = false,
            "allow_other" => opts.allow_other = true,
            other => match other.strip_prefix("commit=") {
                Some(secs) => {
                    opts.commit_secs = secs.parse().map_err(|_| {
                        CliError::new(format!(
                            "mount option commit={secs}: not a number of seconds (0 to {})",
                            u32::MAX
                        ))
                    })?;
                }
                None => {
                    return Err(CliError::new(format!(
                        "unknown mount option {other:?} (known: ro, rw, allow_other, commit=SECONDS)"
                    )));
                }
            },
        }
    }
    Ok(opts)
}

/// Mounts and serves until unmounted.
pub fn run(args: Args) -> CliResult<ExitCode> {
    let opts = options(&args)?;
    let dir = std::fs::metadata(&args.mountpoint).map_err(|e| mounted::path_error(&args.mountpoint, &e))?;
    if !dir.is_dir() {
        return Err(CliError::new(format!(
            "{}: not a directory",
            args.mountpoint.display()
        )));
    }
    if args.background && !args.detached {
        return background(&args);
    }
    let announce = announcement(&args);
    vexfs_fuse::mount_then(&args.image, &args.mountpoint, &opts, announce).map_err(mount_error)?;
    Ok(ExitCode::SUCCESS)
}

/// The line printed once the mount answers.
fn ready_line(args: &Args) -> String {
    format!(
        "{} mounted on {} (unmount with `umount {}`)",
        args.image.display(),
        args.mountpoint.display(),
        args.mountpoint.display()
    )
}

/// What the mount does once it answers (the session received the kernel's INIT): print the ready
/// line, or, detached, tell the starting process and silence stderr. Never a read of the mount
/// by the mount process itself: such a request, in flight when the process is killed, would
/// keep the process from ever exiting (see `vexfs_fuse::mount_then`).
fn announcement(args: &Args) -> impl FnOnce() + Send + Sync + 'static {
    let line = ready_line(args);
    let detached = args.detached;
    move || {
        if detached {
            let mut err = io::stderr().lock();
            let _ = writeln!(err, "{READY_MARKER}");
            let _ = err.flush();
            silence_stderr();
        } else {
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

/// Points stderr at /dev/null: the process that read it has exited, and a write to a pipe
/// nobody reads would fail (and `eprintln!` panics on failure).
fn silence_stderr() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 on two open descriptors; it replaces fd 2 atomically and touches no memory.
        unsafe {
            libc::dup2(null.as_raw_fd(), libc::STDERR_FILENO);
        }
    }
}

/// `--background`: runs this same command without it (and `--detached`) as a new process in its
/// own process group, forwards what it says on stderr until it is ready, and returns then; when
/// it exits first (the mount failed) returns its status, its error already printed.
fn background(args: &Args) -> CliResult<ExitCode> {
    let exe = std::env::current_exe().map_err(|e| context("finding the vexfs binary", e))?;
    let argv: Vec<std::ffi::OsString> = std::env::args_os()
        .skip(1)
        .filter(|a| a != "-d" && a != "--background")
        .collect();
    let mut child = Command::new(exe)
        .args(argv)
        .arg("--detached")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| context("starting the background mount", e))?;
    let stderr = child
        .stderr
        .take()
        .ok_or_else(|| CliError::new("starting the background mount: no stderr pipe"))?;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if line == READY_MARKER {
            println!("{}", ready_line(args));
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!("{line}");
    }
    let status = child.wait().map_err(|e| context("the background mount", e))?;
    // Its own error line is printed already; exit as it did.
    Ok(ExitCode::from(
        status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .filter(|&c| c != 0)
            .unwrap_or(1),
    ))
}

/// A failed mount as one line, saying what to do where there is something to do.
fn mount_error(e: MountError) -> CliError {
    match e {
        MountError::Image {
            path,
            source: vexfs::Error::NotAnImage,
        } => CliError::new(mounted::not_an_image(&path)),
        MountError::Mount { path, source } if source.raw_os_error() == Some(libc::ENOTCONN) => {
            let e = mounted::path_error(&path, &source);
            CliError::new(format!("mounting on {e}"))
        }
        e => CliError::new(e.to_string()),
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
        assert_eq!(o.commit_secs, 5);
    }

    #[test]
    fn commit_interval_is_a_mount_option() {
        assert_eq!(parse(&["-o", "commit=0"]).unwrap().commit_secs, 0);
        let o = parse(&["-o", "ro,commit=30"]).unwrap();
        assert!(o.read_only);
        assert_eq!(o.commit_secs, 30);
        assert_eq!(
            parse(&["-o", "commit=1", "-o", "commit=2"]).unwrap().commit_secs,
            2
        );
        for bad in [
            "commit=",
            "commit=-1",
            "commit=1.5",
            "commit=x",
            "commit=99999999999",
        ] {
            let e = parse(&["-o", bad]).unwrap_err().message;
            assert!(e.contains("commit=") && !e.contains('\n'), "{bad}: {e}");
        }
    }

    #[test]
    fn log_segment_blocks_is_checked() {
        assert_eq!(
            parse(&["--log-segment-blocks", "2"]).unwrap().log_segment_blocks,
            2
        );
        assert!(parse(&["--log-segment-blocks", "1"]).is_err());
        assert!(parse(&["--log-segment-blocks", "257"]).is_err());
    }

    #[test]
    fn bad_options_are_one_line_errors() {
        assert!(parse(&["-o", "bogus"]).unwrap_err().message.contains("bogus"));
        assert!(parse(&["--threads", "0"]).is_err());
    }
}
