//! [`Scenario`]: what one simulation run exercises, drawn from its seed (swarm testing).
//!
//! A seed chooses the collection shapes (dimension, element type, metric, HNSW parameters,
//! quantization),
//! the names the namespace uses, the operation mix (each kind of operation is weighted, and
//! some kinds are switched off entirely so that rare interleavings of the remaining ones get
//! room), the number of concurrent clients, the latency of storage, the crash frequency and the
//! rates of every fault class. Swarm testing finds bugs that a single "everything on" mix hides.
//!
//! The seed also chooses the length of the log segments the engine allocates
//! ([`Scenario::log_segment_blocks`]): skewed towards a few blocks, so that most runs roll from
//! segment to segment many times in one session and reach the segment-end cases that a 256-block
//! default reaches only after hundreds of syncs (issue 14).
//!
//! [`Scenario::long`] is the long-session mode (`vexfs-sim --long`): the same swarm, reshaped so
//! that one mount session lasts thousands of syncs: syncs are a large share of the operations,
//! checkpoints rare, writes reach 1 MiB, crashes are rare (a few per run), fall before an
//! operation or in the middle of one (a power cut after a drawn number of storage writes, with
//! writes in flight), and the costly whole-state oracle runs every few operations instead of
//! after each one.
//!
//! The fuzzers use [`Scenario::fuzz`], a fixed scenario, so an input means the same operations
//! forever.

use crate::rng::Rng;
use std::fmt;
use vexfs_core::IndexConfig;
use vexfs_core::limits::{LOG_SEGMENT_BLOCKS_DEFAULT, LOG_SEGMENT_BLOCKS_MIN};
use vexfs_core::vector::{ElemType, Metric};

/// Operation kinds the generator draws from; [`Scenario::weights`] is indexed by these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpClass {
    /// mkdir.
    Mkdir,
    /// Create a regular file.
    Create,
    /// mknod (fifo, socket) and symlink.
    Special,
    /// Hard link.
    Link,
    /// unlink and rmdir.
    Remove,
    /// rename (replace, no-replace, exchange), often across collections.
    Rename,
    /// write, truncate, fallocate.
    Data,
    /// chmod.
    Chmod,
    /// Ordinary attributes (set, remove).
    Xattr,
    /// Make, change or remove a collection.
    Index,
    /// Set, replace or remove a vector.
    Vector,
    /// Read a whole file.
    Read,
    /// Search (exact or graph, with or without a filter).
    Search,
    /// `sync`.
    Sync,
    /// Explicit checkpoint.
    Checkpoint,
}

impl OpClass {
    /// Every class, in weight order.
    pub const ALL: [OpClass; 15] = [
        OpClass::Mkdir,
        OpClass::Create,
        OpClass::Special,
        OpClass::Link,
        OpClass::Remove,
        OpClass::Rename,
        OpClass::Data,
        OpClass::Chmod,
        OpClass::Xattr,
        OpClass::Index,
        OpClass::Vector,
        OpClass::Read,
        OpClass::Search,
        OpClass::Sync,
        OpClass::Checkpoint,
    ];
    /// Base weights before the swarm switches some off.
    const BASE: [u32; 15] = [4, 6, 1, 2, 3, 5, 4, 1, 3, 2, 10, 2, 3, 2, 1];
}

/// A fault profile, as `--faults` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// No faults and no crashes.
    None,
    /// Crashes only (unsynced writes lost or torn).
    Crash,
    /// Crashes, I/O errors (EIO on read, write, sync) and running out of space.
    Io,
    /// Crashes and bit flips in stored sectors.
    Corrupt,
    /// Every fault class at once.
    All,
    /// The seed picks the fault classes (each on or off) and their rates.
    Swarm,
}

impl Profile {
    /// Every profile, with its name.
    pub const ALL: [(Profile, &'static str); 6] = [
        (Profile::None, "none"),
        (Profile::Crash, "crash"),
        (Profile::Io, "io"),
        (Profile::Corrupt, "corrupt"),
        (Profile::All, "all"),
        (Profile::Swarm, "swarm"),
    ];

    /// Parses a profile name.
    pub fn parse(s: &str) -> Option<Profile> {
        Profile::ALL.iter().find(|(_, n)| *n == s).map(|(p, _)| *p)
    }

    /// The profile's name.
    pub fn name(self) -> &'static str {
        Profile::ALL
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("?", |(_, n)| n)
    }
}

/// Fault rates of one run. Rates are per million storage calls (I/O errors) or per million
/// operations (crashes, flips).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Faults {
    /// A crash before an operation.
    pub crash: u32,
    /// `write_at` fails with EIO.
    pub write_eio: u32,
    /// `sync` fails with EIO.
    pub sync_eio: u32,
    /// `read_at` fails with EIO.
    pub read_eio: u32,
    /// A bit flips in a stored sector, before an operation.
    pub flip: u32,
    /// A power cut in the middle of an operation: the disk dies after a drawn number of its
    /// next writes, syncs and length changes, and the world crashes it (writes in flight).
    pub cut: u32,
    /// The medium holds at most this many bytes (ENOSPC past it); `None`: unbounded.
    pub capacity_bytes: Option<u64>,
}

impl Faults {
    /// Whether any fault can make the storage misbehave (beyond crashes).
    pub fn io(&self) -> bool {
        self.write_eio > 0 || self.sync_eio > 0 || self.read_eio > 0 || self.capacity_bytes.is_some()
    }
}

/// One collection configuration the scenario uses: the string set on the directory (not
/// always canonical) and what it parses to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectionShape {
    /// The `user.vexfs.index` value written.
    pub text: String,
    /// Its parsed form.
    pub config: IndexConfig,
}

/// Everything a run exercises.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// The run's seed.
    pub seed: u64,
    /// Collection shapes (1 to 3).
    pub shapes: Vec<CollectionShape>,
    /// Path component names (2 to 4).
    pub names: Vec<&'static str>,
    /// Directory depth of generated paths (1 or 2 components, 3 rarely).
    pub depth_max: usize,
    /// Weight of each [`OpClass`] (0 = off).
    pub weights: [u32; 15],
    /// Concurrent clients (1 to 4).
    pub clients: u32,
    /// Fault rates.
    pub faults: Faults,
    /// Fault profile the rates came from.
    pub profile: Profile,
    /// Vector values: small integers (many ties) or wide ones.
    pub small_values: bool,
    /// Largest write, in bytes.
    pub write_bytes_max: u32,
    /// Bytes per unit of a write's drawn length: 1 (the length is taken modulo the largest
    /// write, as the fuzzers' inputs always were), more in long sessions so that a 16-bit
    /// length reaches 1 MiB.
    pub write_scale: u32,
    /// Length in blocks of the log segments the engine allocates (`EngineConfig` and
    /// `OpenOptions::log_segment_blocks`), [`LOG_SEGMENT_BLOCKS_MIN`] to the default.
    pub log_segment_blocks: u32,
    /// Long-session mode ([`Scenario::long`]).
    pub long: bool,
    /// The whole-state oracle (dumps, `check()`, searches in every collection) runs after every
    /// `verify_every`-th operation, and always after a recovery and at the end (1: after each).
    pub verify_every: u64,
    /// Storage latency per call, nanoseconds (min, max).
    pub latency_ns: (u64, u64),
    /// Graph recall floor against exact search over the run.
    pub recall_floor: f64,
}

const NAME_POOL: [&str; 6] = ["a", "b", "c", "d", "x.txt", "y"];

impl Scenario {
    /// The scenario of `seed` with fault `profile`.
    pub fn from_seed(seed: u64, profile: Profile) -> Scenario {
        let mut r = Rng::new(seed).fork(1);
        let n_shapes = r.range(1, 3) as usize;
        let shapes = (0..n_shapes).map(|_| random_shape(&mut r)).collect();
        let n_names = r.range(2, 4) as usize;
        let names = NAME_POOL[..n_names].to_vec();
        let depth_max = if r.chance(150_000) { 3 } else { 2 };
        let mut weights = OpClass::BASE;
        // Swarm: switch off each optional class with probability 1/4 (never the ones that
        // build the tree and the collections the rest need).
        for (i, w) in weights.iter_mut().enumerate() {
            let essential = matches!(
                OpClass::ALL[i],
                OpClass::Mkdir | OpClass::Create | OpClass::Index | OpClass::Vector | OpClass::Search
            );
            if !essential && r.chance(250_000) {
                *w = 0;
            } else {
                *w = (*w * r.range(1, 4) as u32).max(1);
            }
        }
        let clients = *r.pick(&[1, 1, 2, 3, 4]);
        let profile = match profile {
            Profile::Swarm => *r.pick(&[
                Profile::None,
                Profile::Crash,
                Profile::Crash,
                Profile::Io,
                Profile::Io,
                Profile::Corrupt,
                Profile::All,
                Profile::All,
            ]),
            p => p,
        };
        let mut faults = Faults::default();
        let crashes = profile != Profile::None;
        let io = matches!(profile, Profile::Io | Profile::All);
        let flips = matches!(profile, Profile::Corrupt | Profile::All);
        if crashes {
            faults.crash = *r.pick(&[2_000, 5_000, 10_000, 30_000]);
        }
        if io {
            faults.write_eio = *r.pick(&[0, 5_000, 20_000, 50_000]);
            faults.sync_eio = *r.pick(&[0, 20_000, 60_000]);
            faults.read_eio = *r.pick(&[0, 10_000, 50_000]);
            if r.chance(400_000) {
                faults.capacity_bytes = Some(r.range(2_400_000, 4_500_000));
            }
        }
        if flips {
            faults.flip = *r.pick(&[1_000, 5_000, 20_000]);
        }
        let small_values = r.chance(500_000);
        let write_bytes_max = *r.pick(&[64, 600, 5_000, 12_000]);
        let lo = r.range(1_000, 50_000);
        let latency_ns = (lo, lo + r.range(0, 2_000_000));
        // From a generator of its own, so that every other choice of a seed stays what it was
        // before segment sizes were drawn.
        let log_segment_blocks = segment_blocks(&mut Rng::new(seed).fork(11));
        Scenario {
            seed,
            shapes,
            names,
            depth_max,
            weights,
            clients,
            faults,
            profile,
            small_values,
            write_bytes_max,
            write_scale: 1,
            log_segment_blocks,
            long: false,
            verify_every: 1,
            latency_ns,
            recall_floor: 0.8,
        }
    }

    /// The long-session scenario of `seed` with fault `profile`: [`Scenario::from_seed`]'s
    /// shapes, names and swarm, reshaped for sessions of thousands of syncs (see the module
    /// documentation). Bit flips are off (a damaged image ends its session); I/O errors, when
    /// the profile has them, are rare enough that a session still lasts long. `ops` is the
    /// run's length, from which the crash rates are derived (about `crashes` per run).
    pub fn long(seed: u64, profile: Profile, ops: u64) -> Scenario {
        let mut s = Scenario::from_seed(seed, profile);
        let mut r = Rng::new(seed).fork(12);
        s.long = true;
        // Data often (the log fills with writes), checkpoints rare: the log since the last one
        // spans many segments. Some seeds never checkpoint but at the end.
        s.weights[OpClass::Data as usize] = s.weights[OpClass::Data as usize].max(4) * 3;
        s.weights[OpClass::Checkpoint as usize] = *r.pick(&[0, 0, 1]);
        // Syncs: a third to a half of the operations for most seeds; a tenth or so for the
        // rest, whose sessions leave several segments of unsynced records for a crash to tear.
        s.weights[OpClass::Sync as usize] = 0;
        let ops_weight: u32 = s.weights.iter().sum();
        let sync_share = if r.chance(330_000) {
            r.range(8, 15)
        } else {
            r.range(30, 50)
        } as u32;
        s.weights[OpClass::Sync as usize] = (ops_weight * sync_share / (100 - sync_share)).max(1);
        // Writes up to 1 MiB: a 16-bit length times 17, capped (the top lengths are 1 MiB
        // exactly, the size issue 14 lost synced files with).
        s.write_bytes_max = 1 << 20;
        s.write_scale = 17;
        s.faults.flip = 0;
        let crashes = s.profile != Profile::None;
        if crashes {
            // About 1 to 4 crashes per run, half of them in the middle of an operation.
            let per_run = r.range(1, 4);
            let rate = (per_run * 1_000_000 / ops.max(1)).max(1) as u32;
            s.faults.crash = rate.div_ceil(2);
            s.faults.cut = rate.div_ceil(2);
        }
        // I/O errors end a session (the journal fails and is reopened): a few per run at most.
        let scale = |x: u32| x / 200;
        s.faults.write_eio = scale(s.faults.write_eio);
        s.faults.sync_eio = scale(s.faults.sync_eio);
        s.faults.read_eio = scale(s.faults.read_eio);
        // A bounded medium would end the run in ENOSPC with 1 MiB writes: unbounded.
        s.faults.capacity_bytes = None;
        s.verify_every = *r.pick(&[16, 32, 64]);
        s
    }

    /// The fixed scenario of the fuzz targets: four collection shapes, three names, depth 2,
    /// every operation kind, one client, no random faults (crashes come from the input).
    pub fn fuzz() -> Scenario {
        let shape = |text: &str| CollectionShape {
            text: text.to_string(),
            config: IndexConfig::parse(text.as_bytes()).expect("fixed fuzz shapes parse"),
        };
        Scenario {
            seed: 0,
            shapes: vec![
                shape("dim=2"),
                shape("dim=2 metric=cosine m=4"),
                shape("dim=3 type=i8 metric=l1"),
                shape("dim=8 type=bin"),
            ],
            names: NAME_POOL[..3].to_vec(),
            depth_max: 2,
            weights: OpClass::BASE,
            clients: 1,
            faults: Faults::default(),
            profile: Profile::None,
            small_values: true,
            write_bytes_max: 9_000,
            write_scale: 1,
            log_segment_blocks: LOG_SEGMENT_BLOCKS_DEFAULT,
            long: false,
            verify_every: 1,
            latency_ns: (0, 0),
            recall_floor: 0.8,
        }
    }
}

/// A log segment length drawn from `r`, skewed towards tiny segments that roll every few
/// syncs: 2 to 4 blocks for 40 % of seeds, 5 to 16 for 25 %, 17 to 64 for 15 %, 65 to 255 for
/// 10 % and the default (256) for the rest.
fn segment_blocks(r: &mut Rng) -> u32 {
    let min = u64::from(LOG_SEGMENT_BLOCKS_MIN);
    let max = u64::from(LOG_SEGMENT_BLOCKS_DEFAULT);
    let blocks = match r.below(20) {
        0..=7 => r.range(min, 4),
        8..=12 => r.range(5, 16),
        13..=15 => r.range(17, 64),
        16..=17 => r.range(65, max - 1),
        _ => max,
    };
    blocks.clamp(min, max) as u32
}

fn random_shape(r: &mut Rng) -> CollectionShape {
    let elem = *r.pick(&ElemType::ALL);
    let dim = if elem == ElemType::Bin {
        8 * *r.pick(&[1u32, 2, 4, 8])
    } else {
        // 300: `f32` vectors of 1,200 bytes, whose nodes carry sketches (`SKETCH_VECTOR_BYTES_MIN`).
        *r.pick(&[1u32, 2, 3, 4, 8, 17, 300])
    };
    let metric = if elem == ElemType::Bin {
        Metric::Hamming
    } else {
        *r.pick(&[Metric::L2, Metric::Cosine, Metric::Dot, Metric::L1])
    };
    let m = *r.pick(&[4u32, 8, 16]);
    let efc = *r.pick(&[16u32, 64, 200]);
    let efs = *r.pick(&[16u32, 32, 64]);
    // Write it in a non-canonical order, leaving defaults out sometimes, to exercise parsing.
    let mut fields = vec![format!("dim={dim}")];
    if elem != ElemType::F32 || r.chance(500_000) {
        fields.push(format!("type={}", elem.name()));
    }
    if metric != Metric::L2 && metric != Metric::Hamming || r.chance(300_000) {
        fields.push(format!("metric={}", metric.name()));
    }
    fields.push(format!("m={m}"));
    fields.push(format!("ef_construction={efc}"));
    fields.push(format!("ef_search={efs}"));
    let n = fields.len();
    for i in (1..n).rev() {
        let j = r.index(i + 1);
        fields.swap(i, j);
    }
    // A third of the shapes sq8 can quantize are quantized, decided from what was drawn (no
    // draw of its own, so every seed keeps the scenario it had before quantization existed).
    if vexfs_core::index::sq8::supported(elem, metric) && (dim + m + efc + efs).is_multiple_of(3) {
        fields.push(format!("quantization=sq8 rerank={}", 1 + (dim + efs) % 40));
    }
    let text = fields.join(" ");
    let config = IndexConfig::parse(text.as_bytes()).expect("generated shapes are valid");
    CollectionShape { text, config }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let on: Vec<String> = OpClass::ALL
            .iter()
            .zip(self.weights)
            .filter(|(_, w)| *w > 0)
            .map(|(c, w)| format!("{c:?}:{w}"))
            .collect();
        let shapes: Vec<&str> = self.shapes.iter().map(|s| s.text.as_str()).collect();
        write!(
            f,
            "{}clients={} segment={} profile={} faults={:?} shapes={:?} names={:?} depth={} ops=[{}]",
            if self.long { "long " } else { "" },
            self.clients,
            self.log_segment_blocks,
            self.profile.name(),
            self.faults,
            shapes,
            self.names,
            self.depth_max,
            on.join(" ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::DataSel;

    #[test]
    fn segment_lengths_are_skewed_to_a_few_blocks() {
        let sizes: Vec<u32> = (0..2000)
            .map(|seed| Scenario::from_seed(seed, Profile::Swarm).log_segment_blocks)
            .collect();
        assert!(
            sizes
                .iter()
                .all(|s| (LOG_SEGMENT_BLOCKS_MIN..=LOG_SEGMENT_BLOCKS_DEFAULT).contains(s))
        );
        let share = |f: &dyn Fn(u32) -> bool| sizes.iter().filter(|&&s| f(s)).count() * 100 / sizes.len();
        assert!(share(&|s| s <= 4) >= 30, "tiny segments for many seeds");
        assert!(share(&|s| s <= 16) >= 55);
        assert!(
            share(&|s| s == LOG_SEGMENT_BLOCKS_DEFAULT) >= 5,
            "the default is swept too"
        );
        assert!(sizes.contains(&LOG_SEGMENT_BLOCKS_MIN));
        // Drawn apart from everything else: the segment length changes nothing else a seed
        // chooses.
        let a = Scenario::from_seed(77, Profile::All);
        let mut b = a.clone();
        b.log_segment_blocks = 99;
        assert_eq!(
            Scenario {
                log_segment_blocks: 99,
                ..a
            },
            b
        );
    }

    #[test]
    fn long_sessions_sync_often_and_write_up_to_a_mebibyte() {
        for seed in 0..50 {
            let s = Scenario::long(seed, Profile::Crash, 20_000);
            assert!(s.long);
            let total: u32 = s.weights.iter().sum();
            let sync = s.weights[OpClass::Sync as usize];
            let share = sync * 100 / total;
            assert!(
                (7..=50).contains(&share),
                "seed {seed}: syncs are {share} % of the operations"
            );
            assert_eq!(s.faults.flip, 0);
            assert!(s.faults.crash > 0 && s.faults.cut > 0);
            // About 1 to 4 crashes per run, whatever its length.
            assert!(u64::from(s.faults.crash + s.faults.cut) * 20_000 / 1_000_000 <= 5);
            let top = DataSel {
                len: u16::MAX,
                seed: 1,
            }
            .bytes(&s);
            assert_eq!(top.len(), 1 << 20, "the longest write is 1 MiB");
            assert_eq!(DataSel { len: 100, seed: 1 }.bytes(&s).len(), 1700);
        }
        // Ordinary scenarios keep the fuzzers' meaning of a length (modulo the largest write).
        let s = Scenario::fuzz();
        assert_eq!(
            DataSel {
                len: 9_001 + 5,
                seed: 1
            }
            .bytes(&s)
            .len(),
            5
        );
        assert_eq!(Scenario::long(3, Profile::None, 1000).faults, Faults::default());
    }
}
