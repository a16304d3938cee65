"""Shared fixtures of the vexfs Python tests.

The tests run against the installed package (``pip install ./frontends/python``; ci/test.sh
does this in a fresh virtual environment). Mount tests need the ``vexfs`` command: ``VEXFS_BIN``,
else ``target/debug/vexfs`` or ``target/release/vexfs`` of this checkout (``CARGO_TARGET_DIR``
is honoured), and root with ``/dev/fuse``. Without them they skip with the reason, unless
``REQUIRE_FUSE`` is set (as in CI), where a missing prerequisite is a failure.
"""

import base64
import json
import os
import select
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import vexfs

REPO = Path(__file__).resolve().parents[3]
PATIENCE_S = 60


@pytest.fixture
def fs():
    with vexfs.in_memory() as f:
        yield f


@pytest.fixture
def image(tmp_path):
    """A path for a new image file."""
    return tmp_path / "test.img"


def clustered(rng, n, dim, clusters=20, spread=0.15):
    """Seeded clustered Gaussian data, float32."""
    centers = rng.standard_normal((clusters, dim)).astype(np.float32)
    labels = rng.integers(0, clusters, n)
    return (centers[labels] + spread * rng.standard_normal((n, dim))).astype(np.float32)


def brute_force(base, queries, k, metric):
    """Exact top-k (indices, distances) with numpy, in the core's definitions of SPEC §3."""
    b = base.astype(np.float64)
    q = queries.astype(np.float64)
    if metric == "l2":
        d = (q * q).sum(1)[:, None] - 2 * q @ b.T + (b * b).sum(1)[None, :]
    elif metric == "cosine":
        nb = np.linalg.norm(b, axis=1)
        nq = np.linalg.norm(q, axis=1)
        d = 1 - (q @ b.T) / (nq[:, None] * nb[None, :])
    elif metric == "dot":
        d = -(q @ b.T)
    else:
        raise ValueError(metric)
    idx = np.argsort(d, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(d, idx, axis=1)


def vexfs_bin():
    """The vexfs command, or None."""
    if os.environ.get("VEXFS_BIN"):
        return os.environ["VEXFS_BIN"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    if not target.is_absolute():
        target = REPO / target
    for profile in ("debug", "release"):
        p = target / profile / "vexfs"
        if p.exists():
            return str(p)
    return None


def need(condition, why):
    if condition:
        return
    if os.environ.get("REQUIRE_FUSE"):
        pytest.fail(f"{why} (REQUIRE_FUSE is set)")
    pytest.skip(why)


@pytest.fixture
def cli():
    """The vexfs command, for tests that mount (root and /dev/fuse required)."""
    binary = vexfs_bin()
    need(binary is not None, "the vexfs command is not built (cargo build -p vexfs-cli) and VEXFS_BIN is unset")
    need(Path("/dev/fuse").exists(), "/dev/fuse is missing")
    need(os.geteuid() == 0, "mount tests run as root")
    return binary


class Mount:
    """`vexfs mount IMAGE MOUNTPOINT` as a child process; `unmount()` checks it exits 0."""

    def __init__(self, binary, image, mountpoint):
        self.root = Path(mountpoint)
        self.root.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [binary, "mount", str(image), str(self.root)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        # Ready when the mount says so (its one line on stdout): it prints it once its own
        # read of /.vexfs/stats has been answered, so nothing of it holds the mount busy after.
        started = time.monotonic()
        while not select.select([self.proc.stdout], [], [], 0.05)[0]:
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"vexfs mount exited with {self.proc.returncode}: {err.decode()}")
            if time.monotonic() - started > PATIENCE_S:
                self.proc.kill()
                raise AssertionError("the mount did not appear")
        line = self.proc.stdout.readline().decode()
        assert "mounted on" in line, f"vexfs mount said {line!r}"
        assert (self.root / ".vexfs" / "search").exists()

    def search(self, query):
        """One query through /.vexfs/search: [(path, distance)], nearest first."""
        fd = os.open(self.root / ".vexfs" / "search", os.O_RDWR)
        try:
            os.write(fd, json.dumps(query).encode())
            chunks = []
            while True:
                b = os.read(fd, 1 << 16)
                if not b:
                    break
                chunks.append(b)
        finally:
            os.close(fd)
        lines = [json.loads(line) for line in b"".join(chunks).decode().splitlines() if line]
        return [(h["path"], h["distance"]) for h in lines]

    def unmount(self):
        subprocess.run(["umount", str(self.root)], check=True)
        try:
            rc = self.proc.wait(PATIENCE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        assert rc == 0, f"vexfs mount exited with {rc}: {self.proc.stderr.read().decode()}"
        self.proc = None

    def cleanup(self):
        if self.proc is not None:
            subprocess.run(["umount", "-l", str(self.root)], stderr=subprocess.DEVNULL)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def mount(cli, tmp_path):
    """mount(image) -> Mount; every mount is cleaned up after the test."""
    made = []

    def start(image):
        m = Mount(cli, image, tmp_path / f"mnt{len(made)}")
        made.append(m)
        return m

    yield start
    for m in made:
        m.cleanup()


def b64(vector):
    return base64.b64encode(np.ascontiguousarray(vector).tobytes()).decode()
