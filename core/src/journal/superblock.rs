//! The superblock (docs/format.md §3): two slots, the valid one with the higher sequence wins.
//!
//! The byte layout is defined once, in [`field`]: each field's offset follows from the one
//! before and its size, and `const` assertions pin them to the table in docs/format.md (a test
//! reads that table and compares). Encoding asserts that reading the fields back gives what
//! was encoded.

use crate::error::{Error, Result};
use crate::limits::BLOCK_SIZE;

/// Magic bytes at the start of each slot.
pub const MAGIC: &[u8; 8] = b"VEXFSIMG";
/// Format version this code reads and writes.
pub const VERSION: u32 = 2;
/// Encoded size; the rest of the slot's block is zero.
pub const ENCODED_BYTES: usize = 128;
/// Offsets of the slot's fields (docs/format.md §3), each derived from the one before.
pub mod field {
    /// `MAGIC` or `RELEASED_MAGIC`, 8 bytes.
    pub const MAGIC: usize = 0;
    /// Format version, u32.
    pub const VERSION: usize = MAGIC + 8;
    /// Block size, u32.
    pub const BLOCK_SIZE: usize = VERSION + 4;
    /// Sequence, u64.
    pub const SEQUENCE: usize = BLOCK_SIZE + 4;
    /// Image seed, u64.
    pub const SEED: usize = SEQUENCE + 8;
    /// Checkpoint's first block, u64.
    pub const CHECKPOINT_BLOCK: usize = SEED + 8;
    /// Checkpoint length in bytes, u64.
    pub const CHECKPOINT_BYTES: usize = CHECKPOINT_BLOCK + 8;
    /// Checkpoint CRC-32C, u32.
    pub const CHECKPOINT_CRC: usize = CHECKPOINT_BYTES + 8;
    /// Reserved (zero), 4 bytes.
    pub const RESERVED_A: usize = CHECKPOINT_CRC + 4;
    /// Log head's first block, u64.
    pub const LOG_BLOCK: usize = RESERVED_A + 4;
    /// Log head segment length in blocks, u32.
    pub const LOG_BLOCKS: usize = LOG_BLOCK + 8;
    /// Reserved (zero), 4 bytes.
    pub const RESERVED_B: usize = LOG_BLOCKS + 4;
    /// First LSN at the log head, u64.
    pub const LOG_LSN: usize = RESERVED_B + 4;
    /// Image length in blocks, u64.
    pub const IMAGE_BLOCKS: usize = LOG_LSN + 8;
    /// `next_lsn`, u64 (format version 2; reserved in version 1).
    pub const NEXT_LSN: usize = IMAGE_BLOCKS + 8;
    /// Reserved (zero) up to the CRC.
    pub const RESERVED_C: usize = NEXT_LSN + 8;
    /// CRC-32C of bytes `0..CRC`, u32; the last field.
    pub const CRC: usize = 124;

    // The table in docs/format.md §3.
    const _: () = assert!(SEQUENCE == 16 && CHECKPOINT_BLOCK == 32 && CHECKPOINT_CRC == 48);
    const _: () = assert!(LOG_BLOCK == 56 && LOG_LSN == 72 && NEXT_LSN == 88 && RESERVED_C == 96);
    const _: () = assert!(RESERVED_C < CRC && CRC + 4 == super::ENCODED_BYTES);
}

/// Magic of a *released* slot: the fallback it named was given up (for room) before any of
/// its blocks was reused. Never live; the next superblock write replaces it.
pub const RELEASED_MAGIC: &[u8; 8] = b"VEXFSGON";

/// Whether a superblock slot's bytes look like VexFS wrote them: its first 8 bytes within 8
/// differing bits of [`MAGIC`] or [`RELEASED_MAGIC`], so a few flipped bits still count as a
/// damaged VexFS slot, while an empty file or another format does not.
pub fn looks_like_vexfs(b: &[u8]) -> bool {
    let Some(head) = b.get(..8) else {
        return false;
    };
    [MAGIC, RELEASED_MAGIC].iter().any(|m| {
        let differing: u32 = head.iter().zip(m.iter()).map(|(x, y)| (x ^ y).count_ones()).sum();
        differing <= 8
    })
}

/// The bytes of a released slot (see [`RELEASED_MAGIC`]): the magic, the live sequence when it
/// was written (informational), and a CRC of bytes 0..124, like a superblock's.
pub fn encode_released(sequence: u64) -> [u8; ENCODED_BYTES] {
    let mut b = [0u8; ENCODED_BYTES];
    put(&mut b, field::MAGIC, RELEASED_MAGIC);
    put(&mut b, field::SEQUENCE, &sequence.to_le_bytes());
    seal(&mut b);
    debug_assert!(is_released(&b));
    b
}

/// Writes `bytes` at `at`.
fn put(b: &mut [u8; ENCODED_BYTES], at: usize, bytes: &[u8]) {
    b[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Writes the CRC of everything before it.
fn seal(b: &mut [u8; ENCODED_BYTES]) {
    let crc = crc32c::crc32c(&b[..field::CRC]);
    put(b, field::CRC, &crc.to_le_bytes());
}

/// The u32 at `at` (`b` holds at least `ENCODED_BYTES`).
fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

/// The u64 at `at` (`b` holds at least `ENCODED_BYTES`).
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Whether slot bytes `b` are a released slot's, intact.
pub fn is_released(b: &[u8]) -> bool {
    b.len() >= ENCODED_BYTES
        && &b[field::MAGIC..field::VERSION] == RELEASED_MAGIC
        && b[field::VERSION..field::SEQUENCE] == [0; 8]
        && b[field::SEED..field::CRC].iter().all(|&x| x == 0)
        && b[ENCODED_BYTES..].iter().all(|&x| x == 0)
        && u32_at(b, field::CRC) == crc32c::crc32c(&b[..field::CRC])
}

/// One superblock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Superblock {
    /// Incremented by every superblock write.
    pub sequence: u64,
    /// Image seed.
    pub seed: u64,
    /// First block of the checkpoint.
    pub checkpoint_block: u64,
    /// Checkpoint length in bytes.
    pub checkpoint_bytes: u64,
    /// CRC-32C of the checkpoint.
    pub checkpoint_crc: u32,
    /// First block of the log head segment.
    pub log_block: u64,
    /// Length of the log head segment in blocks.
    pub log_blocks: u32,
    /// LSN expected first at the log head.
    pub log_lsn: u64,
    /// The LSN after the last operation the checkpoint holds: where the previous checkpoint's
    /// log ends. At most `log_lsn`; below it when the log was started past LSNs that a session
    /// lost in a crash may have used (format version 1 had no such gap: it reads as `log_lsn`).
    pub next_lsn: u64,
    /// Image length in blocks when written.
    pub image_blocks: u64,
}

impl Superblock {
    /// Slot (block number) this superblock is written to: alternating by sequence.
    pub fn slot(&self) -> u64 {
        self.sequence % 2
    }

    /// The slot's bytes.
    pub fn encode(&self) -> [u8; ENCODED_BYTES] {
        let mut b = [0u8; ENCODED_BYTES];
        put(&mut b, field::MAGIC, MAGIC);
        put(&mut b, field::VERSION, &VERSION.to_le_bytes());
        put(&mut b, field::BLOCK_SIZE, &(BLOCK_SIZE as u32).to_le_bytes());
        put(&mut b, field::SEQUENCE, &self.sequence.to_le_bytes());
        put(&mut b, field::SEED, &self.seed.to_le_bytes());
        put(
            &mut b,
            field::CHECKPOINT_BLOCK,
            &self.checkpoint_block.to_le_bytes(),
        );
        put(
            &mut b,
            field::CHECKPOINT_BYTES,
            &self.checkpoint_bytes.to_le_bytes(),
        );
        put(&mut b, field::CHECKPOINT_CRC, &self.checkpoint_crc.to_le_bytes());
        put(&mut b, field::LOG_BLOCK, &self.log_block.to_le_bytes());
        put(&mut b, field::LOG_BLOCKS, &self.log_blocks.to_le_bytes());
        put(&mut b, field::LOG_LSN, &self.log_lsn.to_le_bytes());
        put(&mut b, field::IMAGE_BLOCKS, &self.image_blocks.to_le_bytes());
        put(&mut b, field::NEXT_LSN, &self.next_lsn.to_le_bytes());
        seal(&mut b);
        // What is written reads back as what was meant (superblock writes are rare: always on).
        assert_eq!(Superblock::fields(&b, VERSION), *self, "superblock encoding");
        b
    }

    /// The fields of slot bytes `b` (at least `ENCODED_BYTES`) as written by format `version`,
    /// without any validation.
    fn fields(b: &[u8], version: u32) -> Superblock {
        Superblock {
            sequence: u64_at(b, field::SEQUENCE),
            seed: u64_at(b, field::SEED),
            checkpoint_block: u64_at(b, field::CHECKPOINT_BLOCK),
            checkpoint_bytes: u64_at(b, field::CHECKPOINT_BYTES),
            checkpoint_crc: u32_at(b, field::CHECKPOINT_CRC),
            log_block: u64_at(b, field::LOG_BLOCK),
            log_blocks: u32_at(b, field::LOG_BLOCKS),
            log_lsn: u64_at(b, field::LOG_LSN),
            image_blocks: u64_at(b, field::IMAGE_BLOCKS),
            next_lsn: if version == 1 {
                u64_at(b, field::LOG_LSN)
            } else {
                u64_at(b, field::NEXT_LSN)
            },
        }
    }

    /// Decodes slot `slot` from its bytes, checking magic, version, block size, CRC and that the
    /// extents it names lie within an image of `image_bytes`.
    pub fn decode(b: &[u8], slot: u64, image_bytes: u64) -> Result<Superblock> {
        let offset = slot * BLOCK_SIZE as u64;
        let bad = |what| Error::Corrupted { what, offset };
        if b.len() < ENCODED_BYTES || &b[field::MAGIC..field::VERSION] != MAGIC {
            return Err(bad("superblock (bad magic)"));
        }
        if u32_at(b, field::CRC) != crc32c::crc32c(&b[..field::CRC]) {
            return Err(bad("superblock (checksum)"));
        }
        let version = u32_at(b, field::VERSION);
        if !(1..=VERSION).contains(&version) {
            return Err(bad("superblock (unsupported format version)"));
        }
        let reserved_from = if version == 1 {
            field::NEXT_LSN
        } else {
            field::RESERVED_C
        };
        if b[field::RESERVED_A..field::LOG_BLOCK] != [0; 4]
            || b[field::RESERVED_B..field::LOG_LSN] != [0; 4]
            || b[reserved_from..field::CRC].iter().any(|&x| x != 0)
            || b[ENCODED_BYTES..].iter().any(|&x| x != 0)
        {
            return Err(bad("superblock (reserved bytes)"));
        }
        if u32_at(b, field::BLOCK_SIZE) as usize != BLOCK_SIZE {
            return Err(bad("superblock (block size)"));
        }
        let sb = Superblock::fields(b, version);
        if sb.next_lsn > sb.log_lsn || sb.next_lsn == 0 {
            return Err(bad("superblock (log starts before the checkpoint's state ends)"));
        }
        let bs = BLOCK_SIZE as u64;
        let ckpt_end = sb
            .checkpoint_block
            .checked_mul(bs)
            .and_then(|s| s.checked_add(sb.checkpoint_bytes));
        let log_ok = sb.log_block >= 2 && sb.log_blocks > 0;
        if sb.slot() != slot || sb.checkpoint_block < 2 || !log_ok || ckpt_end.is_none_or(|e| e > image_bytes)
        {
            return Err(bad("superblock (extents outside the image)"));
        }
        Ok(sb)
    }
}

/// Whether slot bytes `b` hold an intact superblock older than the live one: it names the
/// previous checkpoint, whose blocks may since have been freed and cut off the end of the image,
/// so it can fail [`Superblock::decode`] only for naming extents past the end. Every other check
/// (magic, checksum, version, reserved bytes, slot) must pass.
pub fn is_stale(b: &[u8], live_sequence: Option<u64>) -> bool {
    let Some(live) = live_sequence else { return false };
    // The slot number only decides which sequence parity is valid; either parity is stale.
    [0, 1]
        .into_iter()
        .any(|slot| Superblock::decode(b, slot, u64::MAX).is_ok_and(|sb| sb.sequence < live))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Superblock {
        Superblock {
            sequence: 3,
            seed: 42,
            checkpoint_block: 2,
            checkpoint_bytes: 100,
            checkpoint_crc: 7,
            log_block: 3,
            log_blocks: 1024,
            log_lsn: 9,
            image_blocks: 4,
            next_lsn: 5,
        }
    }

    /// A version 1 slot (no `next_lsn`: the log started right after the checkpoint's state)
    /// still opens; a version 2 slot whose log would start before its state ends does not.
    #[test]
    fn version_one_slots_read_and_gaps_are_checked() {
        let sb = sample();
        let mut v1 = sb.encode();
        put(&mut v1, field::VERSION, &1u32.to_le_bytes());
        v1[field::NEXT_LSN..field::RESERVED_C].fill(0);
        seal(&mut v1);
        let mut block = [0u8; BLOCK_SIZE];
        block[..ENCODED_BYTES].copy_from_slice(&v1);
        let got = Superblock::decode(&block, 1, 1 << 20).unwrap();
        assert_eq!((got.log_lsn, got.next_lsn), (9, 9));
        let backwards = Superblock {
            next_lsn: sb.log_lsn + 1,
            ..sb
        };
        block[..ENCODED_BYTES].copy_from_slice(&backwards.encode());
        assert!(Superblock::decode(&block, 1, 1 << 20).is_err());
    }

    #[test]
    fn released_slots_are_recognised_and_never_valid() {
        let mut block = [0u8; BLOCK_SIZE];
        block[..ENCODED_BYTES].copy_from_slice(&encode_released(7));
        assert!(is_released(&block));
        assert!(Superblock::decode(&block, 1, 1 << 20).is_err());
        assert!(!is_stale(&block, Some(9)));
        for i in (0..BLOCK_SIZE).step_by(7) {
            let mut bad = block;
            bad[i] ^= 0x04;
            assert!(!is_released(&bad), "flip at byte {i} passed as released");
        }
        assert!(!is_released(&[0u8; BLOCK_SIZE]));
    }

    #[test]
    fn round_trip_and_every_byte_checked() {
        let sb = sample();
        let mut block = [0u8; BLOCK_SIZE];
        block[..ENCODED_BYTES].copy_from_slice(&sb.encode());
        let enc = block;
        assert_eq!(Superblock::decode(&enc, 1, 1 << 20).unwrap(), sb);
        assert!(Superblock::decode(&enc, 0, 1 << 20).is_err(), "wrong slot");
        assert!(
            Superblock::decode(&enc, 1, 8192).is_err(),
            "checkpoint past the end"
        );
        // A stale slot (older sequence, extents past the current end) is only stale if it is
        // otherwise intact.
        assert!(is_stale(&enc, Some(4)));
        assert!(!is_stale(&enc, Some(3)), "not older than the live one");
        assert!(!is_stale(&enc, None), "no live superblock");
        for i in 0..BLOCK_SIZE {
            let mut bad = enc;
            bad[i] ^= 0x10;
            assert!(!is_stale(&bad, Some(4)), "flip at byte {i} passed as stale");
            assert!(
                Superblock::decode(&bad, 1, 1 << 20).is_err(),
                "flip at byte {i} undetected"
            );
        }
    }

    /// The offsets agree with the table in docs/format.md §3, row by row.
    #[test]
    fn offsets_match_the_format_document() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/format.md")).unwrap();
        let start = doc.find("## 3. Superblock").unwrap();
        let rows: Vec<(usize, usize)> = doc[start..]
            .lines()
            .skip_while(|l| !l.starts_with("| 0 |"))
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                (cells[1].parse().unwrap(), cells[2].parse().unwrap())
            })
            .collect();
        let ours = [
            field::MAGIC,
            field::VERSION,
            field::BLOCK_SIZE,
            field::SEQUENCE,
            field::SEED,
            field::CHECKPOINT_BLOCK,
            field::CHECKPOINT_BYTES,
            field::CHECKPOINT_CRC,
            field::RESERVED_A,
            field::LOG_BLOCK,
            field::LOG_BLOCKS,
            field::RESERVED_B,
            field::LOG_LSN,
            field::IMAGE_BLOCKS,
            field::NEXT_LSN,
            field::RESERVED_C,
            field::CRC,
            ENCODED_BYTES,
        ];
        let doc_offsets: Vec<usize> = rows.iter().map(|r| r.0).collect();
        assert_eq!(doc_offsets, ours[..ours.len() - 1]);
        for (i, (off, size)) in rows.iter().enumerate() {
            assert_eq!(off + size, ours[i + 1], "row at offset {off}: size");
        }
    }
}
