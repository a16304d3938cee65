//! Memory held by open `/.vexfs/search` files (issue 15): 5,000 open files that each ran a
//! query on a 20,000-vector collection grow the mount's resident memory by at most
//! [`RSS_GROWTH_MAX`] (a query's scratch, sized to the collection, goes back to a pool when the
//! query ends; an idle file keeps only its result lines), and past the mount's
//! `--search-memory-mib` budget opening `search` fails with ENFILE instead of growing.
//!
//! Its own test binary: the resident memory measured is that of the `vexfs mount` child.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use vexfs::{IndexConfig, Vexfs, vector::ElemType};

const DIM: usize = 8;
const VECTORS: u64 = 20_000;
const HANDLES: usize = 5_000;
/// The documented bound (frontends/fuse/README.md) on the growth of the mount's resident
/// memory with 5,000 idle search files that each ran a query.
const RSS_GROWTH_MAX: u64 = 16 << 20;

fn vm_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    kib << 10
}

/// Lets this process hold 8,192 open files (root may raise its hard limit; both tests ask for
/// the same, so running them in parallel never lowers what the other set).
fn allow_open_files() {
    const N: u64 = 8192;
    const _: () = assert!(HANDLES as u64 + 1024 <= N);
    let lim = libc::rlimit {
        rlim_cur: N,
        rlim_max: N,
    };
    // SAFETY: a valid rlimit struct.
    let r = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(r, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

fn build(image: &Path) {
    let mut fs = Vexfs::open(image).unwrap();
    fs.create_dir("/big").unwrap();
    let mut cfg = IndexConfig::new(DIM as u32, ElemType::F32);
    cfg.m = 8;
    cfg.ef_construction = 24;
    fs.create_collection("/big", &cfg).unwrap();
    for i in 0..VECTORS {
        let p = format!("/big/v{i:05}");
        fs.write(&p, b"").unwrap();
        fs.set_vector(&p, &pseudo_vector(i, DIM)).unwrap();
    }
    fs.close().unwrap();
}

/// A fresh image filled by [`build`] in a child process ([`populated_in_child`]).
fn populated() -> Scratch {
    populated_in_child()
}

/// The child of [`populated`]: does nothing unless it is one.
#[test]
fn populate_child() {
    if let Some(image) = std::env::var_os("VEXFS_POPULATE") {
        build(Path::new(&image));
    }
}

fn query(i: u64) -> String {
    let v: Vec<String> = pseudo_vector(i, DIM).iter().map(|x| x.to_string()).collect();
    format!(r#"{{"dir":"/big","vector":[{}],"k":10,"ef":64}}"#, v.join(","))
}

fn open_search(root: &Path) -> std::io::Result<File> {
    File::options()
        .read(true)
        .write(true)
        .open(root.join(".vexfs/search"))
}

/// Opens `search`, retrying for a while: the kernel sends the release of a closed file in the
/// background, so its charge may come back a moment after `close` returned.
fn open_search_eventually(root: &Path) -> File {
    for _ in 0..200 {
        if let Ok(f) = open_search(root) {
            return f;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("search could not be opened again after files were closed");
}

fn run(f: &mut File, q: &str) -> usize {
    f.write_all(q.as_bytes()).unwrap();
    let mut text = String::new();
    f.read_to_string(&mut text).unwrap();
    text.lines().count()
}

#[test]
fn five_thousand_idle_search_files_hold_little_memory() {
    if !fuse_or_skip("five_thousand_idle_search_files_hold_little_memory") {
        return;
    }
    allow_open_files();
    let s = populated();
    let m = s.mount();
    // Warm up: the index is loaded, one query ran, the scratch pool holds a scratch.
    for i in 0..8 {
        let mut f = open_search(&m.root).unwrap();
        assert_eq!(run(&mut f, &query(i)), 10);
    }
    let before = vm_rss(m.pid());
    let mut files = Vec::with_capacity(HANDLES);
    for i in 0..HANDLES {
        let mut f = open_search(&m.root).unwrap();
        assert_eq!(run(&mut f, &query(i as u64)), 10);
        files.push(f);
    }
    let after = vm_rss(m.pid());
    let growth = after.saturating_sub(before);
    eprintln!(
        "mount RSS {} MiB before, {} MiB with {HANDLES} idle search files ({} KiB growth)",
        before >> 20,
        after >> 20,
        growth >> 10
    );
    assert!(growth <= RSS_GROWTH_MAX, "RSS grew by {growth} bytes");
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m.p(".vexfs/stats")).unwrap()).unwrap();
    let charged = stats["mount"]["search_memory_bytes"].as_u64().unwrap();
    assert!(charged <= (HANDLES as u64) * 2048, "{charged} bytes charged");
    drop(files);
    m.unmount();
}

#[test]
fn past_the_budget_opening_search_fails_with_enfile() {
    if !fuse_or_skip("past_the_budget_opening_search_fails_with_enfile") {
        return;
    }
    allow_open_files();
    let s = Scratch::new();
    let m = s.mount_with(&["--search-memory-mib", "1"]);
    // 1 MiB at 1 KiB per open file: root (no per-user share) gets about 1,000 of them.
    let mut files = Vec::new();
    let err = loop {
        match open_search(&m.root) {
            Ok(f) => files.push(f),
            Err(e) => break e,
        }
        assert!(files.len() <= 1024, "the budget did not stop the opens");
    };
    assert_eq!(err.raw_os_error(), Some(libc::ENFILE), "{err}");
    assert!(files.len() >= 1000, "only {} opened", files.len());
    // Closing gives the budget back.
    files.truncate(files.len() - 10);
    for _ in 0..10 {
        files.push(open_search_eventually(&m.root));
    }
    assert!(open_search(&m.root).is_err());
    drop(files);
    open_search_eventually(&m.root);
    m.unmount();
}
