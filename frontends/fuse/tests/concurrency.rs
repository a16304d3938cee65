//! Concurrency through a real mount: 4 threads searching and 2 threads writing (create, write,
//! set vectors and metadata, rename, unlink) for 30 s (`VEXFS_SOAK_SECS` overrides). No call
//! may fail, nothing may deadlock, and every search handle sees only its own results: each
//! searcher queries with the exact vectors of files only it owns, so its top hit is known
//! (exact searches), and asks for a number of results no other searcher asks for (index
//! searches).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const DIM: usize = 16;
const SEARCHERS: usize = 4;
const OWNED: usize = 5;
const WRITERS: usize = 2;

/// The vector of searcher `t`'s file `j`: far from every other vector in the collection.
fn owned_vector(t: usize, j: usize) -> Vec<f32> {
    let mut v = vec![0.0; DIM];
    v[t] = 10.0 + j as f32;
    v[DIM - 1 - j] = -5.0;
    v
}

fn searcher(root: PathBuf, t: usize, stop: Arc<AtomicBool>, count: Arc<AtomicU64>) -> Result<(), String> {
    let open = || {
        File::options()
            .read(true)
            .write(true)
            .open(root.join(".vexfs/search"))
            .map_err(|e| format!("searcher {t}: open: {e}"))
    };
    let mut handle = open()?;
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let j = n % OWNED;
        if n % 50 == 49 {
            // Now and then a fresh open file.
            handle = open()?;
        }
        if n.is_multiple_of(2) {
            // Exact search: the top hit is known (distance 0) and the runners-up are this
            // searcher's own other files, nearer than any writer's.
            let q = query("/c", &owned_vector(t, j), 3, ",\"exact\":true");
            let lines = transact(&mut handle, &q).map_err(|e| format!("searcher {t}: {e:?}"))?;
            let want = format!("/c/s{t}_{j}");
            let got = paths(&lines);
            if got.len() != 3 || got[0] != want || !lines[0].contains("\"distance\":0.0") {
                return Err(format!("searcher {t} asked for {want}, got {lines:?}"));
            }
            if !got[1..].iter().all(|p| p.starts_with(&format!("/c/s{t}_"))) {
                return Err(format!("searcher {t} saw foreign results: {lines:?}"));
            }
        } else {
            // Index search with a k only this searcher uses: the number of lines tells whose
            // results these are. (Which files they name depends on the index's recall.)
            let k = 2 + t;
            let q = query("/c", &owned_vector(t, j), k as u32, "");
            let lines = transact(&mut handle, &q).map_err(|e| format!("searcher {t}: {e:?}"))?;
            if lines.len() != k || paths(&lines).iter().any(|p| !p.starts_with("/c/")) {
                return Err(format!("searcher {t} (k={k}) got {lines:?}"));
            }
        }
        n += 1;
        count.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

fn writer(root: PathBuf, w: usize, stop: Arc<AtomicBool>, count: Arc<AtomicU64>) -> Result<(), String> {
    let mut rng = Rng(1000 + w as u64);
    let c = root.join("c");
    let err = |what: &str, e: std::io::Error| format!("writer {w}: {what}: {e}");
    let mut live: Vec<usize> = Vec::new();
    let mut n = 0usize;
    let data = vec![w as u8; 8192];
    while !stop.load(Ordering::Relaxed) {
        let name = c.join(format!("w{w}_{n}"));
        std::fs::write(&name, &data[..(n % 8192)]).map_err(|e| err("write", e))?;
        let mut v: Vec<f32> = (0..DIM).map(|_| rng.unit() * 2.0 - 1.0).collect();
        v[0] += 100.0;
        setxattr(&name, b"user.vexfs.vector", &vec_bytes(&v), 0)
            .map_err(|e| format!("writer {w}: setxattr {e}"))?;
        setxattr(&name, b"user.n", n.to_string().as_bytes(), 0)
            .map_err(|e| format!("writer {w}: meta {e}"))?;
        live.push(n);
        match n % 4 {
            0 if live.len() > 10 => {
                let victim = live.remove(0);
                std::fs::remove_file(c.join(format!("w{w}_{victim}"))).map_err(|e| err("unlink", e))?;
            }
            1 if live.len() > 10 => {
                let victim = live.remove(0);
                std::fs::rename(
                    c.join(format!("w{w}_{victim}")),
                    root.join(format!("out/w{w}_{victim}")),
                )
                .map_err(|e| err("rename", e))?;
            }
            2 => {
                let mut v2 = v.clone();
                v2[1] += 1.0;
                setxattr(&name, b"user.vexfs.vector", &vec_bytes(&v2), 0)
                    .map_err(|e| format!("writer {w}: revector {e}"))?;
            }
            _ => {
                let back = std::fs::read(&name).map_err(|e| err("read", e))?;
                if back.len() != n % 8192 {
                    return Err(format!("writer {w}: read back {} bytes", back.len()));
                }
            }
        }
        n += 1;
        count.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

fn soak(root: &Path) {
    let c = root.join("c");
    std::fs::create_dir(&c).unwrap();
    std::fs::create_dir(root.join("out")).unwrap();
    setxattr(&c, b"user.vexfs.index", format!("dim={DIM}").as_bytes(), 0).unwrap();
    for t in 0..SEARCHERS {
        for j in 0..OWNED {
            let f = c.join(format!("s{t}_{j}"));
            std::fs::write(&f, b"owned").unwrap();
            setxattr(&f, b"user.vexfs.vector", &vec_bytes(&owned_vector(t, j)), 0).unwrap();
        }
    }
    let secs: u64 = std::env::var("VEXFS_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let stop = Arc::new(AtomicBool::new(false));
    let (searches, writes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut threads = Vec::new();
    for t in 0..SEARCHERS {
        let (root, stop, count) = (root.to_path_buf(), Arc::clone(&stop), Arc::clone(&searches));
        threads.push(std::thread::spawn(move || searcher(root, t, stop, count)));
    }
    for w in 0..WRITERS {
        let (root, stop, count) = (root.to_path_buf(), Arc::clone(&stop), Arc::clone(&writes));
        threads.push(std::thread::spawn(move || writer(root, w, stop, count)));
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) && !threads.iter().any(|t| t.is_finished()) {
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    // Every thread must finish promptly once told to stop: a deadlock fails here.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !threads.iter().all(|t| t.is_finished()) {
        assert!(Instant::now() < deadline, "threads did not finish: deadlock?");
        std::thread::sleep(Duration::from_millis(50));
    }
    let errors: Vec<String> = threads
        .into_iter()
        .filter_map(|t| t.join().unwrap().err())
        .collect();
    let (s, w) = (searches.load(Ordering::Relaxed), writes.load(Ordering::Relaxed));
    eprintln!(
        "{s} searches and {w} write rounds in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    assert!(errors.is_empty(), "{errors:#?}");
    assert!(s > 0 && w > 0);
    // The stats agree that searches ran, and the collection is consistent with the files.
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join(".vexfs/stats")).unwrap()).unwrap();
    assert!(stats["operations"]["search"]["count"].as_u64().unwrap() >= s);
    let files = std::fs::read_dir(&c).unwrap().count() as u64;
    assert_eq!(stats["collections"][0]["vectors"].as_u64().unwrap(), files);
}

#[test]
fn four_searchers_two_writers() {
    with_fresh_mount("concurrency", soak);
}
