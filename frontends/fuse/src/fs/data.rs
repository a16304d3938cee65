//! File contents: `read`, `write` and `copy_file_range` of engine files.
//!
//! Serving data allocates nothing in steady state: copies go through one buffer per worker
//! thread (`BUF`). A read whose bytes lie in one run of consecutive image blocks is answered
//! from the image's memory map under the read lock, held until the reply is written (see the
//! `fs` module docs). Every write request is at most `MAX_WRITE` bytes and every core write
//! operation at most `WRITE_OP_BYTES_MAX`, so byte counts fit the reply's `u32`.

use super::{OrErrno, VexFs, ctx};
use crate::errno::errno;
use crate::metrics::FsOp;
use fuser::{INodeNo, ReplyData, ReplyWrite, Request};
use std::cell::RefCell;
use std::sync::atomic::Ordering;
use vexfs_core::Op;
use vexfs_core::limits::WRITE_OP_BYTES_MAX;

thread_local! {
    /// Per-worker buffer for reads and copies, so serving data allocates nothing in steady state.
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl VexFs {
    /// Replies with at most `size` bytes of file `ino` at `offset`, from the image's map when
    /// they lie in one run of it, and moves its atime if relatime says so (unless `no_atime`, the open's `O_NOATIME`).
    pub(super) fn read_file(
        &self,
        req: &Request,
        ino: INodeNo,
        offset: u64,
        size: u32,
        no_atime: bool,
        reply: ReplyData,
    ) {
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

    /// Writes `data` to file `ino` at `offset` in core write operations of at most
    /// `WRITE_OP_BYTES_MAX`; a failure after some were written is a short write. `kill_suid`: the
    /// kernel asks for set-user-ID/set-group-ID to be cleared.
    pub(super) fn write_file(
        &self,
        req: &Request,
        ino: INodeNo,
        offset: u64,
        data: &[u8],
        kill_suid: bool,
        reply: ReplyWrite,
    ) {
        self.s
            .max_write_seen
            .fetch_max(data.len() as u64, Ordering::Relaxed);
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

    /// Copies at most one core write operation of bytes from `from` to `to` (file, offset);
    /// callers loop on short copies.
    pub(super) fn copy_range(
        &self,
        req: &Request,
        from: (INodeNo, u64),
        to: (INodeNo, u64),
        len: u64,
        reply: ReplyWrite,
    ) {
        // At most one core write per request; callers loop on short copies.
        let len = len.min(WRITE_OP_BYTES_MAX as u64) as usize;
        let ctx = ctx(req);
        BUF.with_borrow_mut(|buf| {
            let r = self.s.metrics.time(FsOp::CopyFileRange, || {
                let mut e = self.s.write()?;
                buf.resize(len, 0);
                let n = e.read(from.0.0, from.1, buf).or_errno()?;
                if n > 0 {
                    let op = Op::Write {
                        ino: to.0.0,
                        offset: to.1,
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
