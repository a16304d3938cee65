//! The `fuser::Filesystem` implementation: every request is parse → core call → reply.
//!
//! Handlers decode fuser's arguments into core values, call the engine under the read or write
//! lock (see `state`), and translate the result with the one errno map (`errno`). The engine's
//! inode numbers are the FUSE node ids, so every name of a hard link has the same id; the
//! virtual `/.vexfs` nodes are handled first, by `virt`.
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

use crate::convert::{file_attr, file_type, now, timestamp};
use crate::creds;
use crate::errno::errno;
use crate::metrics::FsOp;
use crate::state::Shared;
use crate::virt::{self, Handle, SEARCH, STATS, VEXFS_COOKIE, VEXFS_DIR, is_vexfs_name};
use fuser::{
    AccessFlags, CopyFileRangeFlags, Errno, FileAttr, FileHandle, Filesystem, FopenFlags, Generation,
    INodeNo, InitFlags, KernelConfig, LockOwner, OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyLseek, ReplyOpen,
    ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};
use std::cell::RefCell;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};
use vexfs_core::limits::WRITE_OP_BYTES_MAX;
use vexfs_core::{
    Attr, Ctx, Engine, Error, FallocMode, FileKind, Ino, Op, ROOT_INO, RenameMode, SetAttr, SetTime,
    Timestamp, XattrMode,
};

/// How long the kernel may cache a directory entry (see the module docs).
pub(crate) const ENTRY_TTL: Duration = Duration::from_secs(60);
/// How long the kernel may cache attributes (see the module docs).
pub(crate) const ATTR_TTL: Duration = Duration::from_secs(60);
/// Largest `WRITE` the kernel is asked to send: one core write operation.
pub(crate) const MAX_WRITE: u32 = WRITE_OP_BYTES_MAX as u32;

const GEN: Generation = Generation(0);

thread_local! {
    /// Per-worker buffer for reads and copies, so serving data allocates nothing in steady state.
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

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

/// Whether `name` is `.` or `..` (readdirplus gives no reference for them).
fn is_dot(name: &[u8]) -> bool {
    name == b"." || name == b".."
}

/// The relatime rule (the same as `Engine::touch_atime`'s): `atime` moves only if it is not
/// newer than `mtime`/`ctime`, or is a day old.
fn atime_stale(a: &Attr, now: Timestamp) -> bool {
    const DAY_SECS: i64 = 24 * 60 * 60;
    let stale = a.atime <= a.mtime || a.atime <= a.ctime || now.secs.saturating_sub(a.atime.secs) >= DAY_SECS;
    stale && a.atime != now
}

fn set_time(t: TimeOrNow) -> SetTime {
    match t {
        TimeOrNow::Now => SetTime::Now,
        TimeOrNow::SpecificTime(t) => SetTime::At(timestamp(t)),
    }
}

/// The FUSE filesystem of one mount.
#[derive(Debug)]
pub(crate) struct VexFs {
    s: Arc<Shared>,
}

impl VexFs {
    pub(crate) fn new(s: Arc<Shared>) -> Self {
        VexFs { s }
    }

    /// fuser attributes of an engine inode. The root counts `.vexfs` among its subdirectories.
    fn fattr(a: &Attr) -> FileAttr {
        let mut f = file_attr(a);
        if a.ino == ROOT_INO {
            f.nlink += 1;
        }
        f
    }

    fn virt_attr(&self, ino: u64) -> Option<FileAttr> {
        virt::attr(ino, self.s.mounted_at)
    }

    /// Updates `ino`'s atime after a read if relatime says so (never on a read-only mount).
    fn touch_atime(&self, ino: Ino, stale: bool, req: &Request) {
        if !stale || self.s.read_only {
            return;
        }
        if let Ok(mut e) = self.s.write() {
            // Best effort: a failure to record an access must not fail the read.
            let _ = e.touch_atime(ino, &ctx(req));
        }
    }

    /// Whether a read of `ino` now should move its atime (read lock held by the caller).
    fn wants_atime(&self, e: &Engine, ino: Ino) -> bool {
        !self.s.read_only && e.getattr(ino).is_ok_and(|a| atime_stale(&a, now()))
    }

    /// Runs a mutation that creates a name and replies with the new entry, counting the
    /// kernel's reference to it.
    fn new_entry(
        &self,
        op: FsOp,
        parent: u64,
        name: &[u8],
        reply: ReplyEntry,
        f: impl FnOnce(&mut Engine) -> Result<Attr, Error>,
    ) {
        if self.read_only() {
            return reply.error(Errno::EROFS);
        }
        if parent == VEXFS_DIR {
            return reply.error(Errno::EPERM);
        }
        if is_vexfs_name(parent, name) {
            return reply.error(Errno::EEXIST);
        }
        let r = self.s.metrics.time(op, || {
            let mut e = self.s.write()?;
            let a = f(&mut e).or_errno()?;
            self.s.add_ref(a.ino);
            Ok(Self::fattr(&a))
        });
        match r {
            Ok(a) => reply.entry_with_ttls(&ATTR_TTL, &ENTRY_TTL, &a, GEN),
            Err(e) => reply.error(e),
        }
    }

    /// Runs a name removal (`unlink`, `rmdir`): pins the inode losing the name first.
    fn remove_name(&self, op: FsOp, parent: u64, name: &[u8], req: &Request, reply: ReplyEmpty) {
        if self.read_only() {
            return reply.error(Errno::EROFS);
        }
        if parent == VEXFS_DIR || is_vexfs_name(parent, name) {
            return reply.error(Errno::EPERM);
        }
        let ctx = ctx(req);
        let r = self.s.metrics.time(op, || {
            let mut e = self.s.write()?;
            if let Ok(victim) = e.lookup(parent, name) {
                self.s.pin_victim(&mut e, victim.ino);
            }
            match op {
                FsOp::Rmdir => e.rmdir(parent, name, &ctx),
                _ => e.unlink(parent, name, &ctx),
            }
            .or_errno()
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    /// Whether the mount refuses changes (`-o ro`): the server, not the kernel, enforces it.
    fn read_only(&self) -> bool {
        self.s.read_only
    }

    fn search_handle(&self, fh: FileHandle) -> Result<Arc<Handle>, Errno> {
        self.s.handles.get(fh.0).ok_or(Errno::EBADF)
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
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let (parent, name) = (parent.0, name.as_bytes());
        if parent == VEXFS_DIR {
            return match virt::lookup(name).and_then(|i| self.virt_attr(i)) {
                Some(a) => reply.entry_with_ttls(&ATTR_TTL, &ENTRY_TTL, &a, GEN),
                None => reply.error(Errno::ENOENT),
            };
        }
        if is_vexfs_name(parent, name) {
            return match self.virt_attr(VEXFS_DIR) {
                Some(a) => reply.entry_with_ttls(&ATTR_TTL, &ENTRY_TTL, &a, GEN),
                None => reply.error(Errno::EIO),
            };
        }
        let r = self.s.metrics.time(FsOp::Lookup, || {
            let e = self.s.read()?;
            let a = e.lookup(parent, name).or_errno()?;
            self.s.add_ref(a.ino);
            Ok(Self::fattr(&a))
        });
        match r {
            Ok(a) => reply.entry_with_ttls(&ATTR_TTL, &ENTRY_TTL, &a, GEN),
            Err(e) => reply.error(e),
        }
    }

    fn forget(&self, req: &Request, ino: INodeNo, nlookup: u64) {
        if virt::is_virtual(ino.0) {
            return;
        }
        let ctx = ctx(req);
        // Nothing to reply; a failure to free an orphan leaves it for the next open to free.
        let _ = self
            .s
            .metrics
            .time(FsOp::Forget, || self.s.forget(ino.0, nlookup, &ctx));
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        if let Some(a) = self.virt_attr(ino.0) {
            return reply.attr(&ATTR_TTL, &a);
        }
        let r = self
            .s
            .metrics
            .time(FsOp::Getattr, || self.s.read()?.getattr(ino.0).or_errno());
        match r {
            Ok(a) => reply.attr(&ATTR_TTL, &Self::fattr(&a)),
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
        if let Some(a) = self.virt_attr(ino.0) {
            // `open(search, O_TRUNC)` truncates: harmless. Nothing else may change.
            let only_size = change
                == SetAttr {
                    size: change.size,
                    ..SetAttr::default()
                };
            return if ino.0 == SEARCH && only_size {
                reply.attr(&ATTR_TTL, &a)
            } else {
                reply.error(Errno::EPERM)
            };
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
            Ok(a) => reply.attr(&ATTR_TTL, &Self::fattr(&a)),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        if virt::is_virtual(ino.0) {
            return reply.error(Errno::EINVAL);
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
        if parent == VEXFS_DIR
            || newparent == VEXFS_DIR
            || is_vexfs_name(parent, name)
            || is_vexfs_name(newparent, newname)
        {
            return reply.error(Errno::EPERM);
        }
        let ctx = ctx(req);
        let r = self.s.metrics.time(FsOp::Rename, || {
            let mut e = self.s.write()?;
            if mode == RenameMode::Replace
                && let Ok(victim) = e.lookup(newparent, newname)
            {
                self.s.pin_victim(&mut e, victim.ino);
            }
            e.rename(parent, name, newparent, newname, mode, &ctx).or_errno()
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn link(&self, req: &Request, ino: INodeNo, newparent: INodeNo, newname: &OsStr, reply: ReplyEntry) {
        if virt::is_virtual(ino.0) {
            return reply.error(Errno::EPERM);
        }
        let ctx = ctx(req);
        let name = newname.as_bytes();
        self.new_entry(FsOp::Link, newparent.0, name, reply, |e| {
            e.link(ino.0, newparent.0, name, &ctx)
        });
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        match ino.0 {
            SEARCH => match self.s.handles.open_search(req.uid()) {
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
            STATS => {
                if flags.acc_mode() != OpenAccMode::O_RDONLY {
                    return reply.error(Errno::EACCES);
                }
                match virt::stats_json(&self.s, &creds::of(req)) {
                    Ok(doc) => match self.s.handles.open_stats(req.uid(), doc) {
                        Some(fh) => reply.opened(FileHandle(fh), FopenFlags::FOPEN_DIRECT_IO),
                        // The budget of open virtual files has no room for the document.
                        None => reply.error(Errno::ENFILE),
                    },
                    Err(e) => reply.error(e),
                }
            }
            VEXFS_DIR => reply.error(Errno::EISDIR),
            _ if self.read_only()
                && (flags.acc_mode() != OpenAccMode::O_RDONLY || flags.0 & libc::O_TRUNC != 0) =>
            {
                reply.error(Errno::EROFS)
            }
            ino => {
                let r = self
                    .s
                    .metrics
                    .time(FsOp::Open, || self.s.read()?.getattr(ino).or_errno());
                match r {
                    Ok(a) if a.kind == FileKind::Directory => reply.error(Errno::EISDIR),
                    Ok(_) => reply.opened(FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
                    Err(e) => reply.error(e),
                }
            }
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
        if virt::is_virtual(ino.0) {
            return match self.search_handle(fh).as_deref() {
                Ok(Handle::Search(s)) => {
                    let mut s = s.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    reply.data(s.read(size))
                }
                Ok(Handle::Stats { doc, .. }) => reply.data(virt::slice_at(doc, offset, size)),
                Err(e) => reply.error(*e),
            };
        }
        let no_atime = flags.0 & libc::O_NOATIME != 0;
        self.s.max_read_seen.fetch_max(u64::from(size), Ordering::Relaxed);
        BUF.with_borrow_mut(|buf| {
            let mut reply = Some(reply);
            let r = self.s.metrics.time(FsOp::Read, || {
                let e = self.s.read()?;
                let stale = !no_atime && self.wants_atime(&e, ino.0);
                // Bytes lying in one run of the image go out straight from its map, under the
                // read lock, so no write changes them before the kernel has copied them. A
                // read that moves atime is copied instead: it records the access first.
                if !stale
                    && let Some(bytes) = e.read_view(ino.0, offset, size as usize).or_errno()?
                    && let Some(reply) = reply.take()
                {
                    reply.data(bytes);
                    self.s.mapped_reads.fetch_add(1, Ordering::Relaxed);
                    return Ok((0, false));
                }
                buf.resize(size as usize, 0);
                let n = e.read(ino.0, offset, buf).or_errno()?;
                Ok((n, stale))
            });
            let Some(reply) = reply else {
                return;
            };
            match r {
                Ok((n, stale)) => {
                    self.touch_atime(ino.0, stale, req);
                    reply.data(&buf[..n]);
                }
                Err(e) => reply.error(e),
            }
        });
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
        if virt::is_virtual(ino.0) {
            return match self.search_handle(fh).as_deref() {
                Ok(Handle::Search(s)) => {
                    let mut s = s.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    // The query runs as the caller writing it (read once it is complete).
                    match s.write(data, &self.s, &creds::of(req)) {
                        // Queries are at most QUERY_LEN_MAX bytes: fits.
                        Ok(n) => reply.written(n as u32),
                        Err(e) => reply.error(e),
                    }
                }
                Ok(Handle::Stats { .. }) => reply.error(Errno::EBADF),
                Err(e) => reply.error(*e),
            };
        }
        if self.read_only() {
            return reply.error(Errno::EROFS);
        }
        self.s
            .max_write_seen
            .fetch_max(data.len() as u64, Ordering::Relaxed);
        let kill_suid = write_flags.contains(WriteFlags::FUSE_WRITE_KILL_SUIDGID);
        let ctx = ctx(req);
        let r = self.s.metrics.time(FsOp::Write, || {
            let mut e = self.s.write()?;
            let mut done = 0usize;
            for chunk in data.chunks(WRITE_OP_BYTES_MAX) {
                let op = Op::Write {
                    ino: ino.0,
                    offset: offset.saturating_add(done as u64),
                    data: chunk,
                    kill_suid,
                };
                match e.execute(&op, &ctx) {
                    Ok(_) => done += chunk.len(),
                    // A short write reports what was written; an error only if nothing was.
                    Err(_) if done > 0 => break,
                    Err(err) => return Err(errno(&err)),
                }
            }
            Ok(done)
        });
        match r {
            // The kernel sends at most MAX_WRITE (1 MiB) per request: fits.
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(e),
        }
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
        if virt::is_virtual(ino.0) {
            self.s.handles.remove(fh.0);
        }
        reply.ok();
    }

    fn fsync(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        if virt::is_virtual(ino.0) {
            return reply.ok();
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
        if ino.0 == VEXFS_DIR {
            return reply.opened(FileHandle(0), FopenFlags::empty());
        }
        if virt::is_virtual(ino.0) {
            return reply.error(Errno::ENOTDIR);
        }
        let r = self
            .s
            .metrics
            .time(FsOp::Open, || self.s.read()?.getattr(ino.0).or_errno());
        match r {
            Ok(a) if a.kind == FileKind::Directory => reply.opened(FileHandle(0), FopenFlags::empty()),
            Ok(_) => reply.error(Errno::ENOTDIR),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(&self, req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        if ino.0 == VEXFS_DIR {
            for (node, cookie, kind, name) in virt::ENTRIES {
                if cookie > offset && reply.add(INodeNo(node), cookie, kind, name) {
                    break;
                }
            }
            return reply.ok();
        }
        let r = self.s.metrics.time(FsOp::Readdir, || {
            let e = self.s.read()?;
            let mut full = false;
            e.readdir(ino.0, offset, |d| {
                full = reply.add(
                    INodeNo(d.ino),
                    d.cookie,
                    file_type(d.kind),
                    OsStr::from_bytes(&d.name),
                );
                !full
            })
            .or_errno()?;
            if ino.0 == ROOT_INO && offset < VEXFS_COOKIE && !full {
                let _ = reply.add(
                    INodeNo(VEXFS_DIR),
                    VEXFS_COOKIE,
                    fuser::FileType::Directory,
                    OsStr::from_bytes(virt::VEXFS_NAME),
                );
            }
            Ok(self.wants_atime(&e, ino.0))
        });
        match r {
            Ok(stale) => {
                self.touch_atime(ino.0, stale, req);
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn readdirplus(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let r = self.s.metrics.time(FsOp::Readdir, || {
            let e = self.s.read()?;
            if ino.0 == VEXFS_DIR {
                for (node, cookie, _, name) in virt::ENTRIES {
                    let attr = match self.virt_attr(node) {
                        Some(a) => a,
                        None => Self::fattr(&e.getattr(node).or_errno()?),
                    };
                    if cookie > offset && reply.add(INodeNo(node), cookie, name, &ATTR_TTL, &attr, GEN) {
                        break;
                    }
                }
                return Ok(false);
            }
            let mut full = false;
            let mut failed = None;
            e.readdir(ino.0, offset, |d| {
                let attr = match e.getattr(d.ino) {
                    Ok(a) => Self::fattr(&a),
                    Err(err) => {
                        failed = Some(err);
                        return false;
                    }
                };
                full = reply.add(
                    INodeNo(d.ino),
                    d.cookie,
                    OsStr::from_bytes(&d.name),
                    &ATTR_TTL,
                    &attr,
                    GEN,
                );
                if !full && !is_dot(&d.name) {
                    self.s.add_ref(d.ino);
                }
                !full
            })
            .or_errno()?;
            if let Some(err) = failed {
                return Err(errno(&err));
            }
            if ino.0 == ROOT_INO
                && offset < VEXFS_COOKIE
                && !full
                && let Some(a) = self.virt_attr(VEXFS_DIR)
            {
                let _ = reply.add(
                    INodeNo(VEXFS_DIR),
                    VEXFS_COOKIE,
                    OsStr::from_bytes(virt::VEXFS_NAME),
                    &ATTR_TTL,
                    &a,
                    GEN,
                );
            }
            Ok(self.wants_atime(&e, ino.0))
        });
        match r {
            Ok(stale) => {
                self.touch_atime(ino.0, stale, req);
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
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
        if virt::is_virtual(ino.0) {
            return reply.error(Errno::EPERM);
        }
        let mode = match flags {
            0 => XattrMode::Any,
            libc::XATTR_CREATE => XattrMode::Create,
            libc::XATTR_REPLACE => XattrMode::Replace,
            _ => return reply.error(Errno::EINVAL),
        };
        if position != 0 {
            return reply.error(Errno::EINVAL);
        }
        let ctx = ctx(req);
        let r = self.s.metrics.time(FsOp::Setxattr, || {
            self.s
                .write()?
                .setxattr(ino.0, name.as_bytes(), value, mode, &ctx)
                .or_errno()
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        if virt::is_virtual(ino.0) {
            return reply.error(Errno::NO_XATTR);
        }
        self.s.metrics.time(FsOp::Getxattr, || {
            let e = match self.s.read() {
                Ok(e) => e,
                Err(err) => return reply.error(err),
            };
            match e.getxattr(ino.0, name.as_bytes()) {
                // Values are at most 64 KiB: the length fits.
                Ok(v) if size == 0 => reply.size(v.len() as u32),
                Ok(v) if v.len() > size as usize => reply.error(Errno::ERANGE),
                Ok(v) => reply.data(v),
                Err(err) => reply.error(errno(&err)),
            }
        });
    }

    fn listxattr(&self, req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        if virt::is_virtual(ino.0) {
            return if size == 0 { reply.size(0) } else { reply.data(&[]) };
        }
        let r = self.s.metrics.time(FsOp::Listxattr, || {
            let mut names = Vec::new();
            self.s.read()?.listxattr(ino.0, &mut names).or_errno()?;
            if req.uid() != 0 {
                // As on ext4: only privileged callers see the trusted namespace.
                let mut kept = Vec::with_capacity(names.len());
                for n in names.split_inclusive(|&b| b == 0) {
                    if !n.starts_with(b"trusted.") {
                        kept.extend_from_slice(n);
                    }
                }
                names = kept;
            }
            Ok(names)
        });
        match r {
            // The list is at most XATTR_LIST_LEN_MAX (64 KiB): fits.
            Ok(names) if size == 0 => reply.size(names.len() as u32),
            Ok(names) if names.len() > size as usize => reply.error(Errno::ERANGE),
            Ok(names) => reply.data(&names),
            Err(e) => reply.error(e),
        }
    }

    fn removexattr(&self, req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        if self.read_only() {
            return reply.error(Errno::EROFS);
        }
        if virt::is_virtual(ino.0) {
            return reply.error(Errno::NO_XATTR);
        }
        let ctx = ctx(req);
        let r = self.s.metrics.time(FsOp::Removexattr, || {
            self.s
                .write()?
                .removexattr(ino.0, name.as_bytes(), &ctx)
                .or_errno()
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        // With `default_permissions` the kernel checks permissions and never sends ACCESS;
        // answer existence only.
        if virt::is_virtual(ino.0) {
            return reply.ok();
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
        if self.read_only() {
            return reply.error(Errno::EROFS);
        }
        let (parent, name) = (parent.0, name.as_bytes());
        if parent == VEXFS_DIR {
            return reply.error(Errno::EPERM);
        }
        if is_vexfs_name(parent, name) {
            return reply.error(Errno::EEXIST);
        }
        let ctx = ctx(req);
        let r = self.s.metrics.time(FsOp::Create, || {
            let mut e = self.s.write()?;
            let a = e.create(parent, name, mode & 0o7777, &ctx).or_errno()?;
            self.s.add_ref(a.ino);
            Ok(Self::fattr(&a))
        });
        match r {
            Ok(a) => reply.created(&ATTR_TTL, &a, GEN, FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE),
            Err(e) => reply.error(e),
        }
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
        if virt::is_virtual(ino.0) {
            return reply.error(Errno::EOPNOTSUPP);
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
        if virt::is_virtual(ino.0) {
            return reply.error(Errno::EINVAL);
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
        if virt::is_virtual(ino_in.0) || virt::is_virtual(ino_out.0) {
            return reply.error(Errno::EXDEV);
        }
        // At most one core write per request; callers loop on short copies.
        let len = len.min(WRITE_OP_BYTES_MAX as u64) as usize;
        let ctx = ctx(req);
        BUF.with_borrow_mut(|buf| {
            let r = self.s.metrics.time(FsOp::CopyFileRange, || {
                let mut e = self.s.write()?;
                buf.resize(len, 0);
                let n = e.read(ino_in.0, offset_in, buf).or_errno()?;
                if n > 0 {
                    let op = Op::Write {
                        ino: ino_out.0,
                        offset: offset_out,
                        data: &buf[..n],
                        kill_suid: false,
                    };
                    e.execute(&op, &ctx).or_errno()?;
                }
                Ok(n)
            });
            match r {
                // n <= 1 MiB: fits.
                Ok(n) => reply.written(n as u32),
                Err(e) => reply.error(e),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(atime: i64, mtime: i64, ctime: i64) -> Attr {
        let t = |s| Timestamp::new(s, 0);
        Attr {
            ino: 2,
            kind: FileKind::Regular,
            perm: 0o644,
            nlink: 1,
            uid: 0,
            gid: 0,
            rdev: 0,
            size: 0,
            blocks: 0,
            atime: t(atime),
            mtime: t(mtime),
            ctime: t(ctime),
            crtime: t(0),
        }
    }

    #[test]
    fn relatime() {
        let now = Timestamp::new(1_000_000, 0);
        assert!(atime_stale(&attr(10, 20, 20), now), "older than mtime");
        assert!(atime_stale(&attr(20, 20, 20), now), "equal to mtime");
        assert!(!atime_stale(&attr(999_000, 20, 20), now), "newer, recent");
        assert!(atime_stale(&attr(900_000, 20, 20), now), "a day old");
        assert!(
            !atime_stale(&attr(1_000_000, 1_000_000, 1_000_000), now),
            "already now"
        );
    }
}
