#!/usr/bin/env python3
"""Filesystem benchmark of a VexFS mount against a bindfs passthrough mount (see run.sh).

Everything goes through ordinary system calls from this one process, the way a user's program
reaches either filesystem, and the same code runs against both mounts:

- files: create (open O_CREAT|O_EXCL + close), stat, rename and unlink of N files in one
  directory, in that order, each phase timed as a whole (operations per second);
- these and the sequential I/O run in --rounds rounds alternating bindfs and VexFS, and each
  figure is the median over the rounds (a busy machine then slows both alike);
- sequential write and read of one file in 1 MiB requests (MB/s, 10^6 bytes), the write timed
  from open to close, the read after POSIX_FADV_DONTNEED on a fresh open. The read is timed
  with each mount's own readahead window (VexFS asks for 1 MiB, bindfs keeps the kernel's
  128 KiB), then again with both windows forced to 128 KiB and to 1 MiB through
  /sys/class/bdi/MAJ:MIN/read_ahead_kb, so that the table shows what the window accounts for;
- vectors (VexFS only): setxattr of user.vexfs.vector on N existing files of a 128-dim f32
  collection (vectors per second);
- search (VexFS only): a collection of S x 128 vectors is loaded with `vexfs import`, then Q
  queries (k=10, default ef) go through /.vexfs/search one open file each: open O_RDWR, write the
  JSON query, read the JSON lines to EOF, close; each transaction is timed (p50/p90/p99);
- search throughput (VexFS only): the same transactions from 1 and from 2 client processes at
  once (--clients), each client a forked process with its own share of Q queries, started
  together; queries per wall second of the whole batch, in --rounds rounds alternating the
  client counts, median per count, and the ratio to one client. Wall time is what shows
  scaling, so run it on an idle machine (--only-search skips everything else).

Only the Python standard library is used. Prints one table, and the raw figures as JSON with
--json-out.
"""

import argparse
import json
import os
import random
import statistics
import struct
import subprocess
import sys
import time

MIB = 1 << 20


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def op_counts(root):
    """The mount's request counters by kind (VexFS only; None elsewhere)."""
    try:
        with open(os.path.join(root, ".vexfs", "stats")) as f:
            ops = json.load(f).get("operations", {})
        return {k: v.get("count", 0) for k, v in ops.items()}
    except (OSError, ValueError):
        return None


def requests_per_op(before, after, n):
    """FUSE requests the mount served per operation between two op_counts, e.g. '1 rename + 6 getattr'."""
    if before is None or after is None:
        return None
    parts = []
    for k, v in sorted(after.items(), key=lambda kv: -(kv[1] - before.get(kv[0], 0))):
        d = (v - before.get(k, 0)) / n
        if d >= 0.05 and k != "stats":
            parts.append("%.3g %s" % (d, k))
    return " + ".join(parts)


def file_ops(root, n, trace):
    d = os.path.join(root, "files")
    os.mkdir(d)
    names = [os.path.join(d, "f%06d" % i) for i in range(n)]
    renamed = [os.path.join(d, "r%06d" % i) for i in range(n)]
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY

    def create():
        for p in names:
            os.close(os.open(p, flags, 0o644))

    def stat():
        for p in names:
            os.stat(p)

    def rename():
        for a, b in zip(names, renamed):
            os.rename(a, b)

    def unlink():
        for p in renamed:
            os.unlink(p)

    out = {}
    for phase, fn in [("create", create), ("stat", stat), ("rename", rename), ("unlink", unlink)]:
        before = op_counts(root)
        out[phase] = n / timed(fn)
        per_op = requests_per_op(before, op_counts(root), n)
        if per_op is not None:
            trace[phase] = per_op
    os.rmdir(d)
    return out


def readahead_knob(root):
    dev = os.stat(root).st_dev
    return "/sys/class/bdi/%d:%d/read_ahead_kb" % (os.major(dev), os.minor(dev))


def sequential(root, mib):
    path = os.path.join(root, "seq")
    buf = os.urandom(MIB)

    def write():
        fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o644)
        for _ in range(mib):
            view = memoryview(buf)
            while view:
                view = view[os.write(fd, view):]
        os.close(fd)

    got = [0]

    def read():
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        f = os.fdopen(fd, "rb", buffering=0)
        b = bytearray(MIB)
        while True:
            k = f.readinto(b)
            if not k:
                break
            got[0] += k
        f.close()

    def read_rate():
        # Drop what the kernel cached of the file before reading it back.
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
        got[0] = 0
        r = timed(read)
        if got[0] != mib * MIB:
            raise SystemExit("read back %d bytes, wrote %d" % (got[0], mib * MIB))
        return mib * MIB / r / 1e6

    w = timed(write)
    out = {"write": mib * MIB / w / 1e6, "read": read_rate()}
    knob = readahead_knob(root)
    with open(knob) as f:
        own = f.read().strip()
    try:
        for kib in (128, 1024):
            with open(knob, "w") as f:
                f.write("%d\n" % kib)
            out["read_ra%d" % kib] = read_rate()
    finally:
        with open(knob, "w") as f:
            f.write(own + "\n")
    os.unlink(path)
    return out


def random_vector(rng, dim):
    return [rng.uniform(-1.0, 1.0) for _ in range(dim)]


def pack(v):
    return struct.pack("<%df" % len(v), *v)


def vector_set(vexfs, root, n, dim, rng):
    d = os.path.join(root, "vset")
    os.mkdir(d)
    subprocess.run([vexfs, "index", "create", d, "--dim", str(dim)], check=True, stdout=subprocess.DEVNULL)
    names = [os.path.join(d, "v%06d" % i) for i in range(n)]
    for p in names:
        os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))
    blobs = [pack(random_vector(rng, dim)) for _ in range(n)]

    def go():
        for p, b in zip(names, blobs):
            os.setxattr(p, "user.vexfs.vector", b)

    before = op_counts(root)
    rate = n / timed(go)
    return rate, requests_per_op(before, op_counts(root), n)


def search(vexfs, root, size, dim, queries, rng, work):
    d = os.path.join(root, "big")
    os.mkdir(d)
    subprocess.run([vexfs, "index", "create", d, "--dim", str(dim)], check=True, stdout=subprocess.DEVNULL)
    src = os.path.join(work, "big.fvecs")
    with open(src, "wb") as f:
        head = struct.pack("<i", dim)
        for _ in range(size):
            f.write(head)
            f.write(pack(random_vector(rng, dim)))
    t = time.perf_counter()
    subprocess.run([vexfs, "import", d, "--fvecs", src], check=True, stdout=subprocess.DEVNULL)
    import_rate = size / (time.perf_counter() - t)
    os.unlink(src)
    search_file = os.path.join(root, ".vexfs", "search")
    qs = [
        json.dumps({"dir": "/big", "vector": [round(x, 6) for x in random_vector(rng, dim)], "k": 10}).encode()
        for _ in range(queries + 50)
    ]
    lat = []
    lines = 0
    for i, q in enumerate(qs):
        t = time.perf_counter()
        fd = os.open(search_file, os.O_RDWR)
        os.write(fd, q)
        chunks = []
        while True:
            c = os.read(fd, 65536)
            if not c:
                break
            chunks.append(c)
        os.close(fd)
        dt = time.perf_counter() - t
        if i >= 50:  # the first 50 warm up
            lat.append(dt)
            lines += b"".join(chunks).count(b"\n")
    if lines != 10 * queries:
        raise SystemExit("expected %d result lines, got %d" % (10 * queries, lines))
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))] * 1e3

    return {"import": import_rate, "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "queries": qs}


def transaction(search_file, q):
    fd = os.open(search_file, os.O_RDWR)
    os.write(fd, q)
    n = 0
    while True:
        c = os.read(fd, 65536)
        if not c:
            break
        n += c.count(b"\n")
    os.close(fd)
    return n


def throughput(root, qs, clients):
    """Queries per wall second with `clients` forked processes splitting `qs` round-robin."""
    search_file = os.path.join(root, ".vexfs", "search")
    go_r, go_w = os.pipe()
    pids, dones = [], []
    for c in range(clients):
        done_r, done_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            os.close(done_r)
            mine = qs[c::clients]
            for q in mine[:10]:  # warm-up
                transaction(search_file, q)
            os.write(done_w, b"r")
            os.read(go_r, 1)
            lines = sum(transaction(search_file, q) for q in mine)
            os.write(done_w, struct.pack("<q", lines))
            os._exit(0)
        os.close(done_w)
        pids.append(pid)
        dones.append(done_r)
    for d in dones:
        os.read(d, 1)
    t = time.perf_counter()
    os.write(go_w, b"g" * clients)
    lines = 0
    for d in dones:
        lines += struct.unpack("<q", os.read(d, 8))[0]
    dt = time.perf_counter() - t
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise SystemExit("a search client failed")
    for fd in dones + [go_r, go_w]:
        os.close(fd)
    if lines != 10 * len(qs):
        raise SystemExit("expected %d result lines, got %d" % (10 * len(qs), lines))
    return len(qs) / dt


def search_scaling(root, qs, counts, rounds):
    got = {c: [] for c in counts}
    for r in range(rounds):
        for c in counts:
            got[c].append(throughput(root, qs, c))
            print("round %d/%d: %d client(s): %.0f queries/s" % (r + 1, rounds, c, got[c][-1]), file=sys.stderr)
    med = {c: statistics.median(v) for c, v in got.items()}
    return {"qps": med, "rounds": got}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vexfs", required=True, help="the vexfs binary")
    ap.add_argument("--vexfs-root", required=True, help="a VexFS mountpoint")
    ap.add_argument("--bindfs-root", required=True, help="a bindfs mountpoint")
    ap.add_argument("--work", required=True, help="scratch directory outside both mounts")
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--seq-mib", type=int, default=256)
    ap.add_argument("--vectors", type=int, default=10000)
    ap.add_argument("--search-size", type=int, default=100000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the file and I/O measures (median)")
    ap.add_argument("--clients", default="1,2", help="client process counts of the throughput measure")
    ap.add_argument("--only-search", action="store_true", help="only the search measures (no bindfs)")
    ap.add_argument("--json-out")
    a = ap.parse_args()
    rng = random.Random(20240601)
    counts = [int(c) for c in a.clients.split(",")]
    if a.only_search:
        print("vexfs: search (loading %d vectors)..." % a.search_size, file=sys.stderr)
        s = search(a.vexfs, a.vexfs_root, a.search_size, a.dim, a.queries, rng, a.work)
        sc = search_scaling(a.vexfs_root, s.pop("queries"), counts, a.rounds)
        res = {"vexfs": {"search": s, "search_scaling": sc}}
        if a.json_out:
            with open(a.json_out, "w") as f:
                json.dump(res, f, indent=1)
        print_search(res, a, counts)
        return
    rounds = {"bindfs": [], "vexfs": []}
    trace = {}
    # Alternate the two filesystems round by round, so that a noisy neighbour on the machine
    # affects both alike; each figure is the median of the rounds.
    for r in range(a.rounds):
        for name, root in [("bindfs", a.bindfs_root), ("vexfs", a.vexfs_root)]:
            print("round %d/%d, %s: files, sequential I/O..." % (r + 1, a.rounds, name), file=sys.stderr)
            got = file_ops(root, a.files, trace)
            got.update(sequential(root, a.seq_mib))
            rounds[name].append(got)
    res = {name: {k: statistics.median(g[k] for g in rs) for k in rs[0]} for name, rs in rounds.items()}
    res["rounds"] = rounds
    print("vexfs: vector set...", file=sys.stderr)
    res["vexfs"]["vector_set"], trace["vector set"] = vector_set(a.vexfs, a.vexfs_root, a.vectors, a.dim, rng)
    print("vexfs: search (loading %d vectors)..." % a.search_size, file=sys.stderr)
    before = op_counts(a.vexfs_root)
    res["vexfs"]["search"] = search(a.vexfs, a.vexfs_root, a.search_size, a.dim, a.queries, rng, a.work)
    res["vexfs"]["search_scaling"] = search_scaling(
        a.vexfs_root, res["vexfs"]["search"].pop("queries"), counts, a.rounds)
    ops = {}
    try:
        with open(os.path.join(a.vexfs_root, ".vexfs", "stats")) as f:
            ops = json.load(f).get("operations", {})
    except (OSError, ValueError) as e:
        print("cannot read /.vexfs/stats: %s" % e, file=sys.stderr)
    res["vexfs"]["stats_operations"] = ops
    res["requests_per_op"] = trace
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(res, f, indent=1)
    print_table(res, a)
    print_search(res, a, counts)
    print()
    print("FUSE requests VexFS served per operation (from /.vexfs/stats counters):")
    for k, v in trace.items():
        print("  %-10s %s" % (k, v))
    s = ops.get("search", {})
    if s.get("p50_us") is not None:
        print("search inside the mount (/.vexfs/stats, all searches): p50 %s us, p90 %s us, p99 %s us"
              % (s.get("p50_us"), s.get("p90_us"), s.get("p99_us")))
    x = ops.get("setxattr", {})
    if x.get("p50_us") is not None:
        print("setxattr inside the mount (vector set and import): p50 %s us, p90 %s us, p99 %s us"
              % (x.get("p50_us"), x.get("p90_us"), x.get("p99_us")))


def print_search(res, a, counts):
    s = res["vexfs"]["search"]
    sc = res["vexfs"]["search_scaling"]
    print()
    print("search through the mount, %d x %d, k=10: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms"
          % (a.search_size, a.dim, s["p50_ms"], s["p90_ms"], s["p99_ms"]))
    one = sc["qps"][counts[0]]
    for c in counts:
        q = sc["qps"][c]
        per = ", ".join("%.0f" % x for x in sc["rounds"][c])
        print("  %d client process(es): %.0f queries/s (median of %s), %.2fx %d client(s)"
              % (c, q, per, q / one, counts[0]))


def print_table(res, a):
    b, v = res["bindfs"], res["vexfs"]
    rows = []
    for key, what, unit in [
        ("create", "create %d files" % a.files, "ops/s"),
        ("stat", "stat %d files" % a.files, "ops/s"),
        ("rename", "rename %d files" % a.files, "ops/s"),
        ("unlink", "unlink %d files" % a.files, "ops/s"),
        ("write", "sequential write, 1 MiB requests, %d MiB" % a.seq_mib, "MB/s"),
        ("read", "sequential read, 1 MiB requests, %d MiB" % a.seq_mib, "MB/s"),
        ("read_ra128", "  the same, both at 128 KiB readahead", "MB/s"),
        ("read_ra1024", "  the same, both at 1 MiB readahead", "MB/s"),
    ]:
        ratio = v[key] / b[key]
        info = key in ("read_ra128", "read_ra1024")
        rows.append((what, "%.0f %s" % (b[key], unit), "%.0f %s" % (v[key], unit), "%.2fx" % ratio,
                     "-" if info else ">= 1.0x", "-" if info else ("met" if ratio >= 1.0 else "MISSED")))
    vs = v["vector_set"]
    rows.append(("vector set (setxattr), %d x %d f32" % (a.vectors, a.dim), "-", "%.0f /s" % vs, "-",
                 ">= 5000 /s", "met" if vs >= 5000 else "MISSED"))
    s = v["search"]
    rows.append(("import %d x %d (vexfs import)" % (a.search_size, a.dim), "-", "%.0f /s" % s["import"], "-", "-", "-"))
    rows.append(("search p50 (k=10), %d x %d" % (a.search_size, a.dim), "-", "%.3f ms" % s["p50_ms"], "-",
                 "<= 0.5 ms", "met" if s["p50_ms"] <= 0.5 else "MISSED"))
    rows.append(("search p90 / p99", "-", "%.3f / %.3f ms" % (s["p90_ms"], s["p99_ms"]), "-", "-", "-"))
    head = ("measure", "bindfs", "VexFS", "VexFS/bindfs", "target", "")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


if __name__ == "__main__":
    main()
