//! Free space: an extent allocator over image blocks.
//!
//! The allocator hands out only blocks that no durable structure may still reference: it is
//! rebuilt from the live references when an image is opened and after every checkpoint
//! (docs/format.md §6), and between those points it only shrinks. Blocks 0 and 1 (the
//! superblock slots) are never free. Allocation is first fit, else growth at the end; the choice
//! depends only on the allocator's state, so it is deterministic.

use std::collections::BTreeMap;

/// First block that can be allocated.
pub const FIRST_BLOCK: u64 = 2;

/// Free extents of an image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Alloc {
    /// Free extents: start → length.
    free: BTreeMap<u64, u64>,
    /// First block past every allocated or free block (the image's length in blocks).
    end: u64,
}

impl Alloc {
    /// The allocator of an image whose used extents are `used` (any order, may overlap).
    pub fn from_used(mut used: Vec<(u64, u64)>) -> Alloc {
        used.retain(|&(_, len)| len > 0);
        used.sort_unstable();
        let mut a = Alloc {
            free: BTreeMap::new(),
            end: FIRST_BLOCK,
        };
        for (start, len) in used {
            if start > a.end {
                a.free.insert(a.end, start - a.end);
            }
            a.end = a.end.max(start + len);
        }
        a
    }

    /// `n` contiguous blocks; returns the first.
    pub fn alloc(&mut self, n: u64) -> u64 {
        assert!(n > 0);
        let found = self
            .free
            .iter()
            .find(|&(_, &len)| len >= n)
            .map(|(&s, &l)| (s, l));
        match found {
            Some((start, len)) => {
                self.free.remove(&start);
                if len > n {
                    self.free.insert(start + n, len - n);
                }
                start
            }
            None => {
                // Extend, absorbing a free extent that touches the end.
                let start = match self.free.iter().next_back() {
                    Some((&s, &l)) if s + l == self.end => {
                        self.free.remove(&s);
                        s
                    }
                    _ => self.end,
                };
                self.end = start + n;
                start
            }
        }
    }

    /// The first free block among `blocks` blocks from `first`, if any.
    pub fn first_free_in(&self, first: u64, blocks: u64) -> Option<u64> {
        let end = first + blocks;
        if end > self.end {
            return Some(self.end.max(first));
        }
        // The free extent starting at or before `first`, then any starting inside the range.
        if let Some((&s, &l)) = self.free.range(..=first).next_back()
            && s + l > first
        {
            return Some(first);
        }
        self.free.range(first..end).next().map(|(&s, _)| s)
    }

    /// The image length in blocks that covers every used block (free extents at the end do
    /// not count, so the image can be truncated to it).
    pub fn used_end(&self) -> u64 {
        match self.free.iter().next_back() {
            Some((&s, &l)) if s + l == self.end => s,
            _ => self.end,
        }
    }

    /// Free blocks in total.
    pub fn free_blocks(&self) -> u64 {
        self.free.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fit_then_growth() {
        let mut a = Alloc::from_used(vec![(2, 3), (10, 2), (7, 1)]);
        assert_eq!(a.free_blocks(), 2 + 2);
        assert_eq!(a.alloc(2), 5);
        assert_eq!(a.alloc(3), 12);
        assert_eq!(a.alloc(1), 8);
        assert_eq!(a.alloc(1), 9);
        assert_eq!(a.used_end(), 15);
        let mut b = Alloc::from_used(vec![(2, 1), (5, 1)]);
        assert_eq!(b.alloc(10), 6, "no free run fits; grows at the end");
        let mut c = Alloc::from_used(vec![]);
        assert_eq!(c.alloc(4), FIRST_BLOCK);
    }

    #[test]
    fn first_free_in_finds_free_blocks_inside_a_range() {
        // Used: 0..5, 7..8, 10..12; free: 5..7, 8..10; end 12.
        let a = Alloc::from_used(vec![(0, 5), (7, 1), (10, 2)]);
        assert_eq!(a.first_free_in(0, 5), None);
        assert_eq!(a.first_free_in(4, 2), Some(5));
        assert_eq!(
            a.first_free_in(6, 1),
            Some(6),
            "inside a free extent that starts before"
        );
        assert_eq!(a.first_free_in(7, 1), None);
        assert_eq!(a.first_free_in(7, 3), Some(8));
        assert_eq!(a.first_free_in(10, 2), None);
        assert_eq!(a.first_free_in(11, 2), Some(12), "past the end is not in use");
    }
}
