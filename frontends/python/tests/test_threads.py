"""Threads: concurrent searches give the same results as serial ones, searches and changes
interleave safely, and the GIL is released while a search or a bulk add runs (checked without
any timing: with the interpreter's switch interval made huge, a second thread can only run
while the first one is inside the call if the call released the GIL)."""

import sys
import threading

import numpy as np
import pytest

import vexfs
from conftest import clustered


@pytest.fixture
def big(fs):
    rng = np.random.default_rng(7)
    base = clustered(rng, 4000, 24)
    col = fs.create_collection("/c", dim=24, metric="l2")
    col.add([f"v{i}" for i in range(len(base))], base)
    return fs, col, base, clustered(rng, 400, 24)


def test_concurrent_searches_match_serial(big):
    _, col, _, queries = big
    want = col.search(queries, k=10, ef=48)
    out = [None] * 4

    def run(i):
        out[i] = col.search(queries, k=10, ef=48)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in out:
        np.testing.assert_array_equal(r.distances, want.distances)
        np.testing.assert_array_equal(r.names, want.names)


def test_searches_while_another_thread_adds_and_removes(big):
    _, col, base, queries = big
    errors = []
    stop = threading.Event()

    def writer():
        try:
            for round_ in range(20):
                names = [f"w{round_}_{j}" for j in range(20)]
                col.add(names, base[:20] + 0.01)
                col.remove(names[:10])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            stop.set()

    def reader():
        try:
            while not stop.is_set():
                res = col.search(queries[:50], k=5)
                assert (res.counts == 5).all()
                assert all(isinstance(n, str) for n in res.names.ravel())
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(col) == 4000 + 20 * 10


def ran_inside(call):
    """Whether another Python thread ran while `call()` was running."""
    seen = {}
    go = threading.Event()
    done = threading.Event()

    def other():
        go.wait()
        seen["inside"] = not done.is_set()

    t = threading.Thread(target=other)
    old = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)  # no forced switch: `other` runs only when the GIL is free
    try:
        t.start()
        go.set()
        call()
        done.set()
    finally:
        t.join()
        sys.setswitchinterval(old)
    return seen["inside"]


def test_the_gil_is_released_during_search_and_add(big):
    _, col, base, _ = big
    queries = np.tile(base[:500], (8, 1))
    assert ran_inside(lambda: col.search(queries, k=10, exact=True))
    many = np.tile(base[:100], (10, 1)) + 0.5
    assert ran_inside(lambda: col.add([f"n{i}" for i in range(len(many))], many))


def test_a_python_only_call_does_not_release_it():
    """The check above can fail: a call that keeps the GIL is seen as such."""
    assert not ran_inside(lambda: sum(i * i for i in range(3_000_000)))


def test_close_while_other_threads_search(big):
    fs, col, _, queries = big
    outcomes = []

    def search():
        try:
            for _ in range(30):
                col.search(queries[:20], k=3)
            outcomes.append("finished")
        except vexfs.Closed:
            outcomes.append("closed")

    threads = [threading.Thread(target=search) for _ in range(2)]
    for t in threads:
        t.start()
    fs.close()
    for t in threads:
        t.join()
    assert len(outcomes) == 2 and set(outcomes) <= {"finished", "closed"}
    with pytest.raises(vexfs.Closed):
        col.search(queries[:1])
