"""The exceptions of vexfs: every failure of a call raises one of these.

Each core error maps to exactly one class (see ``src/errors.rs``), and the message is the core's
message followed by what the call concerned (a path, or a batch item). The classes also derive
from the built-in exception a Python programmer would catch for the same failure of ``os``
calls (``FileNotFoundError``, ``ValueError``, ...).

    Error                                   base of all of them
    ├── NotFound        (FileNotFoundError) no such file or directory
    ├── Exists          (FileExistsError)   the name, attribute or collection already exists
    ├── NotADirectory   (NotADirectoryError)
    ├── IsADirectory    (IsADirectoryError)
    ├── NotEmpty        (OSError)           directory not empty
    ├── NoAttribute     (LookupError)       no such extended attribute (or vector)
    ├── InvalidArgument (ValueError)        a malformed argument: name, configuration, k, ...
    │   ├── InvalidVector                   a vector of the wrong shape or with bad values
    │   ├── InvalidQuery                    a malformed filter or query
    │   └── LimitExceeded                   a limit of SPEC §7: name, attribute, file size
    ├── NotSupported                        not possible on this object (or cross-directory)
    ├── Busy                                in use (a collection with vectors changing type)
    │   └── Locked                          the image is open elsewhere
    ├── ReadOnly                            opened read-only, or refusing writes after an I/O error
    ├── NoSpace                             no space left on the medium (or in a file's attributes)
    ├── Corrupted                           the image is damaged (names the structure and offset)
    ├── StorageError    (OSError)           an I/O error of the storage; ``errno`` is the host's
    └── Closed          (ValueError)        the filesystem was closed

Wrong argument types, and arrays of the wrong dtype, raise the built-in ``TypeError``.
"""

__all__ = [
    "Error",
    "NotFound",
    "Exists",
    "NotADirectory",
    "IsADirectory",
    "NotEmpty",
    "NoAttribute",
    "InvalidArgument",
    "InvalidVector",
    "InvalidQuery",
    "LimitExceeded",
    "NotSupported",
    "Busy",
    "Locked",
    "ReadOnly",
    "NoSpace",
    "Corrupted",
    "StorageError",
    "Closed",
]


class Error(Exception):
    """Base class of every vexfs exception."""


class NotFound(Error, FileNotFoundError):
    """No such file or directory."""


class Exists(Error, FileExistsError):
    """The name, attribute or collection already exists."""


class NotADirectory(Error, NotADirectoryError):
    """A directory was required."""


class IsADirectory(Error, IsADirectoryError):
    """The operation does not apply to a directory."""


class NotEmpty(Error, OSError):
    """The directory has entries."""


class NoAttribute(Error, LookupError):
    """The extended attribute (or the file's vector) does not exist."""


class InvalidArgument(Error, ValueError):
    """An argument is malformed; the message says which."""


class InvalidVector(InvalidArgument):
    """A vector does not fit the collection: wrong shape, NaN, infinity or out of range."""


class InvalidQuery(InvalidArgument):
    """A malformed search filter or query."""


class LimitExceeded(InvalidArgument):
    """A limit was exceeded: name or attribute length, attribute size, file size, links."""


class NotSupported(Error):
    """The operation is not supported on this object."""


class Busy(Error):
    """The object is in use."""


class Locked(Busy):
    """The image is already open (in this or another process)."""


class ReadOnly(Error):
    """The image was opened read-only, or refuses writes after an I/O error."""


class NoSpace(Error):
    """No space left on the medium, or in the file's attribute list."""


class Corrupted(Error):
    """The image is damaged; the message names the structure and where."""


class StorageError(Error, OSError):
    """An I/O error from the storage under the image; ``errno`` is the host's."""


class Closed(Error, ValueError):
    """The filesystem was closed."""


for _cls in [globals()[_n] for _n in __all__]:
    _cls.__module__ = "vexfs"
del _cls
