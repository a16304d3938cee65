//! Allocation audit of HNSW search, with a real allocation count: after one warm-up search on
//! an index, further searches with the same or smaller `k`/`ef`, any query, with or without a
//! filter (including filters that force the exact fallback), perform zero heap allocations;
//! unquantized and `sq8` (code walk plus exact rerank) alike.
//!
//! Its own test binary, so the counting allocator never reaches the product. The count is
//! per thread (const-initialized, drop-free thread-locals), so concurrently running tests do
//! not disturb it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use vexfs_core::index::{Hnsw, IndexParams, Quantization, SearchScratch};
use vexfs_core::vector::{ElemType, Metric};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` unchanged; counting touches only a thread-local
// `Cell` that never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static A: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

fn point(i: u64, dim: usize) -> Vec<u8> {
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..dim)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32).to_le_bytes()
        })
        .collect()
}

fn index(n: u64, remove_every: u64, quant: Quantization, dim: usize) -> Hnsw {
    let p = IndexParams {
        elem: ElemType::F32,
        metric: Metric::L2,
        dim: dim as u32,
        m: 8,
        ef_construction: 64,
        seed: 3,
        quant,
    };
    let mut h = Hnsw::new(p);
    for i in 0..n {
        h.insert(i, &point(i, dim));
    }
    if remove_every > 0 {
        for i in (0..n).step_by(remove_every as usize) {
            h.remove(i);
        }
    }
    h
}

#[test]
fn warmed_up_search_allocates_nothing() {
    // 16-d vectors, and 256-d ones whose nodes carry sketches (`SKETCH_VECTOR_BYTES_MIN`).
    for (n, remove_every, quant, dim) in [
        (3000u64, 0u64, Quantization::None, 16),
        (3000, 9, Quantization::None, 16),
        (3000, 0, Quantization::Sq8, 16),
        (3000, 9, Quantization::Sq8, 16),
        (1500, 0, Quantization::None, 256),
        (1500, 9, Quantization::None, 256),
    ] {
        let h = index(n, remove_every, quant, dim);
        assert_eq!(
            h.sq8().is_some_and(|q| q.is_trained()),
            quant == Quantization::Sq8
        );
        assert_eq!(h.deleted() > 0, remove_every > 0);
        let queries: Vec<Vec<u8>> = (0..64).map(|i| point(1_000_000 + i, dim)).collect();
        let mut scratch = SearchScratch::new();
        let mut out = Vec::new();
        // One warm-up search, unfiltered, at the largest k and ef used below.
        h.search(&queries[0], 10, 64, None, &mut scratch, &mut out);
        assert_eq!(out.len(), 10);

        let before = allocs();
        let mut results = 0usize;
        for (i, q) in queries.iter().enumerate() {
            let k = 1 + i % 10;
            let ef = k + (i * 7) % (65 - k);
            h.search(q, k, ef, None, &mut scratch, &mut out);
            results += out.len();
            // 50 % and 1 % of the labels, and fewer labels than k (exact fallback).
            let mut half = |l: u64| l.is_multiple_of(2);
            h.search(q, k, ef, Some(&mut half), &mut scratch, &mut out);
            results += out.len();
            let mut rare = |l: u64| l % 100 == 1;
            h.search(q, k, ef, Some(&mut rare), &mut scratch, &mut out);
            results += out.len();
            let mut few = |l: u64| l == 5 || l == 1000;
            h.search(q, k, ef, Some(&mut few), &mut scratch, &mut out);
            assert_eq!(out.len(), k.min(2));
        }
        let after = allocs();
        assert!(results > 0);
        assert_eq!(
            after - before,
            0,
            "warmed-up searches allocated (n={n}, remove_every={remove_every}, {quant:?}, dim {dim})"
        );
    }
}

#[test]
fn the_counter_counts() {
    let before = allocs();
    let v = std::hint::black_box(vec![1u8; 100]);
    assert_eq!(allocs() - before, 1);
    drop(v);
}
