//! Free space: an extent allocator over image blocks.
//!
//! The allocator hands out only blocks that no durable structure may still reference: it is
//! rebuilt from the live references when an image is opened and after every checkpoint
//! (docs/format.md §6), and between those points it only shrinks. Blocks 0 and 1 (the
//! superblock slots) are never free. Allocation is first fit, else growth at the end; the choice
//! depends only on the allocator's state, so it is deterministic. [`Alloc::release`] gives back
//! blocks that were allocated but never became part of anything durable (a checkpoint abandoned
//! for lack of space), or whose owner gave them up (a fallback dropped under space pressure).
//!
//! Invariants: free extents never overlap, never touch each other (they are merged), and lie
//! below `end`; `free_total` is the sum of their lengths.

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
    /// Free blocks in all extents.
    free_total: u64,
}

impl Alloc {
    /// The allocator of an image whose used extents are `used` (any order, may overlap).
    pub fn from_used(mut used: Vec<(u64, u64)>) -> Alloc {
        used.retain(|&(_, len)| len > 0);
        used.sort_unstable();
        let mut a = Alloc {
            free: BTreeMap::new(),
            end: FIRST_BLOCK,
            free_total: 0,
        };
        for (start, len) in used {
            if start > a.end {
                a.free.insert(a.end, start - a.end);
                a.free_total += start - a.end;
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
                self.free_total -= n;
                start
            }
            None => {
                // Extend, absorbing a free extent that touches the end.
                let start = match self.free.iter().next_back() {
                    Some((&s, &l)) if s + l == self.end => {
                        self.free.remove(&s);
                        self.free_total -= l;
                        s
                    }
                    _ => self.end,
                };
                self.end = start + n;
                start
            }
        }
    }

    /// Up to `n` contiguous blocks, taken from the first free extent (all of it if it is
    /// shorter), else by growth at the end; returns the first block and how many were taken.
    /// For data that may be split over several runs.
    pub fn alloc_upto(&mut self, n: u64) -> (u64, u64) {
        assert!(n > 0);
        let Some((&start, &len)) = self.free.iter().next() else {
            return (self.alloc(n), n);
        };
        if start + len == self.end && len < n {
            // The free tail grows into the rest.
            return (self.alloc(n), n);
        }
        let got = len.min(n);
        self.free.remove(&start);
        if len > got {
            self.free.insert(start + got, len - got);
        }
        self.free_total -= got;
        (start, got)
    }

    /// Free blocks at the end of the image (the free extent that touches `end`), which an
    /// allocation can extend contiguously by growing.
    pub fn tail_free(&self) -> u64 {
        match self.free.iter().next_back() {
            Some((&s, &l)) if s + l == self.end => l,
            _ => 0,
        }
    }

    /// Whether allocations of `needs` blocks each, made in that order with [`Alloc::alloc`],
    /// would all find room with at most `growth` blocks of growth at the end: the same first
    /// fit, simulated without changing anything.
    pub fn can_place(&self, needs: &[u64], growth: u64) -> bool {
        // (start of a free extent, blocks the simulation took from its front).
        let mut taken: Vec<(u64, u64)> = Vec::with_capacity(needs.len());
        let mut grown = false;
        let mut growth_left = growth;
        'needs: for &n in needs {
            if n == 0 {
                continue;
            }
            for (&s, &l) in &self.free {
                if grown && s + l == self.end {
                    continue;
                }
                let used: u64 = taken.iter().filter(|t| t.0 == s).map(|t| t.1).sum();
                if l - used >= n {
                    taken.push((s, n));
                    continue 'needs;
                }
            }
            // Growth, absorbing what is left of a free tail the first time.
            let tail = match self.free.iter().next_back() {
                Some((&s, &l)) if !grown && s + l == self.end => {
                    l - taken.iter().filter(|t| t.0 == s).map(|t| t.1).sum::<u64>()
                }
                _ => 0,
            };
            let more = n.saturating_sub(tail);
            if more > growth_left {
                return false;
            }
            growth_left -= more;
            grown = true;
        }
        true
    }

    /// Frees `n` blocks from `start`, which must all be in use (allocated, or used when the
    /// allocator was built) and at or past [`FIRST_BLOCK`].
    pub fn release(&mut self, start: u64, n: u64) {
        if n == 0 {
            return;
        }
        assert!(
            start >= FIRST_BLOCK && start + n <= self.end,
            "release outside the image"
        );
        assert!(self.first_free_in(start, n).is_none(), "release of free blocks");
        let (mut s, mut len) = (start, n);
        if let Some((&ps, &pl)) = self.free.range(..start).next_back()
            && ps + pl == start
        {
            self.free.remove(&ps);
            self.free_total -= pl;
            s = ps;
            len += pl;
        }
        if let Some(nl) = self.free.remove(&(start + n)) {
            self.free_total -= nl;
            len += nl;
        }
        self.free.insert(s, len);
        self.free_total += len;
    }

    /// Whether `blocks` blocks from `first` are all in use and past the superblock slots: what
    /// must hold of every extent the journal writes to (asserted before each write).
    pub fn owns(&self, first: u64, blocks: u64) -> bool {
        first >= FIRST_BLOCK && blocks > 0 && self.first_free_in(first, blocks).is_none()
    }

    /// First block past every allocated or free block.
    pub fn end(&self) -> u64 {
        self.end
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
        debug_assert_eq!(self.free_total, self.free.values().sum::<u64>());
        self.free_total
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
    fn alloc_upto_takes_holes_first_then_grows() {
        // Free: 5..7 and 8..10, end 12.
        let mut a = Alloc::from_used(vec![(0, 5), (7, 1), (10, 2)]);
        assert_eq!(a.tail_free(), 0);
        assert_eq!(a.alloc_upto(5), (5, 2));
        assert_eq!(a.alloc_upto(1), (8, 1));
        assert_eq!(a.alloc_upto(5), (9, 1));
        assert_eq!(a.alloc_upto(3), (12, 3), "no hole left: growth");
        assert_eq!(a.free_blocks(), 0);
        a.release(13, 2);
        assert_eq!(a.tail_free(), 2);
        assert_eq!(a.alloc_upto(4), (13, 4), "the free tail grows into the rest");
    }

    #[test]
    fn can_place_simulates_first_fit() {
        // Free: 5..7 (2) and 8..10 (2), end 12.
        let a = Alloc::from_used(vec![(0, 5), (7, 1), (10, 2)]);
        assert!(a.can_place(&[2, 2], 0));
        assert!(!a.can_place(&[3], 0), "no hole of 3 and no growth");
        assert!(a.can_place(&[3], 3));
        assert!(!a.can_place(&[2, 2, 1], 0));
        assert!(a.can_place(&[2, 2, 1], 1));
        assert!(
            !a.can_place(&[1, 2, 2], 1),
            "first fit splits the first hole: the last 2 need growth of 2"
        );
        assert!(a.can_place(&[1, 2, 2], 2));
        // A free tail counts toward growth.
        let mut b = Alloc::from_used(vec![(0, 10)]);
        b.release(8, 2);
        assert!(b.can_place(&[3], 1));
        assert!(!b.can_place(&[3], 0));
        assert!(b.can_place(&[1, 1, 2], 2), "the tail is used up, then growth");
    }

    #[test]
    fn release_merges_with_neighbours() {
        let mut a = Alloc::from_used(vec![(0, 10)]);
        a.release(4, 2);
        a.release(2, 1);
        assert_eq!(a.free_blocks(), 3);
        a.release(3, 1);
        assert_eq!(a.free_blocks(), 4);
        assert_eq!(a.alloc(4), 2, "2..6 is one extent again");
        a.release(8, 2);
        assert_eq!(a.used_end(), 8);
        assert_eq!(a.alloc(3), 8, "grows from the free tail");
        assert_eq!(a.end(), 11);
        assert_eq!(a.free_blocks(), 0);
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
