//! A bounded cache of image blocks read for file data, least recently used first out.
//!
//! Keyed by block number; every entry also keeps the checksum it was verified against, and a
//! lookup only hits when the caller expects the same checksum, so a block that was freed and
//! rewritten can never be served stale. Recency is a logical tick, so eviction order is
//! deterministic.

use crate::limits::BLOCK_SIZE;
use std::collections::BTreeMap;

/// Cached blocks.
#[derive(Debug)]
pub struct BlockCache {
    entries: BTreeMap<u64, (u32, u64, Box<[u8; BLOCK_SIZE]>)>,
    by_tick: BTreeMap<u64, u64>,
    tick: u64,
    capacity: usize,
    /// Lookups served from memory.
    pub hits: u64,
    /// Lookups that went to the image.
    pub misses: u64,
}

impl BlockCache {
    /// A cache holding at most `capacity` blocks.
    pub fn new(capacity: usize) -> Self {
        BlockCache {
            entries: BTreeMap::new(),
            by_tick: BTreeMap::new(),
            tick: 0,
            capacity: capacity.max(1),
            hits: 0,
            misses: 0,
        }
    }

    /// Copies block `addr` into `out` if it is cached with checksum `crc`.
    pub fn get(&mut self, addr: u64, crc: u32, out: &mut [u8; BLOCK_SIZE]) -> bool {
        let Some((c, tick, data)) = self.entries.get_mut(&addr) else {
            self.misses += 1;
            return false;
        };
        if *c != crc {
            self.misses += 1;
            return false;
        }
        out.copy_from_slice(&data[..]);
        self.by_tick.remove(tick);
        self.tick += 1;
        *tick = self.tick;
        self.by_tick.insert(self.tick, addr);
        self.hits += 1;
        true
    }

    /// Caches block `addr` with checksum `crc`, evicting the least recently used if full.
    pub fn insert(&mut self, addr: u64, crc: u32, data: &[u8; BLOCK_SIZE]) {
        self.tick += 1;
        if let Some((_, old_tick, _)) = self.entries.remove(&addr) {
            self.by_tick.remove(&old_tick);
        }
        while self.entries.len() >= self.capacity {
            let Some((_, victim)) = self.by_tick.pop_first() else {
                break;
            };
            self.entries.remove(&victim);
        }
        self.entries.insert(addr, (crc, self.tick, Box::new(*data)));
        self.by_tick.insert(self.tick, addr);
    }

    /// Drops everything (after a checkpoint freed and may reuse blocks).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.by_tick.clear();
    }

    /// Blocks cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_eviction_and_checksum_match() {
        let mut c = BlockCache::new(2);
        let mut out = [0u8; BLOCK_SIZE];
        c.insert(1, 10, &[1; BLOCK_SIZE]);
        c.insert(2, 20, &[2; BLOCK_SIZE]);
        assert!(c.get(1, 10, &mut out));
        assert_eq!(out[0], 1);
        c.insert(3, 30, &[3; BLOCK_SIZE]);
        assert!(!c.get(2, 20, &mut out), "2 was least recently used");
        assert!(c.get(1, 10, &mut out));
        assert!(!c.get(1, 11, &mut out), "a different checksum is a miss");
        assert_eq!(c.len(), 2);
        assert_eq!((c.hits, c.misses), (2, 2));
    }
}
