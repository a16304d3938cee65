//! Directory listings: `readdir` and `readdirplus` are one walk ([`VexFs::list`]) over a
//! [`Listing`], which is either reply.
//!
//! Invariants: an entry of a `readdirplus` reply other than `.` and `..` gives the kernel a
//! reference to its node, so it is counted (`Shared::add_ref`) while the read lock that found
//! it is still held, and only if it went into the reply; a `readdir` entry gives none, and its
//! attributes are never read. `.vexfs` follows the root's engine entries (see `virt`).

use super::{ATTR_TTL, GEN, OrErrno, VexFs};
use crate::convert::file_type;
use crate::metrics::FsOp;
use crate::virt::{self, engine_attr};
use fuser::{Errno, FileAttr, FileType, INodeNo, ReplyDirectory, ReplyDirectoryPlus, Request};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// One entry of a listing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<'a> {
    pub(crate) ino: u64,
    pub(crate) cookie: u64,
    pub(crate) kind: FileType,
    pub(crate) name: &'a OsStr,
}

/// A directory listing reply: names (`readdir`) or names with attributes (`readdirplus`).
pub(crate) trait Listing {
    /// Whether an entry added gives the kernel a reference to its node (`readdirplus`).
    const GIVES_REFS: bool;

    /// Adds one entry; true when the reply is full (the entry was not added). `attr` is called
    /// only by a listing that carries attributes; its error fails the listing.
    fn add(&mut self, e: Entry<'_>, attr: impl FnOnce() -> Result<FileAttr, Errno>) -> Result<bool, Errno>;

    /// Sends the listing.
    fn ok(self);

    /// Fails the listing.
    fn error(self, e: Errno);
}

impl Listing for ReplyDirectory {
    const GIVES_REFS: bool = false;

    fn add(&mut self, e: Entry<'_>, _attr: impl FnOnce() -> Result<FileAttr, Errno>) -> Result<bool, Errno> {
        Ok(ReplyDirectory::add(
            self,
            INodeNo(e.ino),
            e.cookie,
            e.kind,
            e.name,
        ))
    }

    fn ok(self) {
        ReplyDirectory::ok(self);
    }

    fn error(self, e: Errno) {
        ReplyDirectory::error(self, e);
    }
}

impl Listing for ReplyDirectoryPlus {
    const GIVES_REFS: bool = true;

    fn add(&mut self, e: Entry<'_>, attr: impl FnOnce() -> Result<FileAttr, Errno>) -> Result<bool, Errno> {
        let attr = attr()?;
        Ok(ReplyDirectoryPlus::add(
            self,
            INodeNo(e.ino),
            e.cookie,
            e.name,
            &ATTR_TTL,
            &attr,
            GEN,
        ))
    }

    fn ok(self) {
        ReplyDirectoryPlus::ok(self);
    }

    fn error(self, e: Errno) {
        ReplyDirectoryPlus::error(self, e);
    }
}

/// Whether `name` is `.` or `..` (a listing gives no reference for them).
fn is_dot(name: &[u8]) -> bool {
    name == b"." || name == b".."
}

impl VexFs {
    /// Replies with the entries of directory `ino` after cookie `offset`, and moves its atime
    /// if relatime says so.
    pub(super) fn list<L: Listing>(&self, req: &Request, ino: INodeNo, offset: u64, mut reply: L) {
        if let Some(v) = self.virt(ino) {
            return v.list(offset, reply);
        }
        let r = self.s.metrics.time(FsOp::Readdir, || {
            let e = self.s.read()?;
            let mut full = false;
            let mut failed = None;
            e.readdir(ino.0, offset, |d| {
                let entry = Entry {
                    ino: d.ino,
                    cookie: d.cookie,
                    kind: file_type(d.kind),
                    name: OsStr::from_bytes(&d.name),
                };
                let attr = || e.getattr(d.ino).map(|a| engine_attr(&a)).or_errno();
                match reply.add(entry, attr) {
                    Ok(f) => full = f,
                    Err(err) => {
                        failed = Some(err);
                        return false;
                    }
                }
                if L::GIVES_REFS && !full && !is_dot(&d.name) {
                    self.s.add_ref(d.ino);
                }
                !full
            })
            .or_errno()?;
            if let Some(err) = failed {
                return Err(err);
            }
            if !full {
                virt::append_to_listing(&self.s, ino.0, offset, &mut reply)?;
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
}
