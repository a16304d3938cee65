//! `vexfs-fuse`: a VexFS image mounted through FUSE (fuser 0.18, pure-Rust mount, no libfuse).
//!
//! [`mount`] runs a mount in the foreground, as `vexfs mount` does: it opens the image (locked
//! exclusively, so a second open fails with "image is locked by another process"; a read-only
//! mount's lock is shared, so read-only mounts of one image coexist), mounts it,
//! serves requests on `MountOptions::threads` worker threads until the filesystem is unmounted
//! (`umount`, `fusermount3 -u`) or the process receives SIGINT or SIGTERM (then it unmounts
//! itself, lazily with `MNT_DETACH` if the mount is busy), and finally writes a checkpoint
//! (`Engine::close`). [`spawn`] does the same in the background and returns a [`Mounted`] to
//! unmount later (tests).
//!
//! Durability: fsync (file or directory) syncs the engine, which makes every change applied so
//! far durable; a commit timer ([`MountOptions::commit_secs`], `-o commit=`) syncs at least that
//! often when something changed; unmounting writes a checkpoint. Nothing else does: Linux does
//! not send `syncfs`/`sync(1)` to a FUSE server.
//!
//! Modules, each owning one concern:
//! - `commit`: the commit timer thread;
//! - `creds`: a request's caller as core credentials (groups and capabilities from `/proc`);
//! - `fs`: the `fuser::Filesystem` implementation (parse → core call → reply) and the cache
//!   (TTL) policy, with a submodule per family of requests (names, data, listings, xattrs,
//!   atime);
//! - `state`: what the worker threads share — the engine behind its `RwLock`, kernel
//!   references and the lazy pinning protocol;
//! - `virt`: the virtual `/.vexfs` directory, every request on its nodes (the one place `fs`
//!   hands them to), its open files and their memory budget, search transactions and stats
//!   snapshots;
//! - `errno`: the one map from core errors to errno values;
//! - `convert`: attributes, kinds and times between core and fuser;
//! - `metrics`: per-request counters and latency histograms for `/.vexfs/stats`.
//!
//! The mount always uses `default_permissions` (the kernel enforces permissions against the
//! attributes the engine reports), `nosuid` and `nodev` (fuser's defaults), and never fuser's
//! `AutoUnmount` (it hangs on unmount with fusermount3 3.14). What the server reads on a
//! caller's behalf (searches, `like`, filters, the stats document) it checks itself with the
//! caller's credentials (`creds`). A read-only mount is read-write for the kernel and refuses
//! every change itself with `EROFS`, so that `/.vexfs/search` can still be opened for writing.
//!
//! Once the mount is up it asks for a larger readahead window ([`MountOptions::readahead_kib`])
//! through the kernel's per-mount knob: the FUSE handshake can only lower the kernel's 128 KiB
//! default, and with 1 MiB a sequential read comes as 1 MiB `READ`s (the request size
//! negotiated for writes too) instead of 128 KiB ones.

mod commit;
mod convert;
mod creds;
mod errno;
mod fs;
mod metrics;
mod state;
mod virt;

use fuser::{Config, MountOption, SessionACL};
use state::Shared;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use vexfs_core::Engine;
use vexfs_core::journal::OpenOptions;
use vexfs_core::limits::{LOG_SEGMENT_BLOCKS_DEFAULT, LOG_SEGMENT_BLOCKS_MIN, SEARCH_MEMORY_MIB_DEFAULT};
use vexfs_core::storage::FileStorage;

/// How to mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Mount read-only (`-o ro`): the image is opened read-only too.
    pub read_only: bool,
    /// Let users other than the one mounting access the filesystem (`-o allow_other`).
    pub allow_other: bool,
    /// Worker threads serving requests (at least 1).
    pub threads: usize,
    /// Readahead window in KiB, written to `/sys/class/bdi/MAJOR:MINOR/read_ahead_kb` of the
    /// mount once it is up; 0 leaves the kernel's default. Best effort (the knob is root's):
    /// the window in effect shows in `/.vexfs/stats` as `mount.readahead_kib`.
    pub readahead_kib: u32,
    /// Commit interval in seconds (`-o commit=`): a timer syncs the engine this often when
    /// anything changed since the last sync, so without fsync at most this much is lost to a
    /// crash. 0: only fsync and unmount make changes durable.
    pub commit_secs: u32,
    /// Memory budget, in MiB, of the open `/.vexfs/search` files (`--search-memory-mib`): their
    /// query and result buffers plus a fixed charge per open file; one user other than root
    /// may hold a quarter of it. Past it an open fails with `ENFILE` and a query with
    /// `ENOBUFS`. At least 1.
    pub search_memory_mib: u32,
    /// Length in blocks of the log segments the session allocates (tests: small segments reach
    /// segment ends in a few operations); `LOG_SEGMENT_BLOCKS_MIN` up to the default.
    pub log_segment_blocks: u32,
}

/// Default readahead window, in KiB: the largest `READ` the mount negotiates (1 MiB).
pub const READAHEAD_KIB: u32 = 1024;

/// Default commit interval, in seconds (ext4's).
pub const COMMIT_SECS: u32 = 5;

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            read_only: false,
            allow_other: false,
            threads: 4,
            readahead_kib: READAHEAD_KIB,
            commit_secs: COMMIT_SECS,
            search_memory_mib: SEARCH_MEMORY_MIB_DEFAULT,
            log_segment_blocks: LOG_SEGMENT_BLOCKS_DEFAULT,
        }
    }
}

/// Why mounting, serving or unmounting failed.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    /// The image could not be opened (missing, corrupted, locked by another process, ...).
    #[error("{}: {source}", path.display())]
    Image {
        /// The image.
        path: PathBuf,
        /// What the core said.
        source: vexfs_core::Error,
    },
    /// The options make no sense (zero threads, ...).
    #[error("invalid mount options: {0}")]
    Options(&'static str),
    /// The kernel refused the mount, or the session failed.
    #[error("mounting on {}: {source}", path.display())]
    Mount {
        /// The mountpoint.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Unmounting failed.
    #[error("unmounting {}: {source}", path.display())]
    Unmount {
        /// The mountpoint.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The final checkpoint could not be written (everything synced before is still durable).
    #[error("closing the image: {}", close_message(.0))]
    Close(vexfs_core::Error),
}

/// What a failed close means for the user's data.
fn close_message(e: &vexfs_core::Error) -> String {
    match e {
        vexfs_core::Error::NoSpace => "no space left on the image's medium for the final checkpoint; \
             every change is in the synced log, which the next mount replays (free space on the \
             medium, then mount and unmount again to checkpoint)"
            .to_string(),
        e => e.to_string(),
    }
}

fn open_engine(image: &Path, opts: &MountOptions) -> Result<Engine, MountError> {
    let image_err = |source| MountError::Image {
        path: image.to_path_buf(),
        source,
    };
    let storage = FileStorage::open(image, false, !opts.read_only).map_err(image_err)?;
    let engine = Engine::open_image(
        Arc::new(storage),
        OpenOptions {
            read_only: opts.read_only,
            log_segment_blocks: opts.log_segment_blocks,
        },
    )
    .map_err(image_err)?;
    // Damage that opening worked around (a superblock slot, a checkpoint recovered through the
    // previous one): the mount serves, but the user should know and run fsck.
    for note in engine.recovery_notes() {
        eprintln!("vexfs: warning: {}: {note} (run vexfs fsck)", image.display());
    }
    Ok(engine)
}

fn config(opts: &MountOptions) -> Config {
    let mut cfg = Config::default();
    cfg.mount_options = vec![
        MountOption::FSName("vexfs".into()),
        MountOption::Subtype("vexfs".into()),
        MountOption::DefaultPermissions,
        // Read-only mounts too are read-write for the kernel: with MS_RDONLY it would refuse
        // to open `/.vexfs/search` for writing (EROFS) before the server could answer, and no
        // search could run. The server refuses every change itself (`fs.rs`), and the engine
        // is opened read-only as well.
        MountOption::RW,
    ];
    cfg.acl = if opts.allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    cfg.n_threads = Some(opts.threads);
    cfg.clone_fd = true;
    cfg
}

fn prepare(image: &Path, opts: &MountOptions) -> Result<(Arc<Shared>, Config), MountError> {
    if opts.threads == 0 {
        return Err(MountError::Options("threads must be at least 1"));
    }
    if !(LOG_SEGMENT_BLOCKS_MIN..=LOG_SEGMENT_BLOCKS_DEFAULT).contains(&opts.log_segment_blocks) {
        return Err(MountError::Options("log segment blocks out of range"));
    }
    if opts.search_memory_mib == 0 {
        return Err(MountError::Options("search memory must be at least 1 MiB"));
    }
    let engine = open_engine(image, opts)?;
    let search_memory = (opts.search_memory_mib as usize).saturating_mul(1 << 20);
    let shared = Arc::new(Shared::new(engine, opts.read_only, opts.threads, search_memory));
    Ok((shared, config(opts)))
}

/// Sets the readahead window of the filesystem mounted on `mountpoint` (a canonical path) to
/// `kib` (unless 0) and records the window in effect in `shared`. Best effort: unprivileged users
/// cannot write the knob. Waits until the mount answers first: INIT's reply lowers the window to
/// what the kernel offered in INIT (its 128 KiB), so the knob must be written after it. The
/// mount's device number comes from `/proc/self/mountinfo`, not from a `stat` of the mountpoint:
/// the server never makes a request to its own mount (see [`mount_then`]).
fn apply_readahead(shared: &Shared, mountpoint: &Path, kib: u32) {
    use std::os::unix::ffi::OsStrExt;
    wait_until_answered(mountpoint);
    let Some((major, minor)) = std::fs::read_to_string("/proc/self/mountinfo")
        .ok()
        .and_then(|info| device_in_mountinfo(&info, mountpoint.as_os_str().as_bytes()))
    else {
        return;
    };
    let knob = format!("/sys/class/bdi/{major}:{minor}/read_ahead_kb");
    if kib > 0 {
        let _ = std::fs::write(&knob, format!("{kib}\n"));
    }
    if let Some(now) = std::fs::read_to_string(&knob)
        .ok()
        .and_then(|s| s.trim().parse().ok())
    {
        shared.readahead_kib.store(now, Ordering::Relaxed);
    }
}

/// Waits until the mount on `mountpoint` answers a `stat`, asked by a forked child that first
/// closes every descriptor. Were the server killed while that request is in flight, the child
/// holds no `/dev/fuse`, so the connection ends and its request fails; asked by a thread of the
/// server, the request would be waited for forever by a process holding `/dev/fuse` open.
fn wait_until_answered(mountpoint: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(mountpoint.as_os_str().as_bytes()) else {
        return;
    };
    // SAFETY: between fork and _exit the child calls only async-signal-safe functions
    // (close_range, stat, _exit) on memory allocated before the fork.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: see above; `st` is a local the child owns.
        unsafe {
            libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
            let mut st: libc::stat = std::mem::zeroed();
            libc::stat(path.as_ptr(), &mut st);
            libc::_exit(0);
        }
    }
    if pid <= 0 {
        return;
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above, writing only `status`.
    while unsafe { libc::waitpid(pid, &mut status, 0) } == -1
        && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
    {}
}

/// The `major:minor` of the topmost mount on `mountpoint` in a `/proc/PID/mountinfo` text
/// (fields: mount id, parent id, `major:minor`, root, mount point with space, tab, newline and
/// backslash written as `\ooo`, ...).
fn device_in_mountinfo(info: &str, mountpoint: &[u8]) -> Option<(u32, u32)> {
    let dev = info
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let dev = fields.nth(2)?;
            let point = fields.nth(1)?;
            (unescape_octal(point) == mountpoint).then_some(dev)
        })
        .next_back()?;
    let (major, minor) = dev.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// `s` with each `\ooo` (three octal digits) replaced by its byte.
fn unescape_octal(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let code = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match code {
            Some(d) => {
                out.push(
                    d.iter()
                        .fold(0u8, |v, c| v.wrapping_mul(8).wrapping_add(c - b'0')),
                );
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

/// `mountpoint` as `/proc/self/mountinfo` will name it, resolved before anything is mounted on
/// it (afterwards resolving it would ask the mount); as given when it cannot be resolved.
fn canonical(mountpoint: &Path) -> PathBuf {
    mountpoint
        .canonicalize()
        .unwrap_or_else(|_| mountpoint.to_path_buf())
}

/// Closes the engine once the session is over: a checkpoint, so the next open replays nothing.
fn close(shared: Arc<Shared>) -> Result<(), MountError> {
    match Arc::try_unwrap(shared) {
        Ok(s) => match s.into_engine() {
            (engine, false) => engine.close().map_err(MountError::Close),
            // A handler panicked inside the engine: write out the log (every record in it was
            // fully applied) but no checkpoint of a state that may be half-changed.
            (mut engine, true) => engine.sync().map_err(MountError::Close),
        },
        // Some worker still holds the state (a lazily detached mount still in use): make what
        // it has so far durable.
        Err(shared) => match shared.engine_lock().write() {
            Ok(mut e) => e.checkpoint().map_err(MountError::Close),
            Err(_) => Ok(()),
        },
    }
}

/// `umount2(path, flags)`.
fn umount2(path: &Path, flags: i32) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let r = unsafe { libc::umount2(c.as_ptr(), flags) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Unmounts `path`: normally, or lazily (`MNT_DETACH`) when it is busy. Returns `Ok(false)`
/// when plain `umount2` is not permitted (not root), so the caller can use fusermount.
fn unmount_path(path: &Path) -> io::Result<bool> {
    match umount2(path, 0) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => umount2(path, libc::MNT_DETACH).map(|()| true),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(false),
        // Already gone (unmounted by someone else): fine.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(true),
        Err(e) => Err(e),
    }
}

/// Mounts `image` on `mountpoint` in the foreground; returns after the filesystem has been
/// unmounted (externally, or by SIGINT/SIGTERM) and the image closed with a checkpoint.
///
/// While it runs, SIGINT and SIGTERM are handled (whichever thread receives them) by
/// unmounting; the previous handlers are restored before returning.
pub fn mount(image: &Path, mountpoint: &Path, opts: &MountOptions) -> Result<(), MountError> {
    mount_then(image, mountpoint, opts, || {})
}

/// As [`mount`], calling `on_ready` once the kernel has sent the session its INIT: from then on
/// the mount answers (a request waits for INIT's reply, never for a dead mountpoint). The
/// readiness signal comes from inside the session because the server must never wait on its
/// own mount: a request the server makes to itself and that is in flight when the process is
/// killed (`SIGKILL`) is waited for uninterruptibly, by a thread that holds `/dev/fuse` open,
/// so the process never exits and the mount hangs until its connection is aborted.
pub fn mount_then(
    image: &Path,
    mountpoint: &Path,
    opts: &MountOptions,
    on_ready: impl FnOnce() + Send + Sync + 'static,
) -> Result<(), MountError> {
    let (shared, cfg) = prepare(image, opts)?;
    let canonical = canonical(mountpoint);
    let mount_err = |source| MountError::Mount {
        path: mountpoint.to_path_buf(),
        source,
    };
    let signals = SignalGuard::install().map_err(mount_err)?;
    let mut session = fuser::Session::new(
        fs::VexFs::new(Arc::clone(&shared), Some(Box::new(on_ready))),
        mountpoint,
        &cfg,
    )
    .map_err(mount_err)?;
    let mut unmounter = session.unmount_callable();
    // Before the other threads: if it cannot start, nothing is left running.
    let committer = commit::Committer::start(&shared, opts.commit_secs).map_err(mount_err)?;
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let done = Arc::clone(&done);
        let path = mountpoint.to_path_buf();
        std::thread::Builder::new()
            .name("vexfs-signals".into())
            .spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    if SIGNALLED.swap(false, Ordering::SeqCst) {
                        // fuser's unmount (falls back to fusermount when not root); if busy,
                        // detach lazily: the session ends when the last open file closes.
                        if unmounter.unmount().is_err() {
                            let _ = unmount_path(&path);
                        }
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
            .map_err(mount_err)?
    };
    // It waits until the mount answers, which needs the workers, so it runs beside them.
    let readahead = {
        let (shared, kib) = (Arc::clone(&shared), opts.readahead_kib);
        std::thread::Builder::new()
            .name("vexfs-readahead".into())
            .spawn(move || apply_readahead(&shared, &canonical, kib))
            .map_err(mount_err)?
    };
    let served = session_ended(session.run());
    done.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    let _ = readahead.join();
    if let Some(c) = committer {
        c.stop();
    }
    let closed = close(shared);
    drop(signals);
    served.map_err(mount_err)?;
    closed
}

/// Mounts `image` on `mountpoint` in the background.
pub fn spawn(image: &Path, mountpoint: &Path, opts: &MountOptions) -> Result<Mounted, MountError> {
    let (shared, cfg) = prepare(image, opts)?;
    let canonical = canonical(mountpoint);
    let session = fuser::spawn_mount(fs::VexFs::new(Arc::clone(&shared), None), mountpoint, &cfg).map_err(
        |source| MountError::Mount {
            path: mountpoint.to_path_buf(),
            source,
        },
    )?;
    apply_readahead(&shared, &canonical, opts.readahead_kib);
    let committer =
        commit::Committer::start(&shared, opts.commit_secs).map_err(|source| MountError::Mount {
            path: mountpoint.to_path_buf(),
            source,
        })?;
    Ok(Mounted {
        session: Some(session),
        shared: Some(shared),
        committer,
        mountpoint: mountpoint.to_path_buf(),
    })
}

/// A mount running in the background. Unmount it with [`Mounted::unmount`]; dropping it
/// unmounts too (lazily if busy), ignoring errors.
#[derive(Debug)]
pub struct Mounted {
    session: Option<fuser::BackgroundSession>,
    shared: Option<Arc<Shared>>,
    committer: Option<commit::Committer>,
    mountpoint: PathBuf,
}

impl Mounted {
    /// The mountpoint.
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Unmounts (lazily with `MNT_DETACH` if files are still open: then this waits until they
    /// are closed), waits for the workers to finish and closes the image with a checkpoint.
    pub fn unmount(mut self) -> Result<(), MountError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), MountError> {
        let unmount_err = |source| MountError::Unmount {
            path: self.mountpoint.clone(),
            source,
        };
        if let Some(session) = self.session.take() {
            if unmount_path(&self.mountpoint).map_err(unmount_err)? {
                session_ended(session.join()).map_err(unmount_err)?;
            } else {
                session_ended(session.umount_and_join()).map_err(unmount_err)?;
            }
        }
        if let Some(c) = self.committer.take() {
            c.stop();
        }
        match self.shared.take() {
            Some(shared) => close(shared),
            None => Ok(()),
        }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// A session's result with the kernel's "connection aborted" taken as the normal end it is:
/// when the filesystem is unmounted the kernel ends the connection, and a worker thread that
/// reads `/dev/fuse` after that usually sees `ENODEV` (which fuser takes as the end) but can
/// see `ECONNABORTED` (about once in 20 lazy unmounts under load, in `tests/foreground.rs`).
/// Either way nothing can reach the filesystem any more, and the image is closed after it.
fn session_ended(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.raw_os_error() == Some(libc::ECONNABORTED) => Ok(()),
        r => r,
    }
}

/// Set by the SIGINT/SIGTERM handler; polled by the watcher thread of [`mount`].
static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    // Async-signal-safe: one atomic store.
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM handled by setting [`SIGNALLED`] (whichever thread receives them); the
/// previous handlers come back on drop.
struct SignalGuard {
    old: [(libc::c_int, libc::sigaction); 2],
}

impl SignalGuard {
    fn install() -> io::Result<Self> {
        SIGNALLED.store(false, Ordering::SeqCst);
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; sigemptyset
        // initialises the mask; the handler is an `extern "C" fn(c_int)` that only does an
        // atomic store; sigaction reads `new` and writes `old`, both valid for the call.
        unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            new.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut new.sa_mask);
            let mut old = [
                (libc::SIGINT, std::mem::zeroed()),
                (libc::SIGTERM, std::mem::zeroed()),
            ];
            for i in 0..old.len() {
                if libc::sigaction(old[i].0, &new, &mut old[i].1) != 0 {
                    let e = io::Error::last_os_error();
                    for (sig, prev) in &old[..i] {
                        libc::sigaction(*sig, prev, std::ptr::null_mut());
                    }
                    return Err(e);
                }
            }
            Ok(SignalGuard { old })
        }
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for (sig, prev) in &self.old {
            // SAFETY: restores a disposition saved by `install`.
            unsafe {
                libc::sigaction(*sig, prev, std::ptr::null_mut());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{device_in_mountinfo, unescape_octal};

    #[test]
    fn mountinfo_names_the_topmost_mount_of_a_path() {
        let info = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
36 22 0:41 / /tmp/a\\040b/mnt rw,nosuid - fuse vexfs rw,user_id=0
37 22 0:42 / /tmp/a\\040b/mnt2 rw - fuse vexfs rw
38 36 0:43 / /tmp/a\\040b/mnt rw - fuse vexfs rw
";
        assert_eq!(device_in_mountinfo(info, b"/tmp/a b/mnt"), Some((0, 43)));
        assert_eq!(device_in_mountinfo(info, b"/tmp/a b/mnt2"), Some((0, 42)));
        assert_eq!(device_in_mountinfo(info, b"/"), Some((254, 0)));
        assert_eq!(device_in_mountinfo(info, b"/tmp/a\\040b/mnt"), None);
        assert_eq!(device_in_mountinfo("garbage\n36 22 x:y / /m rw\n", b"/m"), None);
    }

    #[test]
    fn octal_escapes_are_decoded_and_nothing_else() {
        assert_eq!(unescape_octal("a\\011b\\012c\\134d\\040"), b"a\tb\nc\\d ");
        assert_eq!(unescape_octal("\\09x\\1"), b"\\09x\\1");
        assert_eq!(unescape_octal("plain"), b"plain");
    }
}
