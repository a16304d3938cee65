//! Extended attributes of engine inodes: the `setxattr`, `getxattr`, `listxattr` and
//! `removexattr` requests, as parse → core call → reply.
//!
//! Sizes: values and lists are at most 64 KiB (the core's limits), so lengths fit the reply's
//! `u32`. Callers other than root do not see the `trusted.` namespace in lists (as on ext4).

use super::{OrErrno, VexFs, ctx};
use crate::errno::errno;
use crate::metrics::FsOp;
use fuser::{Errno, INodeNo, ReplyEmpty, ReplyXattr, Request};
use vexfs_core::XattrMode;

/// The mode of a `setxattr` with `flags` (`XATTR_CREATE`, `XATTR_REPLACE` or 0) at `position`
/// (only 0 is valid); `None` when either is invalid (`EINVAL`).
pub(super) fn set_mode(flags: i32, position: u32) -> Option<XattrMode> {
    let mode = match flags {
        0 => XattrMode::Any,
        libc::XATTR_CREATE => XattrMode::Create,
        libc::XATTR_REPLACE => XattrMode::Replace,
        _ => return None,
    };
    (position == 0).then_some(mode)
}

impl VexFs {
    /// Sets extended attribute `name` of `ino`.
    pub(super) fn set_xattr(
        &self,
        req: &Request,
        ino: INodeNo,
        name: &[u8],
        value: &[u8],
        mode: XattrMode,
        reply: ReplyEmpty,
    ) {
        let ctx = ctx(req);
        let r = self.s.metrics.time(FsOp::Setxattr, || {
            self.s
                .write()?
                .setxattr(ino.0, name, value, mode, &ctx)
                .or_errno()
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    /// Replies with the value of `name` of `ino`, or its size when `size` is 0.
    pub(super) fn get_xattr(&self, ino: INodeNo, name: &[u8], size: u32, reply: ReplyXattr) {
        self.s.metrics.time(FsOp::Getxattr, || {
            let e = match self.s.read() {
                Ok(e) => e,
                Err(err) => return reply.error(err),
            };
            match e.getxattr(ino.0, name) {
                // Values are at most 64 KiB: the length fits.
                Ok(v) if size == 0 => reply.size(v.len() as u32),
                Ok(v) if v.len() > size as usize => reply.error(Errno::ERANGE),
                Ok(v) => reply.data(v),
                Err(err) => reply.error(errno(&err)),
            }
        });
    }

    /// Replies with the names of `ino`'s extended attributes the caller may see, or their size
    /// when `size` is 0.
    pub(super) fn list_xattr(&self, req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
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

    /// Removes extended attribute `name` of `ino`.
    pub(super) fn remove_xattr(&self, req: &Request, ino: INodeNo, name: &[u8], reply: ReplyEmpty) {
        let ctx = ctx(req);
        let r = self.s.metrics.time(FsOp::Removexattr, || {
            self.s.write()?.removexattr(ino.0, name, &ctx).or_errno()
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}
