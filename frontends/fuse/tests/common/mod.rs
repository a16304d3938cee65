//! Helpers for tests through real mounts: a fresh image and mountpoint under the temp dir, a
//! mount made with `vexfs_fuse::spawn`, always unmounted (even when the test body panics), and
//! thin `libc` wrappers that return the raw errno.
//!
//! When `/dev/fuse` is missing (or mounting is refused) a test prints `SKIP: ...` and passes,
//! unless `REQUIRE_FUSE=1` (CI), where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use vexfs_core::storage::FileStorage;
use vexfs_core::{Engine, EngineConfig};
use vexfs_fuse::{MountOptions, Mounted};

/// A scratch directory holding an image and a mountpoint.
pub struct Scratch {
    pub dir: PathBuf,
    pub image: PathBuf,
    pub mnt: PathBuf,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

impl Scratch {
    /// A new directory with a fresh, empty image (root directory mode 0755).
    pub fn new(tag: &str) -> Scratch {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("vexfs-fuse-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let image = dir.join("image.vexfs");
        let mnt = dir.join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let storage = FileStorage::open(&image, true, true).unwrap();
        let cfg = EngineConfig {
            now: vexfs_core::Timestamp::new(1_700_000_000, 0),
            ..EngineConfig::default()
        };
        Engine::create_image(Arc::new(storage), cfg)
            .unwrap()
            .close()
            .unwrap();
        Scratch { dir, image, mnt }
    }

    /// Mounts the image; `None` (after printing SKIP) when FUSE is unavailable here.
    pub fn try_mount(&self, opts: &MountOptions) -> Option<Mounted> {
        let require = std::env::var_os("REQUIRE_FUSE").is_some_and(|v| v == "1");
        if !Path::new("/dev/fuse").exists() {
            assert!(!require, "REQUIRE_FUSE=1 but /dev/fuse is missing");
            eprintln!("SKIP: /dev/fuse is missing");
            return None;
        }
        match vexfs_fuse::spawn(&self.image, &self.mnt, opts) {
            Ok(m) => Some(m),
            Err(e) => {
                assert!(!require, "REQUIRE_FUSE=1 but mounting failed: {e}");
                eprintln!("SKIP: mounting failed: {e}");
                None
            }
        }
    }

    /// Mounts, runs `body` on the mountpoint, and unmounts whatever happened in `body`.
    /// Returns false if FUSE is unavailable (the test was skipped).
    pub fn with_mount(&self, opts: &MountOptions, body: impl FnOnce(&Path)) -> bool {
        let Some(m) = self.try_mount(opts) else {
            return false;
        };
        let r = catch_unwind(AssertUnwindSafe(|| body(&self.mnt)));
        let unmounted = m.unmount();
        if let Err(e) = r {
            resume_unwind(e);
        }
        unmounted.unwrap();
        true
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `body` on a fresh mount with default options; false if skipped.
pub fn with_fresh_mount(tag: &str, body: impl FnOnce(&Path)) -> bool {
    Scratch::new(tag).with_mount(&MountOptions::default(), body)
}

// ----- libc wrappers (errno as the error) ---------------------------------------------------

pub fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

pub fn cname(n: &[u8]) -> CString {
    CString::new(n).unwrap()
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

pub fn setxattr(p: &Path, name: &[u8], value: &[u8], flags: i32) -> Result<(), i32> {
    let (p, n) = (cpath(p), cname(name));
    // SAFETY: valid C strings and a buffer of value.len() bytes.
    let r = unsafe { libc::setxattr(p.as_ptr(), n.as_ptr(), value.as_ptr().cast(), value.len(), flags) };
    if r == 0 { Ok(()) } else { Err(errno()) }
}

/// `getxattr` with a buffer of `size` bytes (0: a size probe, returns an empty vec and the size).
pub fn getxattr_sized(p: &Path, name: &[u8], size: usize) -> Result<(usize, Vec<u8>), i32> {
    let (p, n) = (cpath(p), cname(name));
    let mut buf = vec![0u8; size];
    // SAFETY: valid C strings and a writable buffer of `size` bytes (null when 0).
    let r = unsafe {
        libc::getxattr(
            p.as_ptr(),
            n.as_ptr(),
            if size == 0 {
                std::ptr::null_mut()
            } else {
                buf.as_mut_ptr().cast()
            },
            size,
        )
    };
    if r < 0 {
        return Err(errno());
    }
    let len = r as usize;
    buf.truncate(if size == 0 { 0 } else { len });
    Ok((len, buf))
}

pub fn getxattr(p: &Path, name: &[u8]) -> Result<Vec<u8>, i32> {
    getxattr_sized(p, name, 65536).map(|(_, v)| v)
}

pub fn listxattr_sized(p: &Path, size: usize) -> Result<(usize, Vec<u8>), i32> {
    let p = cpath(p);
    let mut buf = vec![0u8; size];
    // SAFETY: a valid C string and a writable buffer of `size` bytes (null when 0).
    let r = unsafe {
        libc::listxattr(
            p.as_ptr(),
            if size == 0 {
                std::ptr::null_mut()
            } else {
                buf.as_mut_ptr().cast()
            },
            size,
        )
    };
    if r < 0 {
        return Err(errno());
    }
    let len = r as usize;
    buf.truncate(if size == 0 { 0 } else { len });
    Ok((len, buf))
}

pub fn removexattr(p: &Path, name: &[u8]) -> Result<(), i32> {
    let (p, n) = (cpath(p), cname(name));
    // SAFETY: valid C strings.
    let r = unsafe { libc::removexattr(p.as_ptr(), n.as_ptr()) };
    if r == 0 { Ok(()) } else { Err(errno()) }
}

pub fn rename2(from: &Path, to: &Path, flags: u32) -> Result<(), i32> {
    let (a, b) = (cpath(from), cpath(to));
    // SAFETY: valid C strings; AT_FDCWD resolves them relative to the working directory.
    let r = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), flags) };
    if r == 0 { Ok(()) } else { Err(errno()) }
}

/// The errno of an `io::Error`.
pub fn code(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

// ----- vectors and searches -----------------------------------------------------------------

/// Little-endian bytes of an f32 vector.
pub fn vec_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// One query through `/.vexfs/search` on a fresh open: the result lines, or the errno of the
/// write plus the error line read back.
pub fn search(root: &Path, query: &str) -> Result<Vec<String>, (i32, String)> {
    let mut f = File::options()
        .read(true)
        .write(true)
        .open(root.join(".vexfs/search"))
        .unwrap();
    transact(&mut f, query)
}

/// Writes `query` on an open search file and reads back the lines.
pub fn transact(f: &mut File, query: &str) -> Result<Vec<String>, (i32, String)> {
    let w = f.write_all(query.as_bytes());
    let mut text = String::new();
    f.read_to_string(&mut text).unwrap();
    match w {
        Ok(()) => Ok(text.lines().map(str::to_owned).collect()),
        Err(e) => Err((code(&e), text)),
    }
}

/// One query that must succeed: its result lines (panics with the errno and error line).
pub fn search_ok(root: &Path, query: &str) -> Vec<String> {
    search(root, query).unwrap_or_else(|(e, t)| panic!("search failed ({e}): {t}\n{query}"))
}

/// (path, distance) of result lines.
pub fn hits(lines: &[String]) -> Vec<(String, f64)> {
    lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["path"].as_str().unwrap().to_owned(),
                v["distance"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// The top-10 result lines in collection `dir` of each of the first 30 `queries` (what tests
/// compare before and after a remount).
pub fn top10_of_each(root: &Path, dir: &str, queries: &[Vec<f32>]) -> Vec<Vec<String>> {
    queries
        .iter()
        .take(30)
        .map(|q| search_ok(root, &query(dir, q, 10, "")))
        .collect()
}

/// (path, distance) of each result of one query that must succeed.
pub fn results(root: &Path, query: &str) -> Vec<(String, f64)> {
    hits(&search_ok(root, query))
}

/// The paths of result lines.
pub fn paths(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["path"]
                .as_str()
                .unwrap_or_else(|| panic!("not a result line: {l}"))
                .to_owned()
        })
        .collect()
}

/// A query JSON for an f32 vector.
pub fn query(dir: &str, v: &[f32], k: u32, extra: &str) -> String {
    let values: Vec<String> = v.iter().map(|x| format!("{x}")).collect();
    format!(
        "{{\"dir\":\"{dir}\",\"vector\":[{}],\"k\":{k}{extra}}}",
        values.join(",")
    )
}

/// Deterministic pseudo-random numbers (splitmix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Roughly normal (sum of uniforms), mean 0, deviation about `sd`.
    pub fn normal(&mut self, sd: f32) -> f32 {
        let s: f32 = (0..4).map(|_| self.unit()).sum();
        (s - 2.0) * sd * 1.73
    }
}

/// `n` vectors of `dim` values around `clusters` random centers.
pub fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng(seed);
    let centers: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dim).map(|_| rng.unit() * 2.0 - 1.0).collect())
        .collect();
    (0..n)
        .map(|i| {
            let c = &centers[i % clusters];
            c.iter().map(|x| x + rng.normal(0.35)).collect()
        })
        .collect()
}
