#!/usr/bin/env python3
"""The vexfs Python module against the Rust engine and the Python peers, on the same files.

    bench.py run --lib vexfs|hnswlib|faiss --base B.fvecs --query Q.fvecs --gt G.ivecs \
        [--metric l2] [--m 16] [--ef-construction 200] [--ef 16,32,64,128] [-k 10] [--runs 2]
    bench.py threads --base B.fvecs --query Q.fvecs [--ef 64] [--threads 1,2] [--repeats 3]
    bench.py compare OUT_DIR      (the JSON lines of run.sh's rounds -> the tables)

`run` builds one index from the whole base array (for vexfs: `Collection.add` of all n vectors
in one call, into an in-memory filesystem, the files named by their position), then for each ef
searches all queries as one batch (`Collection.search(queries, k, ef=ef)`, hnswlib `knn_query`,
faiss `search`), one thread everywhere. It prints the JSON lines of `vexfs-bench ann --json`: a
`build` object (`inserts_per_s`), then a `search` object per ef (`recall`, `qps`). Rates are CPU
time of the process (time.process_time), as vexfs-bench and peers.py measure, with wall-clock
rates beside them (`*_wall`); with --runs R each search is repeated and the fastest kept. What is
timed is the call a user makes and nothing else: the names list and the query array exist
before, and turning names into ids for the recall happens after.

`threads` builds one vexfs index and measures the wall-clock queries/s of T Python threads that
each search the whole query batch at the same time (the GIL is released inside the call), for
each T, repeated and interleaved; the best of the repeats is kept.

`compare` reads OUT_DIR/*.round*.jsonl (vexfs-rust is `vexfs-bench ann --json` output), keeps each
library's best build and best search per ef over the rounds, and prints: Python vs Rust (insert
rate, queries/s per ef), vexfs Python vs hnswlib and faiss (queries/s at equal recall, and per
ef), and the thread scaling.
"""

import argparse
import glob
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
import peers  # noqa: E402  (read_vecs, the hnswlib and faiss adapters, qps_at)


class Vexfs:
    name = "vexfs"

    def __init__(self, dim, metric, m, efc, n):
        import vexfs

        self.fs = vexfs.in_memory()
        self.col = self.fs.create_collection("/bench", dim=dim, metric=metric, m=m, ef_construction=efc)
        self.names = [f"{i:09}" for i in range(n)]

    def add(self, x):
        self.col.add(self.names[: len(x)], x)

    def search(self, q, k, ef):
        return self.col.search(q, k=k, ef=ef).names

    @staticmethod
    def labels(found):
        import numpy as np

        return np.vectorize(lambda s: -1 if s is None else int(s), otypes=[np.int64])(found)

    @staticmethod
    def version():
        import vexfs

        return vexfs.__version__


def adapter(lib):
    if lib == "vexfs":
        return Vexfs
    cls = {"hnswlib": peers.Hnswlib, "faiss": peers.Faiss}[lib]
    cls.labels = staticmethod(lambda found: found)
    return cls


def run(a):
    import numpy as np

    base = peers.read_vecs(a.base, "f")
    queries = peers.read_vecs(a.query, "f")
    gt = peers.read_vecs(a.gt, "i")[: len(queries), : a.k]
    n, dim = base.shape
    lib = adapter(a.lib)
    idx = lib(dim, a.metric, a.m, a.ef_construction, n)
    w0, c0 = time.perf_counter(), time.process_time()
    idx.add(base)
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    line = {"phase": "build", "lib": a.lib, "version": lib.version(), "seconds": cpu, "inserts_per_s": n / cpu,
            "wall_seconds": wall, "inserts_per_s_wall": n / wall, "n": n, "dim": dim, "metric": a.metric,
            "m": a.m, "ef_construction": a.ef_construction}
    print(json.dumps(line), flush=True)
    for ef in a.ef:
        best = None
        for _ in range(a.runs):
            idx.search(queries[:1], a.k, ef)  # warm-up
            w0, c0 = time.perf_counter(), time.process_time()
            found = idx.search(queries, a.k, ef)
            cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            if best is None or cpu < best[0]:
                best = (cpu, wall, found)
        cpu, wall, found = best
        labels = lib.labels(found)
        hits = sum(len(np.intersect1d(labels[i], gt[i])) for i in range(len(queries)))
        print(json.dumps({"phase": "search", "lib": a.lib, "ef": ef, "recall": hits / (len(queries) * a.k),
                          "qps": len(queries) / cpu, "qps_wall": len(queries) / wall, "k": a.k,
                          "queries": len(queries)}), flush=True)


def threads(a):
    base = peers.read_vecs(a.base, "f")
    queries = peers.read_vecs(a.query, "f")
    idx = Vexfs(base.shape[1], a.metric, a.m, a.ef_construction, len(base))
    idx.add(base)
    idx.search(queries[:1], a.k, a.ef)
    best, best_cpu = {}, {}
    for _ in range(a.repeats):
        for t in a.threads:
            barrier = threading.Barrier(t + 1)

            def work():
                barrier.wait()
                idx.search(queries, a.k, a.ef)

            ts = [threading.Thread(target=work) for _ in range(t)]
            for th in ts:
                th.start()
            barrier.wait()
            w0, c0 = time.perf_counter(), time.process_time()
            for th in ts:
                th.join()
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            best[t] = max(best.get(t, 0), t * len(queries) / wall)
            best_cpu[t] = max(best_cpu.get(t, 0), t * len(queries) / cpu)
    for t in a.threads:
        # qps_wall: what the threads achieved together (the figure that shows parallelism, on an
        # otherwise idle machine); qps_per_cpu_second: queries per second of CPU time, which
        # stays flat when the threads do not slow each other down (locks, shared caches),
        # whatever else the machine runs.
        print(json.dumps({"phase": "threads", "threads": t, "ef": a.ef, "qps_wall": best[t],
                          "speedup": best[t] / best[a.threads[0]], "qps_per_cpu_second": best_cpu[t],
                          "loadavg_1min": os.getloadavg()[0], "queries": len(queries)}), flush=True)


def load_rounds(out, lib):
    builds, searches = [], {}
    for p in sorted(glob.glob(os.path.join(out, f"{lib}.round*.jsonl"))):
        with open(p) as f:
            for line in f:
                if not line.startswith("{"):
                    continue
                o = json.loads(line)
                if o.get("phase") == "build":
                    builds.append(o)
                elif o.get("phase") == "search" and (o["ef"] not in searches or o["qps"] > searches[o["ef"]]["qps"]):
                    searches[o["ef"]] = o
    if not builds:
        return None
    return max(builds, key=lambda b: b["inserts_per_s"]), [searches[e] for e in sorted(searches)], builds


def compare(a):
    libs = {lib: load_rounds(a.out, lib) for lib in ("vexfs-python", "vexfs-rust", "hnswlib", "faiss")}
    py, rust = libs["vexfs-python"], libs["vexfs-rust"]
    if py is None:
        sys.exit(f"bench.py: no vexfs-python rounds in {a.out}")
    rounds = len(py[2])
    print(f"best of {rounds} interleaved rounds; rates are CPU time, one thread\n")
    if rust:
        print("| measure | Rust (vexfs-bench ann) | Python (vexfs module) | Python / Rust |")
        print("|---|---:|---:|---:|")
        pb, rb = py[0]["inserts_per_s"], rust[0]["inserts_per_s"]
        print(f"| inserts/s, {py[0]['n']:,} vectors | {rb:,.0f} | {pb:,.0f} | {pb / rb:.2f}x |")
        rs = {o["ef"]: o for o in rust[1]}
        for o in py[1]:
            r = rs.get(o["ef"])
            if r:
                print(f"| queries/s at ef {o['ef']} (recall Rust {r['recall']:.4f}, Python {o['recall']:.4f}) "
                      f"| {r['qps']:,.0f} | {o['qps']:,.0f} | {o['qps'] / r['qps']:.2f}x |")
        print()
    peer_names = [p for p in ("hnswlib", "faiss") if libs[p]]
    if peer_names:
        print("| | " + " | ".join(["vexfs (Python)"] + peer_names) + " | "
              + " | ".join(f"vexfs / {p}" for p in peer_names) + " |")
        print("|---|" + "---:|" * (1 + 2 * len(peer_names)))
        row = [py[0]["inserts_per_s"]] + [libs[p][0]["inserts_per_s"] for p in peer_names]
        print("| inserts/s | " + " | ".join(f"{x:,.0f}" for x in row) + " | "
              + " | ".join(f"{row[0] / x:.2f}x" for x in row[1:]) + " |")
        for t in peers.TARGETS:
            vals = [peers.qps_at(py[1], t)[0]] + [peers.qps_at(libs[p][1], t)[0] for p in peer_names]
            cells = ["n/a" if v is None else f"{v:,.0f}" for v in vals]
            ratios = ["n/a" if vals[0] is None or v is None else f"{vals[0] / v:.2f}x" for v in vals[1:]]
            print(f"| batch queries/s at recall {t:.2f} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
        print()
        print("| ef | " + " | ".join(f"{n} recall | {n} qps" for n in ["vexfs (Python)"] + peer_names) + " |")
        print("|---:|" + "---:|---:|" * (1 + len(peer_names)))
        for o in py[1]:
            cells = [f"{o['recall']:.4f}", f"{o['qps']:,.0f}"]
            for p in peer_names:
                q = next((x for x in libs[p][1] if x["ef"] == o["ef"]), None)
                cells += ["", ""] if q is None else [f"{q['recall']:.4f}", f"{q['qps']:,.0f}"]
            print(f"| {o['ef']} | " + " | ".join(cells) + " |")
        print()
    th = []
    for p in sorted(glob.glob(os.path.join(a.out, "threads*.jsonl"))):
        with open(p) as f:
            th += [json.loads(x) for x in f if x.startswith("{")]
    if th:
        best, cpu = {}, {}
        for o in th:
            best[o["threads"]] = max(best.get(o["threads"], 0), o["qps_wall"])
            cpu[o["threads"]] = max(cpu.get(o["threads"], 0), o.get("qps_per_cpu_second", 0))
        one = best[min(best)]
        load = max(o.get("loadavg_1min", 0) for o in th)
        print(f"(load average during the thread runs: up to {load:.1f} on {os.cpu_count()} CPUs)\n")
        print("| Python threads searching at once | queries/s (wall clock, all threads) | vs one thread "
              "| queries per CPU-second |")
        print("|---:|---:|---:|---:|")
        for t in sorted(best):
            print(f"| {t} | {best[t]:,.0f} | {best[t] / one:.2f}x | {cpu[t]:,.0f} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("run", "threads"):
        r = sub.add_parser(name)
        r.add_argument("--base", required=True)
        r.add_argument("--query", required=True)
        r.add_argument("--metric", choices=["l2", "cosine", "dot"], default="l2")
        r.add_argument("--m", type=int, default=16)
        r.add_argument("--ef-construction", type=int, default=200)
        r.add_argument("-k", type=int, default=10)
        if name == "run":
            r.add_argument("--lib", choices=["vexfs", "hnswlib", "faiss"], required=True)
            r.add_argument("--gt", required=True)
            r.add_argument("--ef", type=lambda s: [int(x) for x in s.split(",")], default=[16, 32, 64, 128])
            r.add_argument("--runs", type=int, default=2)
        else:
            r.add_argument("--ef", type=int, default=64)
            r.add_argument("--threads", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2])
            r.add_argument("--repeats", type=int, default=3)
    c = sub.add_parser("compare")
    c.add_argument("out")
    a = p.parse_args()
    {"run": run, "threads": threads, "compare": compare}[a.cmd](a)


if __name__ == "__main__":
    main()
