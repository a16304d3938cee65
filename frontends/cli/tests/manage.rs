//! Issue 18 through a real `vexfs mount`: hard-linked files in collections of two shapes, the
//! zero vector of a cosine collection, collection management (`collections`, `index drop`,
//! `vector rm`, `vector get --json`), the query vector from a file or stdin, `--paths-only`,
//! the not-indexed notice, usage lines in argument order, and errors that say what to do.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Mounted, Scratch, VEXFS, fails, fuse_or_skip, ok, parse_results, raw_vector, umount, vexfs};
use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Runs `vexfs ARGS` with `input` on its standard input.
fn with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(VEXFS)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The stats' collection object for `path`.
fn collection(m: &Mounted, path: &str) -> serde_json::Value {
    let all: serde_json::Value = serde_json::from_str(&ok(["collections", s(&m.root), "--json"])).unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|c| c["path"] == path)
        .unwrap_or_else(|| panic!("no collection {path} in {all}"))
        .clone()
}

/// Item 7: a file linked from a dim=4 collection into a dim=8 one takes a 4-d vector through
/// its name in the first and an 8-d one through its name in the second; the other counts it
/// as unindexed. A vector that fits neither is EINVAL.
#[test]
fn hard_linked_file_in_collections_of_two_shapes() {
    if !fuse_or_skip("hard_linked_file_in_collections_of_two_shapes") {
        return;
    }
    let scratch = Scratch::new();
    let m = scratch.mount();
    let (four, eight) = (m.p("four"), m.p("eight"));
    for (d, dim) in [(&four, "4"), (&eight, "8")] {
        std::fs::create_dir(d).unwrap();
        ok(["index", "create", s(d), "--dim", dim]);
    }
    let f = four.join("f");
    std::fs::write(&f, b"x").unwrap();
    std::fs::hard_link(&f, eight.join("f8")).unwrap();
    for _ in 0..3 {
        ok(["vector", "set", s(&f), "1,2,3,4"]);
        assert_eq!(raw_vector(&f).unwrap(), f32_bytes(&[1.0, 2.0, 3.0, 4.0]));
        let (c4, c8) = (collection(&m, "/four"), collection(&m, "/eight"));
        assert_eq!((&c4["vectors"], &c4["unindexed"]), (&1.into(), &0.into()));
        assert_eq!((&c8["vectors"], &c8["unindexed"]), (&0.into(), &1.into()));
        let out = ok(["search", s(&four), "--vector", "1,2,3,4", "-k", "1"]);
        assert_eq!(parse_results(&out)[0].2, s(&f));
        ok(["vector", "set", s(&eight.join("f8")), "1,1,1,1,1,1,1,1"]);
        assert_eq!(collection(&m, "/eight")["vectors"], 1);
        assert_eq!(collection(&m, "/four")["unindexed"], 1);
    }
    let e = xattr::set(&f, "user.vexfs.vector", &f32_bytes(&[1.0; 3])).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    assert_eq!(
        raw_vector(&f).unwrap(),
        f32_bytes(&[1.0; 8]),
        "a refused vector changed nothing"
    );
    m.unmount();
}

/// Item 5: the zero vector is refused by a cosine collection when set (EINVAL, and the CLI says
/// why) and as a CLI query; an l2 collection takes it.
#[test]
fn zero_vector_in_a_cosine_collection() {
    if !fuse_or_skip("zero_vector_in_a_cosine_collection") {
        return;
    }
    let scratch = Scratch::new();
    let m = scratch.mount();
    let (cos, l2) = (m.p("cos"), m.p("l2"));
    std::fs::create_dir(&cos).unwrap();
    std::fs::create_dir(&l2).unwrap();
    ok(["index", "create", s(&cos), "--dim", "2", "--metric", "cosine"]);
    ok(["index", "create", s(&l2), "--dim", "2"]);
    let a = cos.join("a");
    std::fs::write(&a, b"").unwrap();
    let e = xattr::set(&a, "user.vexfs.vector", &f32_bytes(&[0.0, 0.0])).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    let e = xattr::set(&a, "user.vexfs.vector", &f32_bytes(&[-0.0, 0.0])).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    let line = fails(["vector", "set", s(&a), "0,0"]);
    assert!(line.contains("zero vector"), "{line}");
    assert_eq!(raw_vector(&a), None);
    ok(["vector", "set", s(&a), "0,1"]);
    let line = fails(["search", s(&cos), "--vector", "0,0"]);
    assert!(line.contains("zero vector"), "{line}");
    let z = l2.join("z");
    std::fs::write(&z, b"").unwrap();
    ok(["vector", "set", s(&z), "0,0"]);
    let out = ok(["search", s(&l2), "--vector", "0,0"]);
    assert_eq!(parse_results(&out)[0].2, s(&z));
    m.unmount();
}

/// Item 6: `collections` (table and JSON, from any directory of the mount), `index drop`,
/// `vector rm`, `vector get --json`.
#[test]
fn collections_index_drop_vector_rm_and_get_json() {
    if !fuse_or_skip("collections_index_drop_vector_rm_and_get_json") {
        return;
    }
    let scratch = Scratch::new();
    let m = scratch.mount();
    assert_eq!(
        ok(["collections", s(&m.root)]),
        "PATH  VECTORS  UNINDEXED  CONFIGURATION\n"
    );
    let docs = m.p("docs");
    std::fs::create_dir_all(docs.join("sub")).unwrap();
    ok(["index", "create", s(&docs), "--dim", "2", "--type", "i8"]);
    for (n, v) in [("a", "1,2"), ("b", "-3,4")] {
        std::fs::write(docs.join(n), b"").unwrap();
        ok(["vector", "set", s(&docs.join(n)), v]);
    }
    // A vector that does not fit (set outside, renamed in): unindexed.
    std::fs::write(m.p("loose"), b"").unwrap();
    ok(["vector", "set", s(&m.p("loose")), "1,2,3"]);
    std::fs::rename(m.p("loose"), docs.join("loose")).unwrap();
    let table = ok(["collections", s(&docs.join("sub"))]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(
        lines[0].starts_with("PATH") && lines[0].ends_with("CONFIGURATION"),
        "{table}"
    );
    let cols: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&cols[..4], [s(&docs), "2", "1", "dim=2"], "{table}");
    assert!(lines[1].ends_with("dim=2 metric=l2 type=i8 m=16 ef_construction=200 ef_search=64"));
    let c = collection(&m, "/docs");
    assert_eq!((&c["vectors"], &c["unindexed"]), (&2.into(), &1.into()));
    assert_eq!(
        c["config"],
        "dim=2 metric=l2 type=i8 m=16 ef_construction=200 ef_search=64"
    );
    // Outside a mount: one line.
    let line = fails(["collections", s(scratch.dir.path())]);
    assert!(line.contains("not inside a VexFS mount"), "{line}");

    // vector get --json.
    let doc: serde_json::Value =
        serde_json::from_str(&ok(["vector", "get", s(&docs.join("b")), "--json"])).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"path": "/docs/b", "type": "i8", "dim": 2, "vector": [-3, 4]})
    );
    std::fs::write(m.p("f"), b"").unwrap();
    ok(["vector", "set", s(&m.p("f")), "0.1,-2.5"]);
    let doc: serde_json::Value =
        serde_json::from_str(&ok(["vector", "get", s(&m.p("f")), "--json"])).unwrap();
    assert_eq!(
        doc,
        serde_json::json!({"path": "/f", "type": "f32", "dim": 2, "vector": [0.1, -2.5]})
    );

    // vector rm: the file stays, leaves the index; a second rm says there is none.
    ok(["vector", "rm", s(&docs.join("a"))]);
    assert!(docs.join("a").exists());
    assert_eq!(raw_vector(&docs.join("a")), None);
    assert_eq!(collection(&m, "/docs")["vectors"], 1);
    let line = fails(["vector", "rm", s(&docs.join("a"))]);
    assert!(line.ends_with("has no vector"), "{line}");

    // index drop: no longer a collection; files keep their vectors.
    let out = ok(["index", "drop", s(&docs)]);
    assert!(out.contains("no longer a collection"), "{out}");
    assert_eq!(xattr::get(&docs, "user.vexfs.index").unwrap(), None);
    assert_eq!(raw_vector(&docs.join("b")).unwrap(), vec![0xfd, 4]);
    assert_eq!(ok(["collections", s(&m.root)]).lines().count(), 1);
    let line = fails(["index", "drop", s(&docs)]);
    assert!(line.ends_with("not a collection"), "{line}");
    m.unmount();
}

/// Items 4 and 9: the query vector from a raw f32 file and from stdin, `--paths-only`, and the
/// usage lines in the order the commands take their arguments.
#[test]
fn query_from_a_file_or_stdin_and_paths_only() {
    if !fuse_or_skip("query_from_a_file_or_stdin_and_paths_only") {
        return;
    }
    let help = ok(["vector", "set", "--help"]);
    assert!(
        help.contains("Usage: vexfs vector set <FILE> <VALUES...|--from FILE.f32>"),
        "{help}"
    );
    let help = ok(["search", "--help"]);
    assert!(
        help.contains("Usage: vexfs search <DIR> <--vector VALUES|--like FILE|--from FILE.f32>"),
        "{help}"
    );
    let scratch = Scratch::new();
    let m = scratch.mount();
    let docs = m.p("docs");
    std::fs::create_dir(&docs).unwrap();
    ok(["index", "create", s(&docs), "--dim", "3"]);
    // As the usage line says: FILE, then VALUES or --from.
    for (n, v) in [
        ("a", [0.0f32, 0.0, 1.0]),
        ("b", [0.0, 1.0, 0.0]),
        ("c", [1.0, 0.0, 0.0]),
    ] {
        let f = docs.join(n);
        std::fs::write(&f, b"").unwrap();
        let src = scratch.path(&format!("{n}.f32"));
        std::fs::write(&src, f32_bytes(&v)).unwrap();
        ok(["vector", "set", s(&f), "--from", s(&src)]);
    }
    let out = with_stdin(
        &["vector", "set", s(&docs.join("c")), "--from", "-"],
        &f32_bytes(&[1.0, 0.1, 0.0]),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(raw_vector(&docs.join("c")).unwrap(), f32_bytes(&[1.0, 0.1, 0.0]));

    let q = scratch.path("q.f32");
    std::fs::write(&q, f32_bytes(&[0.0, 0.9, 0.1])).unwrap();
    let from_file = ok(["search", s(&docs), "--from", s(&q), "-k", "2"]);
    let by_values = ok(["search", s(&docs), "--vector", "0,0.9,0.1", "-k", "2"]);
    assert_eq!(from_file, by_values);
    assert_eq!(parse_results(&from_file)[0].2, s(&docs.join("b")));
    let out = with_stdin(
        &["search", s(&docs), "--from", "-", "-k", "3", "--paths-only"],
        &f32_bytes(&[0.0, 0.9, 0.1]),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let paths = String::from_utf8(out.stdout).unwrap();
    let want: Vec<String> = parse_results(&ok(["search", s(&docs), "--from", s(&q), "-k", "3"]))
        .into_iter()
        .map(|h| h.2)
        .collect();
    assert_eq!(paths.lines().collect::<Vec<_>>(), want);
    // A query of the wrong length from a file: one line naming --from.
    std::fs::write(&q, f32_bytes(&[1.0, 2.0])).unwrap();
    let line = fails(["search", s(&docs), "--from", s(&q)]);
    assert!(
        line.contains("--from") && line.contains("expected 3 values"),
        "{line}"
    );
    assert!(
        vexfs(["search", s(&docs), "--from", s(&q), "--vector", "1,2,3"])
            .status
            .code()
            == Some(2)
    );
    m.unmount();
}

/// Item 8: a vector set on a file outside every collection is stored, with one notice line on
/// stderr that says why it is not indexed.
#[test]
fn vector_outside_a_collection_says_it_is_not_indexed() {
    if !fuse_or_skip("vector_outside_a_collection_says_it_is_not_indexed") {
        return;
    }
    let scratch = Scratch::new();
    let m = scratch.mount();
    let docs = m.p("docs");
    std::fs::create_dir_all(docs.join("sub")).unwrap();
    ok(["index", "create", s(&docs), "--dim", "2"]);
    for (f, want) in [
        (
            docs.join("sub/x"),
            format!(
                "the collection {} indexes only the files directly in it",
                s(&docs)
            ),
        ),
        (m.p("y"), "make it one with `vexfs index create".to_owned()),
    ] {
        std::fs::write(&f, b"").unwrap();
        let out = vexfs(["vector", "set", s(&f), "1,2"]);
        assert!(out.status.success());
        assert!(out.stdout.is_empty());
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("vexfs: note: ") && err.contains("stored but not indexed"),
            "{err}"
        );
        assert!(err.contains(&want), "{err}");
        assert_eq!(raw_vector(&f).unwrap(), f32_bytes(&[1.0, 2.0]));
    }
    // In a collection: nothing on stderr.
    std::fs::write(docs.join("z"), b"").unwrap();
    let out = vexfs(["vector", "set", s(&docs.join("z")), "1,2"]);
    assert!(out.status.success() && out.stderr.is_empty());
    m.unmount();
}

/// Items 10 and 11: a file that is not an image, a dead mountpoint, and `stats` from a
/// directory inside the mount.
#[test]
fn errors_say_what_to_do() {
    if !fuse_or_skip("errors_say_what_to_do") {
        return;
    }
    let scratch = Scratch::new();
    let text = scratch.path("notes.txt");
    std::fs::write(&text, "hello\n".repeat(10_000)).unwrap();
    let out = vexfs([OsStr::new("fsck"), text.as_os_str()]);
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not a VexFS image (make one with `vexfs mkfs"),
        "{err}"
    );
    let line = fails([OsStr::new("stats"), text.as_os_str()]);
    assert!(line.contains("not a VexFS image"), "{line}");
    let line = fails([
        OsStr::new("mount"),
        text.as_os_str(),
        scratch.mountpoint.as_os_str(),
    ]);
    assert!(line.contains("not a VexFS image"), "{line}");

    let m = scratch.mount();
    std::fs::create_dir_all(m.p("docs/deep")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&ok(["stats", s(&m.p("docs/deep"))])).unwrap();
    assert!(doc["collections"].is_array() && doc["files"] == 0, "{doc}");
    let mnt = m.root.clone();
    let image = scratch.image.clone();
    m.kill9_then(|| {
        let line = fails([OsStr::new("mount"), image.as_os_str(), mnt.as_os_str()]);
        assert!(line.contains(&format!("run `umount {}`", s(&mnt))), "{line}");
        let line = fails(["stats", s(&mnt.join("docs"))]);
        assert!(line.contains("umount"), "{line}");
    });
}

/// A mount killed with SIGKILL at any moment after it appears exits: the ready line comes from
/// the session's INIT, never from the mount process reading its own mount. It did read
/// `/.vexfs/stats` once, and a read (or its close's FLUSH) in flight when the process was killed
/// was waited for by the kernel uninterruptibly, in a thread holding `/dev/fuse` open, so the
/// process never exited and the mount hung (seen in CI: `errors_say_what_to_do` stuck for
/// good, the mount's last thread in `request_wait_answer` under `close`). The kill lands at
/// 0 to 30 ms after the mount appears, where that read happened.
#[test]
fn a_mount_killed_right_after_it_appears_exits() {
    if !fuse_or_skip("a_mount_killed_right_after_it_appears_exits") {
        return;
    }
    let scratch = Scratch::new();
    let mut hung = Vec::new();
    for step in 0..60u64 {
        let m = scratch.mount();
        std::thread::sleep(Duration::from_micros(step * 500));
        if !m.kill9_exits_within(Duration::from_secs(10)) {
            hung.push(step);
        }
    }
    assert!(
        hung.is_empty(),
        "killed mounts that never exited, at steps {hung:?} (0.5 ms each)"
    );
}

/// The foreground mount sets its readahead window once the mount answers, finding the mount's
/// device in mountinfo (never by a request to its own mount); a relative mountpoint too. As root
/// the window is the default 1 MiB (the knob is root's: otherwise the kernel's stays).
#[test]
fn the_foreground_mount_sets_its_readahead_window() {
    if !fuse_or_skip("the_foreground_mount_sets_its_readahead_window") {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    // The window is set beside the serving session, so it may show a moment after the mount.
    let window = |mnt: &Path| {
        let started = std::time::Instant::now();
        loop {
            let stats: serde_json::Value =
                serde_json::from_slice(&std::fs::read(mnt.join(".vexfs/stats")).unwrap()).unwrap();
            let kib = stats["mount"]["readahead_kib"].as_u64();
            if kib == Some(1024) || (!root && kib.is_some()) || started.elapsed() > Duration::from_secs(10) {
                return kib;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // As root, the default 1 MiB; otherwise the knob is not ours and the kernel's window stays.
    let check = |kib: Option<u64>| {
        if root {
            assert_eq!(kib, Some(1024));
        } else {
            assert!(kib.is_some_and(|k| k > 0), "{kib:?}");
        }
    };
    let scratch = Scratch::new();
    let m = scratch.mount();
    check(window(&m.root));
    drop(m);
    // A relative mountpoint, mounted in the background.
    let out = Command::new(VEXFS)
        .args(["mount", "-d", "image", "mnt"])
        .current_dir(scratch.image.parent().unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let kib = window(&scratch.mountpoint);
    umount(&scratch.mountpoint);
    check(kib);
}

/// Item 11: the foreground mount prints one line once it answers; `mount -d` returns once the
/// mount answers and leaves it serving; a background mount that fails says why and exits 1.
#[test]
fn mount_says_when_ready_and_runs_in_the_background() {
    if !fuse_or_skip("mount_says_when_ready_and_runs_in_the_background") {
        return;
    }
    let scratch = Scratch::new();
    let (img, mnt) = (s(&scratch.image), s(&scratch.mountpoint));
    let ready = format!("{img} mounted on {mnt} (unmount with `umount {mnt}`)");

    let mut child = Command::new(VEXFS)
        .args(["mount", img, mnt])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    assert_eq!(first.trim_end(), ready);
    assert!(
        scratch.mountpoint.join(".vexfs/search").is_file(),
        "printed before it answers"
    );
    umount(&scratch.mountpoint);
    assert!(child.wait().unwrap().success());

    let out = vexfs(["mount", "-d", img, mnt]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{ready}\n"));
    // Answers at once, no waiting.
    std::fs::write(scratch.mountpoint.join("a"), b"hello").unwrap();
    umount(&scratch.mountpoint);
    // The background process closes the image and exits; then the image opens cleanly.
    let started = std::time::Instant::now();
    loop {
        let out = vexfs(["fsck", img]);
        if out.status.success() {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the background mount did not let go of the image: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::read(scratch.mountpoint.join("a")).ok(),
        None,
        "unmounted"
    );

    let text = scratch.path("notes.txt");
    std::fs::write(&text, "hello\n".repeat(10_000)).unwrap();
    let line = fails(["mount", "--background", s(&text), mnt]);
    assert!(line.contains("not a VexFS image"), "{line}");
}

/// Item 13: `mkfs --help` shows no seed as a default, `fsck --rebuild-index` says what it
/// rebuilt.
#[test]
fn help_and_progress_read_well() {
    if !fuse_or_skip("help_and_progress_read_well") {
        return;
    }
    let help = ok(["mkfs", "--help"]);
    let seed = help.lines().find(|l| l.contains("--seed")).unwrap();
    assert!(!seed.contains("[default:"), "{help}");
    assert!(help.contains("one fixed seed"), "{help}");
    let scratch = Scratch::new();
    let m = scratch.mount();
    let docs = m.p("docs");
    std::fs::create_dir(&docs).unwrap();
    ok(["index", "create", s(&docs), "--dim", "2"]);
    for n in ["a", "b"] {
        std::fs::write(docs.join(n), b"").unwrap();
        ok(["vector", "set", s(&docs.join(n)), "1,2"]);
    }
    m.unmount();
    let out = ok(["fsck", s(&scratch.image), "--rebuild-index"]);
    assert!(
        out.contains("rebuilt the index of every collection from storage: 1 collections, 2 vectors indexed"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("clean"), "{out}");
}
