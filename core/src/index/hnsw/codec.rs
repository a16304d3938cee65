//! The checkpoint form of an [`Hnsw`]: compact little-endian, bulk arrays copied as they lie in
//! memory (a `bytemuck` byte view on little-endian hosts), so decoding is close to `memcpy`.
//!
//! Layout (all integers little-endian, no padding; `n` nodes, `s0 = 1 + 2m + TREE_SLOTS`):
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 8 | magic `VXHNSW\0\x03` (the last byte is the layout version; version 2 still reads) |
//! | 8 | 1+1+1+1 | element type code, metric code, top level, quantization code (0 = none, 1 = sq8; always 0 in version 2) |
//! | 12 | 4+4+4 | dim, m, ef_construction |
//! | 24 | 8 | seed |
//! | 32 | 8 | level draws made (the generator's state) |
//! | 40 | 4+4+4+4 | `n`, tombstones `t`, entry point (`u32::MAX` when empty), upper words `u` |
//! | 56 | n | node info (level, tombstone flag) |
//! | | 8n | labels |
//! | | 4n | spanning-tree parents (`u32::MAX` for the root) |
//! | | 4·n·r | node records of `r = s0 + ⌈vector_bytes / 4⌉` words: the level-0 list (count, then `2m + TREE_SLOTS` slots, unused slots zero), then the vector's raw bytes (zero-padded to whole words) |
//! | | 4u | upper-level lists, nodes in id order, `level` blocks of `1 + m` each |
//! | | 4t | free list (tombstoned slots, in reuse order) |
//! | | 8 + 8·dim | sq8 only: live vectors trained on (`u64`, 0 = untrained), then `dim` `f32` range minimums and `dim` `f32` range maximums (all zero when untrained) |
//!
//! The label map, the upper-level offsets, (split cosine) the vectors' squared norms and (sq8)
//! the codes and their statistics kept in the in-memory records are derived, not stored: they
//! are recomputed while decoding (codes from the stored training). Decoding checks the header
//! against the caller's parameters and the total length against the counts (with checked
//! arithmetic) BEFORE allocating anything, so a forged count cannot cause a large allocation;
//! then it runs the full structural check. Any failure is `Error::Corrupted` with the byte
//! offset of the offending field; nothing panics.

use super::check::Section;
use super::{Hnsw, LEVEL_MASK, NONE};
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// The last byte is the layout's version: 2 since level-0 lists have their `TREE_SLOTS` (a
/// version-1 graph, with `2m` slots, is rejected like any other mismatch); 3 since byte 11
/// holds the quantization code and an sq8 index appends its training. Version 2 is still read
/// (as `quantization=none`, the only kind it could hold).
const MAGIC: [u8; 8] = *b"VXHNSW\x00\x03";
/// The magic of layout version 2.
const MAGIC_V2: [u8; 8] = *b"VXHNSW\x00\x02";
const HEADER_BYTES: usize = 56;

fn put_u32s(out: &mut Vec<u8>, v: &[u32]) {
    if cfg!(target_endian = "little") {
        out.extend_from_slice(bytemuck::cast_slice(v));
    } else {
        for x in v {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
}

fn put_u64s(out: &mut Vec<u8>, v: &[u64]) {
    if cfg!(target_endian = "little") {
        out.extend_from_slice(bytemuck::cast_slice(v));
    } else {
        for x in v {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
}

/// Copies little-endian `u32`s (any alignment).
fn get_u32s(src: &[u8]) -> Vec<u32> {
    let len = src.len() / 4;
    let mut v = vec![0u32; len];
    bytemuck::cast_slice_mut::<u32, u8>(&mut v).copy_from_slice(&src[..len * 4]);
    if cfg!(target_endian = "big") {
        for x in &mut v {
            *x = u32::from_le(*x);
        }
    }
    v
}

/// Appends the node records: list words little-endian, vector bytes as they are (the norm
/// words of split cosine left out).
fn put_nodes(out: &mut Vec<u8>, h: &Hnsw) {
    if cfg!(target_endian = "little") && h.voff == h.stride0 {
        out.extend_from_slice(bytemuck::cast_slice(&h.nodes));
    } else {
        for r in h.nodes.chunks_exact(h.rec) {
            put_u32s(out, &r[..h.stride0]);
            out.extend_from_slice(bytemuck::cast_slice(&r[h.voff..]));
        }
    }
}

/// Copies node records (any alignment) into `h.nodes`, converting list words from
/// little-endian, and fills in the norms of split cosine.
fn get_nodes(src: &[u8], h: &mut Hnsw) {
    let (rec, stride0, voff) = (h.rec, h.stride0, h.voff);
    let srec = h.serialized_rec();
    let n = src.len() / 4 / srec;
    let mut v = vec![0u32; n * rec];
    if voff == stride0 {
        bytemuck::cast_slice_mut::<u32, u8>(&mut v).copy_from_slice(&src[..n * rec * 4]);
    } else {
        for (r, s) in v.chunks_exact_mut(rec).zip(src.chunks_exact(4 * srec)) {
            bytemuck::cast_slice_mut::<u32, u8>(&mut r[..stride0]).copy_from_slice(&s[..4 * stride0]);
            bytemuck::cast_slice_mut::<u32, u8>(&mut r[voff..]).copy_from_slice(&s[4 * stride0..]);
        }
    }
    // Advised after the copy, so the copy faults in 4 KiB pages (see `pages`).
    super::pages::advise_huge(&v);
    if cfg!(target_endian = "big") {
        for r in v.chunks_exact_mut(rec) {
            for x in &mut r[..stride0] {
                *x = u32::from_le(*x);
            }
        }
    }
    h.nodes = v;
    for id in 0..n as u32 {
        let s = id as usize * rec;
        if let Some(w) =
            h.norm_words(&bytemuck::cast_slice::<u32, u8>(&h.nodes[s + voff..s + rec])[..h.vbytes])
        {
            h.nodes[s + stride0..s + stride0 + super::NORM_WORDS].copy_from_slice(&w);
        }
    }
}

/// Copies little-endian `u64`s (any alignment).
fn get_u64s(src: &[u8]) -> Vec<u64> {
    let len = src.len() / 8;
    let mut v = vec![0u64; len];
    bytemuck::cast_slice_mut::<u64, u8>(&mut v).copy_from_slice(&src[..len * 8]);
    if cfg!(target_endian = "big") {
        for x in &mut v {
            *x = u64::from_le(*x);
        }
    }
    v
}

/// Bytes [`encode`] appends for `h`.
pub(super) fn encoded_len(h: &Hnsw) -> usize {
    let n = h.labels.len();
    HEADER_BYTES
        + n * (1 + 8 + 4 + 4 * h.serialized_rec())
        + 4 * h.upper.len()
        + 4 * h.free.len()
        + sq8_section_len(h)
}

/// Bytes of the sq8 training section (0 without quantization).
fn sq8_section_len(h: &Hnsw) -> usize {
    h.sq.as_ref().map_or(0, |q| 8 + 8 * q.dim())
}

pub(super) fn encode(h: &Hnsw, out: &mut Vec<u8>) {
    let n = h.labels.len();
    let total = encoded_len(h);
    let start = out.len();
    out.reserve(total);
    let p = &h.params;
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&[p.elem.code(), p.metric.code(), h.max_level, p.quant.code()]);
    out.extend_from_slice(&p.dim.to_le_bytes());
    out.extend_from_slice(&p.m.to_le_bytes());
    out.extend_from_slice(&p.ef_construction.to_le_bytes());
    out.extend_from_slice(&p.seed.to_le_bytes());
    out.extend_from_slice(&h.draws.to_le_bytes());
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&(h.free.len() as u32).to_le_bytes());
    out.extend_from_slice(&h.entry.to_le_bytes());
    out.extend_from_slice(&(h.upper.len() as u32).to_le_bytes());
    out.extend_from_slice(&h.info);
    put_u64s(out, &h.labels);
    put_u32s(out, &h.parent);
    put_nodes(out, h);
    put_u32s(out, &h.upper);
    put_u32s(out, &h.free);
    if let Some(q) = &h.sq {
        out.extend_from_slice(&q.trained_at.to_le_bytes());
        for x in q.lo.iter().chain(&q.hi) {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    assert_eq!(out.len() - start, total, "encoded_len disagrees with encode");
}

fn corrupted(what: &'static str, offset: usize) -> Error {
    Error::Corrupted {
        what,
        offset: offset as u64,
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// Fills `h`, an empty index with the collection's parameters, from `bytes`, validating
/// everything first (`h` is then unusable on error). Decoding into an index that already
/// lives on the heap keeps its fields out of the stack frames of opening an image.
pub(super) fn decode_into(h: &mut Hnsw, bytes: &[u8]) -> Result<()> {
    assert!(
        h.labels.is_empty() && h.info.is_empty(),
        "decoding into an empty index"
    );
    let params = h.params;
    if bytes.len() < HEADER_BYTES {
        return Err(corrupted("hnsw header: truncated", 0));
    }
    let v2 = bytes[..8] == MAGIC_V2;
    if bytes[..8] != MAGIC && !v2 {
        return Err(corrupted("hnsw header: bad magic", 0));
    }
    if bytes[8] != params.elem.code()
        || bytes[9] != params.metric.code()
        || u32_at(bytes, 12) != params.dim
        || u32_at(bytes, 16) != params.m
        || u32_at(bytes, 20) != params.ef_construction
        || u64_at(bytes, 24) != params.seed
    {
        return Err(corrupted(
            "hnsw header: parameters differ from the collection's",
            8,
        ));
    }
    if bytes[11] != params.quant.code() || (v2 && bytes[11] != 0) {
        return Err(corrupted(
            "hnsw header: quantization differs from the collection's",
            11,
        ));
    }
    let max_level = bytes[10];
    let draws = u64_at(bytes, 32);
    let n = u32_at(bytes, 40) as u64;
    let tombs = u32_at(bytes, 44) as u64;
    let entry = u32_at(bytes, 48);
    let upper_len = u32_at(bytes, 52) as u64;

    let rec = h.serialized_rec() as u64;
    // Every section's size, with checked arithmetic, must add up to the input exactly.
    let sizes = [
        Some(n),
        n.checked_mul(8),
        n.checked_mul(4),
        n.checked_mul(4).and_then(|x| x.checked_mul(rec)),
        upper_len.checked_mul(4),
        tombs.checked_mul(4),
        Some(sq8_section_len(h) as u64),
    ];
    let mut starts = [0usize; 8];
    let mut total = HEADER_BYTES as u64;
    for (i, s) in sizes.iter().enumerate() {
        starts[i] = usize::try_from(total).unwrap_or(usize::MAX);
        total = s
            .and_then(|s| total.checked_add(s))
            .ok_or(corrupted("hnsw header: counts overflow", 40))?;
    }
    starts[7] = usize::try_from(total).unwrap_or(usize::MAX);
    if total != bytes.len() as u64 || n >= u64::from(NONE) || tombs > n {
        return Err(corrupted("hnsw header: counts disagree with the length", 40));
    }
    let sec = |i: usize| &bytes[starts[i]..starts[i + 1]];
    let n = n as usize;

    h.info = sec(0).to_vec();
    // Upper offsets are the prefix sums of levels, which must match the stored upper size.
    let mut upper_off = Vec::with_capacity(n);
    let mut off = 0u64;
    for (id, &inf) in h.info.iter().enumerate() {
        upper_off.push(u32::try_from(off).map_err(|_| corrupted("hnsw upper: too large", starts[0] + id))?);
        off += u64::from(inf & LEVEL_MASK) * h.stride_up as u64;
    }
    if off != upper_len {
        return Err(corrupted("hnsw upper: length disagrees with levels", starts[4]));
    }
    h.upper_off = upper_off;
    h.labels = get_u64s(sec(1));
    h.parent = get_u32s(sec(2));
    get_nodes(sec(3), h);
    h.upper = get_u32s(sec(4));
    h.free = get_u32s(sec(5));
    if let Some(q) = h.sq.as_mut() {
        let b = sec(6);
        let dim = q.dim();
        let f = |i: usize| f32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let lo: Vec<f32> = (0..dim).map(|d| f(8 + 4 * d)).collect();
        let hi: Vec<f32> = (0..dim).map(|d| f(8 + 4 * (dim + d))).collect();
        if !q.load(u64_at(b, 0), &lo, &hi) {
            return Err(corrupted("hnsw sq8: bad training ranges", starts[6]));
        }
    }
    h.entry = entry;
    h.max_level = max_level;
    h.draws = draws;
    // Inserted in node order, no sort (a repeated label keeps its last node, as the sorted
    // `BTreeMap::from_iter` did): `from_iter` sorts with a stable sort whose 4 KiB on-stack
    // buffer, and `sort_unstable` with a recursion, would take much of `open_image`'s stack.
    let mut by_label = BTreeMap::new();
    for id in 0..n {
        if h.info[id] & super::TOMB == 0 {
            by_label.insert(h.labels[id], id as u32);
        }
    }
    h.by_label = by_label;
    h.encode_all_codes();
    h.sketch_all();

    if let Err(v) = h.check_structure(false) {
        let at = v.at.map_or(0, |a| a as usize);
        let offset = match v.section {
            Section::Header => 8,
            Section::Info => starts[0] + at,
            Section::Labels => starts[1] + 8 * at,
            Section::Parent => starts[2] + 4 * at,
            Section::Nodes => starts[3] + 4 * h.serialized_rec() * at,
            Section::Upper => starts[4] + 4 * h.upper_off.get(at).copied().map_or(0, |o| o as usize),
            Section::Free => starts[5] + 4 * at,
        };
        return Err(corrupted(v.what, offset));
    }
    Ok(())
}
