#!/usr/bin/env python3
"""A tour of the vexfs Python module: a collection of notes in an image file, bulk-added from
numpy, searched with and without a filter, reopened, and the same image as a mount would see it.

    pip install ./frontends/python
    python frontends/python/examples/quickstart.py [IMAGE]     (default: a temporary file)
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

import vexfs


def main():
    image = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "notes.img"
    notes = {
        "rust.txt": ([0.9, 0.1, 0.0, 0.0], "en", 2015),
        "fuse.txt": ([0.7, 0.3, 0.1, 0.0], "en", 2005),
        "hnsw.txt": ([0.1, 0.9, 0.2, 0.0], "en", 2016),
        "recette.txt": ([0.0, 0.1, 0.9, 0.3], "fr", 2020),
        "kochen.txt": ([0.0, 0.0, 0.8, 0.6], "de", 2021),
    }
    names = list(notes)
    vectors = np.array([v for v, _, _ in notes.values()], dtype=np.float32)

    with vexfs.create(image) as fs:
        col = fs.create_collection("/notes", dim=4, metric="cosine")
        col.add(
            names,
            vectors,
            metadata=[{"lang": lang, "year": year} for _, lang, year in notes.values()],
            contents=[f"a note about {n}" for n in names],
        )
        print(f"{col!r}: {len(col)} vectors")

        # One query: the two nearest notes, with their metadata.
        res = col.search(np.array([1, 0, 0, 0], np.float32), k=2, include="metadata")
        for name, dist, meta in zip(res.names, res.distances, res.metadata):
            print(f"  {dist:.4f}  {name}  {meta}")

        # A batch of queries, filtered on metadata: one row of results per query.
        queries = np.array([[0, 0, 1, 0], [0, 1, 0, 0]], np.float32)
        distances, found = col.search(queries, k=3, filter="lang = en and year >= 2010")
        print("filtered batch:", found.tolist())

        # Files are files: read one, look at its attributes as a mount shows them.
        print("contents:", fs.read("/notes/hnsw.txt"))
        print("attributes:", fs.listxattr("/notes/hnsw.txt"))

    # close() wrote a checkpoint: reopening replays nothing, and the image also mounts with
    # `vexfs mount IMAGE MOUNTPOINT`, where the same query gives the same answer.
    with vexfs.open(image, read_only=True) as fs:
        col = fs.collection("/notes")
        res = col.search(np.array([1, 0, 0, 0], np.float32), k=1)
        print(f"reopened: nearest is {res.names[0]} at {res.distances[0]:.4f}")

    try:
        col.add("bad.txt", np.array([1.0, np.nan, 0, 0]))
    except vexfs.Closed as e:
        print("after close:", e)
    with vexfs.open(image) as fs:
        try:
            fs.collection("/notes").add("bad.txt", np.array([1.0, np.nan, 0, 0]))
        except vexfs.InvalidVector as e:
            print("refused:", e)
    print(f"image: {image}")


if __name__ == "__main__":
    main()
