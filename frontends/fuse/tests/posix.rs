//! File semantics through a real mount that the POSIX suites do not check directly: write
//! sizes the kernel sends, hard links sharing a node id, unlinked-but-open files, mmap, holes
//! (fallocate, punch, SEEK_DATA/SEEK_HOLE), copy_file_range, statfs, relatime, times, a
//! read-only mount and the exclusive image lock.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use vexfs_fuse::MountOptions;

fn stats(root: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(root.join(".vexfs/stats")).unwrap()).unwrap()
}

fn big_data() -> Vec<u8> {
    (0..4 << 20).map(|i: u32| (i % 251) as u8).collect()
}

fn write_sizes(root: &Path) {
    // One 4 MiB write(2) arrives as 1 MiB WRITE requests (max_write), not 128 KiB ones.
    let data = big_data();
    let mut f = File::create(root.join("big")).unwrap();
    f.write_all(&data).unwrap();
    drop(f);
    let max = stats(root)["mount"]["max_write_bytes"].as_u64().unwrap();
    eprintln!("largest WRITE received: {max} bytes");
    assert_eq!(max, 1 << 20, "max_write not negotiated");
    assert_eq!(std::fs::read(root.join("big")).unwrap(), data);
}

fn links_and_orphans(root: &Path) {
    let a = root.join("a");
    std::fs::write(&a, b"hello").unwrap();
    std::fs::hard_link(&a, root.join("b")).unwrap();
    let (ma, mb) = (
        std::fs::metadata(&a).unwrap(),
        std::fs::metadata(root.join("b")).unwrap(),
    );
    assert_eq!(ma.ino(), mb.ino());
    assert_eq!(ma.nlink(), 2);
    // Unlinked while open: still readable and writable through the open file.
    let mut f = File::options().read(true).write(true).open(&a).unwrap();
    std::fs::remove_file(&a).unwrap();
    std::fs::remove_file(root.join("b")).unwrap();
    assert!(std::fs::metadata(&a).is_err());
    f.write_all_at(b" world", 5).unwrap();
    let mut s = String::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_string(&mut s).unwrap();
    assert_eq!(s, "hello world");
    assert_eq!(f.metadata().unwrap().nlink(), 0);
    drop(f);
}

fn mmap_and_holes(root: &Path) {
    let p = root.join("m");
    let f = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&p)
        .unwrap();
    f.set_len(3 * 4096).unwrap();
    let fd = f.as_raw_fd();
    // SAFETY: maps 3 pages of an open file of at least that size; unmapped below.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            3 * 4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    assert_ne!(map, libc::MAP_FAILED);
    // SAFETY: the mapping is 3 pages long; we write within it.
    unsafe {
        std::ptr::copy_nonoverlapping(b"mapped!".as_ptr(), map.cast::<u8>().add(4096), 7);
        assert_eq!(libc::msync(map, 3 * 4096, libc::MS_SYNC), 0);
    }
    let mut buf = [0u8; 7];
    f.read_exact_at(&mut buf, 4096).unwrap();
    assert_eq!(&buf, b"mapped!");
    // A write through the file shows in the mapping.
    f.write_all_at(b"viafile", 2 * 4096).unwrap();
    // SAFETY: reading within the mapping, then unmapping it.
    unsafe {
        let s = std::slice::from_raw_parts(map.cast::<u8>().add(2 * 4096), 7);
        assert_eq!(s, b"viafile");
        assert_eq!(libc::munmap(map, 3 * 4096), 0);
    }
    assert_eq!(&std::fs::read(&p).unwrap()[4096..4103], b"mapped!");

    // Holes: punch the middle page, allocate past the end without growing.
    // SAFETY: plain syscalls on an open descriptor.
    unsafe {
        assert_eq!(
            libc::fallocate(
                fd,
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                4096,
                4096
            ),
            0
        );
        assert_eq!(libc::fallocate(fd, libc::FALLOC_FL_KEEP_SIZE, 3 * 4096, 4096), 0);
        assert_eq!(libc::lseek(fd, 4096, libc::SEEK_HOLE), 4096);
        assert_eq!(libc::lseek(fd, 4096, libc::SEEK_DATA), 2 * 4096);
        assert_eq!(libc::lseek(fd, 100 * 4096, libc::SEEK_DATA), -1);
        assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::ENXIO));
        assert_eq!(libc::fallocate(fd, libc::FALLOC_FL_COLLAPSE_RANGE, 0, 4096), -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EOPNOTSUPP)
        );
        assert_eq!(libc::fallocate(fd, 0, 0, 5 * 4096), 0);
    }
    assert_eq!(f.metadata().unwrap().len(), 5 * 4096);
    let all = std::fs::read(&p).unwrap();
    assert!(
        all[4096..8192].iter().all(|&b| b == 0),
        "punched page reads as zeros"
    );
    assert_eq!(&all[2 * 4096..2 * 4096 + 7], b"viafile");

    // copy_file_range: within the mount, including overlapping ranges of one file.
    let q = File::create(root.join("copy")).unwrap();
    let mut off_in: i64 = 2 * 4096;
    let mut off_out: i64 = 10;
    // SAFETY: valid descriptors and offsets.
    let n = unsafe { libc::copy_file_range(fd, &mut off_in, q.as_raw_fd(), &mut off_out, 7, 0) };
    assert_eq!(n, 7);
    assert_eq!(&std::fs::read(root.join("copy")).unwrap()[10..], b"viafile");
    drop((f, q));
}

fn times_and_statfs(root: &Path) {
    let p = root.join("t");
    std::fs::write(&p, b"0123456789").unwrap();
    // Explicit times, UTIME_OMIT and UTIME_NOW.
    let c = cpath(&p);
    let ts = [
        libc::timespec {
            tv_sec: 1_000_000_000,
            tv_nsec: 123_456_789,
        },
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
    ];
    let before = std::fs::metadata(&p).unwrap();
    // SAFETY: valid path and two timespecs.
    assert_eq!(
        unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), ts.as_ptr(), 0) },
        0
    );
    let m = std::fs::metadata(&p).unwrap();
    assert_eq!((m.atime(), m.atime_nsec()), (1_000_000_000, 123_456_789));
    assert_eq!((m.mtime(), m.mtime_nsec()), (before.mtime(), before.mtime_nsec()));
    // relatime: reading a file whose atime is older than its mtime moves atime.
    let mut b = [0u8; 4];
    File::open(&p).unwrap().read_exact(&mut b).unwrap();
    let after = std::fs::metadata(&p).unwrap();
    assert!(after.atime() > 1_000_000_000, "atime did not move on read");
    // ...but not again right away (atime is now newer than mtime).
    let atime = (after.atime(), after.atime_nsec());
    File::open(&p).unwrap().read_exact(&mut b).unwrap();
    let again = std::fs::metadata(&p).unwrap();
    assert_eq!((again.atime(), again.atime_nsec()), atime);
    let now = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
    ];
    // SAFETY: valid path and two timespecs.
    assert_eq!(
        unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), now.as_ptr(), 0) },
        0
    );
    let m = std::fs::metadata(&p).unwrap();
    assert!(m.mtime() >= after.mtime());
    // A write moves mtime and ctime, and the new size is seen at once.
    std::thread::sleep(std::time::Duration::from_millis(10));
    File::options()
        .append(true)
        .open(&p)
        .unwrap()
        .write_all(b"more")
        .unwrap();
    let w = std::fs::metadata(&p).unwrap();
    assert_eq!(w.len(), 14);
    assert!((w.mtime(), w.mtime_nsec()) > (m.mtime(), m.mtime_nsec()));
    assert!((w.ctime(), w.ctime_nsec()) >= (w.mtime(), w.mtime_nsec()));

    // statfs reports the engine's figures.
    // SAFETY: statvfs fills the struct it is given.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    let r = cpath(root);
    assert_eq!(unsafe { libc::statvfs(r.as_ptr(), &mut s) }, 0);
    assert_eq!(s.f_bsize, 4096);
    assert_eq!(s.f_namemax, 255);
    assert!(s.f_blocks >= s.f_bfree && s.f_blocks > 0);
    assert!(s.f_files > s.f_ffree);
    // fsync and fdatasync work on files and directories.
    File::open(&p).unwrap().sync_all().unwrap();
    File::open(root).unwrap().sync_all().unwrap();
}

/// The kernel may cache attributes (see `fs.rs`): every change must still be visible to the
/// very next `stat`, through whichever name, including changes the engine makes to an inode
/// other than the one the system call names (link counts, parents' times, the target of a
/// rename) and changes that arrive as page write-back (mmap) or fallocate.
fn no_stale_attributes(root: &Path) {
    fn meta(p: &Path) -> std::fs::Metadata {
        std::fs::metadata(p).unwrap()
    }
    fn ctime(m: &std::fs::Metadata) -> (i64, i64) {
        (m.ctime(), m.ctime_nsec())
    }
    fn mtime(m: &std::fs::Metadata) -> (i64, i64) {
        (m.mtime(), m.mtime_nsec())
    }
    // Every step: stat (so the kernel holds fresh attributes), let the clock move, change,
    // stat again at once.
    let tick = || std::thread::sleep(std::time::Duration::from_millis(5));
    let d = root.join("stale");
    std::fs::create_dir(&d).unwrap();
    let (a, b, c) = (d.join("a"), d.join("b"), d.join("c"));
    std::fs::write(&a, b"0123").unwrap();
    std::fs::hard_link(&a, &b).unwrap();
    // The kernel does cache them (or this test would prove nothing): 50 stats of one file
    // cost far fewer than 50 GETATTR requests.
    let getattrs = || stats(root)["operations"]["getattr"]["count"].as_u64().unwrap();
    let g0 = getattrs();
    for _ in 0..50 {
        meta(&a);
    }
    let cached = getattrs() - g0;
    assert!(
        cached < 10,
        "{cached} GETATTRs for 50 stats: attributes are not cached"
    );

    // A new name, seen through an old one: nlink and ctime.
    let before = meta(&b);
    tick();
    std::fs::hard_link(&a, &c).unwrap();
    let m = meta(&b);
    assert_eq!(m.nlink(), 3);
    assert!(
        ctime(&m) > ctime(&before),
        "link: ctime stale through another name"
    );
    // chmod through one name, seen through another.
    std::fs::set_permissions(&a, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    assert_eq!(meta(&c).mode() & 0o7777, 0o600);
    // unlink of one name, seen through another.
    let before = meta(&b);
    tick();
    std::fs::remove_file(&c).unwrap();
    let m = meta(&b);
    assert_eq!(m.nlink(), 2);
    assert!(
        ctime(&m) > ctime(&before),
        "unlink: ctime stale through another name"
    );
    // A rename over a hard-linked name: the replaced inode loses a link.
    std::fs::write(&c, b"other").unwrap();
    let before = meta(&b);
    tick();
    std::fs::rename(&c, &a).unwrap();
    let m = meta(&b);
    assert_eq!(m.nlink(), 1);
    assert!(ctime(&m) > ctime(&before), "rename over: ctime stale");
    assert_eq!(meta(&a).len(), 5);

    // The directory's own times and link count when entries come and go.
    let before = meta(&d);
    tick();
    std::fs::create_dir(d.join("sub")).unwrap();
    let m = meta(&d);
    assert_eq!(m.nlink(), before.nlink() + 1);
    assert!(mtime(&m) > mtime(&before), "mkdir: parent mtime stale");
    // A directory moved between parents: both parents' link counts, the moved one's ctime.
    let other = root.join("stale-other");
    std::fs::create_dir(&other).unwrap();
    let (bd, bo, bs) = (meta(&d), meta(&other), meta(&d.join("sub")));
    tick();
    std::fs::rename(d.join("sub"), other.join("sub")).unwrap();
    assert_eq!(meta(&d).nlink(), bd.nlink() - 1);
    assert_eq!(meta(&other).nlink(), bo.nlink() + 1);
    assert!(
        ctime(&meta(&other.join("sub"))) > ctime(&bs),
        "rename: moved ctime stale"
    );

    // Data changes: write, truncate, mmap write-back, fallocate, copy_file_range.
    let f = File::options().read(true).write(true).open(&b).unwrap();
    let before = meta(&b);
    tick();
    f.write_all_at(b"xy", 10).unwrap();
    let m = meta(&b);
    assert_eq!(m.len(), 12);
    assert!(mtime(&m) > mtime(&before), "write: mtime stale");
    tick();
    f.set_len(3 * 4096).unwrap();
    let m2 = meta(&b);
    assert_eq!(m2.len(), 3 * 4096);
    assert!(mtime(&m2) > mtime(&m), "truncate: mtime stale");
    // SAFETY: maps one page of a file at least that long; unmapped below.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    assert_ne!(map, libc::MAP_FAILED);
    let before = meta(&b);
    tick();
    // SAFETY: writing within the one mapped page, then syncing and unmapping it.
    unsafe {
        map.cast::<u8>().write(b'M');
        assert_eq!(libc::msync(map, 4096, libc::MS_SYNC), 0);
        assert_eq!(libc::munmap(map, 4096), 0);
    }
    assert!(mtime(&meta(&b)) > mtime(&before), "mmap write-back: mtime stale");
    let before = meta(&b);
    tick();
    // SAFETY: plain syscall on an open descriptor.
    let r = unsafe {
        libc::fallocate(
            f.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            4096,
            4096,
        )
    };
    assert_eq!(r, 0);
    assert!(mtime(&meta(&b)) > mtime(&before), "punch hole: mtime stale");
    tick();
    // SAFETY: plain syscall on an open descriptor.
    assert_eq!(unsafe { libc::fallocate(f.as_raw_fd(), 0, 0, 5 * 4096) }, 0);
    assert_eq!(meta(&b).len(), 5 * 4096, "fallocate: size stale");
    let dst = File::create(d.join("dst")).unwrap();
    let before = meta(&d.join("dst"));
    tick();
    let (mut off_in, mut off_out): (i64, i64) = (0, 100);
    // SAFETY: valid descriptors and offsets.
    let n = unsafe { libc::copy_file_range(f.as_raw_fd(), &mut off_in, dst.as_raw_fd(), &mut off_out, 4, 0) };
    assert_eq!(n, 4);
    let m = meta(&d.join("dst"));
    assert_eq!(m.len(), 104, "copy_file_range: size stale");
    assert!(mtime(&m) > mtime(&before), "copy_file_range: mtime stale");
    drop((f, dst));

    // Extended attributes, vectors included: ctime.
    let before = meta(&b);
    tick();
    setxattr(&b, b"user.tag", b"v", 0).unwrap();
    assert!(ctime(&meta(&b)) > ctime(&before), "setxattr: ctime stale");
    setxattr(&d, b"user.vexfs.index", b"dim=2", 0).unwrap();
    let before = meta(&b);
    tick();
    setxattr(&b, b"user.vexfs.vector", &vec_bytes(&[1.0, 2.0]), 0).unwrap();
    assert!(ctime(&meta(&b)) > ctime(&before), "vector set: ctime stale");
    let before = meta(&b);
    tick();
    removexattr(&b, b"user.vexfs.vector").unwrap();
    assert!(ctime(&meta(&b)) > ctime(&before), "vector removal: ctime stale");

    // relatime: reading a file modified since its last access moves atime.
    let before = meta(&a);
    tick();
    std::fs::write(&a, b"fresh").unwrap();
    let mut buf = Vec::new();
    File::open(&a).unwrap().read_to_end(&mut buf).unwrap();
    assert!(meta(&a).atime() >= before.atime());
    let m = meta(&a);
    assert!((m.atime(), m.atime_nsec()) >= mtime(&m), "read: atime stale");
    std::fs::remove_dir_all(&d).unwrap();
    std::fs::remove_dir_all(&other).unwrap();
}

/// Kernel references are counted exactly: after every name is gone and the kernel drops its
/// caches, every forget has arrived and every orphan is freed (none leaked, none freed early).
fn kernel_references(root: &Path) {
    let d = root.join("refs");
    std::fs::create_dir(&d).unwrap();
    for i in 0..50 {
        std::fs::write(d.join(format!("f{i}")), i.to_string()).unwrap();
    }
    std::fs::hard_link(d.join("f1"), d.join("hard")).unwrap();
    // readdir(plus), lookups and stats of every name.
    for e in std::fs::read_dir(&d).unwrap() {
        e.unwrap().metadata().unwrap();
    }
    let files_before = stats(root)["files"].as_u64().unwrap();
    let mut held = File::open(d.join("f7")).unwrap();
    for e in std::fs::read_dir(&d).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    // The open one is still alive (and readable); the others are gone already.
    assert_eq!(stats(root)["files"].as_u64().unwrap(), files_before - 49);
    let mut s = String::new();
    held.read_to_string(&mut s).unwrap();
    assert_eq!(s, "7");
    drop(held);
    let Ok(mut drop_caches) = File::options().write(true).open("/proc/sys/vm/drop_caches") else {
        eprintln!("SKIP (part): cannot drop caches without root");
        return;
    };
    drop_caches.write_all(b"2").unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while stats(root)["files"].as_u64().unwrap() != files_before - 50 {
        assert!(
            std::time::Instant::now() < deadline,
            "an unlinked file was never freed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn posix_extras() {
    let s = Scratch::new("posix");
    let ran = s.with_mount(&MountOptions::default(), |root| {
        write_sizes(root);
        links_and_orphans(root);
        mmap_and_holes(root);
        times_and_statfs(root);
        no_stale_attributes(root);
        kernel_references(root);
        // While mounted, the image is locked: a second mount or open fails clearly.
        let e = vexfs_fuse::spawn(&s.image, &s.dir, &MountOptions::default()).unwrap_err();
        assert!(e.to_string().contains("locked"), "{e}");
    });
    if !ran {
        return;
    }
    // Read-only: the data is there, every change is EROFS, atime does not move.
    let ro = MountOptions {
        read_only: true,
        ..MountOptions::default()
    };
    s.with_mount(&ro, |root| {
        assert_eq!(std::fs::read(root.join("t")).unwrap(), b"0123456789more");
        // "big" was checkpointed at the last unmount: one run of image blocks, so its reads
        // are answered from the image's map. As root the mount's readahead window is 1 MiB,
        // and the kernel reads ahead in 1 MiB requests.
        assert!(std::fs::read(root.join("big")).unwrap() == big_data());
        let mount = &stats(root)["mount"];
        eprintln!("after reading big: {mount}");
        assert!(mount["mapped_reads"].as_u64().unwrap() >= 4, "{mount}");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!(mount["readahead_kib"], vexfs_fuse::READAHEAD_KIB, "{mount}");
            assert_eq!(mount["max_read_bytes"], 1 << 20, "{mount}");
        } else {
            assert!(mount["readahead_kib"].as_u64().is_some(), "{mount}");
        }
        let e = std::fs::write(root.join("new"), b"x").unwrap_err();
        assert_eq!(code(&e), libc::EROFS);
        assert_eq!(setxattr(&root.join("t"), b"user.x", b"1", 0), Err(libc::EROFS));
        assert_eq!(stats(root)["mount"]["read_only"], true);
    });
    // Unlinked-while-open files are gone after the remount; the rest stays.
    s.with_mount(&MountOptions::default(), |root| {
        let mut names: Vec<String> = std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, vec![".vexfs", "big", "copy", "m", "refs", "t"]);
        let doc = stats(root);
        assert_eq!(doc["files"], 4);
    });
}
