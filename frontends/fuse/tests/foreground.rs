//! `vexfs_fuse::mount` in the foreground, in a child process (this test binary re-executed):
//! SIGTERM and SIGINT unmount it (lazily when a file is still open), an external `umount`
//! ends it too, and each time the image is closed with a checkpoint and keeps what was written.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};
use vexfs_fuse::MountOptions;

const CHILD_ENV: &str = "VEXFS_FOREGROUND_CHILD";

/// In the child: mount in the foreground and exit 0 when it returns.
fn child_main(spec: &str) {
    let (image, mnt) = spec.split_once('\n').unwrap();
    // A sibling test forking at the moment the parent created this image can hold its lock
    // for an instant (until that fork execs): retry briefly.
    for attempt in 0.. {
        match vexfs_fuse::mount(Path::new(image), Path::new(mnt), &MountOptions::default()) {
            Ok(()) => std::process::exit(0),
            Err(e) if attempt < 100 && e.to_string().contains("locked") => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                eprintln!("mount failed: {e}");
                std::process::exit(3)
            }
        }
    }
}

fn start(s: &Scratch, test: &str) -> Child {
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{}\n{}", s.image.display(), s.mnt.display()))
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut child = child;
    while !s.mnt.join(".vexfs/stats").exists() {
        assert!(Instant::now() < deadline, "mount did not appear");
        if let Some(st) = child.try_wait().unwrap() {
            panic!("the mounting child exited early: {st}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn wait(mut child: Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "mount did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

fn skip_without_fuse() -> bool {
    if Path::new("/dev/fuse").exists() {
        return false;
    }
    assert!(
        std::env::var_os("REQUIRE_FUSE").is_none_or(|v| v != "1"),
        "no /dev/fuse"
    );
    eprintln!("SKIP: /dev/fuse is missing");
    true
}

/// After the child exited: the image opens cleanly (nothing to replay) with `content`.
fn check_closed(s: &Scratch, name: &str, content: &[u8]) {
    let storage = vexfs_core::storage::FileStorage::open(&s.image, false, false).unwrap();
    let e = vexfs_core::Engine::open_image(
        std::sync::Arc::new(storage),
        vexfs_core::journal::OpenOptions::read_only(),
    )
    .unwrap();
    assert_eq!(
        e.journal_stats().unwrap().replayed,
        0,
        "not closed with a checkpoint"
    );
    let a = e.lookup(vexfs_core::ROOT_INO, name.as_bytes()).unwrap();
    let mut buf = vec![0; content.len() + 1];
    let n = e.read(a.ino, 0, &mut buf).unwrap();
    assert_eq!(&buf[..n], content);
}

#[test]
fn sigterm_unmounts_and_checkpoints() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child_main(&spec);
    }
    if skip_without_fuse() {
        return;
    }
    let s = Scratch::new("sigterm");
    let child = start(&s, "sigterm_unmounts_and_checkpoints");
    std::fs::write(s.mnt.join("kept"), b"written before SIGTERM").unwrap();
    signal(&child, libc::SIGTERM);
    assert_eq!(wait(child), 0);
    check_closed(&s, "kept", b"written before SIGTERM");
}

#[test]
fn sigint_with_an_open_file_detaches() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child_main(&spec);
    }
    if skip_without_fuse() {
        return;
    }
    let s = Scratch::new("sigint");
    let child = start(&s, "sigint_with_an_open_file_detaches");
    let mut f = std::fs::File::create(s.mnt.join("open")).unwrap();
    signal(&child, libc::SIGINT);
    // Detached: the mountpoint no longer shows the filesystem, but the open file still works.
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.mnt.join(".vexfs").exists() {
        assert!(Instant::now() < deadline, "not detached");
        std::thread::sleep(Duration::from_millis(20));
    }
    use std::io::Write;
    f.write_all(b"after detach").unwrap();
    drop(f);
    assert_eq!(wait(child), 0);
    check_closed(&s, "open", b"after detach");
}

#[test]
fn external_umount_ends_the_mount() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return child_main(&spec);
    }
    if skip_without_fuse() {
        return;
    }
    let s = Scratch::new("umount");
    let child = start(&s, "external_umount_ends_the_mount");
    std::fs::write(s.mnt.join("x"), b"x").unwrap();
    let c = cpath(&s.mnt);
    // EBUSY is retried for a while: a sibling test forking at the moment the write above had
    // the file open lends that open file to the child until it execs.
    let started = std::time::Instant::now();
    let unmounted = loop {
        // SAFETY: a valid path; we are root in CI (else this reports EPERM and we use
        // fusermount3).
        if unsafe { libc::umount(c.as_ptr()) } == 0 {
            break true;
        }
        let busy = std::io::Error::last_os_error().raw_os_error() == Some(libc::EBUSY);
        if !busy || started.elapsed() > std::time::Duration::from_secs(10) {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    if !unmounted {
        let st = Command::new("fusermount3")
            .arg("-u")
            .arg(&s.mnt)
            .status()
            .unwrap();
        assert!(st.success());
    }
    assert_eq!(wait(child), 0);
    check_closed(&s, "x", b"x");
}
