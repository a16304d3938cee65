//! Little-endian binary encoding shared by log records and checkpoints, and the encoding of one
//! [`Op`] with its [`Ctx`] (docs/format.md §4.2).
//!
//! [`Reader`] never panics and never allocates on behalf of the input: every length is checked
//! against the bytes that remain (and against the limit that applies) before it is used, and
//! every failure is an [`Error::Corrupted`] naming `what` and the byte offset.

use crate::error::{Error, Result};
use crate::limits::{NAME_LEN_MAX, PATH_LEN_MAX, XATTR_NAME_LEN_MAX, XATTR_VALUE_LEN_MAX};
use crate::op::Op;
use crate::types::{Ctx, FallocMode, FileKind, RenameMode, SetAttr, SetTime, Timestamp, XattrMode};

/// Appends little-endian values to a byte buffer.
pub trait Put {
    /// One byte.
    fn put_u8(&mut self, v: u8);
    /// A `u32`.
    fn put_u32(&mut self, v: u32);
    /// A `u64`.
    fn put_u64(&mut self, v: u64);
    /// An `i64`.
    fn put_i64(&mut self, v: i64);
    /// A byte string: `u32` length, then the bytes.
    fn put_bytes(&mut self, v: &[u8]);
    /// Bytes as they are, without a length.
    fn put_raw(&mut self, v: &[u8]);
    /// A timestamp: `i64` seconds, `u32` nanoseconds.
    fn put_time(&mut self, t: Timestamp) {
        self.put_i64(t.secs());
        self.put_u32(t.nanos());
    }
}

impl Put for Vec<u8> {
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_bytes(&mut self, v: &[u8]) {
        let len = u32::try_from(v.len()).expect("encoded strings are bounded by the limits");
        self.put_u32(len);
        self.extend_from_slice(v);
    }
    fn put_raw(&mut self, v: &[u8]) {
        self.extend_from_slice(v);
    }
}

/// Reads little-endian values from a byte slice, reporting damage as corruption of `what`.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: u64,
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, which starts at image byte `base`; errors name `what`.
    pub fn new(buf: &'a [u8], base: u64, what: &'static str) -> Self {
        Reader {
            buf,
            pos: 0,
            base,
            what,
        }
    }

    /// Corruption at the current position.
    pub fn bad(&self) -> Error {
        Error::Corrupted {
            what: self.what,
            offset: self.base + self.pos as u64,
        }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Position within the buffer.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.bad());
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        debug_assert!(self.pos <= self.buf.len(), "the reader never passes its buffer");
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }
    /// A `u32`.
    pub fn u32(&mut self) -> Result<u32> {
        self.array().map(u32::from_le_bytes)
    }
    /// A `u64`.
    pub fn u64(&mut self) -> Result<u64> {
        self.array().map(u64::from_le_bytes)
    }
    /// An `i64`.
    pub fn i64(&mut self) -> Result<i64> {
        self.array().map(i64::from_le_bytes)
    }
    /// A byte string of at most `max` bytes.
    pub fn bytes(&mut self, max: usize) -> Result<&'a [u8]> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(self.bad());
        }
        self.take(len)
    }
    /// A timestamp.
    pub fn time(&mut self) -> Result<Timestamp> {
        let secs = self.i64()?;
        let nanos = self.u32()?;
        Timestamp::exact(secs, nanos).ok_or_else(|| self.bad())
    }
    /// A count of items that each take at least `item_min_bytes`, bounded by what remains.
    pub fn count(&mut self, item_min_bytes: usize) -> Result<usize> {
        let n = self.u64()?;
        let fits = usize::try_from(n)
            .ok()
            .filter(|&n| n.saturating_mul(item_min_bytes.max(1)) <= self.remaining());
        fits.ok_or_else(|| self.bad())
    }
    /// Fails unless everything was read.
    pub fn finish(&self) -> Result<()> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(self.bad())
        }
    }
}

fn put_opt_u32(out: &mut Vec<u8>, v: Option<u32>) {
    match v {
        None => out.put_u8(0),
        Some(v) => {
            out.put_u8(1);
            out.put_u32(v);
        }
    }
}

fn put_opt_time(out: &mut Vec<u8>, v: Option<SetTime>) {
    match v {
        None => out.put_u8(0),
        Some(SetTime::Now) => out.put_u8(1),
        Some(SetTime::At(t)) => {
            out.put_u8(2);
            out.put_time(t);
        }
    }
}

fn rename_code(m: RenameMode) -> u8 {
    match m {
        RenameMode::Replace => 0,
        RenameMode::NoReplace => 1,
        RenameMode::Exchange => 2,
    }
}

fn xattr_code(m: XattrMode) -> u8 {
    match m {
        XattrMode::Any => 0,
        XattrMode::Create => 1,
        XattrMode::Replace => 2,
    }
}

fn falloc_code(m: FallocMode) -> u8 {
    match m {
        FallocMode::Allocate => 0,
        FallocMode::KeepSize => 1,
        FallocMode::PunchHole => 2,
    }
}

/// Appends the encoding of `op` performed in `ctx` to `out`.
///
/// Debug builds check the record against [`decode_op`] where it is made: the context takes
/// [`CTX_BYTES`] before the kind byte, and a record that decodes decodes to exactly `(op, ctx)`
/// (one that does not, because a length is over a decoding limit, is refused by the engine's
/// validation before it is logged).
pub fn encode_op(op: &Op<'_>, ctx: &Ctx, out: &mut Vec<u8>) {
    let start = out.len();
    out.put_time(ctx.now);
    out.put_u32(ctx.uid);
    out.put_u32(ctx.gid);
    debug_assert_eq!(out.len() - start, CTX_BYTES, "the context is CTX_BYTES long");
    out.put_u8(op.kind() as u8);
    encode_fields(op, out);
    debug_assert!(
        decode_op(&mut Reader::new(&out[start..], 0, "record")).map_or(true, |(o, c)| o == *op && c == *ctx),
        "a record decodes to what was encoded: {op:?}"
    );
}

/// Bytes of the context at the start of every record: `i64` seconds, `u32` nanoseconds, uid,
/// gid.
const CTX_BYTES: usize = 8 + 4 + 4 + 4;

/// Appends the fields of `op` (what follows the kind byte).
fn encode_fields(op: &Op<'_>, out: &mut Vec<u8>) {
    match *op {
        Op::Mknod {
            parent,
            name,
            kind,
            perm,
            rdev,
        } => {
            out.put_u64(parent);
            out.put_bytes(name);
            out.put_u8(kind.code());
            out.put_u32(perm);
            out.put_u32(rdev);
        }
        Op::Symlink { parent, name, target } => {
            out.put_u64(parent);
            out.put_bytes(name);
            out.put_bytes(target);
        }
        Op::Link { ino, parent, name } => {
            out.put_u64(ino);
            out.put_u64(parent);
            out.put_bytes(name);
        }
        Op::Unlink { parent, name } | Op::Rmdir { parent, name } => {
            out.put_u64(parent);
            out.put_bytes(name);
        }
        Op::Rename {
            parent,
            name,
            new_parent,
            new_name,
            mode,
        } => {
            out.put_u64(parent);
            out.put_bytes(name);
            out.put_u64(new_parent);
            out.put_bytes(new_name);
            out.put_u8(rename_code(mode));
        }
        Op::SetAttr { ino, attr } => {
            out.put_u64(ino);
            put_opt_u32(out, attr.perm);
            put_opt_u32(out, attr.uid);
            put_opt_u32(out, attr.gid);
            match attr.size {
                None => out.put_u8(0),
                Some(s) => {
                    out.put_u8(1);
                    out.put_u64(s);
                }
            }
            put_opt_time(out, attr.atime);
            put_opt_time(out, attr.mtime);
        }
        Op::Write {
            ino,
            offset,
            data,
            kill_suid,
        } => {
            out.put_u64(ino);
            out.put_u64(offset);
            out.put_u8(u8::from(kill_suid));
            out.put_bytes(data);
        }
        Op::Fallocate {
            ino,
            offset,
            len,
            mode,
        } => {
            out.put_u64(ino);
            out.put_u64(offset);
            out.put_u64(len);
            out.put_u8(falloc_code(mode));
        }
        Op::SetXattr {
            ino,
            name,
            value,
            mode,
        } => {
            out.put_u64(ino);
            out.put_bytes(name);
            out.put_bytes(value);
            out.put_u8(xattr_code(mode));
        }
        Op::RemoveXattr { ino, name } => {
            out.put_u64(ino);
            out.put_bytes(name);
        }
        Op::Touch { ino } | Op::Release { ino } => out.put_u64(ino),
    }
}

fn opt_u32(r: &mut Reader<'_>) -> Result<Option<u32>> {
    match r.u8()? {
        0 => Ok(None),
        1 => r.u32().map(Some),
        _ => Err(r.bad()),
    }
}

fn opt_time(r: &mut Reader<'_>) -> Result<Option<SetTime>> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(SetTime::Now)),
        2 => r.time().map(|t| Some(SetTime::At(t))),
        _ => Err(r.bad()),
    }
}

fn pick<T: Copy>(r: &Reader<'_>, code: u8, table: &[T]) -> Result<T> {
    table.get(code as usize).copied().ok_or_else(|| r.bad())
}

/// Reads a mode byte and the mode it names: `table[code]`.
fn mode<T: Copy>(r: &mut Reader<'_>, table: &[T]) -> Result<T> {
    let code = r.u8()?;
    pick(r, code, table)
}

/// Reads a flag byte: 0 or 1.
fn flag(r: &mut Reader<'_>) -> Result<bool> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(r.bad()),
    }
}

/// Reads an optional `u64`: a 0 byte, or a 1 byte then the value.
fn opt_u64(r: &mut Reader<'_>) -> Result<Option<u64>> {
    match r.u8()? {
        0 => Ok(None),
        1 => r.u64().map(Some),
        _ => Err(r.bad()),
    }
}

/// The context every record starts with: time, uid, gid.
fn decode_ctx(r: &mut Reader<'_>) -> Result<Ctx> {
    let now = r.time()?;
    Ok(Ctx {
        now,
        uid: r.u32()?,
        gid: r.u32()?,
    })
}

fn decode_mknod<'a>(r: &mut Reader<'a>) -> Result<Op<'a>> {
    let parent = r.u64()?;
    let name = r.bytes(NAME_LEN_MAX)?;
    let kind = FileKind::from_code(r.u8()?).ok_or_else(|| r.bad())?;
    Ok(Op::Mknod {
        parent,
        name,
        kind,
        perm: r.u32()?,
        rdev: r.u32()?,
    })
}

fn decode_rename<'a>(r: &mut Reader<'a>) -> Result<Op<'a>> {
    let parent = r.u64()?;
    let name = r.bytes(NAME_LEN_MAX)?;
    let new_parent = r.u64()?;
    let new_name = r.bytes(NAME_LEN_MAX)?;
    let mode = mode(
        r,
        &[RenameMode::Replace, RenameMode::NoReplace, RenameMode::Exchange],
    )?;
    Ok(Op::Rename {
        parent,
        name,
        new_parent,
        new_name,
        mode,
    })
}

fn decode_setattr<'a>(r: &mut Reader<'a>) -> Result<Op<'a>> {
    let ino = r.u64()?;
    let perm = opt_u32(r)?;
    let uid = opt_u32(r)?;
    let gid = opt_u32(r)?;
    let size = opt_u64(r)?;
    let attr = SetAttr {
        perm,
        uid,
        gid,
        size,
        atime: opt_time(r)?,
        mtime: opt_time(r)?,
    };
    Ok(Op::SetAttr { ino, attr })
}

fn decode_write<'a>(r: &mut Reader<'a>) -> Result<Op<'a>> {
    let ino = r.u64()?;
    let offset = r.u64()?;
    let kill_suid = flag(r)?;
    Ok(Op::Write {
        ino,
        offset,
        kill_suid,
        data: r.bytes(crate::limits::WRITE_OP_BYTES_MAX)?,
    })
}

fn decode_fallocate<'a>(r: &mut Reader<'a>) -> Result<Op<'a>> {
    let (ino, offset, len) = (r.u64()?, r.u64()?, r.u64()?);
    let mode = mode(
        r,
        &[FallocMode::Allocate, FallocMode::KeepSize, FallocMode::PunchHole],
    )?;
    Ok(Op::Fallocate {
        ino,
        offset,
        len,
        mode,
    })
}

fn decode_setxattr<'a>(r: &mut Reader<'a>) -> Result<Op<'a>> {
    let ino = r.u64()?;
    let name = r.bytes(XATTR_NAME_LEN_MAX)?;
    let value = r.bytes(XATTR_VALUE_LEN_MAX)?;
    let mode = mode(r, &[XattrMode::Any, XattrMode::Create, XattrMode::Replace])?;
    Ok(Op::SetXattr {
        ino,
        name,
        value,
        mode,
    })
}

/// Decodes one operation record payload (the inverse of [`encode_op`]): the context, the kind
/// byte, then the kind's fields (one `decode_*` function per record with more than names and
/// numbers), and nothing after them.
pub fn decode_op<'a>(r: &mut Reader<'a>) -> Result<(Op<'a>, Ctx)> {
    let ctx = decode_ctx(r)?;
    let code = r.u8()?;
    let kind = crate::op::OpKind::ALL
        .get(code as usize)
        .copied()
        .ok_or_else(|| r.bad())?;
    use crate::op::OpKind as K;
    let op = match kind {
        K::Mknod => decode_mknod(r)?,
        K::Symlink => Op::Symlink {
            parent: r.u64()?,
            name: r.bytes(NAME_LEN_MAX)?,
            target: r.bytes(PATH_LEN_MAX)?,
        },
        K::Link => Op::Link {
            ino: r.u64()?,
            parent: r.u64()?,
            name: r.bytes(NAME_LEN_MAX)?,
        },
        K::Unlink => Op::Unlink {
            parent: r.u64()?,
            name: r.bytes(NAME_LEN_MAX)?,
        },
        K::Rmdir => Op::Rmdir {
            parent: r.u64()?,
            name: r.bytes(NAME_LEN_MAX)?,
        },
        K::Rename => decode_rename(r)?,
        K::SetAttr => decode_setattr(r)?,
        K::Write => decode_write(r)?,
        K::Fallocate => decode_fallocate(r)?,
        K::SetXattr => decode_setxattr(r)?,
        K::RemoveXattr => Op::RemoveXattr {
            ino: r.u64()?,
            name: r.bytes(XATTR_NAME_LEN_MAX)?,
        },
        K::Touch => Op::Touch { ino: r.u64()? },
        K::Release => Op::Release { ino: r.u64()? },
    };
    r.finish()?;
    debug_assert_eq!(
        op.kind(),
        kind,
        "the decoded record is of the kind its byte names"
    );
    Ok((op, ctx))
}
