"""VexFS in Python: a filesystem whose files carry embedding vectors, used in-process.

The same engine as the ``vexfs mount`` FUSE frontend, without a mount (no root, no
``/dev/fuse``), in one image file or in memory::

    import numpy as np, vexfs

    with vexfs.create("notes.img") as fs:
        col = fs.create_collection("/notes", dim=4, metric="cosine")
        col.add(["a.txt", "b.txt"], np.array([[1, 0, 0, 0], [0, 1, 0, 0]], np.float32),
                metadata=[{"lang": "en"}, {"lang": "fr"}])
        res = col.search(np.array([0.9, 0.1, 0, 0], np.float32), k=2, filter="lang = en")
        print(res.names, res.distances)      # ['a.txt' None] [0.0061 inf]

An image made here mounts with ``vexfs mount`` and gives the same search results, and the
reverse. See the README's "Python" section; the exceptions are in ``vexfs._errors``.
"""

from ._errors import *  # noqa: F401,F403
from ._errors import __all__ as _error_names
from ._vexfs import (
    Collection,
    FileSystem,
    SearchResults,
    __version__,
    create,
    in_memory,
    open,
)

__all__ = [
    "create",
    "open",
    "in_memory",
    "FileSystem",
    "Collection",
    "SearchResults",
    "__version__",
    *_error_names,
]
