//! The superblock (docs/format.md §3): two slots, the valid one with the higher sequence wins.

use crate::error::{Error, Result};
use crate::limits::BLOCK_SIZE;

/// Magic bytes at the start of each slot.
pub const MAGIC: &[u8; 8] = b"VEXFSIMG";
/// Format version this code reads and writes.
pub const VERSION: u32 = 2;
/// Encoded size; the rest of the slot's block is zero.
pub const ENCODED_BYTES: usize = 128;
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
    b[0..8].copy_from_slice(RELEASED_MAGIC);
    b[16..24].copy_from_slice(&sequence.to_le_bytes());
    let crc = crc32c::crc32c(&b[..124]);
    b[124..128].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Whether slot bytes `b` are a released slot's, intact.
pub fn is_released(b: &[u8]) -> bool {
    b.len() >= ENCODED_BYTES
        && &b[0..8] == RELEASED_MAGIC
        && b[8..16] == [0; 8]
        && b[24..124].iter().all(|&x| x == 0)
        && b[ENCODED_BYTES..].iter().all(|&x| x == 0)
        && u32::from_le_bytes([b[124], b[125], b[126], b[127]]) == crc32c::crc32c(&b[..124])
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
        b[0..8].copy_from_slice(MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(BLOCK_SIZE as u32).to_le_bytes());
        b[16..24].copy_from_slice(&self.sequence.to_le_bytes());
        b[24..32].copy_from_slice(&self.seed.to_le_bytes());
        b[32..40].copy_from_slice(&self.checkpoint_block.to_le_bytes());
        b[40..48].copy_from_slice(&self.checkpoint_bytes.to_le_bytes());
        b[48..52].copy_from_slice(&self.checkpoint_crc.to_le_bytes());
        b[56..64].copy_from_slice(&self.log_block.to_le_bytes());
        b[64..68].copy_from_slice(&self.log_blocks.to_le_bytes());
        b[72..80].copy_from_slice(&self.log_lsn.to_le_bytes());
        b[80..88].copy_from_slice(&self.image_blocks.to_le_bytes());
        b[88..96].copy_from_slice(&self.next_lsn.to_le_bytes());
        let crc = crc32c::crc32c(&b[..124]);
        b[124..128].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes slot `slot` from its bytes, checking magic, version, block size, CRC and that the
    /// extents it names lie within an image of `image_bytes`.
    pub fn decode(b: &[u8], slot: u64, image_bytes: u64) -> Result<Superblock> {
        let offset = slot * BLOCK_SIZE as u64;
        let bad = |what| Error::Corrupted { what, offset };
        if b.len() < ENCODED_BYTES || &b[0..8] != MAGIC {
            return Err(bad("superblock (bad magic)"));
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        if u32_at(124) != crc32c::crc32c(&b[..124]) {
            return Err(bad("superblock (checksum)"));
        }
        let version = u32_at(8);
        if !(1..=VERSION).contains(&version) {
            return Err(bad("superblock (unsupported format version)"));
        }
        let reserved_from = if version == 1 { 88 } else { 96 };
        if b[52..56] != [0; 4]
            || b[68..72] != [0; 4]
            || b[reserved_from..124].iter().any(|&x| x != 0)
            || b[ENCODED_BYTES..].iter().any(|&x| x != 0)
        {
            return Err(bad("superblock (reserved bytes)"));
        }
        if u32_at(12) as usize != BLOCK_SIZE {
            return Err(bad("superblock (block size)"));
        }
        let sb = Superblock {
            sequence: u64_at(16),
            seed: u64_at(24),
            checkpoint_block: u64_at(32),
            checkpoint_bytes: u64_at(40),
            checkpoint_crc: u32_at(48),
            log_block: u64_at(56),
            log_blocks: u32_at(64),
            log_lsn: u64_at(72),
            image_blocks: u64_at(80),
            next_lsn: if version == 1 { u64_at(72) } else { u64_at(88) },
        };
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
        v1[8..12].copy_from_slice(&1u32.to_le_bytes());
        v1[88..96].fill(0);
        let crc = crc32c::crc32c(&v1[..124]);
        v1[124..128].copy_from_slice(&crc.to_le_bytes());
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
}
