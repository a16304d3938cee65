//! Binary heaps over `Copy + Ord` keys whose storage the caller reserves once and then reuses,
//! plus the monotone key encoding that lets the search order `(distance, id)` pairs as integers.
//!
//! Invariants: a heap never grows past the capacity its owner reserved unless the owner pushes
//! past it (the search code checks lengths before pushing, so warmed-up searches never allocate);
//! `MAX = true` keeps the largest key at the root, `MAX = false` the smallest.

/// Maps an `f32` to a `u32` whose unsigned order is `f32::total_cmp`'s order.
#[inline(always)]
pub(crate) fn mono(d: f32) -> u32 {
    let b = d.to_bits();
    if b & 0x8000_0000 != 0 { !b } else { b | 0x8000_0000 }
}

/// Inverse of [`mono`].
#[inline(always)]
pub(crate) fn unmono(u: u32) -> f32 {
    let b = if u & 0x8000_0000 != 0 { u & 0x7fff_ffff } else { !u };
    f32::from_bits(b)
}

/// A `(distance, node)` key: ordered by distance (total order), then by node id.
#[inline(always)]
pub(crate) fn key(d: f32, id: u32) -> u64 {
    (u64::from(mono(d)) << 32) | u64::from(id)
}

/// The node id of a key.
#[inline(always)]
pub(crate) fn key_id(k: u64) -> u32 {
    k as u32
}

/// The distance of a key.
#[inline(always)]
pub(crate) fn key_dist(k: u64) -> f32 {
    unmono((k >> 32) as u32)
}

/// A binary heap; `MAX` selects a max-heap (root = largest) or a min-heap (root = smallest).
#[derive(Debug, Clone, Default)]
pub(crate) struct Heap<T, const MAX: bool> {
    v: Vec<T>,
}

impl<T: Copy + Ord, const MAX: bool> Heap<T, MAX> {
    /// Whether `a` belongs above `b`.
    #[inline(always)]
    fn above(a: T, b: T) -> bool {
        if MAX { a > b } else { a < b }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.v.len()
    }

    #[inline]
    pub(crate) fn clear(&mut self) {
        self.v.clear();
    }

    /// Makes room for `cap` elements in total.
    pub(crate) fn reserve_total(&mut self, cap: usize) {
        if self.v.capacity() < cap {
            self.v.reserve_exact(cap - self.v.len());
        }
    }

    /// The root (largest for a max-heap, smallest for a min-heap).
    #[inline(always)]
    pub(crate) fn peek(&self) -> Option<T> {
        self.v.first().copied()
    }

    /// The elements in heap order.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[T] {
        &self.v
    }

    #[inline]
    pub(crate) fn push(&mut self, x: T) {
        let mut i = self.v.len();
        self.v.push(x);
        while i > 0 {
            let p = (i - 1) / 2;
            let pv = self.v[p];
            if !Self::above(x, pv) {
                break;
            }
            self.v[i] = pv;
            i = p;
        }
        self.v[i] = x;
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<T> {
        let last = self.v.pop()?;
        if self.v.is_empty() {
            return Some(last);
        }
        let top = self.v[0];
        self.sift_down(0, last);
        Some(top)
    }

    /// Replaces the root with `x` (the heap must not be empty).
    #[inline]
    pub(crate) fn replace_top(&mut self, x: T) {
        debug_assert!(!self.v.is_empty());
        self.sift_down(0, x);
    }

    /// Places `x` at hole `i` and sifts it down.
    #[inline]
    fn sift_down(&mut self, mut i: usize, x: T) {
        let n = self.v.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                break;
            }
            let r = l + 1;
            let c = if r < n && Self::above(self.v[r], self.v[l]) {
                r
            } else {
                l
            };
            let cv = self.v[c];
            if !Self::above(cv, x) {
                break;
            }
            self.v[i] = cv;
            i = c;
        }
        self.v[i] = x;
    }

    /// Restores the heap property over the whole storage.
    fn heapify(&mut self) {
        let n = self.v.len();
        for i in (0..n / 2).rev() {
            let x = self.v[i];
            self.sift_down(i, x);
        }
    }

    /// Keeps only the elements `keep` accepts.
    pub(crate) fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.v.retain(keep);
        self.heapify();
    }

    /// Keeps the `n` elements that would be popped first (the smallest for a min-heap).
    pub(crate) fn keep_first(&mut self, n: usize) {
        if self.v.len() > n {
            if n > 0 {
                if MAX {
                    self.v.select_nth_unstable_by(n - 1, |a, b| b.cmp(a));
                } else {
                    self.v.select_nth_unstable(n - 1);
                }
            }
            self.v.truncate(n);
            self.heapify();
        }
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.v.capacity() * std::mem::size_of::<T>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mono_orders_like_total_cmp() {
        let xs = [-f32::MAX, -2.5, -1.0, -0.0, 0.0, 1e-30, 1.0, 3.5, f32::MAX];
        for w in xs.windows(2) {
            assert!(mono(w[0]) < mono(w[1]), "{} {}", w[0], w[1]);
        }
        for x in xs {
            assert_eq!(unmono(mono(x)).to_bits(), x.to_bits());
        }
        assert_eq!(key_dist(key(2.5, 7)), 2.5);
        assert_eq!(key_id(key(2.5, 7)), 7);
        assert!(key(1.0, 9) < key(1.0, 10));
        assert!(key(1.0, 10) < key(1.5, 0));
    }

    #[test]
    fn heaps_pop_in_order() {
        let mut mn: Heap<u64, false> = Heap::default();
        let mut mx: Heap<u64, true> = Heap::default();
        let mut x = 12345u64;
        let mut all = Vec::new();
        for _ in 0..500 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = x >> 40;
            all.push(v);
            mn.push(v);
            mx.push(v);
        }
        all.sort_unstable();
        let mut a = Vec::new();
        while let Some(v) = mn.pop() {
            a.push(v);
        }
        assert_eq!(a, all);
        let mut b = Vec::new();
        while let Some(v) = mx.pop() {
            b.push(v);
        }
        b.reverse();
        assert_eq!(b, all);
    }

    #[test]
    fn keep_first_and_retain() {
        let mut mn: Heap<u32, false> = Heap::default();
        for v in [9, 3, 7, 1, 8, 2, 6] {
            mn.push(v);
        }
        mn.keep_first(3);
        let mut a = Vec::new();
        while let Some(v) = mn.pop() {
            a.push(v);
        }
        assert_eq!(a, vec![1, 2, 3]);
        let mut mx: Heap<u32, true> = Heap::default();
        for v in [9, 3, 7, 1, 8, 2, 6] {
            mx.push(v);
        }
        mx.retain(|&v| v % 2 == 1);
        mx.keep_first(2);
        assert_eq!(mx.pop(), Some(9));
        assert_eq!(mx.pop(), Some(7));
        assert_eq!(mx.pop(), None);
        mx.push(4);
        mx.replace_top(5);
        assert_eq!(mx.peek(), Some(5));
    }
}
