//! The virtual directory `/.vexfs` (SPEC §4, §6): its node ids, names, attributes and listing,
//! and every request about them. Each `Filesystem` method of `fs` hands a request on a virtual
//! node to one function or [`Node`] method here, before it touches the engine; `fs` knows no
//! virtual node id and no policy below.
//!
//! Nothing here is stored in the image. The three nodes have reserved node ids above
//! `u32::MAX`, outside the engine's inode range (inode numbers are dense `u32` indexes plus
//! one), so no engine inode can ever collide with them. The kernel's lookups of them are not
//! counted (they need no pin), and requests on them are not timed in the metrics (the stats
//! render and each search are, as `stats` and `search`). `.vexfs` appears in the root's
//! listing with the cookie [`VEXFS_COOKIE`], after every engine entry (engine cookies are small
//! counters), and the root's link count includes it ([`engine_attr`]).
//!
//! Submodules: `handles` (the open files and their memory budget), `search` (the transaction
//! file) and `stats` (the statistics document).
//!
//! Policy (documented for users in `frontends/fuse/README.md`):
//! - `.vexfs` cannot be created over (`EEXIST`), removed or renamed (`EPERM`), and nothing can
//!   be created, linked or renamed into it (`EPERM`). None of the nodes has extended
//!   attributes or can be changed (`EPERM`), except that `open(search, O_TRUNC)` truncates
//!   harmlessly; `fsync` of them succeeds and does nothing.
//! - `search` (mode 0666) is a transaction file: each open gets its own query and result
//!   buffers (see `search`). The file is a *stream* (`FOPEN_STREAM`): reads return the result
//!   lines in order from the first, whatever the file position, so write-then-read on one
//!   descriptor works as it does on a pipe (`pread`/`lseek` fail with `ESPIPE`).
//! - `stats` (mode 0444, opened read-only or `EACCES`) is rendered once per open (see `stats`).
//! - Open files of both are charged to the search memory budget (see `handles`); past it an
//!   open fails with `ENFILE`.
//! - Both are opened with `direct_io`, so their contents are never cached. Their names and
//!   attributes (the mount's time; size 0 for `stats`, `QUERY_LEN_MAX` for `search`) never
//!   change, so the kernel may cache those.
//! - Concurrent searches run in parallel. The kernel serialises direct-I/O writes to one inode
//!   unless the open says `FOPEN_PARALLEL_DIRECT_WRITES` *and* the write ends within the file's
//!   size, and a query runs inside its write: so `search` is opened with that flag and claims
//!   the size of the largest query (a write past it still works, one at a time). It is also
//!   opened with `FOPEN_NOFLUSH`: a close has nothing to flush, so it costs no request.

mod handles;
mod search;
mod stats;

pub(crate) use handles::Handles;

use crate::convert::file_attr;
use crate::creds;
use crate::errno::errno;
use crate::fs::{ATTR_TTL, ENTRY_TTL, Entry, GEN, Listing};
use crate::state::Shared;
use fuser::{
    Errno, FileAttr, FileHandle, FileType, FopenFlags, INodeNo, OpenAccMode, OpenFlags, ReplyAttr, ReplyData,
    ReplyEmpty, ReplyEntry, ReplyLseek, ReplyOpen, ReplyWrite, ReplyXattr, Request,
};
use handles::Handle;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, PoisonError};
use std::time::SystemTime;
use vexfs_core::limits::QUERY_LEN_MAX;
use vexfs_core::{Attr, ROOT_INO, SetAttr};

/// Name of the virtual directory in the root.
const VEXFS_NAME: &[u8] = b".vexfs";
/// Node id of `/.vexfs`.
const VEXFS_DIR: u64 = (1 << 32) + 1;
/// Node id of `/.vexfs/search`.
const SEARCH: u64 = (1 << 32) + 2;
/// Node id of `/.vexfs/stats`.
const STATS: u64 = (1 << 32) + 3;
/// Readdir cookie of `.vexfs` in the root: after every engine cookie, and a valid `off_t`.
const VEXFS_COOKIE: u64 = i64::MAX as u64;

/// The listing of `/.vexfs`: `(node, cookie, type, name)`.
const ENTRIES: [(u64, u64, FileType, &str); 4] = [
    (VEXFS_DIR, 1, FileType::Directory, "."),
    (ROOT_INO, 2, FileType::Directory, ".."),
    (SEARCH, 3, FileType::RegularFile, "search"),
    (STATS, 4, FileType::RegularFile, "stats"),
];

/// An engine inode's attributes as the mount shows them: the root counts `.vexfs` among its
/// subdirectories.
pub(crate) fn engine_attr(a: &Attr) -> FileAttr {
    let mut f = file_attr(a);
    if a.ino == ROOT_INO {
        f.nlink += 1;
    }
    f
}

/// Adds `.vexfs` to a listing of `dir` from `offset` once the engine's entries are all in, if
/// `dir` is the root (an entry that does not fit is left for the next request).
pub(crate) fn append_to_listing<L: Listing>(
    s: &Shared,
    dir: u64,
    offset: u64,
    reply: &mut L,
) -> Result<(), Errno> {
    if dir == ROOT_INO && offset < VEXFS_COOKIE {
        let entry = Entry {
            ino: VEXFS_DIR,
            cookie: VEXFS_COOKIE,
            kind: FileType::Directory,
            name: OsStr::from_bytes(VEXFS_NAME),
        };
        reply.add(entry, || Ok(Kind::Dir.attr(s.mounted_at)))?;
    }
    Ok(())
}

/// A name in a request that is virtual: `.vexfs` in the root, or any name inside it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Name<'n> {
    /// `/.vexfs` itself.
    Dir,
    /// A name in `/.vexfs`.
    In(&'n [u8]),
}

impl<'n> Name<'n> {
    /// `parent/name` if it is virtual; `None` for the engine's names.
    pub(crate) fn of(parent: u64, name: &'n [u8]) -> Option<Self> {
        if parent == VEXFS_DIR {
            Some(Name::In(name))
        } else if parent == ROOT_INO && name == VEXFS_NAME {
            Some(Name::Dir)
        } else {
            None
        }
    }

    /// Why the name cannot be created (by create, mknod, mkdir, symlink or link): `.vexfs`
    /// exists, and nothing can be added to it.
    pub(crate) fn create_error(self) -> Errno {
        match self {
            Name::Dir => Errno::EEXIST,
            Name::In(_) => Errno::EPERM,
        }
    }

    /// Why the name cannot be removed or renamed, or be a rename's target.
    pub(crate) fn change_error(self) -> Errno {
        Errno::EPERM
    }

    /// Replies to a lookup of the name.
    pub(crate) fn lookup(self, s: &Shared, reply: ReplyEntry) {
        let found = match self {
            Name::Dir => Some(Kind::Dir),
            Name::In(b"search") => Some(Kind::Search),
            Name::In(b"stats") => Some(Kind::Stats),
            Name::In(_) => None,
        };
        match found {
            Some(k) => reply.entry_with_ttls(&ATTR_TTL, &ENTRY_TTL, &k.attr(s.mounted_at), GEN),
            None => reply.error(Errno::ENOENT),
        }
    }
}

/// Which virtual node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    Search,
    Stats,
}

impl Kind {
    fn of(ino: u64) -> Option<Self> {
        match ino {
            VEXFS_DIR => Some(Kind::Dir),
            SEARCH => Some(Kind::Search),
            STATS => Some(Kind::Stats),
            _ => None,
        }
    }

    /// Attributes of the node (owned by root, timed at the mount).
    fn attr(self, mounted_at: SystemTime) -> FileAttr {
        let (ino, kind, perm, nlink, size) = match self {
            Kind::Dir => (VEXFS_DIR, FileType::Directory, 0o555, 2, 0),
            Kind::Search => (SEARCH, FileType::RegularFile, 0o666, 1, QUERY_LEN_MAX as u64),
            Kind::Stats => (STATS, FileType::RegularFile, 0o444, 1, 0),
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: 0,
            atime: mounted_at,
            mtime: mounted_at,
            ctime: mounted_at,
            crtime: mounted_at,
            kind,
            perm,
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        }
    }
}

/// A request's virtual node, with the mount's state: one method per `Filesystem` method that
/// can name a virtual node, each replying.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Node<'a> {
    kind: Kind,
    s: &'a Shared,
}

impl<'a> Node<'a> {
    /// Node `ino` of the mount `s` if it is virtual; `None` for the engine's inodes.
    pub(crate) fn of(ino: u64, s: &'a Shared) -> Option<Self> {
        Kind::of(ino).map(|kind| Node { kind, s })
    }

    fn attr(self) -> FileAttr {
        self.kind.attr(self.s.mounted_at)
    }

    /// The open file `fh` of this mount.
    fn handle(self, fh: FileHandle) -> Result<Arc<Handle>, Errno> {
        self.s.handles.get(fh.0).ok_or(Errno::EBADF)
    }

    /// The kernel's lookups of virtual nodes are not counted: nothing to give back.
    pub(crate) fn forget(self) {}

    pub(crate) fn getattr(self, reply: ReplyAttr) {
        reply.attr(&ATTR_TTL, &self.attr());
    }

    /// `open(search, O_TRUNC)` truncates: harmless. Nothing else may change.
    pub(crate) fn setattr(self, change: &SetAttr, reply: ReplyAttr) {
        let only_size = *change
            == SetAttr {
                size: change.size,
                ..SetAttr::default()
            };
        if self.kind == Kind::Search && only_size {
            reply.attr(&ATTR_TTL, &self.attr());
        } else {
            reply.error(Errno::EPERM);
        }
    }

    /// None is a symbolic link.
    pub(crate) fn readlink(self, reply: ReplyData) {
        reply.error(Errno::EINVAL);
    }

    /// No new name may be linked to a virtual node.
    pub(crate) fn link(self, reply: ReplyEntry) {
        reply.error(Errno::EPERM);
    }

    /// Opens `search` (a new transaction) or `stats` (the document rendered now, as the caller
    /// may see it); each open is charged to the search memory budget.
    pub(crate) fn open(self, req: &Request, flags: OpenFlags, reply: ReplyOpen) {
        match self.kind {
            Kind::Search => match self.s.handles.open_search(req.uid()) {
                Some(fh) => reply.opened(
                    FileHandle(fh),
                    FopenFlags::FOPEN_DIRECT_IO
                        | FopenFlags::FOPEN_STREAM
                        | FopenFlags::FOPEN_PARALLEL_DIRECT_WRITES
                        | FopenFlags::FOPEN_NOFLUSH,
                ),
                // The search memory budget has no room for another open file.
                None => reply.error(Errno::ENFILE),
            },
            Kind::Stats => {
                if flags.acc_mode() != OpenAccMode::O_RDONLY {
                    return reply.error(Errno::EACCES);
                }
                match stats::stats_json(self.s, &creds::of(req)) {
                    Ok(doc) => match self.s.handles.open_stats(req.uid(), doc) {
                        Some(fh) => reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO),
                        // The budget of open virtual files has no room for the document.
                        None => reply.error(Errno::ENFILE),
                    },
                    Err(e) => reply.error(e),
                }
            }
            Kind::Dir => reply.error(Errno::EISDIR),
        }
    }

    /// The next result lines of a `search` file; the bytes of a `stats` document at `offset`.
    pub(crate) fn read(self, fh: FileHandle, offset: u64, size: u32, reply: ReplyData) {
        match self.handle(fh).as_deref() {
            Ok(Handle::Search(s)) => {
                let mut s = s.lock().unwrap_or_else(PoisonError::into_inner);
                reply.data(s.read(size));
            }
            Ok(Handle::Stats { doc, .. }) => reply.data(stats::slice_at(doc, offset, size)),
            Err(e) => reply.error(*e),
        }
    }

    /// Appends to a `search` file's query, which runs as the caller writing it once complete.
    pub(crate) fn write(self, req: &Request, fh: FileHandle, data: &[u8], reply: ReplyWrite) {
        match self.handle(fh).as_deref() {
            Ok(Handle::Search(s)) => {
                let mut s = s.lock().unwrap_or_else(PoisonError::into_inner);
                match s.write(data, self.s, &creds::of(req)) {
                    // Queries are at most QUERY_LEN_MAX bytes: fits.
                    Ok(n) => reply.written(n as u32),
                    Err(e) => reply.error(e),
                }
            }
            Ok(Handle::Stats { .. }) => reply.error(Errno::EBADF),
            Err(e) => reply.error(*e),
        }
    }

    /// Closes the open file `fh`: its buffers are freed and its charge refunded.
    pub(crate) fn release(self, fh: FileHandle, reply: ReplyEmpty) {
        self.s.handles.remove(fh.0);
        reply.ok();
    }

    /// Nothing to make durable.
    pub(crate) fn fsync(self, reply: ReplyEmpty) {
        reply.ok();
    }

    pub(crate) fn opendir(self, reply: ReplyOpen) {
        match self.kind {
            Kind::Dir => reply.opened(FileHandle(0), FopenFlags::empty()),
            _ => reply.error(Errno::ENOTDIR),
        }
    }

    /// The listing of `/.vexfs` from `offset`. `..` is the root, with its engine attributes.
    pub(crate) fn list<L: Listing>(self, offset: u64, mut reply: L) {
        if self.kind != Kind::Dir {
            return reply.error(Errno::ENOTDIR);
        }
        for (node, cookie, kind, name) in ENTRIES {
            if cookie <= offset {
                continue;
            }
            let attr = || match Kind::of(node) {
                Some(k) => Ok(k.attr(self.s.mounted_at)),
                None => self
                    .s
                    .read()?
                    .getattr(node)
                    .map(|a| engine_attr(&a))
                    .map_err(|e| errno(&e)),
            };
            let entry = Entry {
                ino: node,
                cookie,
                kind,
                name: OsStr::new(name),
            };
            match reply.add(entry, attr) {
                Ok(false) => {}
                Ok(true) => break,
                Err(e) => return reply.error(e),
            }
        }
        reply.ok();
    }

    /// Virtual nodes have no extended attributes and take none.
    pub(crate) fn setxattr(self, reply: ReplyEmpty) {
        reply.error(Errno::EPERM);
    }

    pub(crate) fn getxattr(self, reply: ReplyXattr) {
        reply.error(Errno::NO_XATTR);
    }

    /// The empty list.
    pub(crate) fn listxattr(self, size: u32, reply: ReplyXattr) {
        if size == 0 { reply.size(0) } else { reply.data(&[]) }
    }

    pub(crate) fn removexattr(self, reply: ReplyEmpty) {
        reply.error(Errno::NO_XATTR);
    }

    /// Every virtual node exists.
    pub(crate) fn access(self, reply: ReplyEmpty) {
        reply.ok();
    }

    /// No space to allocate.
    pub(crate) fn fallocate(self, reply: ReplyEmpty) {
        reply.error(Errno::EOPNOTSUPP);
    }

    /// No data or holes to seek to.
    pub(crate) fn lseek(self, reply: ReplyLseek) {
        reply.error(Errno::EINVAL);
    }

    /// Copies from or to a virtual file cross filesystems.
    pub(crate) fn copy_file_range(self, reply: ReplyWrite) {
        reply.error(Errno::EXDEV);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vexfs_core::{Engine, EngineConfig};

    /// What a listing received: `(node, cookie, name, the node id and link count of its
    /// attributes)`, and how it ended.
    #[derive(Default)]
    struct Got {
        entries: Vec<(u64, u64, String, u64, u32)>,
        end: Option<Result<(), Errno>>,
    }

    /// A listing with attributes that has room for `room` entries.
    struct Fake<'a> {
        room: usize,
        got: &'a mut Got,
    }

    impl Listing for Fake<'_> {
        const GIVES_REFS: bool = true;

        fn add(
            &mut self,
            e: Entry<'_>,
            attr: impl FnOnce() -> Result<FileAttr, Errno>,
        ) -> Result<bool, Errno> {
            if self.got.entries.len() == self.room {
                return Ok(true);
            }
            let a = attr()?;
            let name = e.name.to_string_lossy().into_owned();
            self.got.entries.push((e.ino, e.cookie, name, a.ino.0, a.nlink));
            Ok(false)
        }

        fn ok(self) {
            self.got.end = Some(Ok(()));
        }

        fn error(self, e: Errno) {
            self.got.end = Some(Err(e));
        }
    }

    fn shared() -> Shared {
        Shared::new(Engine::new(EngineConfig::default()), false, 1, 1 << 20)
    }

    fn list(s: &Shared, ino: u64, offset: u64, room: usize) -> Got {
        let mut got = Got::default();
        let node = Node::of(ino, s).expect("a virtual node");
        node.list(offset, Fake { room, got: &mut got });
        got
    }

    #[test]
    fn the_vexfs_listing_pages_by_cookie_and_its_parent_is_the_root() {
        let s = shared();
        let root_nlink = s.read().unwrap().getattr(ROOT_INO).unwrap().nlink;
        let all = list(&s, VEXFS_DIR, 0, 10);
        assert_eq!(all.end, Some(Ok(())));
        assert_eq!(
            all.entries,
            vec![
                (VEXFS_DIR, 1, ".".to_owned(), VEXFS_DIR, 2),
                (ROOT_INO, 2, "..".to_owned(), ROOT_INO, root_nlink + 1),
                (SEARCH, 3, "search".to_owned(), SEARCH, 1),
                (STATS, 4, "stats".to_owned(), STATS, 1),
            ]
        );
        // After cookie 2, with room for one: only `search`; the next request goes on from 3.
        let page = list(&s, VEXFS_DIR, 2, 1);
        assert_eq!(page.end, Some(Ok(())));
        assert_eq!(page.entries, vec![(SEARCH, 3, "search".to_owned(), SEARCH, 1)]);
        assert_eq!(list(&s, VEXFS_DIR, 3, 10).entries.len(), 1);
        assert!(list(&s, VEXFS_DIR, 4, 10).entries.is_empty());
        // The files are no directories.
        assert_eq!(list(&s, SEARCH, 0, 10).end, Some(Err(Errno::ENOTDIR)));
        assert_eq!(list(&s, STATS, 0, 10).end, Some(Err(Errno::ENOTDIR)));
    }

    #[test]
    fn vexfs_follows_the_root_entries_only() {
        let s = shared();
        let mut got = Got::default();
        let mut reply = Fake {
            room: 10,
            got: &mut got,
        };
        append_to_listing(&s, ROOT_INO, 0, &mut reply).unwrap();
        append_to_listing(&s, ROOT_INO, VEXFS_COOKIE, &mut reply).unwrap();
        append_to_listing(&s, ROOT_INO + 1, 0, &mut reply).unwrap();
        assert_eq!(
            got.entries,
            vec![(VEXFS_DIR, VEXFS_COOKIE, ".vexfs".to_owned(), VEXFS_DIR, 2)]
        );
    }

    #[test]
    fn virtual_names() {
        assert!(matches!(Name::of(ROOT_INO, b".vexfs"), Some(Name::Dir)));
        assert!(matches!(Name::of(VEXFS_DIR, b"x"), Some(Name::In(b"x"))));
        assert!(Name::of(ROOT_INO, b"x").is_none());
        assert!(Name::of(ROOT_INO + 1, b".vexfs").is_none());
        assert_eq!(Name::Dir.create_error(), Errno::EEXIST);
        assert_eq!(Name::In(b"x").create_error(), Errno::EPERM);
        assert!(Node::of(ROOT_INO, &shared()).is_none());
        assert!(Node::of(STATS + 1, &shared()).is_none());
    }
}
