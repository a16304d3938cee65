//! Plain value types shared by the core's operations and its frontends: inode numbers, time,
//! file kinds, attributes, and the argument structs of namespace operations.
//!
//! Nothing here owns state. Time is always a [`Timestamp`] passed in by the caller (the core
//! never reads a clock), and the caller's identity is a [`Ctx`].

/// An inode number. Numbers are never reused within an image.
pub type Ino = u64;

/// The root directory's inode number (as FUSE expects).
pub const ROOT_INO: Ino = 1;

/// A point in time: seconds and nanoseconds since the Unix epoch.
///
/// Invariant: `nanos() < 1_000_000_000`, established by every constructor (the fields are
/// private), so an operation can never log a time that replay would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

/// Nanoseconds in one second.
const NANOS_PER_SEC: u32 = 1_000_000_000;

impl Timestamp {
    /// `secs` seconds plus `nanos` nanoseconds after the epoch; nanoseconds of a second or more
    /// carry into the seconds (as `std::time::Duration::new` does), saturating at the largest
    /// time.
    pub const fn new(secs: i64, nanos: u32) -> Self {
        let carry = (nanos / NANOS_PER_SEC) as i64;
        match secs.checked_add(carry) {
            Some(secs) => Timestamp {
                secs,
                nanos: nanos % NANOS_PER_SEC,
            },
            None => Timestamp {
                secs: i64::MAX,
                nanos: NANOS_PER_SEC - 1,
            },
        }
    }

    /// The time whose fields are exactly these, if `nanos` is below one billion (decoders).
    pub const fn exact(secs: i64, nanos: u32) -> Option<Self> {
        if nanos < NANOS_PER_SEC {
            Some(Timestamp { secs, nanos })
        } else {
            None
        }
    }

    /// Whole seconds since the epoch (negative before it).
    pub const fn secs(self) -> i64 {
        self.secs
    }

    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub const fn nanos(self) -> u32 {
        self.nanos
    }
}

/// Who performs an operation and when. New inodes take `uid`/`gid` (subject to set-group-ID
/// directories), and every time an operation records is `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    /// The operation's time.
    pub now: Timestamp,
    /// Caller's user id.
    pub uid: u32,
    /// Caller's group id.
    pub gid: u32,
}

impl Ctx {
    /// A context for `uid`/`gid` at `now`.
    pub const fn new(now: Timestamp, uid: u32, gid: u32) -> Self {
        Ctx { now, uid, gid }
    }
}

/// The kind of an inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    /// A regular file with data.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix domain socket.
    Socket,
    /// A character device node (`rdev` names the device).
    CharDevice,
    /// A block device node (`rdev` names the device).
    BlockDevice,
}

impl FileKind {
    /// Every kind, in code order.
    pub const ALL: [FileKind; 7] = [
        FileKind::Regular,
        FileKind::Directory,
        FileKind::Symlink,
        FileKind::Fifo,
        FileKind::Socket,
        FileKind::CharDevice,
        FileKind::BlockDevice,
    ];

    /// The `S_IFMT` bits of this kind.
    pub const fn mode_bits(self) -> u32 {
        match self {
            FileKind::Regular => 0o100_000,
            FileKind::Directory => 0o040_000,
            FileKind::Symlink => 0o120_000,
            FileKind::Fifo => 0o010_000,
            FileKind::Socket => 0o140_000,
            FileKind::CharDevice => 0o020_000,
            FileKind::BlockDevice => 0o060_000,
        }
    }

    /// The kind named by the `S_IFMT` bits of `mode`, if any.
    pub fn from_mode(mode: u32) -> Option<FileKind> {
        FileKind::ALL
            .into_iter()
            .find(|k| k.mode_bits() == mode & 0o170_000)
    }

    /// Stable one-byte code used by the on-disk format.
    pub const fn code(self) -> u8 {
        match self {
            FileKind::Regular => 0,
            FileKind::Directory => 1,
            FileKind::Symlink => 2,
            FileKind::Fifo => 3,
            FileKind::Socket => 4,
            FileKind::CharDevice => 5,
            FileKind::BlockDevice => 6,
        }
    }

    /// Inverse of [`FileKind::code`].
    pub fn from_code(c: u8) -> Option<FileKind> {
        FileKind::ALL.into_iter().find(|k| k.code() == c)
    }
}

/// Permission bits a mode may carry: rwx for user/group/other plus set-user-ID, set-group-ID
/// and sticky.
pub const PERM_MASK: u32 = 0o7777;
/// Set-user-ID bit.
pub const S_ISUID: u32 = 0o4000;
/// Set-group-ID bit.
pub const S_ISGID: u32 = 0o2000;
/// Group-execute bit.
pub const S_IXGRP: u32 = 0o0010;

/// The attributes of an inode, as `stat` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr {
    /// Inode number.
    pub ino: Ino,
    /// Kind of inode.
    pub kind: FileKind,
    /// Permission bits (`PERM_MASK`).
    pub perm: u32,
    /// Number of hard links (directories: 2 plus subdirectories).
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Device number of a character or block node, else 0.
    pub rdev: u32,
    /// Size in bytes (symlinks: target length).
    pub size: u64,
    /// Allocated 512-byte units.
    pub blocks: u64,
    /// Last access.
    pub atime: Timestamp,
    /// Last data modification.
    pub mtime: Timestamp,
    /// Last status change.
    pub ctime: Timestamp,
    /// Creation.
    pub crtime: Timestamp,
}

impl Attr {
    /// The full `st_mode`: kind bits plus permission bits.
    pub fn mode(&self) -> u32 {
        self.kind.mode_bits() | self.perm
    }
}

/// A time to set with `setattr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetTime {
    /// The operation's own time (`UTIME_NOW`).
    Now,
    /// An explicit time.
    At(Timestamp),
}

/// The changes of one `setattr`; `None` leaves a field alone (`UTIME_OMIT`, `-1` owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetAttr {
    /// New permission bits (`PERM_MASK`).
    pub perm: Option<u32>,
    /// New owner.
    pub uid: Option<u32>,
    /// New group.
    pub gid: Option<u32>,
    /// New size (truncate or extend with zeros); regular files only.
    pub size: Option<u64>,
    /// New access time.
    pub atime: Option<SetTime>,
    /// New modification time.
    pub mtime: Option<SetTime>,
}

/// How `rename` treats an existing target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RenameMode {
    /// Replace an existing target (POSIX `rename`).
    #[default]
    Replace,
    /// Fail with `EEXIST` if the target exists (`RENAME_NOREPLACE`).
    NoReplace,
    /// Atomically swap source and target, which must both exist (`RENAME_EXCHANGE`).
    Exchange,
}

/// How `setxattr` treats an existing attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum XattrMode {
    /// Create or replace.
    #[default]
    Any,
    /// Fail with `EEXIST` if it exists (`XATTR_CREATE`).
    Create,
    /// Fail with `ENODATA` if it does not exist (`XATTR_REPLACE`).
    Replace,
}

/// What `fallocate` does to a byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FallocMode {
    /// Allocate the range; extend the size if it ends past it.
    Allocate,
    /// Allocate the range without changing the size (`FALLOC_FL_KEEP_SIZE`).
    KeepSize,
    /// Deallocate the range so it reads as zeros, keeping the size
    /// (`FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE`).
    PunchHole,
}

/// One directory entry as `readdir` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Inode the entry names.
    pub ino: Ino,
    /// Kind of that inode.
    pub kind: FileKind,
    /// Resume cookie: pass it back to continue after this entry.
    pub cookie: u64,
    /// Entry name.
    pub name: Box<[u8]>,
}

/// Filesystem-wide figures for `statfs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFs {
    /// Block size in bytes.
    pub block_size: u32,
    /// Total blocks.
    pub blocks: u64,
    /// Free blocks.
    pub blocks_free: u64,
    /// Blocks available to unprivileged users.
    pub blocks_available: u64,
    /// Inodes in use plus inodes free.
    pub files: u64,
    /// Free inodes.
    pub files_free: u64,
    /// Longest name.
    pub name_len_max: u32,
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn timestamps_carry_nanoseconds_and_saturate() {
        let t = Timestamp::new(-2, 2_000_000_001);
        assert_eq!((t.secs(), t.nanos()), (0, 1));
        let t = Timestamp::new(i64::MAX, 1_000_000_000);
        assert_eq!((t.secs(), t.nanos()), (i64::MAX, 999_999_999));
        assert_eq!(
            Timestamp::exact(3, 999_999_999),
            Some(Timestamp::new(3, 999_999_999))
        );
        assert_eq!(Timestamp::exact(3, 1_000_000_000), None);
    }
}
