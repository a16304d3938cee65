//! Checkpoints (docs/format.md §5): the whole state at one LSN, written as one byte stream.
//!
//! Encoding is generic over [`Put`] so the same code first counts the bytes (to allocate the
//! extent) and then streams them to the image. Decoding validates every count against the bytes
//! that remain, every inode number, link, extent and configuration, and the shape of the
//! directory tree, before the state is handed to the engine: a checkpoint that decodes is one the
//! engine can run on without panicking.

use super::codec::{Put, Reader};
use super::layout::{Extent, ExtentKind};
use crate::collections::{Collection, Collections, INDEX_XATTR, IndexConfig, VECTOR_XATTR};
use crate::error::{Error, Result};
use crate::index::Hnsw;
use crate::limits::{
    BLOCK_SIZE, FILE_SIZE_MAX, NAME_LEN_MAX, PATH_LEN_MAX, UNWRITTEN_BLOCKS_MAX, XATTR_NAME_LEN_MAX,
    XATTR_VALUE_LEN_MAX,
};
use crate::namespace::{Block, Body, Dir, FileData, Inode, Link, Namespace, XattrValue, Xattrs, check_name};
use crate::types::{FileKind, Ino, PERM_MASK, ROOT_INO};
use std::collections::BTreeMap;

/// Magic bytes at the start of a checkpoint.
pub const MAGIC: &[u8; 8] = b"VEXFSCKP";
/// Version 2 adds the retained extents (the previous checkpoint kept as a fallback); version-1
/// checkpoints, which have none, are still read.
const VERSION: u32 = 2;
/// Bytes of one retained extent: kind, first block, length.
const RETAINED_BYTES: usize = 1 + 8 + 8;
const WHAT: &str = "checkpoint";
const BS: u64 = BLOCK_SIZE as u64;

/// Counts bytes instead of storing them.
#[derive(Debug, Default)]
pub struct Counter(pub u64);

impl Put for Counter {
    fn put_u8(&mut self, _: u8) {
        self.0 += 1;
    }
    fn put_u32(&mut self, _: u32) {
        self.0 += 4;
    }
    fn put_u64(&mut self, _: u64) {
        self.0 += 8;
    }
    fn put_i64(&mut self, _: i64) {
        self.0 += 8;
    }
    fn put_bytes(&mut self, v: &[u8]) {
        self.0 += 4 + v.len() as u64;
    }
    fn put_raw(&mut self, v: &[u8]) {
        self.0 += v.len() as u64;
    }
}

/// Each collection's encoded index, in directory order (encoded once per checkpoint, used by
/// both passes).
pub fn encode_indexes(colls: &Collections) -> Vec<Vec<u8>> {
    colls
        .iter()
        .map(|(_, c)| {
            let mut v = Vec::new();
            c.index.encode(&mut v);
            v
        })
        .collect()
}

/// Writes the whole checkpoint: header, the extents `retained` for the previous checkpoint,
/// collections (with `indexes` from [`encode_indexes`]), inodes. Every file block must be
/// `Zero` or `Disk` (dirty blocks are written back first).
pub fn encode(
    ns: &Namespace,
    colls: &Collections,
    indexes: &[Vec<u8>],
    lsn: u64,
    retained: &[Extent],
    out: &mut impl Put,
) {
    encode_head(ns, colls, lsn, retained, out);
    for ((dir, c), blob) in colls.iter().zip(indexes) {
        out.put_u64(dir);
        out.put_bytes(c.config.to_string().as_bytes());
        out.put_u64(blob.len() as u64);
        out.put_raw(blob);
    }
    for (ino, n) in ns.iter() {
        encode_inode(ns, colls, ino, n, false, out);
    }
}

fn encode_head(ns: &Namespace, colls: &Collections, lsn: u64, retained: &[Extent], out: &mut impl Put) {
    out.put_raw(MAGIC);
    out.put_u32(VERSION);
    out.put_u32(0);
    out.put_u64(lsn);
    out.put_u64(ns.next_ino());
    out.put_u64(ns.len() as u64);
    out.put_u64(colls.len() as u64);
    out.put_u64(retained.len() as u64);
    for e in retained {
        out.put_u8(
            e.kind
                .retained_code()
                .expect("only a fallback's extents are retained"),
        );
        out.put_u64(e.first_block);
        out.put_u64(e.blocks);
    }
}

/// An upper bound of the bytes a checkpoint of the current state takes, with `retained`
/// extents, computed without writing back dirty blocks or encoding the indexes: each dirty
/// block is counted as an extent of its own. For space accounting.
pub fn size_bound(ns: &Namespace, colls: &Collections, retained: usize) -> u64 {
    let mut c = Counter::default();
    encode_head(ns, colls, 0, &[], &mut c);
    c.0 += (retained * RETAINED_BYTES) as u64;
    for (_, coll) in colls.iter() {
        c.put_u64(0);
        c.put_bytes(coll.config.to_string().as_bytes());
        c.put_u64(0);
        c.0 += coll.index.encoded_len() as u64;
    }
    for (ino, n) in ns.iter() {
        encode_inode(ns, colls, ino, n, true, &mut c);
    }
    c.0
}

/// One inode; with `bound`, dirty blocks are counted as extents of their own (see
/// [`size_bound`]) instead of being refused.
fn encode_inode(ns: &Namespace, colls: &Collections, ino: Ino, n: &Inode, bound: bool, out: &mut impl Put) {
    out.put_u64(ino);
    out.put_u8(n.kind.code());
    out.put_u32(n.perm);
    out.put_u32(n.uid);
    out.put_u32(n.gid);
    out.put_u32(n.rdev);
    for t in [n.atime, n.mtime, n.ctime, n.crtime] {
        out.put_time(t);
    }
    out.put_u64(n.links.len() as u64);
    for l in &n.links {
        let cookie = ns
            .get(l.parent)
            .ok()
            .and_then(|p| p.dir().ok())
            .and_then(|d| d.cookie_of(&l.name));
        out.put_u64(l.parent);
        out.put_bytes(&l.name);
        out.put_u64(cookie.expect("every link has a directory entry"));
    }
    out.put_u64(n.xattrs.len() as u64);
    for (name, value) in n.xattrs.iter() {
        out.put_bytes(name);
        // An indexed vector is held by its index (once, in memory and here): a reference.
        match value {
            XattrValue::Held { dir, len } => {
                debug_assert_eq!(
                    colls.get(dir).and_then(|c| c.index.vector(ino)).map(<[u8]>::len),
                    Some(len),
                    "a held vector resolves"
                );
                out.put_u8(1);
                out.put_u64(dir);
            }
            XattrValue::Inline(bytes) => {
                out.put_u8(0);
                out.put_bytes(bytes);
            }
        }
    }
    match &n.body {
        Body::Regular(f) => encode_file(f, bound, out),
        Body::Directory(d) => out.put_u64(d.next_cookie()),
        Body::Symlink(t) => out.put_bytes(t),
        Body::Special => {}
    }
}

/// Extents of a file: runs of consecutive block indexes that are all unwritten (image block 0)
/// or all on disk at consecutive image blocks. With `bound`, a dirty block counts as an extent
/// of its own at a made-up address (for [`size_bound`]: written back, it can only join a run).
fn encode_file(f: &FileData, bound: bool, out: &mut impl Put) {
    struct Run {
        first: u64,
        start: u64,
        len: u64,
        crcs: Vec<u32>,
    }
    out.put_u64(f.size());
    let mut runs: Vec<Run> = Vec::new();
    for (idx, b) in f.blocks() {
        let (addr, crc) = match b {
            Block::Zero => (0, 0),
            Block::Disk { addr, crc } => (*addr, *crc),
            Block::Mem(_) if bound => (u64::MAX, 0),
            Block::Mem(_) => panic!("dirty block in a checkpoint: write back first"),
        };
        if let Some(run) = runs.last_mut() {
            let next_index = idx == run.first + run.len;
            // A dirty block counted for a bound (address `u64::MAX`) never extends a run.
            let next_addr = match run.start {
                0 => addr == 0,
                u64::MAX => false,
                start => addr != 0 && addr != u64::MAX && addr == start + run.len,
            };
            if next_index && next_addr {
                run.len += 1;
                if addr != 0 {
                    run.crcs.push(crc);
                }
                continue;
            }
        }
        runs.push(Run {
            first: idx,
            start: addr,
            len: 1,
            crcs: if addr != 0 { vec![crc] } else { Vec::new() },
        });
    }
    out.put_u64(runs.len() as u64);
    for run in &runs {
        out.put_u64(run.first);
        out.put_u64(run.start);
        out.put_u64(run.len);
        for &c in &run.crcs {
            out.put_u32(c);
        }
    }
}

/// One directory entry as a checkpoint stores it: cookie, name, target.
type DirEntryParts = (u64, Box<[u8]>, Ino);

/// A decoded checkpoint.
#[derive(Debug)]
pub struct Decoded {
    /// The namespace.
    pub ns: Namespace,
    /// The collections, with their loaded indexes.
    pub colls: Collections,
    /// LSN of the last operation included.
    pub lsn: u64,
    /// Extents retained for the previous checkpoint (empty: it is not kept).
    pub retained: Vec<Extent>,
}

/// Decodes and validates a checkpoint that starts at image byte `base`, in an image of
/// `image_blocks` blocks whose seed is `seed`.
pub fn decode(bytes: &[u8], base: u64, image_blocks: u64, seed: u64) -> Result<Decoded> {
    let mut r = Reader::new(bytes, base, WHAT);
    if r.take(8)? != MAGIC {
        return Err(r.bad());
    }
    let version = r.u32()?;
    if !(1..=VERSION).contains(&version) || r.u32()? != 0 {
        return Err(r.bad());
    }
    let lsn = r.u64()?;
    let next_ino = r.u64()?;
    let n_inodes = r.count(60)?;
    let n_colls = r.count(20)?;
    let retained = if version >= 2 {
        decode_retained(&mut r)?
    } else {
        Vec::new()
    };
    let colls = decode_collections(&mut r, n_colls, next_ino, seed)?;
    let mut ns = decode_namespace(&mut r, n_inodes, next_ino, image_blocks, base, &colls)?;
    check_collections(&ns, &colls, base)?;
    settle_vectors(&mut ns, &colls);
    Ok(Decoded {
        ns,
        colls,
        lsn,
        retained,
    })
}

/// The collections and their indexes. A frame of its own (as are the namespace's and the
/// checks'): an index being decoded is the deepest stack of opening an image, and none of the
/// other steps' values need to sit under it.
#[inline(never)]
fn decode_collections(r: &mut Reader<'_>, n_colls: usize, next_ino: u64, seed: u64) -> Result<Collections> {
    let mut colls = Collections::default();
    let mut last_dir = 0;
    for _ in 0..n_colls {
        let dir = r.u64()?;
        let cfg_at = r.clone();
        let cfg = std::str::from_utf8(r.bytes(256)?)
            .ok()
            .and_then(|s| IndexConfig::parse(s.as_bytes()).ok());
        let Some(config) = cfg.filter(|_| dir > last_dir && dir < next_ino) else {
            return Err(cfg_at.bad());
        };
        last_dir = dir;
        let len = r.u64()?;
        let blob_at = r.clone();
        let blob = r.take(usize::try_from(len).map_err(|_| r.bad())?)?;
        let params = config.index_params(Collections::index_seed(seed, dir));
        if !crate::index::hnsw::params_ok(&params) {
            return Err(blob_at.bad());
        }
        // On the heap first, and decoded there (see `Hnsw::decode_into`).
        let mut c = Box::new(Collection {
            config,
            index: Hnsw::new(params),
        });
        c.index.decode_into(blob).map_err(|_| blob_at.bad())?;
        c.index.set_rerank(config.rerank as usize);
        colls.insert_loaded(dir, c);
    }
    Ok(colls)
}

/// Every collection is a directory of the namespace whose index attribute is its
/// configuration, and every label of its index is a name in it.
#[inline(never)]
fn check_collections(ns: &Namespace, colls: &Collections, base: u64) -> Result<()> {
    let bad = || Error::Corrupted {
        what: "checkpoint (namespace structure)",
        offset: base,
    };
    for (dir, c) in colls.iter() {
        let node = ns.get(dir).map_err(|_| bad())?;
        node.dir().map_err(|_| bad())?;
        if node.xattrs.get(INDEX_XATTR).and_then(XattrValue::inline) != Some(c.config.to_string().as_bytes())
        {
            return Err(bad());
        }
        if c.index
            .labels()
            .any(|l| ns.get(l).ok().and_then(|n| n.name_in(dir)).is_none())
        {
            return Err(bad());
        }
    }
    Ok(())
}

/// Puts every vector in the form the engine keeps it in (`Collections::settle`): references
/// as written stay (a checkpoint holds the settled form), and a checkpoint written otherwise
/// (a vector inline although an index holds the same bytes) loads with one copy all the same.
/// After `check_collections`: a reference then names a collection of one of the file's
/// directories.
#[inline(never)]
fn settle_vectors(ns: &mut Namespace, colls: &Collections) {
    for (ino, node) in ns.iter_mut() {
        colls.settle_inode(node, ino);
    }
}

/// The retained extents: known kinds, past the superblocks. Whether they lie inside the image
/// is for the caller to check: a fallback's own retained extents were freed, and may since
/// have been cut off the image, once the checkpoint after it was durable.
#[inline(never)]
fn decode_retained(r: &mut Reader<'_>) -> Result<Vec<Extent>> {
    let n = r.count(RETAINED_BYTES)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let at = r.clone();
        let kind = ExtentKind::from_retained_code(r.u8()?);
        let first_block = r.u64()?;
        let blocks = r.u64()?;
        let inside = first_block >= 2 && blocks > 0 && first_block.checked_add(blocks).is_some();
        match kind {
            Some(kind) if inside => out.push(Extent {
                first_block,
                blocks,
                kind,
            }),
            _ => return Err(at.bad()),
        }
    }
    Ok(out)
}

/// Where decoded inodes say their directory entries are: `(parent, cookie, name, child)` of every
/// link, and each directory's next cookie.
#[derive(Default)]
struct Entries {
    links: Vec<(Ino, u64, Box<[u8]>, Ino)>,
    next_cookies: BTreeMap<Ino, u64>,
}

/// Decodes the `n_inodes` inodes at `r` (the rest of the checkpoint) into a namespace and checks
/// its structure. Not inlined: the inodes' temporaries then take no stack while `decode`
/// decodes the collections' indexes, and the other way round. Each record part has a decoder
/// of its own (head, links, attributes, body), then the directories are assembled from the
/// links and the tree is validated.
#[inline(never)]
fn decode_namespace(
    r: &mut Reader<'_>,
    n_inodes: usize,
    next_ino: Ino,
    image_blocks: u64,
    base: u64,
    colls: &Collections,
) -> Result<Namespace> {
    let mut inodes: BTreeMap<Ino, Box<Inode>> = BTreeMap::new();
    let mut entries = Entries::default();
    let mut last_ino = 0;
    let mut unwritten = 0u64;
    for _ in 0..n_inodes {
        let at = r.clone();
        let ino = r.u64()?;
        if ino <= last_ino || ino >= next_ino {
            return Err(at.bad());
        }
        last_ino = ino;
        let mut n = decode_inode_head(r)?;
        decode_links(r, ino, &mut n, &mut entries.links)?;
        n.xattrs = decode_xattrs(r, ino, n.kind, colls)?;
        n.body = decode_body(
            r,
            ino,
            n.kind,
            image_blocks,
            &mut unwritten,
            &mut entries.next_cookies,
        )?;
        inodes.insert(ino, n);
    }
    r.finish()?;
    let bad = || Error::Corrupted {
        what: "checkpoint (namespace structure)",
        offset: base,
    };
    assemble_directories(&mut inodes, entries).map_err(|_| bad())?;
    let ns = Namespace::from_parts(inodes, next_ino);
    validate_tree(&ns).map_err(|_| bad())?;
    Ok(ns)
}

/// An inode record's head: kind, permission bits, owner, group, device and the four times.
#[inline(never)]
fn decode_inode_head(r: &mut Reader<'_>) -> Result<Box<Inode>> {
    let kind = FileKind::from_code(r.u8()?).ok_or_else(|| r.bad())?;
    let perm = r.u32()?;
    if perm & !PERM_MASK != 0 {
        return Err(r.bad());
    }
    let (uid, gid, rdev) = (r.u32()?, r.u32()?, r.u32()?);
    let (atime, mtime, ctime, crtime) = (r.time()?, r.time()?, r.time()?, r.time()?);
    let mut n = Box::new(Inode::new(kind, perm, uid, gid, rdev, atime));
    (n.mtime, n.ctime, n.crtime) = (mtime, ctime, crtime);
    Ok(n)
}

/// The links of inode `ino` (strictly increasing), each also noted as a directory entry.
#[inline(never)]
fn decode_links(
    r: &mut Reader<'_>,
    ino: Ino,
    n: &mut Inode,
    entries: &mut Vec<(Ino, u64, Box<[u8]>, Ino)>,
) -> Result<()> {
    let links = r.count(20)?;
    for _ in 0..links {
        let parent = r.u64()?;
        let name = r.bytes(NAME_LEN_MAX)?;
        check_name(name).map_err(|_| r.bad())?;
        let cookie = r.u64()?;
        n.links.push(Link {
            parent,
            name: name.into(),
        });
        entries.push((parent, cookie, name.into(), ino));
    }
    if !n.links.windows(2).all(|w| w[0] < w[1]) {
        return Err(r.bad());
    }
    Ok(())
}

/// The attributes of inode `ino` (each name once). A vector held by an index stays there: the
/// attribute keeps the reference, which must resolve (only a regular file's
/// `user.vexfs.vector` is ever written as one).
#[inline(never)]
fn decode_xattrs(r: &mut Reader<'_>, ino: Ino, kind: FileKind, colls: &Collections) -> Result<Xattrs> {
    let attrs = r.count(5)?;
    let mut xattrs = Xattrs::default();
    for _ in 0..attrs {
        let name = r.bytes(XATTR_NAME_LEN_MAX)?;
        let replaced = match r.u8()? {
            0 => xattrs.set(name, r.bytes(XATTR_VALUE_LEN_MAX)?),
            1 if name == VECTOR_XATTR && kind == FileKind::Regular => {
                let dir = r.u64()?;
                let len = colls
                    .get(dir)
                    .and_then(|c| c.index.vector(ino))
                    .ok_or_else(|| r.bad())?
                    .len();
                xattrs.set_held(name, dir, len)
            }
            _ => return Err(r.bad()),
        };
        if replaced {
            return Err(r.bad());
        }
    }
    Ok(xattrs)
}

/// The body of inode `ino` of `kind`: a file's extents, a directory's next cookie (its entries
/// come from the links), a symbolic link's target.
#[inline(never)]
fn decode_body(
    r: &mut Reader<'_>,
    ino: Ino,
    kind: FileKind,
    image_blocks: u64,
    unwritten: &mut u64,
    next_cookies: &mut BTreeMap<Ino, u64>,
) -> Result<Body> {
    Ok(match kind {
        FileKind::Regular => Body::Regular(decode_file(r, image_blocks, unwritten)?),
        FileKind::Directory => {
            next_cookies.insert(ino, r.u64()?);
            Body::Directory(Dir::default())
        }
        FileKind::Symlink => {
            let t = r.bytes(PATH_LEN_MAX)?;
            if t.is_empty() {
                return Err(r.bad());
            }
            Body::Symlink(t.into())
        }
        _ => Body::Special,
    })
}

/// Fills every directory of `inodes` from the links that name its entries; `Err` when a link's
/// parent is not a directory with a next cookie, or the entries do not make a valid directory.
#[inline(never)]
fn assemble_directories(
    inodes: &mut BTreeMap<Ino, Box<Inode>>,
    entries: Entries,
) -> std::result::Result<(), ()> {
    let Entries { links, next_cookies } = entries;
    // Grouped by parent (in inode order: `Dir::from_parts` does not depend on the order, so no
    // sort, whose recursion and scratch would take kilobytes of `open_image`'s stack).
    let mut by_parent: BTreeMap<Ino, Vec<DirEntryParts>> = BTreeMap::new();
    for (parent, cookie, name, child) in links {
        by_parent.entry(parent).or_default().push((cookie, name, child));
    }
    for (parent, list) in by_parent {
        let subdirs = list
            .iter()
            .filter(|e| inodes.get(&e.2).is_some_and(|n| n.kind == FileKind::Directory))
            .count();
        let next = *next_cookies.get(&parent).ok_or(())?;
        let dir = Dir::from_parts(list, next, u32::try_from(subdirs).map_err(|_| ())?).ok_or(())?;
        match inodes.get_mut(&parent).map(|p| &mut p.body) {
            Some(Body::Directory(d)) => *d = dir,
            _ => return Err(()),
        }
    }
    for (&ino, &next) in &next_cookies {
        if let Some(Body::Directory(d)) = inodes.get_mut(&ino).map(|n| &mut n.body)
            && d.is_empty()
        {
            *d = Dir::from_parts([], next, 0).ok_or(())?;
        }
    }
    Ok(())
}

fn decode_file(r: &mut Reader<'_>, image_blocks: u64, unwritten: &mut u64) -> Result<FileData> {
    let size = r.u64()?;
    if size > FILE_SIZE_MAX {
        return Err(r.bad());
    }
    let runs = r.count(24)?;
    let mut blocks = BTreeMap::new();
    let mut next_idx = 0u64;
    for _ in 0..runs {
        let (first, start, len) = (r.u64()?, r.u64()?, r.u64()?);
        let end = first
            .checked_add(len)
            .filter(|&e| len > 0 && first >= next_idx && e <= FILE_SIZE_MAX / BS);
        let in_image =
            start == 0 || (start >= 2 && start.checked_add(len).is_some_and(|e| e <= image_blocks));
        let Some(end) = end.filter(|_| in_image) else {
            return Err(r.bad());
        };
        if start == 0 {
            // Unwritten runs carry no per-block bytes; the image-wide limit bounds them.
            *unwritten += len;
            if *unwritten > UNWRITTEN_BLOCKS_MAX {
                return Err(r.bad());
            }
            for idx in first..end {
                blocks.insert(idx, Block::Zero);
            }
        } else {
            if (len as usize).saturating_mul(4) > r.remaining() {
                return Err(r.bad());
            }
            for i in 0..len {
                blocks.insert(
                    first + i,
                    Block::Disk {
                        addr: start + i,
                        crc: r.u32()?,
                    },
                );
            }
        }
        next_idx = end;
    }
    let f = FileData::from_parts(size, blocks);
    Ok(f)
}

/// Checks what the engine relies on without re-verifying everything `check` does: the root is
/// an unlinked directory, other directories have at most one name, every link's parent is a
/// directory, and every linked directory reaches the root.
fn validate_tree(ns: &Namespace) -> std::result::Result<(), ()> {
    let root = ns.get(ROOT_INO).map_err(drop)?;
    if root.kind != FileKind::Directory || !root.links.is_empty() {
        return Err(());
    }
    for (ino, n) in ns.iter() {
        for l in &n.links {
            ns.get(l.parent).map_err(drop)?.dir().map_err(drop)?;
        }
        if n.kind == FileKind::Directory
            && (n.links.len() > 1 || (!n.links.is_empty() && !ns.is_ancestor(ROOT_INO, ino)))
        {
            return Err(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block(kind: u8, addr: u64) -> Block {
        match kind {
            0 => Block::Zero,
            1 => Block::Mem(Box::new([7; BLOCK_SIZE])),
            _ => Block::Disk { addr, crc: 1 },
        }
    }

    proptest! {
        /// A file's encoding with its dirty blocks counted as extents of their own is at least
        /// its encoding once they are written back, wherever they land (`size_bound` rests on
        /// this). Regression: a dirty block followed by an unwritten one was counted as one run.
        #[test]
        fn dirty_blocks_bound_the_written_back_encoding(
            blocks in proptest::collection::vec((0u8..4, 2u64..40, any::<bool>()), 0..40),
            base in 2u64..100,
        ) {
            let mut map = BTreeMap::new();
            let mut idx = 0;
            for &(kind, addr, gap) in &blocks {
                idx += if gap { 2 } else { 1 };
                map.insert(idx, block(kind.min(2), addr + u64::from(kind == 3) * idx));
            }
            let dirty = FileData::from_parts(idx * BS, map.clone());
            let mut bound = Counter::default();
            encode_file(&dirty, true, &mut bound);
            // Written back: consecutive new addresses, or scattered ones.
            for scatter in [false, true] {
                let mut next = base;
                let written: BTreeMap<u64, Block> = map
                    .iter()
                    .map(|(&i, b)| {
                        let b = match b {
                            Block::Mem(_) => {
                                next += if scatter { 3 } else { 1 };
                                Block::Disk { addr: next, crc: 2 }
                            }
                            Block::Zero => Block::Zero,
                            Block::Disk { addr, crc } => Block::Disk { addr: *addr, crc: *crc },
                        };
                        (i, b)
                    })
                    .collect();
                let mut actual = Counter::default();
                encode_file(&FileData::from_parts(idx * BS, written), false, &mut actual);
                prop_assert!(actual.0 <= bound.0, "{} > bound {}", actual.0, bound.0);
            }
        }
    }
}
