//! The `fuser::Filesystem` implementation: every request is parse → core call → reply.
//!
//! Handlers decode fuser's arguments into core values, call the engine under the read or write
//! lock (see `state`), and translate the result with the one errno map (`errno`). The engine's
//! inode numbers are the FUSE node ids, so every name of a hard link has the same id. A request
//! about a virtual `/.vexfs` node or name is handed, first and whole, to one call into `virt`;
//! everything after that call is about engine inodes only.
//!
//! Submodules, each for the engine side of a family of requests: `names` (creating, removing
//! and renaming names), `data` (reading and writing file contents), `dir` (listings), `xattr`
//! (extended attributes) and `atime` (the relatime rule of reads and listings).
//!
//! **Caching (TTLs).** Attributes are returned with [`ATTR_TTL`] and directory entries
//! with [`ENTRY_TTL`] (both 60 s, as libfuse's passthrough example uses long timeouts when it
//! is the only writer). Both are safe because every change to an image passes through this
//! mount's kernel (the image is locked exclusively while mounted) and the kernel drops what it
//! cached for every inode a request can change:
//! - Entries: the kernel updates its dentry cache itself on every create, unlink, rename and
//!   link it sends, so a cached entry never names the wrong inode. (Failed lookups are not
//!   cached: `ENOENT` replies carry no TTL.)
//! - Attributes: replies to create, mknod, mkdir, symlink, link and setattr carry the new
//!   attributes; after unlink, rmdir, rename, setxattr, removexattr, write, fallocate,
//!   copy_file_range and mmap write-back the kernel invalidates the inode's attributes (and
//!   the parents' after a change to their entries); after read, readdir and readlink it
//!   invalidates `atime`, which the engine moves by the relatime rule. The engine changes no
//!   other inode: a name of a hard link is the same kernel inode, and collection changes touch
//!   no member's attributes. `no_stale_attributes` in `tests/posix.rs` checks each of these
//!   through a mount, and that the cache is really used (150 `GETATTR`s for 50 `stat`s of a
//!   file two levels down with TTL 0, fewer than 10 with it).
//! - File data stays in the page cache across opens (`FOPEN_KEEP_CACHE`, no `direct_io`):
//!   data only changes through this kernel's page cache (write, truncate, fallocate,
//!   copy_file_range, shared mmap write-back), so cached pages are never stale. This is also
//!   what makes `mmap` work. Writes are write-through (no writeback cache): a `WRITE` request
//!   reaches the engine before `write(2)` returns.
//! - A read whose bytes lie in one run of consecutive image blocks is answered from a memory
//!   map of the image (`Engine::read_view`): checksums are verified on the mapped bytes and
//!   the kernel copies them into the reply, with no copy into a buffer first. The read lock is
//!   held until the reply is written, so no write can change the bytes in between.
//! - The `/.vexfs` nodes are cached like the others (their names and attributes never change)
//!   and are opened with `direct_io`, so their contents are never cached.
//!
//! **Set-user-ID clearing.** The kernel clears set-user-ID/set-group-ID on write, truncate and
//! chown by sending a mode change (`FUSE_HANDLE_KILLPRIV` is not negotiated); the core also
//! clears them on chown, and a write that carries `FUSE_WRITE_KILL_SUIDGID` passes
//! `kill_suid` to the core.
//!
//! **Not forwarded.** Linux sends `FUSE_SYNCFS` only to virtiofs, and fuser 0.18 has no
//! `syncfs` method: `syncfs(2)` on a mount does not reach the engine. `fsync`/`fdatasync` of
//! any file or directory makes *everything* durable (`Engine::sync` is global), so use that.

mod atime;
mod data;
mod dir;
mod names;
mod xattr;

pub(crate) use dir::{Entry, Listing};

use crate::convert::{now, timestamp};
use crate::errno::errno;
use crate::metrics::FsOp;
use crate::state::Shared;
use crate::virt::{Name, Node, engine_attr};
use fuser::{
    AccessFlags, CopyFileRangeFlags, Errno, FileHandle, Filesystem, FopenFlags, Generation, INodeNo,
    InitFlags, KernelConfig, LockOwner, OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyLseek, ReplyOpen,
    ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use vexfs_core::limits::WRITE_OP_BYTES_MAX;
use vexfs_core::{Attr, Ctx, Error, FallocMode, FileKind, RenameMode, SetAttr, SetTime};

/// How long the kernel may cache a directory entry (see the module docs).
pub(crate) const ENTRY_TTL: Duration = Duration::from_secs(60);
/// How long the kernel may cache attributes (see the module docs).
pub(crate) const ATTR_TTL: Duration = Duration::from_secs(60);
/// Largest `WRITE` the kernel is asked to send: one core write operation.
pub(crate) const MAX_WRITE: u32 = WRITE_OP_BYTES_MAX as u32;

/// Generation of every node id (node ids are never reused while mounted).
pub(crate) const GEN: Generation = Generation(0);

/// Core results as errnos.
trait OrErrno<T> {
    fn or_errno(self) -> Result<T, Errno>;
}

impl<T> OrErrno<T> for Result<T, Error> {
    fn or_errno(self) -> Result<T, Errno> {
        self.map_err(|e| errno(&e))
    }
}

/// The caller of a request, at the system clock's current time.
fn ctx(req: &Request) -> Ctx {
    Ctx::new(now(), req.uid(), req.gid())
}

fn set_time(t: TimeOrNow) -> SetTime {
    match t {
        TimeOrNow::Now => SetTime::Now,
        TimeOrNow::SpecificTime(t) => SetTime::At(timestamp(t)),
    }
}

/// Called once, when the kernel's INIT reaches the session (see [`crate::mount_then`]).
pub(crate) type OnInit = Box<dyn FnOnce() + Send + Sync>;

/// The FUSE filesystem of one mount.
pub(crate) struct VexFs {
    s: Arc<Shared>,
    on_init: Option<OnInit>,
}

impl std::fmt::Debug for VexFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VexFs")
            .field("s", &self.s)
            .finish_non_exhaustive()
    }
}

impl VexFs {
    /// The filesystem of `s`, calling `on_init` (if any) when the session receives INIT.
    pub(crate) fn new(s: Arc<Shared>, on_init: Option<OnInit>) -> Self {
        VexFs { s, on_init }
    }

    /// `ino` if it is a virtual node: requests on it go to `virt`.
    fn virt(&self, ino: INodeNo) -> Option<Node<'_>> {
        Node::of(ino.0, &self.s)
    }

    /// The attributes of engine inode `ino`, timed as `op`.
    fn attr_of(&self, op: FsOp, ino: INodeNo) -> Result<Attr, Errno> {
        self.s
            .metrics
            .time(op, || self.s.read()?.getattr(ino.0).or_errno())
    }

    /// Whether the mount refuses changes (`-o ro`): the server, not the kernel, enforces it.
    fn read_only(&self) -> bool {
        self.s.read_only
    }
}

impl Filesystem for VexFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // Large writes: one WRITE per core write operation (1 MiB); the kernel may cap it lower.
        if let Err(nearest) = config.set_max_write(MAX_WRITE) {
            let _ = config.set_max_write(nearest);
        }
        // Optional capabilities: use what the kernel offers, ignore what it does not.
        for cap in [
            InitFlags::FUSE_DO_READDIRPLUS,
            InitFlags::FUSE_READDIRPLUS_AUTO,
            InitFlags::FUSE_PARALLEL_DIROPS,
            InitFlags::FUSE_CACHE_SYMLINKS,
        ] {
            let _ = config.add_capabilities(cap);
        }
        // Requests the kernel receives from now on wait for this INIT's reply, so whoever is told
        // here may use the mount at once.
        if let Some(f) = self.on_init.take() {
            f();
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let (parent, name) = (parent.0, name.as_bytes());
        if let Some(v) = Name::of(parent, name) {
            return v.lookup(&self.s, reply);
        }
        let r = self.s.metrics.time(FsOp::Lookup, || {
            let e = self.s.read()?;
            let a = e.lookup(parent, name).or_errno()?;
            self.s.add_ref(a.ino);
            Ok(engine_attr(&a))
        });
        match r {
            Ok(a) => reply.entry_with_ttls(&ATTR_TTL, &ENTRY_TTL, &a, GEN),
            Err(e) => reply.error(e),
        }
    }

    fn forget(&self, req: &Request, ino: INodeNo, nlookup: u64) {
        if let Some(v) = self.virt(ino) {
            return v.forget();
        }
        let ctx = ctx(req);
        // Nothing to reply; a failure to free an orphan leaves it for the next open to free.
        let _ = self
            .s
            .metrics
            .time(FsOp::Forget, || self.s.forget(ino.0, nlookup, &ctx));
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        if let Some(v) = self.virt(ino) {
            return v.getattr(reply);
        }
        match self.attr_of(FsOp::Getattr, ino) {
            Ok(a) => reply.attr(&ATTR_TTL, &engine_attr(&a)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let change = SetAttr {
            perm: mode.map(|m| m & 0o7777),
            uid,
            gid,
            size,
            atime: atime.map(set_time),
            mtime: mtime.map(set_time),
        };
        if let Some(v) = self.virt(ino) {
            return v.setattr(&change, reply);
        }
        if self.read_only() && change != SetAttr::default() {
            return reply.error(Errno::EROFS);
        }
        let ctx = ctx(req);
        let r = self.s.metrics.time(FsOp::Setattr, || {
            if change == SetAttr::default() {
                return self.s.read()?.getattr(ino.0).or_errno();
            }
            self.s.write()?.setattr(ino.0, change, &ctx).or_errno()
        });
        match r {
            Ok(a) => reply.attr(&ATTR_TTL, &engine_attr(&a)),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        if let Some(v) = self.virt(ino) {
            return v.readlink(reply);
        }
        self.s.metrics.time(FsOp::Readlink, || match self.s.read() {
            Ok(e) => match e.readlink(ino.0) {
                Ok(t) => reply.data(t),
                Err(err) => reply.error(errno(&err)),
            },
            Err(err) => reply.error(err),
        });
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let Some(kind) = FileKind::from_mode(mode) else {
            return reply.error(Errno::EINVAL);
        };
        let ctx = ctx(req);
        let name = name.as_bytes();
        self.new_entry(FsOp::Mknod, parent.0, name, reply, |e| {
            e.mknod(parent.0, name, kind, mode & 0o7777, rdev, &ctx)
        });
    }

    fn mkdir(&self, req: &Request, parent: INodeNo, name: &OsStr, mode: u32, _umask: u32, reply: ReplyEntry) {
        let ctx = ctx(req);
        let name = name.as_bytes();
        self.new_entry(FsOp::Mkdir, parent.0, name, reply, |e| {
            e.mkdir(parent.0, name, mode & 0o7777, &ctx)
        });
    }

    fn unlink(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove_name(FsOp::Unlink, parent.0, name.as_bytes(), req, reply);
    }

    fn rmdir(&self, req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        self.remove_name(FsOp::Rmdir, parent.0, name.as_bytes(), req, reply);
    }

    fn symlink(&self, req: &Request, parent: INodeNo, link_name: &OsStr, target: &Path, reply: ReplyEntry) {
        let ctx = ctx(req);
        let name = link_name.as_bytes();
        let target = target.as_os_str().as_bytes();
        self.new_entry(FsOp::Symlink, parent.0, name, reply, |e| {
            e.symlink(parent.0, name, target, &ctx)
        });
    }

    fn rename(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mode = if flags.is_empty() {
            RenameMode::Replace
        } else if flags == RenameFlags::RENAME_NOREPLACE {
            RenameMode::NoReplace
        } else if flags == RenameFlags::RENAME_EXCHANGE {
            RenameMode::Exchange
        } else {
            return reply.error(Errno::EINVAL);
        };
        if self.read_only() {
            return reply.error(Errno::EROFS);
        }
        let (parent, name, newparent, newname) = (parent.0, name.as_bytes(), newparent.0, newname.as_bytes());
        if let Some(v) = Name::of(parent, name).or(Name::of(newparent, newname)) {
            return reply.error(v.change_error());
        }
        self.rename_names((parent, name), (newparent, newname), mode, req, reply);
    }

    fn link(&self, req: &Request, ino: INodeNo, newparent: INodeNo, newname: &OsStr, reply: ReplyEntry) {
        if let Some(v) = self.virt(ino) {
            return v.link(reply);
        }
        let ctx = ctx(req);
        let name = newname.as_bytes();
        self.new_entry(FsOp::Link, newparent.0, name, reply, |e| {
            e.link(ino.0, newparent.0, name, &ctx)
        });
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if let Some(v) = self.virt(ino) {
            return v.open(req, flags, reply);
        }
        if self.read_only() && (flags.acc_mode() != OpenAccMode::O_RDONLY || flags.0 & libc::O_TRUNC != 0) {
            return reply.error(Errno::EROFS);
        }
        match self.attr_of(FsOp::Open, ino) {
            Ok(a) if a.kind == FileKind::Directory => reply.error(Errno::EISDIR),
            Ok(_) => reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let no_atime = flags.0 & libc::O_NOATIME != 0;
        if let Some(v) = self.virt(ino) {
            return v.read(fh, offset, size, reply);
        }
        self.read_file(req, ino, offset, size, no_atime, reply);
    }

    fn write(
        &self,
        req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        if let Some(v) = self.virt(ino) {
            return v.write(req, fh, data, reply);
        }
        if self.read_only() {
            return reply.error(Errno::EROFS);
        }
        let kill_suid = write_flags.contains(WriteFlags::FUSE_WRITE_KILL_SUIDGID);
        self.write_file(req, ino, offset, data, kill_suid, reply);
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        // Writes are applied when they arrive; nothing is buffered here.
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        if let Some(v) = self.virt(ino) {
            return v.release(fh, reply);
        }
        reply.ok();
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        if let Some(v) = self.virt(ino) {
            return v.fsync(reply);
        }
        let r = self
            .s
            .metrics
            .time(FsOp::Fsync, || self.s.write()?.sync().or_errno());
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        if let Some(v) = self.virt(ino) {
            return v.opendir(reply);
        }
        match self.attr_of(FsOp::Open, ino) {
            Ok(a) if a.kind == FileKind::Directory => reply.opened(FileHandle(0), FopenFlags::empty()),
            Ok(_) => reply.error(Errno::ENOTDIR),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(&self, req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, reply: ReplyDirectory) {
        self.list(req, ino, offset, reply);
    }

    fn readdirplus(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        reply: ReplyDirectoryPlus,
    ) {
        self.list(req, ino, offset, reply);
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsyncdir(&self, req: &Request, ino: INodeNo, fh: FileHandle, datasync: bool, reply: ReplyEmpty) {
        self.fsync(req, ino, fh, datasync, reply);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let r = self.s.metrics.time(FsOp::Statfs, || {
            let e = self.s.read()?;
            let capacity = e
                .image_bytes()
                .unwrap_or(0)
                .saturating_add(e.image_room().unwrap_or(0));
            Ok(e.statfs(capacity))
        });
        match r {
            Ok(s) => reply.statfs(
                s.blocks,
                s.blocks_free,
                s.blocks_available,
                s.files,
                s.files_free,
                s.block_size,
                s.name_len_max,
                s.block_size,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn setxattr(
        &self,
        req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        position: u32,
        reply: ReplyEmpty,
    ) {
        if self.read_only() {
            return reply.error(Errno::EROFS);
        }
        if let Some(v) = self.virt(ino) {
            return v.setxattr(reply);
        }
        let Some(mode) = xattr::set_mode(flags, position) else {
            return reply.error(Errno::EINVAL);
        };
        self.set_xattr(req, ino, name.as_bytes(), value, mode, reply);
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        if let Some(v) = self.virt(ino) {
            return v.getxattr(reply);
        }
        self.get_xattr(ino, name.as_bytes(), size, reply);
    }

    fn listxattr(&self, req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        if let Some(v) = self.virt(ino) {
            return v.listxattr(size, reply);
        }
        self.list_xattr(req, ino, size, reply);
    }

    fn removexattr(&self, req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if self.read_only() {
            return reply.error(Errno::EROFS);
        }
        if let Some(v) = self.virt(ino) {
            return v.removexattr(reply);
        }
        self.remove_xattr(req, ino, name.as_bytes(), reply);
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        // With `default_permissions` the kernel checks permissions and never sends ACCESS;
        // answer existence only.
        if let Some(v) = self.virt(ino) {
            return v.access(reply);
        }
        match self.s.read().and_then(|e| e.getattr(ino.0).or_errno()) {
            Ok(_) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        let ctx = ctx(req);
        let name = name.as_bytes();
        self.new_entry(FsOp::Create, parent.0, name, reply, |e| {
            e.create(parent.0, name, mode & 0o7777, &ctx)
        });
    }

    fn fallocate(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        const PUNCH: i32 = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        if self.read_only() {
            return reply.error(Errno::EROFS);
        }
        let mode = match mode {
            0 => FallocMode::Allocate,
            libc::FALLOC_FL_KEEP_SIZE => FallocMode::KeepSize,
            PUNCH => FallocMode::PunchHole,
            _ => return reply.error(Errno::EOPNOTSUPP),
        };
        if let Some(v) = self.virt(ino) {
            return v.fallocate(reply);
        }
        let ctx = ctx(req);
        let r = self.s.metrics.time(FsOp::Fallocate, || {
            self.s
                .write()?
                .fallocate(ino.0, offset, length, mode, &ctx)
                .or_errno()
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn lseek(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        let whence = match whence {
            libc::SEEK_DATA => vexfs_core::engine::Whence::Data,
            libc::SEEK_HOLE => vexfs_core::engine::Whence::Hole,
            _ => return reply.error(Errno::EINVAL),
        };
        if let Some(v) = self.virt(ino) {
            return v.lseek(reply);
        }
        let Ok(offset) = u64::try_from(offset) else {
            return reply.error(Errno::ENXIO);
        };
        let r = self.s.metrics.time(FsOp::Lseek, || {
            self.s.read()?.lseek(ino.0, offset, whence).or_errno()
        });
        match r {
            Ok(Some(o)) => match i64::try_from(o) {
                Ok(o) => reply.offset(o),
                Err(_) => reply.error(Errno::ENXIO),
            },
            Ok(None) => reply.error(Errno::ENXIO),
            Err(e) => reply.error(e),
        }
    }

    fn copy_file_range(
        &self,
        req: &Request,
        ino_in: INodeNo,
        _fh_in: FileHandle,
        offset_in: u64,
        ino_out: INodeNo,
        _fh_out: FileHandle,
        offset_out: u64,
        len: u64,
        flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        if self.read_only() {
            return reply.error(Errno::EROFS);
        }
        if !flags.is_empty() {
            return reply.error(Errno::EINVAL);
        }
        if let Some(v) = self.virt(ino_in).or(self.virt(ino_out)) {
            return v.copy_file_range(reply);
        }
        self.copy_range(req, (ino_in, offset_in), (ino_out, offset_out), len, reply);
    }
}
