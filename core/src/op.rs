//! The operation vocabulary: every change to an image is one [`Op`], and [`OpKind`] names its
//! kind.
//!
//! This module sits below both the engine (which validates and applies operations) and the
//! journal (which encodes them into log records and replays them), so neither depends on the
//! other for it. It depends only on [`crate::types`].
//!
//! Invariants: `OpKind::ALL[k as usize] == k` for every kind (the journal's record code is that
//! index, so the order of `ALL` is part of the image format), and `Op::kind` is total.

use crate::types::{FallocMode, FileKind, Ino, RenameMode, SetAttr, XattrMode};

/// One change to an image. Borrowed data keeps the hot paths (write, setxattr) copy-free.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op<'a> {
    /// Create a regular file, directory, fifo, socket or device node.
    Mknod {
        /// Directory to create it in.
        parent: Ino,
        /// Its name.
        name: &'a [u8],
        /// What to create (not `Symlink`).
        kind: FileKind,
        /// Permission bits.
        perm: u32,
        /// Device number for device nodes.
        rdev: u32,
    },
    /// Create a symbolic link.
    Symlink {
        /// Directory to create it in.
        parent: Ino,
        /// Its name.
        name: &'a [u8],
        /// What it points to.
        target: &'a [u8],
    },
    /// Add a name for an existing non-directory.
    Link {
        /// The inode to link.
        ino: Ino,
        /// Directory for the new name.
        parent: Ino,
        /// The new name.
        name: &'a [u8],
    },
    /// Remove a non-directory's name.
    Unlink {
        /// Directory holding the name.
        parent: Ino,
        /// The name.
        name: &'a [u8],
    },
    /// Remove an empty directory.
    Rmdir {
        /// Directory holding it.
        parent: Ino,
        /// Its name.
        name: &'a [u8],
    },
    /// Move or exchange names.
    Rename {
        /// Source directory.
        parent: Ino,
        /// Source name.
        name: &'a [u8],
        /// Target directory.
        new_parent: Ino,
        /// Target name.
        new_name: &'a [u8],
        /// Replace, no-replace or exchange.
        mode: RenameMode,
    },
    /// Change permissions, owner, size or times.
    SetAttr {
        /// The inode.
        ino: Ino,
        /// What to change.
        attr: SetAttr,
    },
    /// Write file data.
    Write {
        /// The file.
        ino: Ino,
        /// Byte offset.
        offset: u64,
        /// The bytes.
        data: &'a [u8],
        /// Clear set-user-ID/set-group-ID (a write by someone other than the owner).
        kill_suid: bool,
    },
    /// Allocate space or punch a hole.
    Fallocate {
        /// The file.
        ino: Ino,
        /// Start of the range.
        offset: u64,
        /// Length of the range.
        len: u64,
        /// What to do.
        mode: FallocMode,
    },
    /// Set an extended attribute.
    SetXattr {
        /// The inode.
        ino: Ino,
        /// Full attribute name (`user.…` or `trusted.…`).
        name: &'a [u8],
        /// The value.
        value: &'a [u8],
        /// Create, replace or either.
        mode: XattrMode,
    },
    /// Remove an extended attribute.
    RemoveXattr {
        /// The inode.
        ino: Ino,
        /// Full attribute name.
        name: &'a [u8],
    },
    /// Record an access (sets `atime` to the operation's time).
    Touch {
        /// The inode.
        ino: Ino,
    },
    /// Free an unlinked, unpinned inode.
    Release {
        /// The inode.
        ino: Ino,
    },
}

/// The kind of an [`Op`], for counters, the stack audit and the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    /// [`Op::Mknod`].
    Mknod,
    /// [`Op::Symlink`].
    Symlink,
    /// [`Op::Link`].
    Link,
    /// [`Op::Unlink`].
    Unlink,
    /// [`Op::Rmdir`].
    Rmdir,
    /// [`Op::Rename`].
    Rename,
    /// [`Op::SetAttr`].
    SetAttr,
    /// [`Op::Write`].
    Write,
    /// [`Op::Fallocate`].
    Fallocate,
    /// [`Op::SetXattr`].
    SetXattr,
    /// [`Op::RemoveXattr`].
    RemoveXattr,
    /// [`Op::Touch`].
    Touch,
    /// [`Op::Release`].
    Release,
}

impl OpKind {
    /// Every kind.
    pub const ALL: [OpKind; 13] = [
        OpKind::Mknod,
        OpKind::Symlink,
        OpKind::Link,
        OpKind::Unlink,
        OpKind::Rmdir,
        OpKind::Rename,
        OpKind::SetAttr,
        OpKind::Write,
        OpKind::Fallocate,
        OpKind::SetXattr,
        OpKind::RemoveXattr,
        OpKind::Touch,
        OpKind::Release,
    ];

    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            OpKind::Mknod => "mknod",
            OpKind::Symlink => "symlink",
            OpKind::Link => "link",
            OpKind::Unlink => "unlink",
            OpKind::Rmdir => "rmdir",
            OpKind::Rename => "rename",
            OpKind::SetAttr => "setattr",
            OpKind::Write => "write",
            OpKind::Fallocate => "fallocate",
            OpKind::SetXattr => "setxattr",
            OpKind::RemoveXattr => "removexattr",
            OpKind::Touch => "touch",
            OpKind::Release => "release",
        }
    }
}

impl Op<'_> {
    /// The operation's kind.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Mknod { .. } => OpKind::Mknod,
            Op::Symlink { .. } => OpKind::Symlink,
            Op::Link { .. } => OpKind::Link,
            Op::Unlink { .. } => OpKind::Unlink,
            Op::Rmdir { .. } => OpKind::Rmdir,
            Op::Rename { .. } => OpKind::Rename,
            Op::SetAttr { .. } => OpKind::SetAttr,
            Op::Write { .. } => OpKind::Write,
            Op::Fallocate { .. } => OpKind::Fallocate,
            Op::SetXattr { .. } => OpKind::SetXattr,
            Op::RemoveXattr { .. } => OpKind::RemoveXattr,
            Op::Touch { .. } => OpKind::Touch,
            Op::Release { .. } => OpKind::Release,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::OpKind;

    #[test]
    fn all_is_indexed_by_kind() {
        for (i, k) in OpKind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i, "{}", k.name());
        }
    }
}
