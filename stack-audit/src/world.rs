//! The fixtures every case runs against, built once before any measurement: a persistent engine
//! on in-memory storage holding everything in its worst-case shape.
//!
//! | path | what |
//! |---|---|
//! | `/big` | collection `dim=4096 type=f32 metric=l2`, [`Size::vectors`] members `m00000`.. with vectors and `user.lang`/`user.year`/`user.tag`, plus one member with a 255-byte name |
//! | `/side` | a second collection of the same configuration, [`Size::side`] members `s0000`.. |
//! | `/pending` | a plain directory of [`Size::side`] vector files (made a collection by a case) |
//! | `/doomed` | a collection of [`Size::side`] members (removed by a case) |
//! | `/kernels/<type>-<metric>` | a collection per supported element type and metric at the largest dimension, [`Size::kernel_vectors`] members |
//! | `/kernels/sq8-<type>-<metric>` | the same with `quantization=sq8` for every pair sq8 supports, at least `SQ8_TRAIN_MIN` members (so the index is trained and searches walk codes) |
//! | `/data/blob<i>` | 2 MiB files whose blocks are on disk (the world is checkpointed after building) |
//! | `/data/sparse` | one byte at 1 TiB |
//! | `/data/xattrs` | 255 attributes with 255-byte names (a 64 KiB `listxattr`), one 64 KiB value |
//! | `/links/s0`.. | 40 symbolic links, each a ~4 KiB target of `./` components pointing to the next; the last points to a `/big` member |
//! | `/deep/d/d/...` | a chain of [`Size::deep`] directories whose last one is a small collection |
//!
//! Cases that change the world take fresh victims (members, blobs) from counters, so no case
//! depends on another's leftovers and the collections stay populated.

use std::sync::Arc;

use vexfs_core::engine::Whence;
use vexfs_core::journal::OpenOptions;
use vexfs_core::limits::{
    DIM_MAX, NAME_LEN_MAX, PATH_LEN_MAX, SYMLINK_HOPS_MAX, XATTR_NAME_LEN_MAX, XATTR_VALUE_LEN_MAX,
};
use vexfs_core::storage::{FileStorage, MemStorage, Storage};
use vexfs_core::types::{Ctx, FileKind, Ino, SetAttr, Timestamp, XattrMode};
use vexfs_core::vector::{self, ElemType, Metric};
use vexfs_core::{Engine, EngineConfig, INDEX_XATTR, VECTOR_XATTR};

/// How big the world is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Members of `/big`.
    pub vectors: usize,
    /// Members of `/side`, `/pending` and `/doomed`.
    pub side: usize,
    /// Members of each `/kernels/*` collection.
    pub kernel_vectors: usize,
    /// Depth of the `/deep` chain.
    pub deep: usize,
    /// Number of 2 MiB blobs.
    pub blobs: usize,
    /// `ef_construction` of every collection (only affects how long building takes).
    pub ef_construction: u32,
}

impl Size {
    /// The audit's world: a 10,000-vector collection at dimension 4096.
    pub const FULL: Size = Size {
        vectors: 10_000,
        side: 256,
        kernel_vectors: 64,
        deep: 5_000,
        blobs: 16,
        ef_construction: 64,
    };
    /// A small world with the same shapes, for tests of the harness itself.
    pub const QUICK: Size = Size {
        vectors: 300,
        side: 16,
        kernel_vectors: 8,
        deep: 200,
        blobs: 16,
        ef_construction: 16,
    };
}

/// Path of the big collection.
pub const BIG: &str = "/big";
/// Bytes of each blob.
pub const BLOB_BYTES: usize = 2 * 1024 * 1024;
/// Offset of the one byte of `/data/sparse`.
pub const SPARSE_AT: u64 = 1 << 40;

/// The canonical-order configuration of the f32 collections.
pub fn f32_config(ef_construction: u32) -> String {
    format!("dim={DIM_MAX} metric=l2 type=f32 m=16 ef_construction={ef_construction} ef_search=64")
}

/// Deterministic pseudo-random numbers (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `[-1, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// `dim` query values valid for `elem` (0/1 bits for `bin`).
pub fn values(elem: ElemType, dim: u32, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..dim)
        .map(|_| {
            let u = rng.unit();
            match elem {
                ElemType::F32 | ElemType::F16 => u,
                ElemType::I8 => (u * 127.0).round(),
                ElemType::I16 => (u * 32767.0).round(),
                ElemType::Bin => f64::from(u8::from(u >= 0.0)),
            }
        })
        .collect()
}

/// A stored vector of `elem` at dimension `dim`.
pub fn vector_bytes(elem: ElemType, dim: u32, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    vector::encode_values(elem, dim, &values(elem, dim, seed), &mut out)
        .expect("generated values fit their element type");
    out
}

/// Every supported (element type, metric) pair.
pub fn kernel_pairs() -> Vec<(ElemType, Metric)> {
    let mut pairs = Vec::new();
    for elem in ElemType::ALL {
        for metric in Metric::ALL {
            if vector::supported(elem, metric) {
                pairs.push((elem, metric));
            }
        }
    }
    pairs
}

/// Every (element type, metric) pair `quantization=sq8` supports.
pub fn sq8_pairs() -> Vec<(ElemType, Metric)> {
    kernel_pairs()
        .into_iter()
        .filter(|&(e, m)| vexfs_core::index::sq8::supported(e, m))
        .collect()
}

/// Path of the quantized kernel collection of `(elem, metric)`.
pub fn sq8_dir(elem: ElemType, metric: Metric) -> String {
    format!("/kernels/sq8-{}-{}", elem.name(), metric.name())
}

/// Members of each quantized kernel collection: enough for its index to train.
pub fn sq8_vectors(size: &Size) -> usize {
    size.kernel_vectors
        .max(vexfs_core::limits::SQ8_TRAIN_MIN as usize)
}

/// Path of the kernel collection of `(elem, metric)`.
pub fn kernel_dir(elem: ElemType, metric: Metric) -> String {
    format!("/kernels/{}-{}", elem.name(), metric.name())
}

/// Name of member `i` of `/big`.
pub fn member(i: usize) -> String {
    format!("m{i:05}")
}

/// The 255-byte name of the long-named member of `/big`.
pub fn long_name(tag: u8) -> Vec<u8> {
    let mut n = vec![b'x'; NAME_LEN_MAX];
    n[0] = tag;
    n
}

/// The engine under audit and the counters that hand out fresh victims.
#[derive(Debug)]
pub struct World {
    /// Sizes it was built with.
    pub size: Size,
    /// Storage of `engine`'s image.
    pub storage: Arc<MemStorage>,
    /// The engine.
    pub engine: Engine,
    clock: i64,
    next_member: usize,
    next_side: usize,
    next_blob: usize,
    next_name: usize,
    clean: Option<Vec<u8>>,
}

impl World {
    /// Builds the world (takes a while at [`Size::FULL`]); ends with a checkpoint, so file data
    /// is on disk and the log is empty.
    pub fn build(size: Size) -> World {
        let storage = Arc::new(MemStorage::new());
        let engine = Engine::create_image(storage.clone() as Arc<dyn Storage>, EngineConfig::default())
            .expect("fixture: create the image");
        let mut w = World {
            size,
            storage,
            engine,
            clock: 1_700_000_000,
            next_member: 0,
            next_side: 0,
            next_blob: 0,
            next_name: 0,
            clean: None,
        };
        w.build_big();
        w.build_collection("/side", "s", size.side, 2);
        w.build_collection("/doomed", "d", size.side, 3);
        w.build_pending();
        w.build_kernels();
        w.build_data();
        w.build_links();
        w.build_deep();
        w.engine.checkpoint().expect("fixture: checkpoint the world");
        w
    }

    /// A context whose time moves forward one second per call.
    pub fn ctx(&mut self) -> Ctx {
        self.clock += 1;
        Ctx::new(Timestamp::new(self.clock, 0), 0, 0)
    }

    /// A context two days later than the last (so `relatime` updates `atime`).
    pub fn ctx_days_later(&mut self) -> Ctx {
        self.clock += 2 * 24 * 60 * 60;
        self.ctx()
    }

    /// Inode of `path`.
    pub fn ino(&self, path: &str) -> Ino {
        self.engine
            .resolve(path.as_bytes(), false)
            .unwrap_or_else(|e| panic!("fixture: {path} exists: {e}"))
    }

    /// A member of `/big` not used by any case yet (from the end, so searches keep `m00000`..).
    pub fn victim(&mut self) -> (Ino, String) {
        self.next_member += 1;
        let name = member(self.size.vectors - self.next_member);
        let path = format!("{BIG}/{name}");
        (self.ino(&path), name)
    }

    /// A member of `/side` not used by any case yet.
    pub fn side_victim(&mut self) -> (Ino, String) {
        let name = format!("s{:04}", self.next_side);
        self.next_side += 1;
        (self.ino(&format!("/side/{name}")), name)
    }

    /// A blob (2 MiB, on disk) not used by any case yet.
    pub fn blob(&mut self) -> Ino {
        let i = self.next_blob;
        self.next_blob += 1;
        assert!(i < self.size.blobs, "fixture: more blobs than Size::blobs");
        self.ino(&format!("/data/blob{i}"))
    }

    /// A fresh name, unique in the world.
    pub fn fresh_name(&mut self, prefix: &str) -> String {
        self.next_name += 1;
        format!("{prefix}{}", self.next_name)
    }

    /// A new, empty collection directory at the root.
    pub fn empty_collection(&mut self) -> Ino {
        let name = self.fresh_name("empty");
        let ctx = self.ctx();
        let dir = self
            .engine
            .mkdir(1, name.as_bytes(), 0o755, &ctx)
            .expect("fixture: mkdir")
            .ino;
        let cfg = f32_config(self.size.ef_construction);
        self.engine
            .setxattr(dir, INDEX_XATTR, cfg.as_bytes(), XattrMode::Any, &ctx)
            .expect("fixture: make a collection");
        dir
    }

    /// A copy of the world's image, checkpointed (so its log is empty) the first time this is
    /// called and the same bytes after that.
    pub fn clean_image(&mut self) -> Vec<u8> {
        if self.clean.is_none() {
            self.engine.checkpoint().expect("fixture: checkpoint the world");
            self.clean = Some(self.storage.bytes());
        }
        self.clean.clone().unwrap_or_default()
    }

    fn file_with(&mut self, dir: Ino, name: &[u8], vector: Option<&[u8]>, i: usize) -> Ino {
        let ctx = self.ctx();
        let e = &mut self.engine;
        let ino = e.create(dir, name, 0o644, &ctx).expect("fixture: create").ino;
        let lang = ["en", "de", "fr", "es"][i % 4];
        let year = (1990 + i % 40).to_string();
        let tag = format!("t{}", i % 50);
        for (k, v) in [
            (&b"user.lang"[..], lang.as_bytes()),
            (b"user.year", year.as_bytes()),
            (b"user.tag", tag.as_bytes()),
        ] {
            e.setxattr(ino, k, v, XattrMode::Any, &ctx)
                .expect("fixture: setxattr");
        }
        if let Some(v) = vector {
            e.setxattr(ino, VECTOR_XATTR, v, XattrMode::Any, &ctx)
                .expect("fixture: set a vector");
        }
        ino
    }

    fn collection(&mut self, path: &str, config: Option<&str>) -> Ino {
        let ctx = self.ctx();
        let name = path.rsplit('/').next().expect("fixture: a path");
        let parent_path = &path[..path.len() - name.len() - 1];
        let parent = if parent_path.is_empty() {
            1
        } else {
            self.ino(parent_path)
        };
        let dir = self
            .engine
            .mkdir(parent, name.as_bytes(), 0o755, &ctx)
            .expect("fixture: mkdir")
            .ino;
        if let Some(cfg) = config {
            self.engine
                .setxattr(dir, INDEX_XATTR, cfg.as_bytes(), XattrMode::Any, &ctx)
                .expect("fixture: make a collection");
        }
        dir
    }

    fn build_big(&mut self) {
        let cfg = f32_config(self.size.ef_construction);
        let dir = self.collection(BIG, Some(&cfg));
        for i in 0..self.size.vectors {
            let v = vector_bytes(ElemType::F32, DIM_MAX, i as u64);
            let ino = self.file_with(dir, member(i).as_bytes(), Some(&v), i);
            if i % 4 == 3 {
                // Unreadable to anyone but root: credentialed searches skip these.
                let ctx = self.ctx();
                let private = SetAttr {
                    perm: Some(0o600),
                    ..SetAttr::default()
                };
                self.engine.setattr(ino, private, &ctx).expect("fixture: chmod");
            }
        }
        let v = vector_bytes(ElemType::F32, DIM_MAX, u64::MAX);
        self.file_with(dir, &long_name(b'L'), Some(&v), 0);
    }

    fn build_collection(&mut self, path: &str, prefix: &str, n: usize, seed: u64) {
        let cfg = f32_config(self.size.ef_construction);
        let dir = self.collection(path, Some(&cfg));
        for i in 0..n {
            let v = vector_bytes(ElemType::F32, DIM_MAX, (seed << 32) + i as u64);
            self.file_with(dir, format!("{prefix}{i:04}").as_bytes(), Some(&v), i);
        }
    }

    fn build_pending(&mut self) {
        let dir = self.collection("/pending", None);
        for i in 0..self.size.side {
            let v = vector_bytes(ElemType::F32, DIM_MAX, (4 << 32) + i as u64);
            self.file_with(dir, format!("p{i:04}").as_bytes(), Some(&v), i);
        }
    }

    fn build_kernels(&mut self) {
        self.collection("/kernels", None);
        for (elem, metric) in kernel_pairs() {
            let dim = elem.dim_max();
            let cfg = format!(
                "dim={dim} metric={} type={} m=16 ef_construction={} ef_search=64",
                metric.name(),
                elem.name(),
                self.size.ef_construction
            );
            let dir = self.collection(&kernel_dir(elem, metric), Some(&cfg));
            for i in 0..self.size.kernel_vectors {
                let v = vector_bytes(elem, dim, (5 << 32) + i as u64);
                self.file_with(dir, format!("k{i:04}").as_bytes(), Some(&v), i);
            }
        }
        for (elem, metric) in sq8_pairs() {
            let dim = elem.dim_max();
            let cfg = format!(
                "dim={dim} metric={} type={} m=16 ef_construction={} ef_search=64 quantization=sq8",
                metric.name(),
                elem.name(),
                self.size.ef_construction
            );
            let dir = self.collection(&sq8_dir(elem, metric), Some(&cfg));
            for i in 0..sq8_vectors(&self.size) {
                let v = vector_bytes(elem, dim, (6 << 32) + i as u64);
                self.file_with(dir, format!("k{i:04}").as_bytes(), Some(&v), i);
            }
        }
    }

    fn build_data(&mut self) {
        let dir = self.collection("/data", None);
        let mut rng = Rng::new(6);
        let chunk: Vec<u8> = (0..BLOB_BYTES).map(|_| rng.next_u64() as u8).collect();
        for i in 0..self.size.blobs {
            let ctx = self.ctx();
            let ino = self
                .engine
                .create(dir, format!("blob{i}").as_bytes(), 0o644, &ctx)
                .expect("fixture: create")
                .ino;
            self.engine
                .write(ino, 0, &chunk, &ctx)
                .expect("fixture: write a blob");
        }
        let ctx = self.ctx();
        let sparse = self
            .engine
            .create(dir, b"sparse", 0o644, &ctx)
            .expect("fixture: create")
            .ino;
        self.engine
            .write(sparse, SPARSE_AT, b"x", &ctx)
            .expect("fixture: write far away");
        let x = self
            .engine
            .create(dir, b"xattrs", 0o644, &ctx)
            .expect("fixture: create")
            .ino;
        // 255 names of 255 bytes: a listxattr of 255 * 256 = 65,280 bytes (the limit is 65,536).
        let value = vec![b'v'; 1024];
        for i in 0..255 {
            let mut name = format!("user.{i:03}").into_bytes();
            name.resize(XATTR_NAME_LEN_MAX, b'n');
            self.engine
                .setxattr(x, &name, &value, XattrMode::Any, &ctx)
                .expect("fixture: many attributes");
        }
        let big = vec![b'w'; XATTR_VALUE_LEN_MAX];
        let file = self
            .engine
            .create(dir, b"bigvalue", 0o644, &ctx)
            .expect("fixture: create")
            .ino;
        self.engine
            .setxattr(file, b"user.big", &big, XattrMode::Any, &ctx)
            .expect("fixture: a 64 KiB value");
    }

    /// `/links/s0` -> `/links/./././.../s1` -> ... -> `/big/m00000`, each target padded with
    /// `./` components to nearly `PATH_LEN_MAX` bytes.
    fn build_links(&mut self) {
        let dir = self.collection("/links", None);
        let hops = SYMLINK_HOPS_MAX as usize;
        for i in 0..hops {
            let next = if i + 1 == hops {
                format!("..{BIG}/{}", member(0))
            } else {
                format!("s{}", i + 1)
            };
            let mut target = String::from("/links/");
            while target.len() + 2 + next.len() <= PATH_LEN_MAX {
                target.push_str("./");
            }
            target.push_str(&next);
            let ctx = self.ctx();
            self.engine
                .symlink(dir, format!("s{i}").as_bytes(), target.as_bytes(), &ctx)
                .expect("fixture: symlink");
        }
    }

    fn build_deep(&mut self) {
        let mut dir = self.collection("/deep", None);
        for _ in 0..self.size.deep {
            let ctx = self.ctx();
            dir = self
                .engine
                .mkdir(dir, b"d", 0o755, &ctx)
                .expect("fixture: mkdir")
                .ino;
        }
        let ctx = self.ctx();
        let cfg = f32_config(self.size.ef_construction);
        self.engine
            .setxattr(dir, INDEX_XATTR, cfg.as_bytes(), XattrMode::Any, &ctx)
            .expect("fixture: a collection at the bottom");
        for i in 0..16 {
            let v = vector_bytes(ElemType::F32, DIM_MAX, (7 << 32) + i as u64);
            self.file_with(dir, format!("leaf{i:02}").as_bytes(), Some(&v), i);
        }
    }

    /// The directory at the bottom of the `/deep` chain.
    pub fn deep_leaf(&self) -> Ino {
        let mut dir = self.ino("/deep");
        for _ in 0..self.size.deep {
            dir = self.engine.lookup(dir, b"d").expect("fixture: the chain").ino;
        }
        dir
    }

    /// Opens a copy of `image` (for cases that need an engine of their own).
    pub fn open_copy(image: Vec<u8>) -> (Arc<MemStorage>, Engine) {
        let storage = Arc::new(MemStorage::from_bytes(image));
        let engine = Engine::open_image(storage.clone() as Arc<dyn Storage>, OpenOptions::default())
            .expect("fixture: open a copy of the image");
        (storage, engine)
    }

    /// Opens a copy of `image` written to the file `path` (for cases that need the image
    /// memory-mapped, as a mount has it).
    pub fn open_file_copy(image: &[u8], path: &std::path::Path) -> Engine {
        std::fs::write(path, image).expect("fixture: write the image file");
        let storage = FileStorage::open(path, false, true).expect("fixture: open the image file");
        Engine::open_image(Arc::new(storage), OpenOptions::default()).expect("fixture: open the image")
    }

    /// Checks that the fixtures are what the cases assume.
    pub fn verify(&self) -> Result<(), String> {
        let big = self.ino(BIG);
        let n = self.engine.collection(big).map_or(0, |c| c.index.len());
        if n != self.size.vectors + 1 {
            return Err(format!(
                "{BIG} holds {n} vectors, expected {}",
                self.size.vectors + 1
            ));
        }
        let sparse = self.ino("/data/sparse");
        if self.engine.lseek(sparse, 0, Whence::Data) != Ok(Some(SPARSE_AT)) {
            return Err("/data/sparse is not sparse".into());
        }
        let leaf = self
            .engine
            .resolve(b"/links/s0", true)
            .map_err(|e| e.to_string())?;
        if leaf != self.ino(&format!("{BIG}/{}", member(0))) {
            return Err("/links/s0 does not lead to /big/m00000".into());
        }
        if self.engine.getattr(self.ino("/links/s0")).map(|a| a.kind) != Ok(FileKind::Symlink) {
            return Err("/links/s0 is not a symbolic link".into());
        }
        Ok(())
    }
}
