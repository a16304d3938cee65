//! The one error type of the core.
//!
//! Every operating error a caller can see (bad input, a missing file, a full disk, a corrupted
//! image) is a variant of [`Error`]; programmer errors are assertions, not errors. Variants carry
//! `&'static str` reasons so that building an error never allocates, except [`Error::Query`],
//! whose message quotes the malformed query and is only built on the (cold) parse-failure path.
//!
//! The core does not know errno values: each frontend maps `Error` to its own vocabulary in one
//! place (the FUSE frontend's errno map, the CLI's one-line messages).

/// Result of every fallible core call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An operating error. Where a POSIX errno exists, the variant's doc names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `ENOENT`: a path component or the named entry does not exist.
    #[error("no such file or directory")]
    NotFound,
    /// `EEXIST`: the name (or attribute, with create semantics) already exists.
    #[error("file exists")]
    Exists,
    /// `ENOTDIR`: a directory was required.
    #[error("not a directory")]
    NotDirectory,
    /// `EISDIR`: the operation does not apply to a directory.
    #[error("is a directory")]
    IsDirectory,
    /// `ENOTEMPTY`: the directory has entries.
    #[error("directory not empty")]
    NotEmpty,
    /// `EINVAL`: an argument is malformed; the reason says which.
    #[error("invalid argument: {0}")]
    Invalid(&'static str),
    /// `EINVAL`: a search query is malformed; the message quotes what was wrong.
    #[error("invalid query: {0}")]
    Query(Box<str>),
    /// `ENAMETOOLONG`: a name or path is longer than its limit.
    #[error("file name too long")]
    NameTooLong,
    /// `E2BIG`: an attribute value is larger than its limit.
    #[error("attribute value too large")]
    ValueTooBig,
    /// `ENODATA`: the attribute does not exist.
    #[error("no such attribute")]
    NoAttribute,
    /// `ERANGE`: an attribute name is too long, or a caller's buffer is too small.
    #[error("result out of range")]
    Range,
    /// `EXDEV`: the operation would cross a boundary it may not cross.
    #[error("invalid cross-device link")]
    CrossDevice,
    /// `EBUSY`: the object is in use; the reason says by what.
    #[error("resource busy: {0}")]
    Busy(&'static str),
    /// `EPERM`: the operation is not permitted on this object.
    #[error("operation not permitted")]
    NotPermitted,
    /// `EACCES`: the caller's credentials do not allow the access (a search, `like` or stats
    /// on the caller's behalf; the mount's ordinary requests are checked by the kernel).
    #[error("permission denied")]
    Access,
    /// `EOPNOTSUPP`: the operation or attribute namespace is not supported.
    #[error("operation not supported")]
    NotSupported,
    /// `EMLINK`: the inode has the most hard links it may have.
    #[error("too many links")]
    TooManyLinks,
    /// `EFBIG`: the file would grow past the largest file size.
    #[error("file too large")]
    FileTooBig,
    /// `ENOSPC`: no space left (in the image's medium, or in an inode's attribute list).
    #[error("no space left on device")]
    NoSpace,
    /// `ELOOP`: too many symbolic links while resolving a path.
    #[error("too many levels of symbolic links")]
    Loop,
    /// `EROFS`: the image was opened read-only, or refuses writes after an I/O error.
    #[error("read-only file system")]
    ReadOnly,
    /// The image is damaged: `what` names the structure, `offset` where it was found.
    #[error("image corrupted: {what} at byte {offset}")]
    Corrupted {
        /// The structure that failed its check (superblock, log record, checkpoint, ...).
        what: &'static str,
        /// Byte offset in the image where the damaged structure starts.
        offset: u64,
    },
    /// The file is not a VexFS image: neither superblock slot is anything like a VexFS
    /// superblock (an empty file, another format, or not made by `mkfs`). A VexFS superblock
    /// with damage is [`Error::Corrupted`] instead.
    #[error("not a VexFS image")]
    NotAnImage,
    /// An I/O error from the storage under the image (`errno` as the host reported it).
    #[error("{during}: {}", std::io::Error::from_raw_os_error(*errno))]
    Io {
        /// What the core was doing when the storage failed.
        during: &'static str,
        /// The host's errno, or `EIO` (5) when it gave none.
        errno: i32,
    },
    /// The image is already open in another process or handle.
    #[error("image is locked by another process")]
    Locked,
}

impl Error {
    /// An I/O error from a `std::io::Error`, keeping the host errno.
    pub fn io(during: &'static str, e: &std::io::Error) -> Self {
        const EIO: i32 = 5;
        const ENOSPC: i32 = 28;
        match e.raw_os_error() {
            Some(ENOSPC) => Error::NoSpace,
            Some(errno) => Error::Io { during, errno },
            None if e.kind() == std::io::ErrorKind::StorageFull => Error::NoSpace,
            None => Error::Io { during, errno: EIO },
        }
    }

    /// A query error with a message.
    pub fn query(msg: impl Into<Box<str>>) -> Self {
        Error::Query(msg.into())
    }
}
