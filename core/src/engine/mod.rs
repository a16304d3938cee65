//! The engine: the namespace and its collections behind one operation interface.
//!
//! Every change to an image is an [`Op`] applied by [`Engine::execute`]: the operation is fully
//! validated before anything is touched (an error changes nothing), then the namespace is
//! mutated and every collection index the change affects is brought in line with it, inside the
//! same call. The typed methods (`mknod`, `write`, `setxattr`, ...) are thin wrappers that
//! build an `Op`. Because an `Op` plus its [`Ctx`] determines the result completely, a log of
//! them replays to the same state (the journal relies on this).
//!
//! Reads (`lookup`, `read`, `search`, ...) take `&self`, so frontends can run them in parallel
//! under a read lock.
//!
//! Inodes whose last name goes away stay alive while *pinned* (open in a frontend); a
//! [`Op::Release`] frees them when the last pin drops, or right away if none is held.

mod apply;
mod durable;
mod entry;
mod search;
mod stats;

pub use durable::{FsckReport, fsck};
pub use entry::EntryPoint;

pub use search::{Hit, HitLines, Scratch};
pub use stats::{CollectionStats, Stats};

/// The operation vocabulary lives below the engine and the journal (see [`crate::op`]).
pub use crate::op::{Op, OpKind};

use crate::collections::{Collection, Collections};
use crate::error::{Error, Result};
use crate::journal::Journal;
use crate::limits::{BLOCK_SIZE, INODE_COUNT_MAX, NAME_LEN_MAX, XATTR_NAME_LEN_MAX};
use crate::namespace::BlockSource;
use crate::namespace::{Body, Namespace};
use crate::types::{
    Attr, Ctx, DirEntry, FallocMode, FileKind, Ino, RenameMode, SetAttr, StatFs, Timestamp, XattrMode,
};
use apply::State;

/// Where `lseek` looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whence {
    /// `SEEK_DATA`: the next offset in allocated space.
    Data,
    /// `SEEK_HOLE`: the next offset in a hole (the end of the file counts).
    Hole,
}

/// Parameters of a new image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Seed of every random choice the engine makes (HNSW levels).
    pub seed: u64,
    /// Creation time of the root directory.
    pub now: Timestamp,
    /// Owner of the root directory.
    pub root_uid: u32,
    /// Group of the root directory.
    pub root_gid: u32,
    /// Permission bits of the root directory.
    pub root_perm: u32,
    /// Length in blocks of the log segments the creating session allocates (not stored: see
    /// [`OpenOptions::log_segment_blocks`](crate::journal::OpenOptions)).
    pub log_segment_blocks: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            seed: 0x5645_5846_5331,
            now: Timestamp::default(),
            root_uid: 0,
            root_gid: 0,
            root_perm: 0o755,
            log_segment_blocks: crate::limits::LOG_SEGMENT_BLOCKS_DEFAULT,
        }
    }
}

/// The namespace, its collections and the bookkeeping that keeps them in step.
#[derive(Debug)]
pub struct Engine {
    /// The in-memory state; changed only through `commit` (apply, then log).
    state: State,
    /// Operations applied per kind since the engine was created or opened.
    op_counts: [u64; OpKind::ALL.len()],
    /// The image this engine persists to; `None` for an in-memory engine.
    journal: Option<Box<Journal>>,
}

/// Unit tests clone in-memory engines to try an operation without disturbing the original.
#[cfg(test)]
impl Clone for Engine {
    fn clone(&self) -> Self {
        assert!(self.journal.is_none(), "only in-memory engines are cloned");
        Engine {
            state: self.state.clone(),
            op_counts: self.op_counts,
            journal: None,
        }
    }
}

impl Engine {
    /// An empty image: just the root directory.
    pub fn new(cfg: EngineConfig) -> Self {
        let ns = Namespace::new(cfg.root_perm, cfg.root_uid, cfg.root_gid, cfg.now);
        Engine::from_parts(ns, Collections::default(), cfg.seed)
    }

    /// Reassembles an engine from loaded parts (checkpoint loading).
    pub fn from_parts(ns: Namespace, colls: Collections, seed: u64) -> Self {
        Engine {
            state: State::new(ns, colls, seed),
            op_counts: [0; OpKind::ALL.len()],
            journal: None,
        }
    }

    /// Where on-disk file blocks are read from (none for an in-memory engine).
    fn source(&self) -> Option<&dyn BlockSource> {
        self.journal.as_deref().map(|j| j as &dyn BlockSource)
    }

    fn replaying(&self) -> bool {
        self.journal.as_ref().is_some_and(|j| j.replaying)
    }

    /// The namespace (read-only).
    pub fn namespace(&self) -> &Namespace {
        &self.state.ns
    }

    /// The collections (read-only).
    pub fn collections(&self) -> &Collections {
        &self.state.colls
    }

    /// The collection of directory `dir`, if it is one.
    pub fn collection(&self, dir: Ino) -> Option<&Collection> {
        self.state.colls.get(dir)
    }

    /// The image seed.
    pub fn seed(&self) -> u64 {
        self.state.seed
    }

    /// Applies one operation: validates it completely, then mutates the namespace and the
    /// affected indexes. Returns the inode the operation created or acted on. On error nothing
    /// has changed.
    ///
    /// With an image attached, the operation is then appended to the log, and a checkpoint is
    /// written when the log has grown enough. During replay (recovery) operations come from the
    /// log, so they are neither logged again nor followed by automatic releases (the log holds
    /// those too).
    pub fn execute(&mut self, op: &Op<'_>, ctx: &Ctx) -> Result<Ino> {
        let (ino, unlinked) = self.commit(op, ctx)?;
        if let Some(orphan) = unlinked {
            self.release_if_unused(orphan, ctx)?;
        }
        if let Some(j) = self.journal.as_mut()
            && j.wants_checkpoint()
        {
            match j.checkpoint(&mut self.state.ns, &self.state.colls) {
                // The operation is applied and logged; a checkpoint the medium has no room
                // for changed nothing and is tried again later.
                Ok(()) | Err(Error::NoSpace) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(ino)
    }

    /// Applies and logs one operation.
    fn commit(&mut self, op: &Op<'_>, ctx: &Ctx) -> Result<(Ino, Option<Ino>)> {
        let replaying = self.replaying();
        if let Some(j) = self.journal.as_mut()
            && !replaying
        {
            j.prepare(op, ctx, &mut self.state.ns, &self.state.colls)?;
        }
        let src = self.journal.as_deref().map(|j| j as &dyn BlockSource);
        let applied = self.state.apply(op, ctx, src)?;
        self.op_counts[op.kind() as usize] += 1;
        if let Some(j) = self.journal.as_mut()
            && !replaying
        {
            j.append_prepared(op)?;
        }
        Ok(applied)
    }

    fn release_if_unused(&mut self, ino: Ino, ctx: &Ctx) -> Result<()> {
        let unused = !self.replaying()
            && !self.state.pins.contains_key(&ino)
            && self.state.ns.get(ino).is_ok_and(|n| n.is_unlinked(ino));
        if unused {
            self.commit(&Op::Release { ino }, ctx)?;
        }
        Ok(())
    }

    /// Takes `n` frontend references on `ino` (an open file, a kernel lookup): while any is
    /// held, the inode outlives its last name.
    pub fn pin(&mut self, ino: Ino, n: u64) {
        if n > 0 && self.state.ns.get(ino).is_ok() {
            *self.state.pins.entry(ino).or_insert(0) += n;
        }
    }

    /// Drops `n` references on `ino`; when none is left and the inode has no name, frees it.
    pub fn unpin(&mut self, ino: Ino, n: u64, ctx: &Ctx) -> Result<()> {
        let Some(p) = self.state.pins.get_mut(&ino) else {
            return Ok(());
        };
        *p = p.saturating_sub(n);
        if *p == 0 {
            self.state.pins.remove(&ino);
            self.release_if_unused(ino, ctx)?;
        }
        Ok(())
    }

    /// Whether a frontend holds a reference on `ino`.
    pub fn is_pinned(&self, ino: Ino) -> bool {
        self.state.pins.contains_key(&ino)
    }

    /// Unlinked inodes kept alive by a pin.
    pub fn orphans(&self) -> impl Iterator<Item = Ino> + '_ {
        self.state
            .ns
            .iter()
            .filter(|(i, n)| n.is_unlinked(*i))
            .map(|(i, _)| i)
    }

    /// Number of operations applied per kind since this engine was created or opened.
    pub fn op_counts(&self) -> impl Iterator<Item = (OpKind, u64)> + '_ {
        OpKind::ALL.iter().map(|&k| (k, self.op_counts[k as usize]))
    }

    // ----- typed mutations -------------------------------------------------------------------

    /// Creates a node of `kind` (not a symlink) and returns its attributes.
    pub fn mknod(
        &mut self,
        parent: Ino,
        name: &[u8],
        kind: FileKind,
        perm: u32,
        rdev: u32,
        ctx: &Ctx,
    ) -> Result<Attr> {
        let op = Op::Mknod {
            parent,
            name,
            kind,
            perm,
            rdev,
        };
        let ino = self.execute(&op, ctx)?;
        self.state.ns.attr(ino)
    }

    /// Creates a regular file.
    pub fn create(&mut self, parent: Ino, name: &[u8], perm: u32, ctx: &Ctx) -> Result<Attr> {
        self.mknod(parent, name, FileKind::Regular, perm, 0, ctx)
    }

    /// Creates a directory.
    pub fn mkdir(&mut self, parent: Ino, name: &[u8], perm: u32, ctx: &Ctx) -> Result<Attr> {
        self.mknod(parent, name, FileKind::Directory, perm, 0, ctx)
    }

    /// Creates a symbolic link to `target`.
    pub fn symlink(&mut self, parent: Ino, name: &[u8], target: &[u8], ctx: &Ctx) -> Result<Attr> {
        let ino = self.execute(&Op::Symlink { parent, name, target }, ctx)?;
        self.state.ns.attr(ino)
    }

    /// Adds the name `parent/name` for `ino`.
    pub fn link(&mut self, ino: Ino, parent: Ino, name: &[u8], ctx: &Ctx) -> Result<Attr> {
        self.execute(&Op::Link { ino, parent, name }, ctx)?;
        self.state.ns.attr(ino)
    }

    /// Removes the non-directory `parent/name`.
    pub fn unlink(&mut self, parent: Ino, name: &[u8], ctx: &Ctx) -> Result<()> {
        self.execute(&Op::Unlink { parent, name }, ctx).map(drop)
    }

    /// Removes the empty directory `parent/name`.
    pub fn rmdir(&mut self, parent: Ino, name: &[u8], ctx: &Ctx) -> Result<()> {
        self.execute(&Op::Rmdir { parent, name }, ctx).map(drop)
    }

    /// Renames `parent/name` to `new_parent/new_name`.
    pub fn rename(
        &mut self,
        parent: Ino,
        name: &[u8],
        new_parent: Ino,
        new_name: &[u8],
        mode: RenameMode,
        ctx: &Ctx,
    ) -> Result<()> {
        let op = Op::Rename {
            parent,
            name,
            new_parent,
            new_name,
            mode,
        };
        self.execute(&op, ctx).map(drop)
    }

    /// Changes attributes and returns the new ones.
    pub fn setattr(&mut self, ino: Ino, attr: SetAttr, ctx: &Ctx) -> Result<Attr> {
        self.execute(&Op::SetAttr { ino, attr }, ctx)?;
        self.state.ns.attr(ino)
    }

    /// Writes `data` at `offset`; returns the bytes written: all of them, or fewer when the
    /// medium ran out of room after the first `WRITE_OP_BYTES_MAX` (writes larger than that are
    /// applied as several operations, in order).
    pub fn write(&mut self, ino: Ino, offset: u64, data: &[u8], ctx: &Ctx) -> Result<usize> {
        self.state.ns.get(ino)?.file()?;
        crate::namespace::FileData::check_range(offset, data.len() as u64)?;
        let mut done = 0;
        for chunk in data.chunks(crate::limits::WRITE_OP_BYTES_MAX) {
            let op = Op::Write {
                ino,
                offset: offset + done as u64,
                data: chunk,
                kill_suid: false,
            };
            match self.execute(&op, ctx) {
                Ok(_) => done += chunk.len(),
                // What was written stays: a short write, as write(2) reports it.
                Err(Error::NoSpace) if done > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    /// Allocates or punches `[offset, offset + len)`.
    pub fn fallocate(&mut self, ino: Ino, offset: u64, len: u64, mode: FallocMode, ctx: &Ctx) -> Result<()> {
        self.execute(
            &Op::Fallocate {
                ino,
                offset,
                len,
                mode,
            },
            ctx,
        )
        .map(drop)
    }

    /// Sets an extended attribute.
    pub fn setxattr(
        &mut self,
        ino: Ino,
        name: &[u8],
        value: &[u8],
        mode: XattrMode,
        ctx: &Ctx,
    ) -> Result<()> {
        self.execute(
            &Op::SetXattr {
                ino,
                name,
                value,
                mode,
            },
            ctx,
        )
        .map(drop)
    }

    /// Removes an extended attribute.
    pub fn removexattr(&mut self, ino: Ino, name: &[u8], ctx: &Ctx) -> Result<()> {
        self.execute(&Op::RemoveXattr { ino, name }, ctx).map(drop)
    }

    /// Records a read access with `relatime` rules: `atime` moves only if it is not newer than
    /// `mtime`/`ctime`, or is more than a day old. Returns whether it moved.
    pub fn touch_atime(&mut self, ino: Ino, ctx: &Ctx) -> Result<bool> {
        const DAY_SECS: i64 = 24 * 60 * 60;
        let n = self.state.ns.get(ino)?;
        let stale = n.atime <= n.mtime
            || n.atime <= n.ctime
            || ctx.now.secs().saturating_sub(n.atime.secs()) >= DAY_SECS;
        if !stale || n.atime == ctx.now {
            return Ok(false);
        }
        self.execute(&Op::Touch { ino }, ctx)?;
        Ok(true)
    }

    // ----- reads -----------------------------------------------------------------------------

    /// Looks up `name` in `parent`.
    pub fn lookup(&self, parent: Ino, name: &[u8]) -> Result<Attr> {
        let ino = self.state.ns.lookup(parent, name)?;
        self.state.ns.attr(ino)
    }

    /// Attributes of `ino`.
    pub fn getattr(&self, ino: Ino) -> Result<Attr> {
        self.state.ns.attr(ino)
    }

    /// Target of a symbolic link.
    pub fn readlink(&self, ino: Ino) -> Result<&[u8]> {
        match &self.state.ns.get(ino)?.body {
            Body::Symlink(t) => Ok(t),
            _ => Err(Error::Invalid("not a symbolic link")),
        }
    }

    /// Reads file data into `buf`; returns the bytes read (short at end of file).
    pub fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.state.ns.get(ino)?.file()?.read(offset, buf, self.source())
    }

    /// What [`Engine::read`] of `len` bytes would give, lent straight from the image when the
    /// bytes lie there in one verified run (see [`FileData::view`](crate::namespace::FileData::view));
    /// `None` when they do not (then `read`). For large reads: nothing is copied.
    pub fn read_view(&self, ino: Ino, offset: u64, len: usize) -> Result<Option<&[u8]>> {
        self.state.ns.get(ino)?.file()?.view(offset, len, self.source())
    }

    /// `SEEK_DATA` / `SEEK_HOLE` from `offset`; `ENXIO`-style `None` past the data.
    pub fn lseek(&self, ino: Ino, offset: u64, whence: Whence) -> Result<Option<u64>> {
        let f = self.state.ns.get(ino)?.file()?;
        Ok(match whence {
            Whence::Data => f.seek_data(offset),
            Whence::Hole => f.seek_hole(offset),
        })
    }

    /// Lists directory `ino` starting after `cookie` (0 starts at `.`), calling `f` for each
    /// entry until it returns `false`. Cookies 1 and 2 are `.` and `..`.
    pub fn readdir(&self, ino: Ino, cookie: u64, mut f: impl FnMut(DirEntry) -> bool) -> Result<()> {
        let node = self.state.ns.get(ino)?;
        let dir = node.dir()?;
        let dots = [
            (1u64, &b"."[..], ino),
            (2, b"..", self.state.ns.parent_of_dir(ino)?),
        ];
        for (c, name, target) in dots {
            if cookie < c
                && !f(DirEntry {
                    ino: target,
                    kind: FileKind::Directory,
                    cookie: c,
                    name: name.into(),
                })
            {
                return Ok(());
            }
        }
        for (c, name, target) in dir.iter_from(cookie.max(2)) {
            let kind = self.state.ns.get(target)?.kind;
            if !f(DirEntry {
                ino: target,
                kind,
                cookie: c,
                name: name.into(),
            }) {
                break;
            }
        }
        Ok(())
    }

    /// Value of an extended attribute.
    pub fn getxattr(&self, ino: Ino, name: &[u8]) -> Result<&[u8]> {
        if name.len() > XATTR_NAME_LEN_MAX {
            return Err(Error::Range);
        }
        let value = self
            .state
            .ns
            .get(ino)?
            .xattrs
            .get(name)
            .ok_or(Error::NoAttribute)?;
        // An indexed vector is read from its index, where it is held (`check` verifies that
        // every such reference resolves).
        self.state.colls.resolve(ino, value).ok_or(Error::Corrupted {
            what: "attribute held by a missing index entry",
            offset: 0,
        })
    }

    /// Names of all extended attributes, each followed by a NUL, appended to `out`.
    pub fn listxattr(&self, ino: Ino, out: &mut Vec<u8>) -> Result<()> {
        for (name, _) in self.state.ns.get(ino)?.xattrs.iter() {
            out.extend_from_slice(name);
            out.push(0);
        }
        Ok(())
    }

    /// Filesystem figures. For an image they are the room its journal accounts for: the
    /// image plus what the medium can still give it in total, free blocks inside it plus that,
    /// and, available, what new data can still take once the next checkpoint and the reserve
    /// kept for deletes are set aside (see `journal::space`). In memory there is no medium:
    /// the figures are the files' own blocks, with `capacity_bytes` (the frontend's choice) as
    /// the total.
    pub fn statfs(&self, capacity_bytes: u64) -> StatFs {
        let files = self.state.ns.len() as u64;
        let (total, free, available) = match self.journal.as_ref().map(|j| j.room()) {
            Some(r) => (r.total_blocks, r.free_blocks, r.available_blocks),
            None => {
                let used: u64 = self.state.ns.iter().map(|(_, n)| n.blocks_512() / 8).sum();
                let total = (capacity_bytes / BLOCK_SIZE as u64).max(used);
                (total, total - used, total - used)
            }
        };
        StatFs {
            block_size: BLOCK_SIZE as u32,
            blocks: total,
            blocks_free: free.min(total),
            blocks_available: available.min(free).min(total),
            files: INODE_COUNT_MAX,
            files_free: INODE_COUNT_MAX.saturating_sub(files),
            name_len_max: NAME_LEN_MAX as u32,
        }
    }

    /// Resolves an absolute path (see `Namespace::resolve`).
    pub fn resolve(&self, path: &[u8], follow_last: bool) -> Result<Ino> {
        self.state.ns.resolve(path, follow_last)
    }

    /// Resolves an absolute path as `creds` may (see `Namespace::resolve_as`): `EACCES` at the
    /// first directory on the way that `creds` may not search.
    pub fn resolve_as(&self, path: &[u8], follow_last: bool, creds: &crate::namespace::Creds) -> Result<Ino> {
        self.state.ns.resolve_as(path, follow_last, creds)
    }
}

/// The checks (`check::check`, `check::state_digest`) see the engine's state, never the engine.
impl crate::check::Inspect for Engine {
    fn inspect<'a>(&'a self, layout_problems: &'a [String]) -> crate::check::State<'a> {
        crate::check::State {
            ns: &self.state.ns,
            colls: &self.state.colls,
            pins: &self.state.pins,
            source: self.source(),
            layout_problems,
        }
    }

    fn layout_problems(&self) -> Vec<String> {
        Engine::layout_problems(self)
    }
}

#[cfg(test)]
mod tests;
