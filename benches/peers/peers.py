#!/usr/bin/env python3
"""Peer ANN libraries on the same files as `vexfs-bench ann`, and the side-by-side table.

    peers.py run --lib NAME --base B.fvecs --query Q.fvecs --gt G.ivecs \
        [--metric l2|cosine|dot] [--m 16] [--ef-construction 200] [--ef 10,20,...] [-k 10] [--runs R]
    peers.py available NAME,NAME,...   (the named peers whose module imports; the others on stderr)
    peers.py best ROUND1.jsonl ROUND2.jsonl ...   (one library's rounds -> its best figures)
    peers.py compare vexfs.jsonl PEER.jsonl ...

Peers (NAME; the classes below say what each one is and how it is configured):
- f32: `hnswlib` (hnswlib), `faiss` (faiss IndexHNSWFlat);
- quantized: `faiss-sq8` (faiss IndexHNSWSQ, QT_8bit), `faiss-sq8-refine` (the same wrapped in
  IndexRefineFlat, k_factor FAISS_REFINE_K_FACTOR, default 2), `usearch-i8` and `usearch-f16`
  (usearch Index with dtype i8 / f16), `vsag-sq8` (pyvsag hgraph, sq8 with fp32 reorder),
  `symqg` (rabitqlib SymqgIndex, SymphonyQG; SYMQG_BITS, default 0).
hnswlib and faiss are required (requirements.txt); usearch, pyvsag and rabitqlib are optional
(requirements-optional.txt): `available` reports a peer whose module does not import as skipped.

Cosine: every peer gets the vectors normalised and measures inner product (hnswlib space "ip",
faiss METRIC_INNER_PRODUCT, usearch "ip", vsag "ip", SymphonyQG "ip"), which ranks exactly as
cosine does; VexFS keeps the vectors as given and measures 1 - cos. The base is normalised
before the build's memory snapshot, its time added to the build's; the queries inside the timed
search call.

`run` prints the same JSON lines as `vexfs-bench ann --json`: one `build` object
(`seconds`, `inserts_per_s`, `bytes_per_vector`, ..., and the peer's settings: `quantization`,
`k_factor`, `max_degree`, ...) then one `search` object per ef (`ef`, `recall`, `qps`, ...).
Everything runs on one thread: OMP_NUM_THREADS=1, faiss.omp_set_num_threads(1), hnswlib
set_num_threads(1) and num_threads=1 on every call, usearch threads=1, vsag build_thread_count 1,
SymphonyQG num_threads 1.

Timing: CPU time of the process (time.process_time), like vexfs-bench, because the machine is
shared; wall-clock rates are printed beside them (`*_wall`). Queries are passed to the library as
one batch per ef, which the library answers one query after the other on its single thread: that
keeps Python's per-call overhead out of the peers' figures (it favours them slightly, compared
with vexfs-bench's one call per query). pyvsag has no batch search: it gets one call per query.
With --runs R each ef sweep is repeated R times and the fastest run is kept, as vexfs-bench does.
Training (faiss SQ ranges) is part of the timed build.

Index bytes per vector, two figures each (usearch adds its own `memory_usage` as
`reported_bytes_per_vector`, which includes the capacity it reserved ahead):
- `bytes_per_vector`: growth of the process's anonymous resident memory (see `rss`) from just
  before the index is created to just after the last insert, divided by the vector count (what
  the index really holds: for hnswlib that includes its per-element mutex, label hash map and
  visited-list pool; the base array was already resident before). A throwaway index of the same
  library on the first 512 vectors is built and searched before, so that one-time allocations of
  the library's runtime (thread pools, per-thread buffers) are not counted;
- `serialized_bytes_per_vector`: size of the saved index (hnswlib `save_index`,
  `faiss.serialize_index`, usearch `save`, vsag `save`, SymphonyQG `save`) divided by the vector
  count.

`best` merges several rounds of one library (run.sh runs the libraries in turn, ROUNDS times):
the build of the round with the highest inserts/s, and per ef the search with the highest
queries/s. Interference from other work on a shared machine only ever slows a run down, so the
best of several interleaved rounds is the least disturbed estimate.

`compare` prints a Markdown table: per library, inserts/s, bytes/vector and queries/s at recall
0.90, 0.95 and 0.99, and the ratios ours / theirs, then one line naming each peer's version and
settings, then recall and queries/s per ef. Queries/s at a target recall is interpolated
linearly between the two measured ef points whose recalls bracket the target (reported as n/a
when no measured ef reaches the target).
"""

import argparse
import json
import os
import sys
import tempfile
import time

TARGETS = (0.90, 0.95, 0.99)


def read_vecs(path, dtype):
    import numpy as np

    raw = np.fromfile(path, dtype="<i4")
    if raw.size == 0:
        sys.exit(f"peers.py: {path}: empty file")
    d = int(raw[0])
    if d <= 0 or raw.size % (d + 1) != 0:
        sys.exit(f"peers.py: {path}: not a .{'f' if dtype == 'f' else 'i'}vecs file (dimension {d})")
    rows = raw.reshape(-1, d + 1)
    if not (rows[:, 0] == d).all():
        sys.exit(f"peers.py: {path}: records of different dimensions")
    body = np.ascontiguousarray(rows[:, 1:])
    return body.view("<f4") if dtype == "f" else body


def rss():
    """Anonymous resident bytes of the process (`RssAnon` in /proc/self/status: heap and
    anonymous mappings, not the pages of the libraries' code, which a library touches the first
    time it runs and which are no index memory), after handing freed heap memory back to the
    system (glibc `malloc_trim`), so that memory a library freed while it grew (a vector
    doubling, a training buffer) is not counted as held. Elsewhere than Linux/glibc: the RSS."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import psutil

    return psutil.Process().memory_info().rss


def normalize(x):
    import numpy as np

    n = np.linalg.norm(x, axis=1, keepdims=True)
    n[n == 0] = 1
    return np.ascontiguousarray(x / n, dtype="float32")


class Hnswlib:
    name = "hnswlib"
    module = "hnswlib"

    def __init__(self, dim, metric, m, efc, n):
        import hnswlib

        # Cosine: inner product on the vectors normalised here (what hnswlib's own "cosine"
        # space does inside add_items and knn_query), like faiss below.
        space = {"l2": "l2", "cosine": "ip", "dot": "ip"}[metric]
        self.normalize = metric == "cosine"
        self.index = hnswlib.Index(space=space, dim=dim)
        self.index.init_index(max_elements=n, ef_construction=efc, M=m, random_seed=100)
        self.index.set_num_threads(1)

    def prep(self, x):
        return normalize(x) if self.normalize else x

    def add(self, x):
        import numpy as np

        self.index.add_items(x, np.arange(len(x)), num_threads=1)

    def search(self, q, k, ef):
        self.index.set_ef(ef)
        labels, _ = self.index.knn_query(self.prep(q), k=k, num_threads=1)
        return labels

    def serialized_bytes(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "index.bin")
            self.index.save_index(p)
            return os.path.getsize(p)

    def params(self):
        return {}

    @staticmethod
    def version():
        import importlib.metadata

        return importlib.metadata.version("hnswlib")


class Faiss:
    name = "faiss"
    module = "faiss"

    def __init__(self, dim, metric, m, efc, n):
        import faiss

        faiss.omp_set_num_threads(1)
        self.faiss = faiss
        self.normalize = metric == "cosine"
        mt = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        self.index = faiss.IndexHNSWFlat(dim, m, mt)
        self.index.hnsw.efConstruction = efc

    def prep(self, x):
        return normalize(x) if self.normalize else x

    def add(self, x):
        self.index.add(x)

    def search(self, q, k, ef):
        self.index.hnsw.efSearch = ef
        _, labels = self.index.search(self.prep(q), k)
        return labels

    def serialized_bytes(self):
        return int(self.faiss.serialize_index(self.index).nbytes)

    def params(self):
        return {}

    @staticmethod
    def version():
        import faiss

        return faiss.__version__


class FaissSQ8(Faiss):
    """faiss `IndexHNSWSQ` with `QT_8bit` (one byte per dimension, trained per-dimension ranges):
    the graph is built and searched on the 8-bit codes, the distances returned are the codes'."""

    name = "faiss-sq8"

    def __init__(self, dim, metric, m, efc, n):
        import faiss

        faiss.omp_set_num_threads(1)
        self.faiss = faiss
        self.normalize = metric == "cosine"
        mt = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        self.hnsw_index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, m, mt)
        self.hnsw_index.hnsw.efConstruction = efc
        self.index = self.hnsw_index

    def add(self, x):
        # Training (the per-dimension ranges) is part of the timed build.
        self.index.train(x)
        self.index.add(x)

    def search(self, q, k, ef):
        self.hnsw_index.hnsw.efSearch = ef
        _, labels = self.index.search(self.prep(q), k)
        return labels

    def params(self):
        return {"quantization": "sq8"}


class FaissSQ8Refine(FaissSQ8):
    """`IndexHNSWSQ` (QT_8bit) wrapped in `IndexRefineFlat`: the SQ8 graph returns k * k_factor
    candidates, re-ranked with exact distances on a flat f32 copy of the vectors (which the
    refine index holds as well, so it costs 4 bytes per dimension more than faiss-sq8)."""

    name = "faiss-sq8-refine"

    def __init__(self, dim, metric, m, efc, n):
        super().__init__(dim, metric, m, efc, n)
        self.k_factor = refine_k_factor()
        self.index = self.faiss.IndexRefineFlat(self.hnsw_index)
        self.index.k_factor = self.k_factor

    def params(self):
        return {"quantization": "sq8", "refine": "flat f32", "k_factor": self.k_factor}


def refine_k_factor():
    v = os.environ.get("FAISS_REFINE_K_FACTOR", "2")
    try:
        f = float(v)
    except ValueError:
        f = 0
    if f < 1:
        sys.exit(f"peers.py: FAISS_REFINE_K_FACTOR={v}: expected a number >= 1")
    return f


class Usearch:
    """usearch `Index` storing the vectors as `dtype` (i8 or f16): the f32 input is converted
    inside `add` and `search` (timed), and the graph is built and searched on the converted
    vectors; there is no re-ranking on f32."""

    module = "usearch"
    dtype = None

    def __init__(self, dim, metric, m, efc, n):
        from usearch.index import Index

        self.normalize = metric == "cosine"
        um = {"l2": "l2sq", "cosine": "ip", "dot": "ip"}[metric]
        self.index = Index(ndim=dim, metric=um, dtype=self.dtype, connectivity=m, expansion_add=efc,
                           expansion_search=64)

    def prep(self, x):
        return normalize(x) if self.normalize else x

    def add(self, x):
        import numpy as np

        self.index.add(np.arange(len(x), dtype=np.uint64), x, threads=1)

    def search(self, q, k, ef):
        self.index.expansion_search = ef
        return self.index.search(self.prep(q), k, threads=1).keys

    def serialized_bytes(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "index.usearch")
            self.index.save(p)
            return os.path.getsize(p)

    def reported_bytes(self):
        # usearch's own figure: includes the capacity it reserved ahead (the Python API has no
        # way to reserve exactly n), so it is a bound, not the bytes per vector.
        return int(self.index.memory_usage)

    def params(self):
        return {"quantization": self.dtype}

    @staticmethod
    def version():
        import importlib.metadata

        return importlib.metadata.version("usearch")


class UsearchI8(Usearch):
    name = "usearch-i8"
    dtype = "i8"


class UsearchF16(Usearch):
    name = "usearch-f16"
    dtype = "f16"


class VsagSQ8:
    """pyvsag `hgraph` with `base_quantization_type` sq8 (the graph is built and searched on
    8-bit codes) and `use_reorder` with `precise_quantization_type` fp32 (the candidates are
    re-ranked on the f32 vectors, which the index keeps too). `max_degree` is 2*M, the degree of
    hnswlib's bottom layer. pyvsag has no batch search: one `knn_search` call per query, so its
    figures include Python's per-call overhead (the loop alone costs about 2 microseconds a
    query, about 1 % of a query at ef 64 on 384-d vectors)."""

    name = "vsag-sq8"
    module = "pyvsag"

    def __init__(self, dim, metric, m, efc, n):
        import pyvsag

        pyvsag.set_logger_off()
        self.normalize = metric == "cosine"
        self.dim = dim
        self.config = {
            "dtype": "float32",
            "metric_type": {"l2": "l2", "cosine": "ip", "dot": "ip"}[metric],
            "dim": dim,
            "index_param": {
                "base_quantization_type": "sq8",
                "use_reorder": True,
                "precise_quantization_type": "fp32",
                "max_degree": 2 * m,
                "ef_construction": efc,
                "build_thread_count": 1,
            },
        }
        self.index = pyvsag.Index("hgraph", json.dumps(self.config))

    def prep(self, x):
        import numpy as np

        return normalize(x) if self.normalize else np.ascontiguousarray(x, dtype="float32")

    def add(self, x):
        import numpy as np

        x = np.ascontiguousarray(x, dtype="float32")
        self.index.build(x.reshape(-1), np.arange(len(x), dtype=np.int64), len(x), self.dim)

    def search(self, q, k, ef):
        import numpy as np

        q = self.prep(q)
        sp = json.dumps({"hgraph": {"ef_search": ef}})
        out = np.full((len(q), k), -1, dtype=np.int64)
        # The ids are the integer array of the returned pair (its docstring says (distances,
        # ids), 0.18.5 returns (ids, distances)): found on the first query.
        first = self.index.knn_search(q[0], k, sp)
        slot = 0 if np.asarray(first[0]).dtype.kind in "iu" else 1
        out[0, : len(first[slot])] = first[slot]
        search = self.index.knn_search
        for i in range(1, len(q)):
            ids = search(q[i], k, sp)[slot]
            out[i, : len(ids)] = ids
        return out

    def serialized_bytes(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "index.vsag")
            self.index.save(p)
            return os.path.getsize(p)

    def params(self):
        return {"quantization": "sq8", "reorder": "fp32", "max_degree": self.config["index_param"]["max_degree"]}

    @staticmethod
    def version():
        import importlib.metadata

        return importlib.metadata.version("pyvsag")


class Symqg:
    """rabitqlib's `SymqgIndex` (SymphonyQG, SIGMOD 2025): a graph whose node blocks hold the
    1-bit RaBitQ codes of the node's neighbours next to its links, scored in batches with SIMD
    lookup tables, the raw vectors kept for re-ranking (`quantization_bits=0`, the paper's and the
    library's default; SYMQG_BITS=4 or 8 stores 4/8-bit codes instead of raw vectors).
    `max_degree` must be a multiple of 32: 2*M rounded up to one (32 for M=16)."""

    name = "symqg"
    module = "rabitqlib"

    def __init__(self, dim, metric, m, efc, n):
        import rabitqlib

        self.normalize = metric == "cosine"
        self.efc = efc
        self.max_degree = max(32, -(-2 * m // 32) * 32)
        self.bits = int(os.environ.get("SYMQG_BITS", "0"))
        sm = {"l2": "l2", "cosine": "ip", "dot": "ip"}[metric]
        self.index = rabitqlib.SymqgIndex(dim, self.max_degree, sm, self.bits)

    def prep(self, x):
        return normalize(x) if self.normalize else x

    def add(self, x):
        self.index.build(x, self.efc, 1)

    def search(self, q, k, ef):
        labels, _ = self.index.search(self.prep(q), k, ef, 1)
        return labels

    def serialized_bytes(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "index.symqg")
            self.index.save(p)
            return os.path.getsize(p)

    def params(self):
        return {"quantization": "rabitq 1-bit" + ("" if self.bits == 0 else f" + {self.bits}-bit"),
                "max_degree": self.max_degree}

    @staticmethod
    def version():
        import importlib.metadata

        return importlib.metadata.version("rabitqlib")


LIBS = {c.name: c for c in (Hnswlib, Faiss, FaissSQ8, FaissSQ8Refine, UsearchI8, UsearchF16, VsagSQ8, Symqg)}


def run(a):
    import numpy as np

    base = read_vecs(a.base, "f")
    queries = read_vecs(a.query, "f")
    gt = read_vecs(a.gt, "i")
    if a.queries:
        queries = queries[: a.queries]
    if base.shape[1] != queries.shape[1]:
        sys.exit("peers.py: base and query dimensions differ")
    if gt.shape[0] < len(queries) or gt.shape[1] < a.k:
        sys.exit("peers.py: ground truth has too few rows or neighbours")
    gt = gt[: len(queries), : a.k]
    n, dim = base.shape
    lib = LIBS[a.lib]
    # Cosine: the base is normalised before the memory snapshot (so the normalised copy is not
    # counted as index memory) and the time it takes is added to the build's.
    w0, c0 = time.perf_counter(), time.process_time()
    xb = normalize(base) if a.metric == "cosine" else base
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    # A throwaway index on the first few vectors, built and searched before the memory snapshot:
    # the one-time allocations of a library's runtime (thread pools, per-thread buffers) are
    # then made, and are not counted as the index's memory.
    w = min(n, 512)
    warm = lib(dim, a.metric, a.m, a.ef_construction, w)
    warm.add(np.ascontiguousarray(xb[:w]))
    warm.search(queries[:1], min(a.k, w), a.ef[0])
    del warm
    before = rss()
    idx = lib(dim, a.metric, a.m, a.ef_construction, n)
    w0, c0 = time.perf_counter(), time.process_time()
    idx.add(xb)
    cpu, wall = cpu + time.process_time() - c0, wall + time.perf_counter() - w0
    grown = rss() - before
    ser = idx.serialized_bytes()
    extra = dict(idx.params())
    if hasattr(idx, "reported_bytes"):
        extra["reported_bytes_per_vector"] = idx.reported_bytes() / n
    print(
        json.dumps(
            {
                "phase": "build",
                "lib": a.lib,
                "version": lib.version(),
                "seconds": cpu,
                "inserts_per_s": n / cpu,
                "bytes_per_vector": grown / n,
                "wall_seconds": wall,
                "inserts_per_s_wall": n / wall,
                "serialized_bytes_per_vector": ser / n,
                "n": n,
                "dim": dim,
                "metric": a.metric,
                "m": a.m,
                "ef_construction": a.ef_construction,
                **extra,
            }
        ),
        flush=True,
    )
    for ef in a.ef:
        best = None
        for _ in range(a.runs):
            idx.search(queries[:1], a.k, ef)  # warm-up
            w0, c0 = time.perf_counter(), time.process_time()
            labels = idx.search(queries, a.k, ef)
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            if best is None or cpu < best[0]:
                best = (cpu, wall, labels)
        cpu, wall, labels = best
        hits = sum(len(np.intersect1d(labels[i], gt[i])) for i in range(len(queries)))
        recall = hits / (len(queries) * a.k)
        print(
            json.dumps(
                {
                    "phase": "search",
                    "lib": a.lib,
                    "ef": ef,
                    "recall": recall,
                    "qps": len(queries) / cpu,
                    "qps_wall": len(queries) / wall,
                    "k": a.k,
                    "queries": len(queries),
                }
            ),
            flush=True,
        )


def available(a):
    """Prints the peers of the comma-separated list whose Python module imports, one per line;
    says on stderr which are skipped and why (exits 2 on a name that is no peer)."""
    import importlib

    for name in [x for x in a.libs.split(",") if x]:
        if name not in LIBS:
            sys.exit(f"peers.py: unknown peer {name!r} (known: {', '.join(LIBS)})")
        try:
            importlib.import_module(LIBS[name].module)
        except Exception as e:  # an optional peer that is not installed, or does not load here
            print(f"peers.py: {name} skipped: {LIBS[name].module} does not import ({type(e).__name__}: {e})",
                  file=sys.stderr)
            continue
        print(name)


def load(path):
    build, search = None, []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            o = json.loads(line)
            if o.get("phase") == "build":
                build = o
            elif o.get("phase") == "search":
                search.append(o)
    if build is None or not search:
        sys.exit(f"peers.py: {path}: no build line or no search lines")
    return build, sorted(search, key=lambda o: o["ef"])


def best(a):
    builds, searches = [], {}
    for p in a.files:
        b, s = load(p)
        builds.append(b)
        for o in s:
            if o["ef"] not in searches or o["qps"] > searches[o["ef"]]["qps"]:
                searches[o["ef"]] = o
    top = max(builds, key=lambda b: b["inserts_per_s"])
    top = dict(top, rounds=len(builds), inserts_per_s_all=[b["inserts_per_s"] for b in builds])
    print(json.dumps(top))
    for ef in sorted(searches):
        print(json.dumps(searches[ef]))


def qps_at(search, target):
    """qps at recall `target`, interpolated between the bracketing ef points; None if not reached."""
    pts = [(o["recall"], o["qps"]) for o in search]
    if pts[0][0] >= target:
        return pts[0][1], ">="
    for (r1, q1), (r2, q2) in zip(pts, pts[1:]):
        if r1 <= target <= r2:
            if r2 == r1:
                return max(q1, q2), ""
            return q1 + (q2 - q1) * (target - r1) / (r2 - r1), ""
    return None, ""


def compare(a):
    runs = [load(p) for p in a.files]
    ours_b, ours_s = runs[0]
    names = ["vexfs"] + [b.get("lib", os.path.basename(p)) for (b, _), p in zip(runs[1:], a.files[1:])]

    def fmt(x, d=0):
        return "n/a" if x is None else f"{x:,.{d}f}"

    print("| library | inserts/s | bytes/vector (memory) | bytes/vector (serialized) | "
          + " | ".join(f"qps @ recall {t:.2f}" for t in TARGETS) + " |")
    print("|---|---:|---:|---:|" + "---:|" * len(TARGETS))
    for name, (b, s) in zip(names, runs):
        ser = b.get("serialized_bytes_per_vector", b.get("encoded_bytes_per_vector"))
        cells = []
        for t in TARGETS:
            q, mark = qps_at(s, t)
            cells.append((mark + " " if mark else "") + fmt(q))
        print(f"| {name} | {fmt(b['inserts_per_s'])} | {fmt(b['bytes_per_vector'], 1)} | {fmt(ser, 1)} | "
              + " | ".join(cells) + " |")
    for name, (b, s) in zip(names[1:], runs[1:]):
        cells = []
        for t in TARGETS:
            qo, _ = qps_at(ours_s, t)
            qt, _ = qps_at(s, t)
            cells.append("n/a" if qo is None or qt is None else f"{qo / qt:.2f}x")
        def ratio(x, y):
            return "n/a" if not x or not y or y <= 0 else f"{x / y:.2f}x"

        mem = ratio(ours_b["bytes_per_vector"], b["bytes_per_vector"])
        ser = ratio(ours_b.get("encoded_bytes_per_vector"), b.get("serialized_bytes_per_vector"))
        print(f"| **vexfs / {name}** | {ratio(ours_b['inserts_per_s'], b['inserts_per_s'])} | {mem} | "
              f"{ser} | " + " | ".join(cells) + " |")
    print()
    notes = []
    for name, (b, _) in zip(names[1:], runs[1:]):
        keys = ("quantization", "refine", "k_factor", "reorder", "max_degree")
        extra = ", ".join(f"{k} {b[k]}" for k in keys if k in b)
        notes.append(f"{name}: {b.get('version', '?')}" + (f" ({extra})" if extra else ""))
    if notes:
        print("Peers: " + "; ".join(notes) + ".")
        print()
    efs = sorted({o["ef"] for _, s in runs for o in s})
    print("| ef | " + " | ".join(f"{n} recall | {n} qps" for n in names) + " |")
    print("|---:|" + "---:|---:|" * len(names))
    for ef in efs:
        cells = []
        for _, s in runs:
            o = next((o for o in s if o["ef"] == ef), None)
            cells += ["", ""] if o is None else [f"{o['recall']:.4f}", f"{o['qps']:,.0f}"]
        print(f"| {ef} | " + " | ".join(cells) + " |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--lib", choices=list(LIBS), required=True)
    r.add_argument("--base", required=True)
    r.add_argument("--query", required=True)
    r.add_argument("--gt", required=True)
    r.add_argument("--metric", choices=["l2", "cosine", "dot"], default="l2")
    r.add_argument("--m", type=int, default=16)
    r.add_argument("--ef-construction", type=int, default=200)
    r.add_argument("--ef", type=lambda s: [int(x) for x in s.split(",")], default=[10, 20, 40, 80, 160, 320])
    r.add_argument("-k", type=int, default=10)
    r.add_argument("--runs", type=int, default=1)
    r.add_argument("--queries", type=int, default=0)
    b = sub.add_parser("best")
    b.add_argument("files", nargs="+", help="rounds of one library")
    c = sub.add_parser("compare")
    c.add_argument("files", nargs="+", help="vexfs.jsonl first, then the peers")
    v = sub.add_parser("available")
    v.add_argument("libs", help="comma-separated peer names")
    a = p.parse_args()
    {"run": run, "best": best, "compare": compare, "available": available}[a.cmd](a)


if __name__ == "__main__":
    main()
