//! Changes to names: the creating requests (`create`, `mknod`, `mkdir`, `symlink`, `link`), removals
//! (`unlink`, `rmdir`) and `rename`, after their arguments are parsed.
//!
//! Invariants (see `state`): a reply that gives the kernel a new entry counts its reference
//! while the write lock is still held, and every request that can take away an inode's last
//! name first pins that inode, under the same write lock, if the kernel references it. Virtual
//! names are refused here, before the engine is locked.

use super::{ATTR_TTL, ENTRY_TTL, GEN, OrErrno, VexFs, ctx};
use crate::metrics::FsOp;
use crate::virt::{Name, engine_attr};
use fuser::{Errno, FileAttr, FileHandle, FopenFlags, ReplyCreate, ReplyEmpty, ReplyEntry, Request};
use vexfs_core::{Attr, Engine, Error, RenameMode};

/// The reply to a request that creates a name: an entry, or for `create` an entry and an
/// open file.
pub(super) trait NewEntry {
    fn entry(self, a: &FileAttr);
    fn error(self, e: Errno);
}

impl NewEntry for ReplyEntry {
    fn entry(self, a: &FileAttr) {
        self.entry_with_ttls(&ATTR_TTL, &ENTRY_TTL, a, GEN);
    }

    fn error(self, e: Errno) {
        ReplyEntry::error(self, e);
    }
}

/// Files are opened as every engine file is (see `fs`): the page cache is kept.
impl NewEntry for ReplyCreate {
    fn entry(self, a: &FileAttr) {
        self.created(&ATTR_TTL, a, GEN, FileHandle(0), FopenFlags::FOPEN_KEEP_CACHE);
    }

    fn error(self, e: Errno) {
        ReplyCreate::error(self, e);
    }
}

impl VexFs {
    /// Runs a mutation that creates a name and replies with the new entry, counting the
    /// kernel's reference to it.
    pub(super) fn new_entry(
        &self,
        op: FsOp,
        parent: u64,
        name: &[u8],
        reply: impl NewEntry,
        f: impl FnOnce(&mut Engine) -> Result<Attr, Error>,
    ) {
        if self.read_only() {
            return reply.error(Errno::EROFS);
        }
        if let Some(v) = Name::of(parent, name) {
            return reply.error(v.create_error());
        }
        let r = self.s.metrics.time(op, || {
            let mut e = self.s.write()?;
            let a = f(&mut e).or_errno()?;
            self.s.add_ref(a.ino);
            Ok(engine_attr(&a))
        });
        match r {
            Ok(a) => reply.entry(&a),
            Err(e) => reply.error(e),
        }
    }

    /// Runs a name removal (`unlink`, `rmdir`): pins the inode losing the name first.
    pub(super) fn remove_name(&self, op: FsOp, parent: u64, name: &[u8], req: &Request, reply: ReplyEmpty) {
        if self.read_only() {
            return reply.error(Errno::EROFS);
        }
        if let Some(v) = Name::of(parent, name) {
            return reply.error(v.change_error());
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

    /// Renames `from` to `to` (parent, name) in `mode`: pins the inode a replacing rename
    /// takes the name from first.
    pub(super) fn rename_names(
        &self,
        from: (u64, &[u8]),
        to: (u64, &[u8]),
        mode: RenameMode,
        req: &Request,
        reply: ReplyEmpty,
    ) {
        let ((parent, name), (newparent, newname)) = (from, to);
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
}
