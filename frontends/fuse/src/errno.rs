//! The one map from core errors to errno values. Every handler that fails because the core
//! said no replies with `errno(&e)`; nothing else in the frontend invents an errno for a core
//! error. (Errors the frontend detects itself — bad flags, the virtual `/.vexfs` nodes — use
//! `Errno` constants directly.)
//!
//! `Corrupted` and `Io` both become `EIO` (SPEC §7: an I/O error while mounted fails the call
//! with EIO and loses nothing already durable).

use fuser::Errno;
use vexfs_core::Error;

/// The errno the kernel should see for a core error.
pub(crate) fn errno(e: &Error) -> Errno {
    match e {
        Error::NotFound => Errno::ENOENT,
        Error::Exists => Errno::EEXIST,
        Error::NotDirectory => Errno::ENOTDIR,
        Error::IsDirectory => Errno::EISDIR,
        Error::NotEmpty => Errno::ENOTEMPTY,
        // NotAnImage: mount(8) says EINVAL for a wrong filesystem type (only opening sees it).
        Error::Invalid(_) | Error::Query(_) | Error::NotAnImage => Errno::EINVAL,
        Error::NameTooLong => Errno::ENAMETOOLONG,
        Error::ValueTooBig => Errno::E2BIG,
        Error::NoAttribute => Errno::NO_XATTR,
        Error::Range => Errno::ERANGE,
        Error::CrossDevice => Errno::EXDEV,
        Error::Busy(_) | Error::Locked => Errno::EBUSY,
        Error::NotPermitted => Errno::EPERM,
        Error::Access => Errno::EACCES,
        Error::NotSupported => Errno::EOPNOTSUPP,
        Error::TooManyLinks => Errno::EMLINK,
        Error::FileTooBig => Errno::EFBIG,
        Error::NoSpace => Errno::ENOSPC,
        Error::Loop => Errno::ELOOP,
        Error::ReadOnly => Errno::EROFS,
        Error::Corrupted { .. } | Error::Io { .. } => Errno::EIO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_errno() {
        let cases = [
            (Error::NotFound, libc::ENOENT),
            (Error::Exists, libc::EEXIST),
            (Error::Invalid("x"), libc::EINVAL),
            (Error::query("bad"), libc::EINVAL),
            (Error::NoAttribute, libc::ENODATA),
            (Error::Range, libc::ERANGE),
            (Error::ValueTooBig, libc::E2BIG),
            (Error::NotSupported, libc::EOPNOTSUPP),
            (Error::ReadOnly, libc::EROFS),
            (Error::Access, libc::EACCES),
            (
                Error::Io {
                    during: "x",
                    errno: libc::EBADF,
                },
                libc::EIO,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(errno(&e).code(), want, "{e}");
        }
    }
}
