"""Files, directories and attributes: every call round-trips, errors are the documented
exceptions with the core's message, and a closed filesystem refuses calls."""

import stat
import subprocess
import sys

import pytest

import vexfs


def test_write_read_listdir_remove(fs):
    fs.mkdir("/docs")
    fs.write("/docs/a.txt", b"alpha")
    fs.write("docs/b.txt", bytearray(b"beta"))  # a missing leading / is accepted
    assert fs.read("/docs/a.txt") == b"alpha"
    assert fs.read("/docs/b.txt") == b"beta"
    fs.write("/docs/a.txt", b"A")  # replaces the contents
    assert fs.read("/docs/a.txt") == b"A"
    assert fs.listdir("/docs") == ["a.txt", "b.txt"]
    assert fs.listdir() == ["docs"]
    assert fs.listdir(b"/docs") == [b"a.txt", b"b.txt"]
    assert fs.exists("/docs/a.txt") and not fs.exists("/docs/zz") and not fs.exists("/docs/a.txt/x")
    assert fs.isdir("/docs") and not fs.isdir("/docs/a.txt")
    st = fs.stat("/docs/a.txt")
    assert st.st_size == 1 and st.st_mode & 0o777 == 0o644 and st.st_nlink == 1
    assert st.st_mtime_ns // 1_000_000_000 == st[stat.ST_MTIME] == int(st.st_mtime)
    fs.rename("/docs/a.txt", "/docs/c.txt")
    assert fs.listdir("/docs") == ["b.txt", "c.txt"]
    fs.remove("/docs/b.txt")
    fs.remove("/docs/c.txt")
    fs.rmdir("/docs")
    assert fs.listdir("/") == []


def test_mkdir_parents_and_exist_ok(fs):
    fs.mkdir("/a/b/c", parents=True)
    assert fs.isdir("/a/b/c")
    with pytest.raises(vexfs.Exists):
        fs.mkdir("/a/b/c", parents=True)
    fs.mkdir("/a/b/c", parents=True, exist_ok=True)
    fs.mkdir("/a/b", exist_ok=True)
    with pytest.raises(vexfs.Exists):
        fs.mkdir("/a/b")
    fs.write("/a/f", b"")
    with pytest.raises(vexfs.Exists):
        fs.mkdir("/a/f", exist_ok=True)  # exists, but not as a directory
    with pytest.raises(vexfs.NotFound):
        fs.mkdir("/x/y")


def test_xattrs(fs):
    fs.write("/f", b"")
    fs.setxattr("/f", "user.lang", "en")
    fs.setxattr("/f", b"user.raw", b"\x00\xff")
    assert fs.getxattr("/f", "user.lang") == b"en"
    assert fs.getxattr("/f", "user.raw") == b"\x00\xff"
    assert fs.listxattr("/f") == ["user.lang", "user.raw"]
    assert fs.metadata("/f") == {"lang": "en", "raw": b"\x00\xff"}
    fs.removexattr("/f", "user.raw")
    assert fs.listxattr("/f") == ["user.lang"]
    with pytest.raises(vexfs.NoAttribute, match="no such attribute: 'user.raw' of '/f'"):
        fs.getxattr("/f", "user.raw")
    with pytest.raises(vexfs.NotSupported):
        fs.setxattr("/f", "other.x", b"1")
    with pytest.raises(vexfs.LimitExceeded):
        fs.setxattr("/f", "user.big", b"x" * (64 * 1024 + 1))
    with pytest.raises(TypeError):
        fs.setxattr("/f", "user.n", 3)


def test_errors_carry_the_core_message_and_builtin_bases(fs):
    fs.mkdir("/d")
    fs.write("/d/f", b"")
    cases = [
        (lambda: fs.read("/nope"), vexfs.NotFound, FileNotFoundError, "no such file or directory: '/nope'"),
        (lambda: fs.mkdir("/d"), vexfs.Exists, FileExistsError, "file exists: '/d'"),
        (lambda: fs.read("/d"), vexfs.IsADirectory, IsADirectoryError, "is a directory: '/d'"),
        (lambda: fs.listdir("/d/f"), vexfs.NotADirectory, NotADirectoryError, "not a directory: '/d/f'"),
        (lambda: fs.rmdir("/d"), vexfs.NotEmpty, OSError, "directory not empty: '/d'"),
        (lambda: fs.write("/d/" + "x" * 256, b""), vexfs.LimitExceeded, ValueError, "file name too long"),
        (lambda: fs.collection("/d"), vexfs.InvalidArgument, ValueError, "not a collection: '/d'"),
    ]
    for call, cls, builtin, message in cases:
        with pytest.raises(cls) as info:
            call()
        assert isinstance(info.value, vexfs.Error) and isinstance(info.value, builtin)
        assert message in str(info.value)
    with pytest.raises(TypeError):
        fs.read(42)
    with pytest.raises(TypeError):
        fs.write("/d/g", "text is not bytes")


def test_hierarchy_is_documented_and_complete():
    names = vexfs._errors.__all__
    for n in names:
        cls = getattr(vexfs, n)
        assert issubclass(cls, vexfs.Error) and cls.__module__ == "vexfs"
        assert cls.__doc__
    assert issubclass(vexfs.InvalidVector, ValueError)
    assert issubclass(vexfs.Locked, vexfs.Busy)
    # Every class named by the Rust mapping (src/errors.rs) exists here.
    src = (vexfs_src() / "src" / "errors.rs").read_text()
    import re

    used = set(re.findall(r'=> "(\w+)"', src)) | set(re.findall(r'\("(\w+)", ', src))
    assert used and used <= set(names), used - set(names)


def vexfs_src():
    from pathlib import Path

    return Path(__file__).resolve().parents[1]


def test_close_and_context_manager(image):
    with vexfs.create(image) as fs:
        fs.write("/a", b"1")
        col = fs.create_collection("/c", dim=2)
        assert not fs.closed
    assert fs.closed and "closed" in repr(fs)
    for call in (lambda: fs.read("/a"), lambda: fs.sync(), lambda: len(col), lambda: col.search([1, 0])):
        with pytest.raises(vexfs.Closed, match="the filesystem is closed"):
            call()
    fs.close()  # closing again does nothing


def test_persistence_across_close_and_open(image):
    fs = vexfs.create(image)
    fs.mkdir("/notes")
    fs.write("/notes/a", b"alpha")
    fs.setxattr("/notes/a", "user.k", "v")
    fs.close()
    with pytest.raises(vexfs.Exists):
        vexfs.create(image)
    with vexfs.open(image) as fs:
        assert fs.read("/notes/a") == b"alpha"
        assert fs.getxattr("/notes/a", "user.k") == b"v"
        with pytest.raises(vexfs.Locked):
            vexfs.open(image)
        assert fs.stats()["image_bytes"] > 0
    with vexfs.open(image, read_only=True) as ro:
        assert ro.read_only
        assert ro.read("/notes/a") == b"alpha"
        with pytest.raises(vexfs.ReadOnly):
            ro.write("/notes/b", b"")
    with pytest.raises(vexfs.NotFound) as info:
        vexfs.open(image.parent / "missing.img")
    assert isinstance(info.value, FileNotFoundError) and info.value.errno == 2


def test_synced_changes_survive_a_crash(image):
    """A process that syncs and then dies without closing: the image recovers the synced state."""
    script = f"""
import os, numpy as np, vexfs
fs = vexfs.create({str(image)!r})
col = fs.create_collection("/c", dim=3, metric="l2")
col.add(["a", "b"], np.eye(3, dtype=np.float32)[:2], metadata=[{{"n": 1}}, {{"n": 2}}])
fs.write("/synced", b"yes")
fs.sync()
fs.write("/unsynced", b"maybe")
os._exit(0)
"""
    subprocess.run([sys.executable, "-c", script], check=True)
    with vexfs.open(image) as fs:
        assert fs.read("/synced") == b"yes"
        col = fs.collection("/c")
        assert len(col) == 2
        res = col.search([1, 0, 0], k=1)
        assert res.names[0] == "a" and res.distances[0] == 0
        assert col.metadata("b") == {"n": "2"}
        fs.check()


def test_corrupted_image_raises_corrupted(image):
    with vexfs.create(image) as fs:
        fs.write("/a", b"x" * 10000)
    data = bytearray(image.read_bytes())
    for i in range(0, 8192):
        data[i] ^= 0xFF  # both superblock slots
    image.write_bytes(bytes(data))
    with pytest.raises(vexfs.Corrupted):
        vexfs.open(image)


def test_stats_and_collections(fs):
    fs.create_collection("/b", dim=2)
    fs.create_collection("/a/x", dim=3, type="f16")
    assert fs.collections() == ["/a/x", "/b"]
    s = fs.stats()
    assert s["directories"] == 4 and {c["path"] for c in s["collections"]} == {"/a/x", "/b"}
    fs.check()
