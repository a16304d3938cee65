//! Helpers of the CLI's integration tests: running the built `vexfs` binary, and mounting an
//! image with `vexfs mount` as a child process (unmounted with `umount`, or killed with SIGKILL
//! for crash tests; a mount left behind by a failing test is lazily unmounted on drop).
//!
//! Tests that need FUSE call [`fuse_or_skip`]: without `/dev/fuse` they print why and return
//! early, unless `REQUIRE_FUSE` is set, in which case they fail.

#![allow(clippy::unwrap_used, dead_code)]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const VEXFS: &str = env!("CARGO_BIN_EXE_vexfs");

/// How long a mount may take to appear, and an unmounted or killed mount to exit.
const PATIENCE: Duration = Duration::from_secs(60);

/// Whether FUSE tests can run: `false` (after printing why) when `/dev/fuse` is missing and
/// `REQUIRE_FUSE` is unset; a panic when it is missing and `REQUIRE_FUSE` is set.
pub fn fuse_or_skip(test: &str) -> bool {
    if Path::new("/dev/fuse").exists() {
        return true;
    }
    if std::env::var_os("REQUIRE_FUSE").is_some() {
        panic!("{test}: /dev/fuse is missing and REQUIRE_FUSE is set");
    }
    eprintln!("skipping {test}: /dev/fuse is missing (set REQUIRE_FUSE=1 to make this a failure)");
    false
}

/// Runs `vexfs ARGS` to completion.
pub fn vexfs<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(VEXFS)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs `vexfs ARGS`, asserts it succeeded, and returns its stdout.
pub fn ok<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let out = vexfs(&args);
    assert!(
        out.status.success(),
        "vexfs {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs `vexfs ARGS`, asserts it failed with exit status 1 and exactly one line on stderr
/// starting `vexfs: `, and nothing on stdout; returns that line.
pub fn fails<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let out = vexfs(&args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "vexfs {args:?}: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "vexfs {args:?} printed {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let line = stderr.strip_suffix('\n').unwrap_or(&stderr);
    assert!(
        line.starts_with("vexfs: ") && !line.contains('\n'),
        "vexfs {args:?}: not one error line: {stderr:?}"
    );
    line.to_owned()
}

/// A scratch directory with a fresh image in it.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    pub image: PathBuf,
    pub mountpoint: PathBuf,
}

impl Scratch {
    /// A new directory with `image` (made by `vexfs mkfs`) and an empty `mnt/`.
    pub fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("vexfs-cli-test")
            .tempdir()
            .unwrap();
        let image = dir.path().join("image");
        let mountpoint = dir.path().join("mnt");
        std::fs::create_dir(&mountpoint).unwrap();
        ok([OsStr::new("mkfs"), image.as_os_str()]);
        Scratch {
            dir,
            image,
            mountpoint,
        }
    }

    /// Mounts the image on the mountpoint.
    pub fn mount(&self) -> Mounted {
        Mounted::start(&self.image, &self.mountpoint)
    }

    /// Mounts the image on the mountpoint with extra `vexfs mount` arguments (`-o commit=0`).
    pub fn mount_with(&self, args: &[&str]) -> Mounted {
        Mounted::start_with(&self.image, &self.mountpoint, args)
    }

    /// A path in the scratch directory (outside the mount).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// A running `vexfs mount`.
pub struct Mounted {
    child: Option<Child>,
    /// The mountpoint.
    pub root: PathBuf,
}

impl Mounted {
    /// Starts `vexfs mount IMAGE MOUNTPOINT` and waits until `/.vexfs` appears.
    pub fn start(image: &Path, mountpoint: &Path) -> Mounted {
        Mounted::start_with(image, mountpoint, &[])
    }

    /// Starts `vexfs mount IMAGE MOUNTPOINT ARGS` and waits until `/.vexfs` appears.
    pub fn start_with(image: &Path, mountpoint: &Path, args: &[&str]) -> Mounted {
        Mounted::start_logged(image, mountpoint, args, Stdio::inherit())
    }

    /// [`Mounted::start_with`], the mount's standard error going to `stderr` (a file).
    pub fn start_logged(image: &Path, mountpoint: &Path, args: &[&str], stderr: Stdio) -> Mounted {
        let mut child = Command::new(VEXFS)
            .arg("mount")
            .arg(image)
            .arg(mountpoint)
            .args(args)
            .stdin(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let started = Instant::now();
        let marker = mountpoint.join(".vexfs/search");
        loop {
            if marker.exists() {
                break;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("vexfs mount exited before the mount appeared: {status}");
            }
            if started.elapsed() > PATIENCE {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the mount did not appear within {PATIENCE:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Mounted {
            child: Some(child),
            root: mountpoint.to_path_buf(),
        }
    }

    /// A path inside the mount: `p("docs/a")`.
    pub fn p(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Unmounts with `umount` (see [`umount`]) and asserts that `vexfs mount` exits 0.
    pub fn unmount(mut self) {
        // On failure `self` still owns the child: dropping it clears the mount.
        umount(&self.root);
        let mut child = self.child.take().unwrap();
        let status = wait_timeout(&mut child);
        assert!(status.success(), "vexfs mount exited with {status}");
    }

    /// Kills `vexfs mount` with SIGKILL (no checkpoint, no clean unmount) and clears the dead
    /// mount.
    pub fn kill9(self) {
        self.kill9_then(|| {});
    }

    /// Kills `vexfs mount` with SIGKILL, runs `before_unmount` while the dead mount is still
    /// attached (every call into it fails: a process still using it stops there instead of
    /// reaching the empty directory under it), then clears the dead mount.
    pub fn kill9_then(mut self, before_unmount: impl FnOnce()) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        let _ = wait_timeout(&mut child);
        before_unmount();
        lazy_unmount(&self.root);
    }

    /// Kills the mount process with SIGKILL and says whether it exited within `patience`. When
    /// it did not, its FUSE connection is aborted (through fusectl) so that it can exit and the
    /// test goes on; the mount is detached either way.
    pub fn kill9_exits_within(mut self, patience: Duration) -> bool {
        use std::os::unix::fs::MetadataExt;
        let dev = std::fs::metadata(&self.root).unwrap().dev();
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        let exited = wait_some(&mut child, patience).is_some();
        if !exited {
            let ctl = Path::new("/sys/fs/fuse/connections");
            if std::fs::read_dir(ctl).map_or(true, |mut d| d.next().is_none()) {
                let _ = Command::new("mount")
                    .args(["-t", "fusectl", "none"])
                    .arg(ctl)
                    .status();
            }
            let abort = ctl.join(libc::minor(dev).to_string()).join("abort");
            let _ = std::fs::write(abort, "1");
            let _ = child.wait();
        }
        lazy_unmount(&self.root);
        exited
    }

    /// The `vexfs mount` process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A test failed while mounted: do not leave the mount behind.
            lazy_unmount(&self.root);
            if wait_some(&mut child, Duration::from_secs(10)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Unmounts `root` with `umount`, retried for a while when the mount is busy: a sibling test
/// forking a process at the moment this one has a file of the mount open lends that open file
/// to the child until it execs.
pub fn umount(root: &Path) {
    let started = Instant::now();
    loop {
        let out = Command::new("umount").arg(root).output().unwrap();
        if out.status.success() {
            return;
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("busy") && started.elapsed() < Duration::from_secs(10),
            "umount {}: {stderr}",
            root.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn lazy_unmount(root: &Path) {
    let _ = Command::new("umount")
        .arg("-l")
        .arg(root)
        .stderr(Stdio::null())
        .status();
}

fn wait_some(child: &mut Child, patience: Duration) -> Option<std::process::ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if started.elapsed() > patience {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_timeout(child: &mut Child) -> std::process::ExitStatus {
    match wait_some(child, PATIENCE) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("vexfs mount did not exit within {PATIENCE:?}");
        }
    }
}

/// Writes a `.fvecs` file.
pub fn write_fvecs(path: &Path, vectors: &[Vec<f32>]) {
    let mut out = Vec::new();
    for v in vectors {
        out.extend_from_slice(&(v.len() as i32).to_le_bytes());
        for x in v {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    std::fs::write(path, out).unwrap();
}

/// A deterministic pseudo-random vector (xorshift), values in `[-1, 1)`.
pub fn pseudo_vector(seed: u64, dim: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..dim)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Parses `rank distance path` lines.
pub fn parse_results(text: &str) -> Vec<(usize, f64, String)> {
    text.lines()
        .map(|l| {
            let mut it = l.splitn(3, ' ');
            let rank = it.next().unwrap().parse().unwrap();
            let dist = it.next().unwrap().parse().unwrap();
            (rank, dist, it.next().unwrap().to_owned())
        })
        .collect()
}

/// `user.vexfs.vector` of `path`, raw.
pub fn raw_vector(path: &Path) -> Option<Vec<u8>> {
    xattr::get(path, "user.vexfs.vector").unwrap()
}

/// A fresh image filled by the calling test binary's `populate_child` test, run in a child
/// process (this test binary again, with `VEXFS_POPULATE` naming the image): an image opened
/// in the test process could stay locked by a sibling test's child forked at that moment, until
/// it execs, and make the mount fail as "locked".
pub fn populated_in_child() -> Scratch {
    let s = Scratch::new();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "populate_child", "--nocapture", "--test-threads=1"])
        .env("VEXFS_POPULATE", &s.image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "populating: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    s
}
