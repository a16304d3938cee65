"""An image made by the Python module opens in `vexfs mount` with identical search results,
files and attributes, and an image made through a mount opens in Python with identical results.

These run `vexfs mount` (root and /dev/fuse; see conftest.py) and compare, query by query, the
mount's `/.vexfs/search` answers with `Collection.search`: the same paths in the same order and
bit-identical float32 distances (the JSON numbers are the shortest form that reads back as the
same float32)."""

import os
import subprocess

import numpy as np

import vexfs
from conftest import b64, clustered

DIM = 16
QUERIES = [
    {"k": 10},
    {"k": 7, "ef": 12},
    {"k": 10, "exact": True},
    {"k": 10, "filter": "lang = en and year >= 2010"},
    {"k": 3, "filter": "not has(year)"},
]


def same(mount_hits, dir_, res_row_names, res_row_dist):
    want = [(f"{dir_}/{n}", float(d)) for n, d in zip(res_row_names, res_row_dist) if n is not None]
    got = [(p, float(np.float32(d))) for p, d in mount_hits]
    assert got == want


def python_results(col, queries):
    return {
        (qi, ei): col.search(q, k=e["k"], ef=e.get("ef"), exact=e.get("exact", False), filter=e.get("filter"))
        for qi, q in enumerate(queries)
        for ei, e in enumerate(QUERIES)
    }


def data(seed):
    rng = np.random.default_rng(seed)
    base = clustered(rng, 600, DIM, clusters=8)
    queries = clustered(rng, 12, DIM, clusters=8)
    meta = [{"lang": ["en", "fr", "de"][i % 3], **({"year": 2000 + i % 20} if i % 5 else {})} for i in range(600)]
    return base, queries, meta


def test_python_image_opens_in_a_mount(image, mount, cli):
    base, queries, meta = data(11)
    names = [f"doc{i:04}.txt" for i in range(len(base))]
    fs = vexfs.create(image)
    col = fs.create_collection("/docs", dim=DIM, metric="cosine")
    col.add(names, base, metadata=meta, contents=[n.encode() for n in names])
    fs.mkdir("/docs/sub")
    col.remove(names[:5])  # tombstones travel too
    expected = python_results(col, queries)
    (image.parent / "busy").mkdir()
    out = subprocess.run([cli, "mount", str(image), str(image.parent / "busy")], capture_output=True, timeout=60)
    assert out.returncode != 0 and b"lock" in out.stderr.lower(), "an image open in Python cannot be mounted"
    fs.close()

    m = mount(image)
    root = m.root
    assert sorted(os.listdir(root / "docs")) == sorted(names[5:] + ["sub"])
    assert (root / "docs" / names[7]).read_bytes() == names[7].encode()
    assert os.getxattr(root / "docs" / names[7], "user.lang") == meta[7]["lang"].encode()
    assert os.getxattr(root / "docs" / names[7], "user.vexfs.vector") == base[7].tobytes()
    assert os.getxattr(root / "docs", "user.vexfs.index").startswith(b"dim=16 metric=cosine type=f32")
    for qi, q in enumerate(queries):
        for ei, extra in enumerate(QUERIES):
            hits = m.search({"dir": "/docs", "vector_b64": b64(q), **extra})
            same(hits, "/docs", expected[qi, ei].names, expected[qi, ei].distances)
            if qi == 0:  # the `vector` (JSON numbers) form gives the same
                hits = m.search({"dir": "/docs", "vector": [float(x) for x in q], **extra})
                same(hits, "/docs", expected[qi, ei].names, expected[qi, ei].distances)
    m.unmount()


def test_mount_image_opens_in_python(image, mount, cli):
    subprocess.run([cli, "mkfs", str(image)], check=True, capture_output=True)
    base, queries, meta = data(12)
    m = mount(image)
    root = m.root
    os.mkdir(root / "docs")
    os.setxattr(root / "docs", "user.vexfs.index", b"dim=16 metric=l2 ef_search=32")
    for i, v in enumerate(base):
        p = root / "docs" / f"f{i:04}"
        p.write_bytes(b"x" * i)
        for k, val in meta[i].items():
            os.setxattr(p, f"user.{k}", str(val).encode())
        os.setxattr(p, "user.vexfs.vector", v.tobytes())
    os.unlink(root / "docs" / "f0003")
    os.rename(root / "docs" / "f0004", root / "docs" / "renamed")
    expected = {}
    for qi, q in enumerate(queries):
        for ei, extra in enumerate(QUERIES):
            expected[qi, ei] = m.search({"dir": "/docs", "vector_b64": b64(q), **extra})
    m.unmount()

    with vexfs.open(image) as fs:
        col = fs.collection("/docs")
        assert (col.metric, col.ef_search, len(col)) == ("l2", 32, 599)
        assert fs.read("/docs/f0010") == b"x" * 10
        assert col.metadata("f0010") == {k: str(v) for k, v in meta[10].items()}
        np.testing.assert_array_equal(col.get("renamed"), base[4])
        for key, res in python_results(col, queries).items():
            same(expected[key], "/docs", res.names, res.distances)
        # Changes made in Python are seen by the next mount.
        col.add("new", queries[0])
    m = mount(image)
    hits = m.search({"dir": "/docs", "vector_b64": b64(queries[0]), "k": 1})
    assert hits == [("/docs/new", 0.0)]
    m.unmount()
