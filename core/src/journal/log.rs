//! The write-ahead log (docs/format.md §4): record framing, the group-committing writer and the
//! replaying reader.
//!
//! The writer buffers records in memory and writes them to the current segment when the buffer
//! fills, when the segment switches, or at a sync. A sync pads to a block boundary first, so a
//! block that holds a durable record is never written again. The reader accepts records only in
//! exact LSN order with valid checksums, so stale bytes from a segment's earlier life, a torn
//! tail or random damage all end the log cleanly.

use super::alloc::Alloc;
use crate::error::{Error, Result};
use crate::limits::BLOCK_SIZE;
use crate::storage::Storage;

/// Bytes of a record header.
pub const HEADER_BYTES: usize = 20;
/// Blocks per log segment (1 MiB). A record that does not fit (a 1 MiB write) gets a segment
/// of its own, as long as it needs.
pub const SEGMENT_BLOCKS: u32 = 256;
/// The writer flushes its buffer once it holds this many bytes.
const FLUSH_BYTES: usize = 1024 * 1024;
/// A next-segment record: header plus block number and length.
const NEXT_RECORD_BYTES: usize = HEADER_BYTES + 12;

const BS: u64 = BLOCK_SIZE as u64;

/// What a record carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// An engine operation.
    Op = 1,
    /// Where the log continues.
    Next = 2,
    /// Filler up to a block boundary.
    Pad = 3,
}

/// Where a record of `len` payload bytes starts if the previous one ended at `pos`: a header
/// never straddles a block boundary with fewer than `HEADER_BYTES` before it.
fn place(pos: u64) -> u64 {
    let room = BS - pos % BS;
    if room < HEADER_BYTES as u64 {
        pos + room
    } else {
        pos
    }
}

fn header(kind: Kind, lsn: u64, payload: &[u8]) -> [u8; HEADER_BYTES] {
    let mut h = [0u8; HEADER_BYTES];
    let len = u32::try_from(payload.len()).expect("records are bounded by the segment size");
    h[0..4].copy_from_slice(&len.to_le_bytes());
    h[4] = kind as u8;
    h[8..16].copy_from_slice(&lsn.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&h[..16]), payload);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Appends records to the log.
#[derive(Debug)]
pub struct LogWriter {
    seg_block: u64,
    seg_blocks: u32,
    /// Offset in the segment where the next record may start.
    pos: u64,
    /// Offset in the segment of `buf[0]`.
    buf_pos: u64,
    buf: Vec<u8>,
    next_lsn: u64,
    /// Bytes appended since the writer was created (records, padding and gaps).
    pub appended_bytes: u64,
    /// Length in blocks of segments this writer allocates.
    pub segment_blocks: u32,
}

impl LogWriter {
    /// A writer at the start of segment `(block, blocks)` whose first record gets `lsn`.
    pub fn new(seg_block: u64, seg_blocks: u32, lsn: u64) -> Self {
        LogWriter {
            seg_block,
            seg_blocks,
            pos: 0,
            buf_pos: 0,
            buf: Vec::new(),
            next_lsn: lsn,
            appended_bytes: 0,
            segment_blocks: SEGMENT_BLOCKS,
        }
    }

    /// The LSN the next record gets.
    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// The current segment.
    pub fn segment(&self) -> (u64, u32) {
        (self.seg_block, self.seg_blocks)
    }

    fn seg_bytes(&self) -> u64 {
        u64::from(self.seg_blocks) * BS
    }

    fn push(&mut self, kind: Kind, payload: &[u8]) {
        let start = place(self.pos);
        let gap = (start - self.pos) as usize;
        self.buf.resize(self.buf.len() + gap, 0);
        self.buf.extend_from_slice(&header(kind, self.next_lsn, payload));
        self.buf.extend_from_slice(payload);
        self.next_lsn += 1;
        let end = start + (HEADER_BYTES + payload.len()) as u64;
        self.appended_bytes += end - self.pos;
        self.pos = end;
    }

    /// Appends an operation record, switching to a new segment (allocated from `alloc`) first
    /// if this one cannot hold it and the next-segment record after it.
    pub fn append(&mut self, payload: &[u8], storage: &dyn Storage, alloc: &mut Alloc) -> Result<()> {
        let need =
            |pos: u64, len: usize| place(place(pos) + (HEADER_BYTES + len) as u64) + NEXT_RECORD_BYTES as u64;
        if need(self.pos, payload.len()) > self.seg_bytes() {
            let fits = ((HEADER_BYTES + payload.len() + 2 * NEXT_RECORD_BYTES) as u64).div_ceil(BS);
            let blocks = self
                .segment_blocks
                .max(u32::try_from(fits).expect("records are bounded"));
            let next = alloc.alloc(u64::from(blocks));
            let mut p = [0u8; 12];
            p[..8].copy_from_slice(&next.to_le_bytes());
            p[8..].copy_from_slice(&blocks.to_le_bytes());
            self.push(Kind::Next, &p);
            self.flush(storage)?;
            self.seg_block = next;
            self.seg_blocks = blocks;
            self.pos = 0;
            self.buf_pos = 0;
        }
        self.push(Kind::Op, payload);
        if self.buf.len() >= FLUSH_BYTES {
            self.flush(storage)?;
        }
        Ok(())
    }

    /// Writes the buffered bytes to the segment (not synced).
    pub fn flush(&mut self, storage: &dyn Storage) -> Result<()> {
        if !self.buf.is_empty() {
            let at = self.seg_block * BS + self.buf_pos;
            storage
                .write_at(at, &self.buf)
                .map_err(|e| Error::io("writing the log", &e))?;
            self.buf.clear();
        }
        self.buf_pos = self.pos;
        Ok(())
    }

    /// Pads to a block boundary and writes everything buffered; the caller then syncs.
    pub fn flush_padded(&mut self, storage: &dyn Storage) -> Result<()> {
        if !self.pos.is_multiple_of(BS) {
            let room = BS - self.pos % BS;
            if room >= HEADER_BYTES as u64 {
                self.push(Kind::Pad, &vec![0u8; room as usize - HEADER_BYTES]);
            } else {
                self.buf.resize(self.buf.len() + room as usize, 0);
                self.pos += room;
                self.appended_bytes += room;
            }
        }
        self.flush(storage)
    }

    /// Whether records were appended since the last flush.
    pub fn has_buffered(&self) -> bool {
        !self.buf.is_empty()
    }
}

/// What a replay found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Operation records delivered.
    pub ops: u64,
    /// Every segment the log passed through, head first.
    pub segments: Vec<(u64, u32)>,
    /// The LSN after the last valid record.
    pub next_lsn: u64,
    /// Where the log ended: the segment and the offset in it of the first invalid record.
    pub end: (u64, u32, u64),
}

/// Reads the log from segment `(block, blocks)` expecting `lsn` first, calling `on_op` with each
/// operation record's payload and its image offset, until the first invalid record. Segments are
/// read whole; only the part inside the image is read (the rest counts as empty).
pub fn replay(
    storage: &dyn Storage,
    mut seg: (u64, u32),
    lsn: u64,
    mut on_op: impl FnMut(&[u8], u64) -> Result<()>,
) -> Result<Replayed> {
    let image_bytes = storage.len().map_err(|e| Error::io("reading the log", &e))?;
    let mut out = Replayed {
        next_lsn: lsn,
        ..Replayed::default()
    };
    let mut buf = Vec::new();
    'segments: loop {
        out.segments.push(seg);
        let start = seg.0 * BS;
        let len = u64::from(seg.1) * BS;
        let have = image_bytes.saturating_sub(start).min(len);
        buf.clear();
        buf.resize(have as usize, 0);
        if have > 0 {
            storage
                .read_at(start, &mut buf)
                .map_err(|e| Error::io("reading the log", &e))?;
        }
        let mut pos = 0u64;
        loop {
            pos = place(pos);
            out.end = (seg.0, seg.1, pos);
            let p = pos as usize;
            let Some(h) = buf.get(p..p + HEADER_BYTES) else {
                break 'segments;
            };
            let plen = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
            let rec_lsn = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
            let crc = u32::from_le_bytes([h[16], h[17], h[18], h[19]]);
            let Some(payload) = buf.get(p + HEADER_BYTES..p + HEADER_BYTES + plen) else {
                break 'segments;
            };
            if rec_lsn != out.next_lsn
                || h[5..8] != [0, 0, 0]
                || crc32c::crc32c_append(crc32c::crc32c(&h[..16]), payload) != crc
            {
                break 'segments;
            }
            match h[4] {
                k if k == Kind::Op as u8 => {
                    on_op(payload, start + pos + HEADER_BYTES as u64)?;
                    out.ops += 1;
                }
                k if k == Kind::Pad as u8 => {}
                k if k == Kind::Next as u8 && plen == 12 => {
                    let block =
                        u64::from_le_bytes(payload[..8].try_into().map_err(|_| Error::Corrupted {
                            what: "log",
                            offset: start + pos,
                        })?);
                    let blocks = u32::from_le_bytes([payload[8], payload[9], payload[10], payload[11]]);
                    out.next_lsn += 1;
                    if block < 2 || blocks == 0 || block.checked_mul(BS).is_none_or(|b| b >= image_bytes) {
                        // A damaged pointer ends the log like any other invalid record.
                        break 'segments;
                    }
                    seg = (block, blocks);
                    continue 'segments;
                }
                _ => break 'segments,
            }
            out.next_lsn += 1;
            pos += (HEADER_BYTES + plen) as u64;
        }
    }
    Ok(out)
}

/// Looks for a valid record with an LSN above `lsn` anywhere in segment `seg` after byte `from`:
/// evidence that the log was damaged in the middle rather than torn at its end (fsck).
pub fn later_record(
    storage: &dyn Storage,
    seg: (u64, u32),
    from: u64,
    lsn: u64,
) -> Result<Option<(u64, u64)>> {
    let image_bytes = storage.len().map_err(|e| Error::io("reading the log", &e))?;
    let start = seg.0 * BS;
    let have = image_bytes.saturating_sub(start).min(u64::from(seg.1) * BS) as usize;
    let mut buf = vec![0u8; have];
    if have > 0 {
        storage
            .read_at(start, &mut buf)
            .map_err(|e| Error::io("reading the log", &e))?;
    }
    for p in (from as usize + 1)..have.saturating_sub(HEADER_BYTES) {
        let h = &buf[p..p + HEADER_BYTES];
        let plen = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let rec_lsn = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
        if h[4] == 0 || h[4] > 3 || rec_lsn <= lsn || rec_lsn > lsn + (1 << 32) {
            continue;
        }
        let Some(payload) = buf.get(p + HEADER_BYTES..p + HEADER_BYTES + plen) else {
            continue;
        };
        let crc = u32::from_le_bytes([h[16], h[17], h[18], h[19]]);
        if crc32c::crc32c_append(crc32c::crc32c(&h[..16]), payload) == crc {
            return Ok(Some((start + p as u64, rec_lsn)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStorage;

    fn payload(i: usize) -> Vec<u8> {
        vec![i as u8; (i * 37) % 3000]
    }

    /// Writes `n` records, syncing after `synced` of them; returns storage and the allocator.
    fn write(n: usize) -> (MemStorage, Alloc) {
        let s = MemStorage::new();
        let mut a = Alloc::from_used(vec![(0, 2)]);
        let seg = a.alloc(4);
        let mut w = LogWriter::new(seg, 4, 100);
        w.segment_blocks = 4;
        for i in 0..n {
            w.append(&payload(i), &s, &mut a).unwrap();
            if i % 7 == 0 {
                w.flush_padded(&s).unwrap();
            }
        }
        w.flush_padded(&s).unwrap();
        (s, a)
    }

    #[test]
    fn records_round_trip_across_segments() {
        let (s, _) = write(40);
        let mut got = Vec::new();
        let r = replay(&s, (2, 4), 100, |p, _| {
            got.push(p.to_vec());
            Ok(())
        })
        .unwrap();
        assert_eq!(got.len(), 40);
        for (i, p) in got.iter().enumerate() {
            assert_eq!(p, &payload(i));
        }
        assert!(
            r.segments.len() >= 3,
            "small segments force switches: {:?}",
            r.segments
        );
        assert_eq!(r.ops, 40);
    }

    #[test]
    fn damage_ends_the_log_at_the_last_valid_record() {
        let (s, _) = write(30);
        let full = replay(&s, (2, 4), 100, |_, _| Ok(())).unwrap();
        // Flip one byte at a time across the first segment: replay never fails and never
        // delivers more than the undamaged log, and what it delivers is a prefix.
        for at in (2 * BS..6 * BS).step_by(61) {
            let mut bytes = s.bytes();
            bytes[at as usize] ^= 0x40;
            let damaged = MemStorage::from_bytes(bytes);
            let mut got = Vec::new();
            let r = replay(&damaged, (2, 4), 100, |p, _| {
                got.push(p.to_vec());
                Ok(())
            })
            .unwrap();
            assert!(r.ops <= full.ops);
            for (i, p) in got.iter().enumerate() {
                assert_eq!(p, &payload(i), "damage at {at} changed record {i}");
            }
        }
        // A wrong starting LSN reads nothing.
        assert_eq!(replay(&s, (2, 4), 99, |_, _| Ok(())).unwrap().ops, 0);
        // A truncated image ends the log where the bytes end.
        let t = s.clone();
        t.set_len(3 * BS).unwrap();
        let r = replay(&t, (2, 4), 100, |_, _| Ok(())).unwrap();
        assert!(r.ops > 0 && r.ops < full.ops);
    }
}
