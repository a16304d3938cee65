//! Extended attribute semantics through a real mount, with `libc` directly: binary values
//! round-trip byte-exact, size probes, ERANGE, ENODATA, XATTR_CREATE / XATTR_REPLACE, E2BIG,
//! name length limits, and listing.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use std::path::Path;

fn exercise(root: &Path) {
    let f = root.join("file");
    std::fs::write(&f, b"data").unwrap();

    // Missing attributes.
    assert_eq!(getxattr(&f, b"user.none"), Err(libc::ENODATA));
    assert_eq!(getxattr_sized(&f, b"user.none", 0), Err(libc::ENODATA));
    assert_eq!(removexattr(&f, b"user.none"), Err(libc::ENODATA));

    // Binary values of many sizes, up to the 64 KiB limit, round-trip byte-exact.
    let mut rng = Rng(7);
    for (i, len) in [0usize, 1, 2, 255, 256, 4095, 4096, 4097, 65_535, 65_536]
        .into_iter()
        .enumerate()
    {
        let value: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let name = format!("user.bin{i}");
        setxattr(&f, name.as_bytes(), &value, 0).unwrap();
        // Size probe.
        assert_eq!(getxattr_sized(&f, name.as_bytes(), 0).unwrap().0, len, "{name}");
        assert_eq!(getxattr(&f, name.as_bytes()).unwrap(), value, "{name}");
        // Exactly-sized buffer works; one byte short is ERANGE.
        assert_eq!(getxattr_sized(&f, name.as_bytes(), len.max(1)).unwrap().1, value);
        if len > 1 {
            assert_eq!(
                getxattr_sized(&f, name.as_bytes(), len - 1),
                Err(libc::ERANGE),
                "{name}"
            );
        }
    }
    // Values with NUL bytes and all byte values.
    let all: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    setxattr(&f, b"user.all", &all, 0).unwrap();
    assert_eq!(getxattr(&f, b"user.all").unwrap(), all);

    // Past 64 KiB: E2BIG, and nothing changes.
    let big = vec![1u8; 65_537];
    assert_eq!(setxattr(&f, b"user.big", &big, 0), Err(libc::E2BIG));
    assert_eq!(getxattr(&f, b"user.big"), Err(libc::ENODATA));

    // XATTR_CREATE and XATTR_REPLACE.
    assert_eq!(
        setxattr(&f, b"user.all", b"x", libc::XATTR_CREATE),
        Err(libc::EEXIST)
    );
    assert_eq!(
        getxattr(&f, b"user.all").unwrap(),
        all,
        "a failed create changes nothing"
    );
    assert_eq!(
        setxattr(&f, b"user.new", b"x", libc::XATTR_REPLACE),
        Err(libc::ENODATA)
    );
    assert_eq!(getxattr(&f, b"user.new"), Err(libc::ENODATA));
    setxattr(&f, b"user.new", b"v1", libc::XATTR_CREATE).unwrap();
    setxattr(&f, b"user.new", b"v2", libc::XATTR_REPLACE).unwrap();
    assert_eq!(getxattr(&f, b"user.new").unwrap(), b"v2");

    // Names: 255 bytes is the limit (ERANGE past it), empty suffix and foreign namespaces fail.
    let long_ok = format!("user.{}", "n".repeat(250));
    assert_eq!(long_ok.len(), 255);
    setxattr(&f, long_ok.as_bytes(), b"ok", 0).unwrap();
    assert_eq!(getxattr(&f, long_ok.as_bytes()).unwrap(), b"ok");
    let too_long = format!("user.{}", "n".repeat(251));
    assert_eq!(setxattr(&f, too_long.as_bytes(), b"x", 0), Err(libc::ERANGE));
    assert_eq!(getxattr(&f, too_long.as_bytes()), Err(libc::ERANGE));
    assert_eq!(setxattr(&f, b"bogus.name", b"x", 0), Err(libc::EOPNOTSUPP));
    assert_eq!(setxattr(&f, b"user.", b"x", 0), Err(libc::EINVAL));

    // Listing: size probe, too-small buffer, exact contents.
    let (len, _) = listxattr_sized(&f, 0).unwrap();
    let (len2, list) = listxattr_sized(&f, len).unwrap();
    assert_eq!(len, len2);
    assert_eq!(listxattr_sized(&f, len - 1), Err(libc::ERANGE));
    let names: Vec<&[u8]> = list.split(|&b| b == 0).filter(|n| !n.is_empty()).collect();
    assert!(names.contains(&&b"user.all"[..]));
    assert!(names.contains(&long_ok.as_bytes()));
    assert_eq!(names.len(), 10 + 3, "{names:?}");

    // Removal.
    removexattr(&f, b"user.all").unwrap();
    assert_eq!(getxattr(&f, b"user.all"), Err(libc::ENODATA));
    assert_eq!(removexattr(&f, b"user.all"), Err(libc::ENODATA));

    // Directories carry attributes too; trusted.* works for root.
    let d = root.join("dir");
    std::fs::create_dir(&d).unwrap();
    setxattr(&d, b"user.tag", b"red", 0).unwrap();
    setxattr(&d, b"trusted.t", b"\x00\x01", 0).unwrap();
    assert_eq!(getxattr(&d, b"user.tag").unwrap(), b"red");
    assert_eq!(getxattr(&d, b"trusted.t").unwrap(), b"\x00\x01");

    // user.* attributes are refused on symbolic links (EPERM, as on Linux filesystems).
    let l = root.join("link");
    std::os::unix::fs::symlink("file", &l).unwrap();
    let (lp, ln) = (cpath(&l), cname(b"user.x"));
    // SAFETY: valid C strings and a 1-byte buffer.
    let r = unsafe { libc::lsetxattr(lp.as_ptr(), ln.as_ptr(), b"x".as_ptr().cast(), 1, 0) };
    assert_eq!(r, -1);
    assert_eq!(std::io::Error::last_os_error().raw_os_error(), Some(libc::EPERM));

    // Attributes survive a change of name and a hard link shares them.
    std::fs::rename(&f, root.join("renamed")).unwrap();
    std::fs::hard_link(root.join("renamed"), root.join("hard")).unwrap();
    assert_eq!(getxattr(&root.join("hard"), b"user.new").unwrap(), b"v2");
}

#[test]
fn xattr_semantics() {
    let s = Scratch::new("xattr");
    if !s.with_mount(&vexfs_fuse::MountOptions::default(), exercise) {
        return;
    }
    // And after a remount the values are still byte-exact.
    s.with_mount(&vexfs_fuse::MountOptions::default(), |root| {
        assert_eq!(getxattr(&root.join("hard"), b"user.new").unwrap(), b"v2");
        let v = getxattr(&root.join("hard"), b"user.bin9").unwrap();
        assert_eq!(v.len(), 65_536);
    });
}
