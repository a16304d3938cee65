//! One [`Case`] per [`EntryPoint`]: each is a list of probes, one per worst-case shape, that
//! build their inputs outside the meter and measure only the entry point call.
//!
//! [`case`] is an exhaustive `match` (no wildcard arm) on [`EntryPoint`] and [`OpKind`]: a new
//! entry point or operation does not compile until it has a case here.
//!
//! Every probe also checks that the call did what the shape intends (succeeded, found `k`
//! results, replayed its records, rejected the adversarial query), so a case cannot silently
//! measure an early error return instead of the work.

use std::sync::Arc;

use vexfs_core::check::check;
use vexfs_core::engine::{EntryPoint, Whence, fsck};
use vexfs_core::journal::OpenOptions;
use vexfs_core::limits::{
    CREDS_GROUPS_MAX, DIM_MAX, EF_MAX, FILE_SIZE_MAX, FILTER_DEPTH_MAX, FILTER_IN_VALUES_MAX,
    FILTER_TERMS_MAX, K_MAX, NAME_LEN_MAX, PATH_LEN_MAX, QUERY_LEN_MAX, WRITE_OP_BYTES_MAX,
    XATTR_LIST_LEN_MAX, XATTR_NAME_LEN_MAX, XATTR_VALUE_LEN_MAX,
};
use vexfs_core::query::{Filter, Include, Query, Target, parse_queries};
use vexfs_core::storage::{MemStorage, Storage};
use vexfs_core::types::{FallocMode, FileKind, RenameMode, SetAttr, SetTime, Timestamp, XattrMode};
use vexfs_core::vector::{self, ElemType};
use vexfs_core::{Creds, Engine, EngineConfig, HitLines, INDEX_XATTR, OpKind, Scratch, VECTOR_XATTR};

use crate::meter::{Meter, Sample};
use crate::world::{self, BIG, BLOB_BYTES, SPARSE_AT, World};

/// What one probe measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The (first) call.
    pub sample: Sample,
    /// Searches only: the same call again on the same `Scratch`, which must not allocate.
    pub warm: Option<Sample>,
}

/// Runs one probe against the world.
pub type Run = Box<dyn Fn(&mut World, &mut Meter) -> Result<Outcome, String>>;

/// One worst-case shape of an entry point.
pub struct Probe {
    /// What the shape is, in a few words.
    pub shape: String,
    /// Builds the inputs, measures the call, checks the result.
    pub run: Run,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe").field("shape", &self.shape).finish()
    }
}

/// The audit of one entry point: at least one probe.
#[derive(Debug)]
pub struct Case {
    /// The shapes measured.
    pub probes: Vec<Probe>,
}

fn probe(
    shape: impl Into<String>,
    run: impl Fn(&mut World, &mut Meter) -> Result<Outcome, String> + 'static,
) -> Probe {
    Probe {
        shape: shape.into(),
        run: Box::new(run),
    }
}

fn single(p: Probe) -> Case {
    Case { probes: vec![p] }
}

/// Measures `f`; a panic is a failed probe.
fn once<R>(meter: &mut Meter, f: impl FnOnce() -> R) -> Result<(Sample, R), String> {
    let m = meter.measure(f);
    match m.value {
        Some(v) => Ok((m.sample, v)),
        None => Err("the call panicked".into()),
    }
}

fn plain(sample: Sample) -> Outcome {
    Outcome { sample, warm: None }
}

/// Turns a core result into a probe result.
fn ok<T>(r: vexfs_core::Result<T>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what} failed: {e}"))
}

/// A probe that measures one call returning a core result, which must be `Ok`.
fn call<T>(
    shape: &str,
    f: impl Fn(&mut World, &mut Meter) -> Result<(Sample, vexfs_core::Result<T>), String> + 'static,
) -> Probe {
    probe(shape, move |w, m| {
        let (s, r) = f(w, m)?;
        ok(r, "the call")?;
        Ok(plain(s))
    })
}

/// The audit case of `e`.
pub fn case(e: EntryPoint) -> Case {
    match e {
        EntryPoint::Op(kind) => op_case(kind),
        EntryPoint::Replay(kind) => replay_case(kind),
        EntryPoint::CollectionCreate => single(op_probe(COLLECTION_CREATE)),
        EntryPoint::CollectionChange => single(op_probe(COLLECTION_CHANGE)),
        EntryPoint::CollectionRemove => single(op_probe(COLLECTION_REMOVE)),
        EntryPoint::VectorSet => single(op_probe(VECTOR_SET)),
        EntryPoint::VectorReplace => single(op_probe(VECTOR_REPLACE)),
        EntryPoint::VectorRemove => single(op_probe(VECTOR_REMOVE)),
        EntryPoint::Pin => single(call("first pin of a /big member", |w, m| {
            let (ino, _) = w.victim();
            let e = &mut w.engine;
            let (s, ()) = once(m, || e.pin(ino, 1))?;
            Ok((s, Ok(())))
        })),
        EntryPoint::Unpin => single(call(
            "last pin of an unlinked collection directory (frees it)",
            |w, m| {
                let dir = w.empty_collection();
                let name = name_of(w, dir)?;
                let ctx = w.ctx();
                w.engine.pin(dir, 1);
                ok(w.engine.rmdir(1, &name, &ctx), "rmdir")?;
                let e = &mut w.engine;
                let r = once(m, || e.unpin(dir, 1, &ctx))?;
                if w.engine.getattr(dir).is_ok() {
                    return Err("the directory was not freed".into());
                }
                Ok(r)
            },
        )),
        EntryPoint::Lookup => single(call("255-byte name in /big", |w, m| {
            let big = w.ino(BIG);
            let name = world::long_name(b'L');
            let e = &w.engine;
            once(m, || e.lookup(big, &name))
        })),
        EntryPoint::GetAttr => single(call("a /big member", |w, m| {
            let ino = w.ino(&format!("{BIG}/{}", world::member(1)));
            let e = &w.engine;
            once(m, || e.getattr(ino))
        })),
        EntryPoint::ReadLink => single(call("a 4 KiB target", |w, m| {
            let ino = w.ino("/links/s0");
            let e = &w.engine;
            let (s, r) = once(m, || e.readlink(ino).map(<[u8]>::len))?;
            if r.as_ref().is_ok_and(|&n| n + 8 < PATH_LEN_MAX) {
                return Err("the target is not near PATH_LEN_MAX".into());
            }
            Ok((s, r))
        })),
        EntryPoint::Read => single(call(
            "1 MiB at an unaligned offset, every block on disk (cold cache)",
            |w, m| {
                let ino = w.blob();
                let mut buf = vec![0u8; WRITE_OP_BYTES_MAX];
                let e = &w.engine;
                let (s, r) = once(m, || e.read(ino, 1000, &mut buf))?;
                if r != Ok(buf.len()) {
                    return Err(format!("read returned {r:?}"));
                }
                Ok((s, r))
            },
        )),
        EntryPoint::ReadView => single(call(
            "1 MiB at an unaligned offset, lent from an image file's map (cold)",
            |w, m| {
                // A copy of the world in a file, plus a 2 MiB file written in one go and
                // checkpointed: one run of image blocks.
                let path = std::env::temp_dir().join(format!("vexfs-audit-view-{}.img", std::process::id()));
                let mut e = World::open_file_copy(&w.clean_image(), &path);
                let ctx = w.ctx();
                let bytes = vec![0x5A; BLOB_BYTES];
                let ino = ok(e.create(vexfs_core::ROOT_INO, b"mapped", 0o644, &ctx), "create")
                    .and_then(|a| ok(e.write(a.ino, 0, &bytes, &ctx), "write").map(|_| a.ino))
                    .and_then(|ino| ok(e.checkpoint(), "checkpoint").map(|()| ino));
                let r = ino.and_then(|ino| {
                    once(m, || {
                        e.read_view(ino, 1000, WRITE_OP_BYTES_MAX)
                            .map(|v| v.map(<[u8]>::len))
                    })
                });
                drop(e);
                let _ = std::fs::remove_file(&path);
                let (s, r) = r?;
                if r != Ok(Some(WRITE_OP_BYTES_MAX)) {
                    return Err(format!("read_view returned {r:?}, not 1 MiB lent"));
                }
                Ok((s, r))
            },
        )),
        EntryPoint::Lseek => Case {
            probes: vec![
                call("SEEK_DATA over a 1 TiB hole", |w, m| {
                    let ino = w.ino("/data/sparse");
                    let e = &w.engine;
                    let (s, r) = once(m, || e.lseek(ino, 0, Whence::Data))?;
                    if r != Ok(Some(SPARSE_AT)) {
                        return Err(format!("lseek returned {r:?}"));
                    }
                    Ok((s, r))
                }),
                call("SEEK_HOLE across 2 MiB of data", |w, m| {
                    let ino = w.blob();
                    let e = &w.engine;
                    let (s, r) = once(m, || e.lseek(ino, 0, Whence::Hole))?;
                    if r != Ok(Some(BLOB_BYTES as u64)) {
                        return Err(format!("lseek returned {r:?}"));
                    }
                    Ok((s, r))
                }),
            ],
        },
        EntryPoint::ReadDir => single(call("every entry of /big", |w, m| {
            let big = w.ino(BIG);
            let e = &w.engine;
            let mut n = 0usize;
            let (s, r) = once(m, || {
                e.readdir(big, 0, |_| {
                    n += 1;
                    true
                })
            })?;
            if n < w.size.vectors {
                return Err(format!("readdir listed {n} entries"));
            }
            Ok((s, r))
        })),
        EntryPoint::GetXattr => single(call("a 64 KiB value", |w, m| {
            let ino = w.ino("/data/bigvalue");
            let e = &w.engine;
            let (s, r) = once(m, || e.getxattr(ino, b"user.big").map(<[u8]>::len))?;
            if r != Ok(XATTR_VALUE_LEN_MAX) {
                return Err(format!("getxattr returned {r:?}"));
            }
            Ok((s, r))
        })),
        EntryPoint::ListXattr => single(call("255 names of 255 bytes (64 KiB)", |w, m| {
            let ino = w.ino("/data/xattrs");
            let mut out = Vec::with_capacity(XATTR_LIST_LEN_MAX);
            let e = &w.engine;
            let (s, r) = once(m, || e.listxattr(ino, &mut out))?;
            if out.len() != 255 * (XATTR_NAME_LEN_MAX + 1) {
                return Err(format!("listxattr returned {} bytes", out.len()));
            }
            Ok((s, r))
        })),
        EntryPoint::StatFs => single(call("the whole world", |w, m| {
            let e = &w.engine;
            let (s, _) = once(m, || e.statfs(1 << 40))?;
            Ok((s, Ok(())))
        })),
        EntryPoint::Stats => Case {
            probes: vec![
                call("every collection", |w, m| {
                    let e = &w.engine;
                    let (s, stats) = once(m, || e.stats(&Creds::ROOT))?;
                    if stats.collections.len() < 4 {
                        return Err("stats saw too few collections".into());
                    }
                    Ok((s, Ok(())))
                }),
                call("every collection, as an unprivileged caller", |w, m| {
                    let e = &w.engine;
                    let creds = unprivileged();
                    let (s, stats) = once(m, || e.stats(&creds))?;
                    if stats.collections.len() < 4 {
                        return Err("stats saw too few collections".into());
                    }
                    Ok((s, Ok(())))
                }),
            ],
        },
        EntryPoint::Resolve => single(call(
            "40 symbolic link hops, each a 4 KiB path of ./ components",
            |w, m| {
                let e = &w.engine;
                let (s, r) = once(m, || e.resolve(b"/links/s0", true))?;
                if r != Ok(w.ino(&format!("{BIG}/{}", world::member(0)))) {
                    return Err(format!("resolve returned {r:?}"));
                }
                Ok((s, r))
            },
        )),
        EntryPoint::ResolveAs => single(call(
            "40 symbolic link hops, each a 4 KiB path of ./ components, unprivileged",
            |w, m| {
                let e = &w.engine;
                let creds = unprivileged();
                let (s, r) = once(m, || e.resolve_as(b"/links/s0", true, &creds))?;
                if r != Ok(w.ino(&format!("{BIG}/{}", world::member(0)))) {
                    return Err(format!("resolve_as returned {r:?}"));
                }
                Ok((s, r))
            },
        )),
        EntryPoint::EncodeVector => Case {
            probes: ElemType::ALL
                .into_iter()
                .map(|elem| {
                    call(
                        &format!("{} at dimension {}", elem.name(), elem.dim_max()),
                        move |_, m| {
                            let values = world::values(elem, elem.dim_max(), 1);
                            let mut out = Vec::with_capacity(elem.vector_bytes(elem.dim_max()));
                            once(m, || {
                                vector::encode_values(elem, elem.dim_max(), &values, &mut out)
                            })
                        },
                    )
                })
                .collect(),
        },
        EntryPoint::SearchGraph => search_case(false, false),
        EntryPoint::SearchExact => search_case(true, false),
        EntryPoint::SearchFiltered => search_case(false, true),
        EntryPoint::SearchFilteredExact => search_case(true, true),
        EntryPoint::SearchAs => search_as_case(false, false),
        EntryPoint::SearchAsFilteredExact => search_as_case(true, true),
        EntryPoint::HitPath => single(call(
            "a member of the collection at the bottom of /deep",
            |w, m| {
                let dir = w.deep_leaf();
                let ino = ok(w.engine.lookup(dir, b"leaf00"), "lookup")?.ino;
                let mut out = Vec::with_capacity(4 * w.size.deep + 64);
                let e = &w.engine;
                let (s, r) = once(m, || e.hit_path(dir, ino, &mut out))?;
                if out.len() < 2 * w.size.deep {
                    return Err(format!("the path is only {} bytes", out.len()));
                }
                Ok((s, r))
            },
        )),
        EntryPoint::WriteHitsJson => single(call("k = K_MAX hits of /big", |w, m| {
            let q = big_query(false, false);
            let mut scratch = Scratch::new();
            let mut hits = Vec::new();
            let dir = ok(
                w.engine.search(&q, &Creds::ROOT, &mut scratch, &mut hits),
                "search",
            )?;
            let mut out = Vec::with_capacity(hits.len() * 128);
            let e = &w.engine;
            // Every field a hit can carry, as the mount writes them for a batch.
            let include = Include::parse(["metadata", "vector", "vector_b64", "size", "mtime"])
                .map_err(|e| format!("include: {e}"))?;
            let lines = HitLines {
                include: &include,
                query: Some(0),
                limit: usize::MAX,
            };
            once(m, || {
                e.write_hits_json(dir, &hits, &lines, &mut scratch, &mut out)
            })
        })),
        EntryPoint::ParseQuery => parse_query_case(),
        EntryPoint::ParseFilter => parse_filter_case(),
        EntryPoint::Check => single(call("the whole world", |w, m| {
            let e = &w.engine;
            let (s, r) = once(m, || check(e))?;
            Ok((s, r.map_err(|p| vexfs_core::Error::query(p.to_string()))))
        })),
        EntryPoint::NewEngine => single(call("default configuration", |_, m| {
            let (s, e) = once(m, || Engine::new(EngineConfig::default()))?;
            drop(e);
            Ok((s, Ok(())))
        })),
        EntryPoint::CreateImage => single(call("on empty storage", |_, m| {
            let storage: Arc<dyn Storage> = Arc::new(MemStorage::new());
            let (s, r) = once(m, || Engine::create_image(storage, EngineConfig::default()))?;
            Ok((s, r.map(drop)))
        })),
        EntryPoint::OpenImage => single(call("the whole world, cleanly checkpointed", |w, m| {
            let storage: Arc<dyn Storage> = Arc::new(MemStorage::from_bytes(w.clean_image()));
            let (s, r) = once(m, || Engine::open_image(storage, OpenOptions::default()))?;
            let e = ok(r, "open_image")?;
            if e.collection(e.resolve(BIG.as_bytes(), true).unwrap_or(0))
                .is_none()
            {
                return Err("the opened image has no /big collection".into());
            }
            Ok((s, Ok(())))
        })),
        EntryPoint::Sync => single(call("after a 1 MiB write", |w, m| {
            let ino = w.blob();
            let ctx = w.ctx();
            ok(
                w.engine.write(ino, 0, &vec![7u8; WRITE_OP_BYTES_MAX], &ctx),
                "write",
            )?;
            let e = &mut w.engine;
            once(m, || e.sync())
        })),
        EntryPoint::Checkpoint => single(call("the whole world", |w, m| {
            let ctx = w.ctx();
            let (ino, _) = w.victim();
            ok(w.engine.touch_atime(ino, &ctx), "touch")?;
            let e = &mut w.engine;
            once(m, || e.checkpoint())
        })),
        EntryPoint::Close => single(call("the whole world, with a change to write", |w, m| {
            let (_, mut e) = World::open_copy(w.clean_image());
            let ctx = w.ctx_days_later();
            let ino = ok(e.resolve(b"/big/m00002", true), "resolve")?;
            ok(e.touch_atime(ino, &ctx), "touch")?;
            once(m, move || e.close())
        })),
        EntryPoint::RebuildIndexes => single(call("every collection of the world", |w, m| {
            let (_, mut e) = World::open_copy(w.clean_image());
            let (s, r) = once(m, || e.rebuild_indexes(|_, _| {}))?;
            Ok((s, r))
        })),
        EntryPoint::Fsck => Case {
            probes: vec![call("the whole world, checking only", |w, m| {
                let storage: Arc<dyn Storage> = Arc::new(MemStorage::from_bytes(w.clean_image()));
                let (s, r) = once(m, || fsck(storage, false, false, |_, _, _| {}))?;
                let report = ok(r, "fsck")?;
                if !report.problems.is_empty() {
                    return Err(format!("fsck found problems: {:?}", report.problems));
                }
                Ok((s, Ok(())))
            })],
        },
    }
}

fn name_of(w: &World, ino: u64) -> Result<Vec<u8>, String> {
    let mut path = Vec::new();
    ok(w.engine.namespace().path_of(ino, &mut path), "path_of")?;
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or_default();
    Ok(name.to_vec())
}

// ----- operations --------------------------------------------------------------------------

/// A prepared operation: its inputs are built, the typed call is not made yet.
type OpCall = Box<dyn FnOnce(&mut Engine) -> vexfs_core::Result<()>>;

/// One worst-case shape of an operation: `prepare` builds its inputs (and any state it needs)
/// on the world's engine and returns the call.
#[derive(Clone, Copy)]
struct OpShape {
    name: &'static str,
    prepare: fn(&mut World) -> Result<OpCall, String>,
}

/// Measures `shape` on the world: prepare, then only the call.
fn op_probe(shape: OpShape) -> Probe {
    call(shape.name, move |w, m| {
        let c = (shape.prepare)(w)?;
        let e = &mut w.engine;
        once(m, move || c(e))
    })
}

fn op_case(kind: OpKind) -> Case {
    Case {
        probes: op_shapes(kind).into_iter().map(op_probe).collect(),
    }
}

/// A fresh 255-byte name.
fn long_fresh(w: &mut World) -> Vec<u8> {
    let mut n = w.fresh_name("n").into_bytes();
    n.resize(NAME_LEN_MAX, b'x');
    n
}

const VECTOR_SET: OpShape = OpShape {
    name: "vector set on a /big member (index insert at dimension 4096)",
    prepare: |w| {
        let big = w.ino(BIG);
        let name = w.fresh_name("vs");
        let ctx = w.ctx();
        let ino = ok(w.engine.create(big, name.as_bytes(), 0o644, &ctx), "create")?.ino;
        let v = world::vector_bytes(ElemType::F32, DIM_MAX, 1 << 40);
        Ok(Box::new(move |e| {
            e.setxattr(ino, VECTOR_XATTR, &v, XattrMode::Any, &ctx)
        }))
    },
};

const VECTOR_REPLACE: OpShape = OpShape {
    name: "vector replace on a /big member (index replace at dimension 4096)",
    prepare: |w| {
        let (ino, _) = w.victim();
        let ctx = w.ctx();
        let v = world::vector_bytes(ElemType::F32, DIM_MAX, 2 << 40);
        Ok(Box::new(move |e| {
            e.setxattr(ino, VECTOR_XATTR, &v, XattrMode::Replace, &ctx)
        }))
    },
};

const VECTOR_REMOVE: OpShape = OpShape {
    name: "vector remove on a /big member (index removal with repair)",
    prepare: |w| {
        let (ino, _) = w.victim();
        let ctx = w.ctx();
        Ok(Box::new(move |e| e.removexattr(ino, VECTOR_XATTR, &ctx)))
    },
};

const COLLECTION_CREATE: OpShape = OpShape {
    name: "a directory of vector files becomes a collection (index build at dimension 4096)",
    prepare: |w| {
        let dir = w.ino("/pending");
        if w.engine.collection(dir).is_some() {
            return Err("/pending is already a collection".into());
        }
        let cfg = world::f32_config(w.size.ef_construction);
        let ctx = w.ctx();
        Ok(Box::new(move |e| {
            e.setxattr(dir, INDEX_XATTR, cfg.as_bytes(), XattrMode::Any, &ctx)
        }))
    },
};

const COLLECTION_CHANGE: OpShape = OpShape {
    name: "ef_search of /big changes",
    prepare: |w| {
        let dir = w.ino(BIG);
        let cfg = world::f32_config(w.size.ef_construction).replace("ef_search=64", "ef_search=128");
        let ctx = w.ctx();
        Ok(Box::new(move |e| {
            e.setxattr(dir, INDEX_XATTR, cfg.as_bytes(), XattrMode::Any, &ctx)
        }))
    },
};

const COLLECTION_REMOVE: OpShape = OpShape {
    name: "/doomed stops being a collection (its index is dropped)",
    prepare: |w| {
        let dir = w.ino("/doomed");
        if w.engine.collection(dir).is_none() {
            return Err("/doomed is not a collection".into());
        }
        let ctx = w.ctx();
        Ok(Box::new(move |e| e.removexattr(dir, INDEX_XATTR, &ctx)))
    },
};

/// The worst-case shapes of each operation, executed by `Op(kind)` and replayed by
/// `Replay(kind)`.
fn op_shapes(kind: OpKind) -> Vec<OpShape> {
    match kind {
        OpKind::Mknod => vec![
            OpShape {
                name: "regular file, 255-byte name, in /big",
                prepare: |w| {
                    let big = w.ino(BIG);
                    let name = long_fresh(w);
                    let ctx = w.ctx();
                    Ok(Box::new(move |e| {
                        e.mknod(big, &name, FileKind::Regular, 0o644, 0, &ctx).map(drop)
                    }))
                },
            },
            OpShape {
                name: "directory at the bottom of /deep",
                prepare: |w| {
                    let leaf = w.deep_leaf();
                    let name = w.fresh_name("sub");
                    let ctx = w.ctx();
                    Ok(Box::new(move |e| {
                        e.mkdir(leaf, name.as_bytes(), 0o755, &ctx).map(drop)
                    }))
                },
            },
        ],
        OpKind::Symlink => vec![OpShape {
            name: "255-byte name, 4096-byte target, in /big",
            prepare: |w| {
                let big = w.ino(BIG);
                let name = long_fresh(w);
                let mut target = b"/".repeat(PATH_LEN_MAX - 1);
                target.push(b't');
                let ctx = w.ctx();
                Ok(Box::new(move |e| e.symlink(big, &name, &target, &ctx).map(drop)))
            },
        }],
        OpKind::Link => vec![OpShape {
            name: "a /side member into /big (index insert into /big)",
            prepare: |w| {
                let (ino, _) = w.side_victim();
                let big = w.ino(BIG);
                let name = w.fresh_name("ln");
                let ctx = w.ctx();
                Ok(Box::new(move |e| {
                    e.link(ino, big, name.as_bytes(), &ctx).map(drop)
                }))
            },
        }],
        OpKind::Unlink => vec![OpShape {
            name: "a /big member (index removal, inode freed)",
            prepare: |w| {
                let big = w.ino(BIG);
                let (_, name) = w.victim();
                let ctx = w.ctx();
                Ok(Box::new(move |e| e.unlink(big, name.as_bytes(), &ctx)))
            },
        }],
        OpKind::Rmdir => vec![
            OpShape {
                name: "an empty collection directory",
                prepare: |w| {
                    let dir = w.empty_collection();
                    let name = name_of(w, dir)?;
                    let ctx = w.ctx();
                    Ok(Box::new(move |e| e.rmdir(1, &name, &ctx)))
                },
            },
            OpShape {
                name: "an empty directory at the bottom of /deep",
                prepare: |w| {
                    let leaf = w.deep_leaf();
                    let name = w.fresh_name("gone");
                    let ctx = w.ctx();
                    ok(w.engine.mkdir(leaf, name.as_bytes(), 0o755, &ctx), "mkdir")?;
                    Ok(Box::new(move |e| e.rmdir(leaf, name.as_bytes(), &ctx)))
                },
            },
        ],
        OpKind::Rename => vec![
            OpShape {
                name: "a /side member over a /big member (index removals and insert, inode freed)",
                prepare: |w| {
                    let (side, big) = (w.ino("/side"), w.ino(BIG));
                    let (_, from) = w.side_victim();
                    let (_, to) = w.victim();
                    let ctx = w.ctx();
                    Ok(Box::new(move |e| {
                        e.rename(
                            side,
                            from.as_bytes(),
                            big,
                            to.as_bytes(),
                            RenameMode::Replace,
                            &ctx,
                        )
                    }))
                },
            },
            OpShape {
                name: "exchange a /side member with a /big member",
                prepare: |w| {
                    let (side, big) = (w.ino("/side"), w.ino(BIG));
                    let (_, from) = w.side_victim();
                    let (_, to) = w.victim();
                    let ctx = w.ctx();
                    Ok(Box::new(move |e| {
                        e.rename(
                            side,
                            from.as_bytes(),
                            big,
                            to.as_bytes(),
                            RenameMode::Exchange,
                            &ctx,
                        )
                    }))
                },
            },
            OpShape {
                name: "a directory into the bottom of /deep (ancestor walk)",
                prepare: |w| {
                    let leaf = w.deep_leaf();
                    let name = w.fresh_name("mv");
                    let ctx = w.ctx();
                    ok(w.engine.mkdir(1, name.as_bytes(), 0o755, &ctx), "mkdir")?;
                    Ok(Box::new(move |e| {
                        e.rename(
                            1,
                            name.as_bytes(),
                            leaf,
                            name.as_bytes(),
                            RenameMode::Replace,
                            &ctx,
                        )
                    }))
                },
            },
        ],
        OpKind::SetAttr => vec![
            OpShape {
                name: "truncate a 2 MiB on-disk file to an unaligned size",
                prepare: |w| {
                    let ino = w.blob();
                    let ctx = w.ctx();
                    let attr = SetAttr {
                        size: Some(BLOB_BYTES as u64 / 2 + 1000),
                        ..SetAttr::default()
                    };
                    Ok(Box::new(move |e| e.setattr(ino, attr, &ctx).map(drop)))
                },
            },
            OpShape {
                name: "every field of a /big member, size to FILE_SIZE_MAX",
                prepare: |w| {
                    let (ino, _) = w.victim();
                    let ctx = w.ctx();
                    let attr = SetAttr {
                        perm: Some(0o4755),
                        uid: Some(1000),
                        gid: Some(1000),
                        size: Some(FILE_SIZE_MAX),
                        atime: Some(SetTime::Now),
                        mtime: Some(SetTime::At(Timestamp::new(1, 2))),
                    };
                    Ok(Box::new(move |e| e.setattr(ino, attr, &ctx).map(drop)))
                },
            },
        ],
        OpKind::Write => vec![OpShape {
            name: "1 MiB at an unaligned offset over on-disk blocks",
            prepare: |w| {
                let ino = w.blob();
                let data = vec![0x5a; WRITE_OP_BYTES_MAX];
                let ctx = w.ctx();
                Ok(Box::new(move |e| e.write(ino, 1000, &data, &ctx).map(drop)))
            },
        }],
        OpKind::Fallocate => vec![
            OpShape {
                name: "punch an unaligned 1 MiB hole in on-disk blocks",
                prepare: |w| {
                    let ino = w.blob();
                    let ctx = w.ctx();
                    Ok(Box::new(move |e| {
                        e.fallocate(ino, 1000, WRITE_OP_BYTES_MAX as u64, FallocMode::PunchHole, &ctx)
                    }))
                },
            },
            OpShape {
                name: "allocate 256 MiB past the end of a file",
                prepare: |w| {
                    let (ino, _) = w.victim();
                    let ctx = w.ctx();
                    Ok(Box::new(move |e| {
                        e.fallocate(ino, 1 << 30, 256 << 20, FallocMode::Allocate, &ctx)
                    }))
                },
            },
        ],
        OpKind::SetXattr => vec![OpShape {
            name: "255-byte name, 64 KiB value, on a /big member",
            prepare: |w| {
                let (ino, _) = w.victim();
                let mut name = b"user.".to_vec();
                name.resize(XATTR_NAME_LEN_MAX, b'a');
                let value = vec![b'v'; XATTR_VALUE_LEN_MAX];
                let ctx = w.ctx();
                Ok(Box::new(move |e| {
                    e.setxattr(ino, &name, &value, XattrMode::Create, &ctx)
                }))
            },
        }],
        OpKind::RemoveXattr => vec![OpShape {
            name: "255-byte name, 64 KiB value, on a /big member",
            prepare: |w| {
                let (ino, _) = w.victim();
                let mut name = b"user.".to_vec();
                name.resize(XATTR_NAME_LEN_MAX, b'r');
                let ctx = w.ctx();
                let value = vec![b'v'; XATTR_VALUE_LEN_MAX];
                ok(
                    w.engine.setxattr(ino, &name, &value, XattrMode::Create, &ctx),
                    "setxattr",
                )?;
                Ok(Box::new(move |e| e.removexattr(ino, &name, &ctx)))
            },
        }],
        OpKind::Touch => vec![OpShape {
            name: "relatime update of a /big member",
            prepare: |w| {
                let (ino, _) = w.victim();
                let ctx = w.ctx_days_later();
                Ok(Box::new(move |e| match e.touch_atime(ino, &ctx) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(vexfs_core::Error::Invalid("atime did not move")),
                    Err(err) => Err(err),
                }))
            },
        }],
        OpKind::Release => vec![OpShape {
            name: "last unpin of an unlinked 2 MiB on-disk file with attributes",
            prepare: |w| {
                let ino = w.blob();
                let data = w.ino("/data");
                let name = name_of(w, ino)?;
                let ctx = w.ctx();
                w.engine.pin(ino, 1);
                ok(w.engine.unlink(data, &name, &ctx), "unlink")?;
                Ok(Box::new(move |e| {
                    e.unpin(ino, 1, &ctx)?;
                    match e.getattr(ino) {
                        Err(_) => Ok(()),
                        Ok(_) => Err(vexfs_core::Error::Invalid("the inode was not freed")),
                    }
                }))
            },
        }],
    }
}

/// Shapes that recovery replays besides `op_shapes(kind)`: the collection and vector changes
/// are `SetXattr`/`RemoveXattr` records too.
fn replay_extra(kind: OpKind) -> Vec<OpShape> {
    match kind {
        OpKind::SetXattr => vec![VECTOR_SET, VECTOR_REPLACE, COLLECTION_CREATE, COLLECTION_CHANGE],
        OpKind::RemoveXattr => vec![VECTOR_REMOVE, COLLECTION_REMOVE],
        OpKind::Mknod
        | OpKind::Symlink
        | OpKind::Link
        | OpKind::Unlink
        | OpKind::Rmdir
        | OpKind::Rename
        | OpKind::SetAttr
        | OpKind::Write
        | OpKind::Fallocate
        | OpKind::Touch
        | OpKind::Release => Vec::new(),
    }
}

/// `Replay(kind)`: an image of the world whose log holds the records of every shape of `kind`
/// (their setup is in the checkpoint); measured: `open_image`, which loads the checkpoint and
/// replays them.
fn replay_case(kind: OpKind) -> Case {
    let mut shapes = op_shapes(kind);
    shapes.extend(replay_extra(kind));
    let names: Vec<&str> = shapes.iter().map(|s| s.name).collect();
    let shape = format!("open the world with a log of: {}", names.join("; "));
    single(probe(shape, move |w, m| {
        let (storage, mut e) = World::open_copy(w.clean_image());
        std::mem::swap(&mut w.engine, &mut e);
        let result = (|| {
            let mut calls = Vec::new();
            for s in &shapes {
                calls.push((s.prepare)(w)?);
            }
            ok(w.engine.checkpoint(), "checkpoint")?;
            for c in calls {
                ok(c(&mut w.engine), "the operation")?;
            }
            ok(w.engine.sync(), "sync")
        })();
        std::mem::swap(&mut w.engine, &mut e);
        result?;
        drop(e); // not closed: the log keeps the records
        let image: Arc<dyn Storage> = Arc::new(MemStorage::from_bytes(storage.bytes()));
        let (s, r) = once(m, || Engine::open_image(image, OpenOptions::default()))?;
        let opened = ok(r, "open_image")?;
        let replayed = opened.journal_stats().map_or(0, |j| j.replayed);
        if replayed < shapes.len() as u64 {
            return Err(format!("replayed {replayed} records, expected {}", shapes.len()));
        }
        Ok(plain(s))
    }))
}

// ----- search ------------------------------------------------------------------------------

/// The worst filter the limits allow: nested to exactly `FILTER_DEPTH_MAX` (8 × `not (`), an
/// `in` list of `FILTER_IN_VALUES_MAX` values, and as many terms as `FILTER_TERMS_MAX` allows.
/// It passes half of `/big` (`lang` is `en` or `de`), after evaluating every term for the rest.
pub fn worst_filter() -> String {
    let levels = FILTER_DEPTH_MAX / 2;
    let open = "not (".repeat(levels);
    let close = ")".repeat(levels);
    let list: Vec<String> = (0..FILTER_IN_VALUES_MAX).map(|i| format!("t{i}")).collect();
    let mut n = FILTER_TERMS_MAX;
    loop {
        let mut inner = format!("tag in ({}) and lang in (en, de)", list.join(", "));
        for i in 0..n {
            inner.push_str(&format!(" or year = {}", 1000 + i));
        }
        let f = format!("{open}{inner}{close}");
        if Filter::parse(&f).is_ok() || n == 0 {
            return f;
        }
        n -= 1;
    }
}

fn big_query(exact: bool, filtered: bool) -> Query {
    Query {
        dir: BIG.into(),
        target: Target::Values(world::values(ElemType::F32, DIM_MAX, 1 << 50)),
        k: K_MAX,
        ef: Some(EF_MAX),
        filter: filtered.then(|| Filter::parse(&worst_filter()).expect("the worst filter parses")),
        exact,
        max_distance: None,
        include: Include::default(),
    }
}

/// An unprivileged caller with the most supplementary groups, none of them a file's group, so
/// every check scans them all; it may read three quarters of `/big`.
fn unprivileged() -> Creds {
    let groups: Vec<u32> = (0..CREDS_GROUPS_MAX as u32).map(|g| 10_000 + g).collect();
    Creds::user(1000, 1000).with_groups(&groups)
}

/// Runs `q` twice on one `Scratch` as the trusted caller: the first call warms it up, the
/// second must not allocate.
fn search_probe(
    shape: String,
    build: impl Fn(&mut World) -> Result<(Query, usize), String> + 'static,
) -> Probe {
    search_probe_as(shape, Creds::ROOT, build)
}

/// [`search_probe`] on behalf of `creds`.
fn search_probe_as(
    shape: String,
    creds: Creds,
    build: impl Fn(&mut World) -> Result<(Query, usize), String> + 'static,
) -> Probe {
    probe(shape, move |w, m| {
        let (q, expect) = build(w)?;
        let mut scratch = Scratch::new();
        let mut hits = Vec::new();
        let e = &w.engine;
        let (first, r) = once(m, || e.search(&q, &creds, &mut scratch, &mut hits))?;
        ok(r, "search")?;
        if hits.len() < expect {
            return Err(format!("search found {} hits, expected {expect}", hits.len()));
        }
        let (warm, r) = once(m, || e.search(&q, &creds, &mut scratch, &mut hits))?;
        ok(r, "search (warm)")?;
        if hits.len() < expect {
            return Err(format!("warm search found {} hits", hits.len()));
        }
        Ok(Outcome {
            sample: first,
            warm: Some(warm),
        })
    })
}

fn search_case(exact: bool, filtered: bool) -> Case {
    let what = if filtered {
        ", worst filter (depth 16, 256 terms)"
    } else {
        ""
    };
    let mut probes = vec![search_probe(
        format!("/big, vector of 4096 values, k = K_MAX, ef = EF_MAX{what}"),
        move |w| {
            let expect = K_MAX.min(w.size.vectors as u32 / 4) as usize;
            Ok((big_query(exact, filtered), expect))
        },
    )];
    if !filtered {
        probes.push(search_probe(
            "/big, like a member, k = K_MAX, ef = EF_MAX".into(),
            move |w| {
                let mut q = big_query(exact, false);
                q.target = Target::Like(format!("{BIG}/{}", world::member(3)));
                Ok((q, K_MAX.min(w.size.vectors as u32 / 4) as usize))
            },
        ));
        for (elem, metric) in world::kernel_pairs() {
            probes.push(search_probe(
                format!(
                    "{}/{} kernel at dimension {}",
                    elem.name(),
                    metric.name(),
                    elem.dim_max()
                ),
                move |w| {
                    let q = widest_query(world::kernel_dir(elem, metric), elem, exact);
                    Ok((q, w.size.kernel_vectors))
                },
            ));
        }
        for (elem, metric) in world::sq8_pairs() {
            probes.push(search_probe(
                format!(
                    "sq8 {}/{} at dimension {} ({})",
                    elem.name(),
                    metric.name(),
                    elem.dim_max(),
                    if exact {
                        "exact search"
                    } else {
                        "code walk and exact rerank"
                    }
                ),
                move |w| {
                    let dir = world::sq8_dir(elem, metric);
                    let ino = ok(w.engine.resolve(dir.as_bytes(), false), "resolve")?;
                    let trained = w
                        .engine
                        .collections()
                        .get(ino)
                        .and_then(|c| c.index.sq8())
                        .is_some_and(|q| q.is_trained());
                    if !trained {
                        return Err(format!("{dir}: the sq8 index is not trained"));
                    }
                    let q = widest_query(dir, elem, exact);
                    Ok((q, world::sq8_vectors(&w.size)))
                },
            ));
        }
    }
    Case { probes }
}

/// A query of `dir` at the widest `k` and `ef`, for a vector of `elem` at its largest
/// dimension, no filter, no radius, nothing included.
fn widest_query(dir: String, elem: ElemType, exact: bool) -> Query {
    Query {
        dir,
        target: Target::Bytes(world::vector_bytes(elem, elem.dim_max(), 9)),
        k: K_MAX,
        ef: Some(EF_MAX),
        filter: None,
        exact,
        max_distance: None,
        include: Include::default(),
    }
}

/// Credentialed searches of `/big`: a quarter of its members unreadable to the caller, who
/// has a full supplementary group list.
fn search_as_case(exact: bool, filtered: bool) -> Case {
    let what = if filtered {
        ", worst filter (depth 16, 256 terms)"
    } else {
        ""
    };
    let mut probes = vec![search_probe_as(
        format!("/big as an unprivileged caller, vector of 4096 values, k = K_MAX, ef = EF_MAX{what}"),
        unprivileged(),
        move |w| {
            let expect = K_MAX.min(w.size.vectors as u32 / 4) as usize;
            Ok((big_query(exact, filtered), expect))
        },
    )];
    if !filtered {
        probes.push(search_probe_as(
            "/big as an unprivileged caller, like a readable member, k = K_MAX, ef = EF_MAX".into(),
            unprivileged(),
            move |w| {
                let mut q = big_query(exact, false);
                q.target = Target::Like(format!("{BIG}/{}", world::member(2)));
                Ok((q, K_MAX.min(w.size.vectors as u32 / 4) as usize))
            },
        ));
    }
    Case { probes }
}

// ----- parsers -----------------------------------------------------------------------------

/// `prefix` followed by `fill` repeated up to exactly `QUERY_LEN_MAX` bytes.
fn padded(prefix: &str, fill: &str, suffix: &str) -> Vec<u8> {
    let mut s = prefix.to_string();
    while s.len() + fill.len() + suffix.len() <= QUERY_LEN_MAX {
        s.push_str(fill);
    }
    s.push_str(suffix);
    while s.len() < QUERY_LEN_MAX {
        s.insert(prefix.len(), ' ');
    }
    s.into_bytes()
}

/// A valid query of exactly `QUERY_LEN_MAX` bytes: 4096 numbers, the worst filter, padding.
fn valid_query() -> Vec<u8> {
    let values = world::values(ElemType::F32, DIM_MAX, 3);
    let nums: Vec<String> = values.iter().map(|v| format!("{v:e}")).collect();
    let filter = worst_filter();
    let head = format!(
        "{{\"dir\":\"{BIG}\",\"vector\":[{}],\"k\":{K_MAX},\"ef\":{EF_MAX},\"filter\":\"{filter}\",\"exact\":false",
        nums.join(",")
    );
    let mut q = head.into_bytes();
    q.resize(QUERY_LEN_MAX - 1, b' ');
    q.push(b'}');
    q
}

fn parse_probe(shape: &str, valid: bool, input: fn() -> Vec<u8>) -> Probe {
    probe(shape, move |_, m| {
        let q = input();
        // The mount's entry: one query or a batch.
        let (s, r) = once(m, || parse_queries(&q))?;
        match (valid, r) {
            (true, Ok(_)) | (false, Err(_)) => Ok(plain(s)),
            (true, Err(e)) => Err(format!("the valid query was rejected: {e}")),
            (false, Ok(_)) => Err("the adversarial query was accepted".into()),
        }
    })
}

fn parse_query_case() -> Case {
    Case {
        probes: vec![
            parse_probe(
                "valid, 1 MiB: 4096 numbers and the worst filter",
                true,
                valid_query,
            ),
            parse_probe("1 MiB of [ nested in vector", false, || {
                padded("{\"dir\":\"/big\",\"vector\":", "[", "")
            }),
            parse_probe("1 MiB of {\"a\": nested in dir", false, || {
                padded("{\"dir\":", "{\"a\":", "")
            }),
            parse_probe("1 MiB of [ nested in an unknown field", false, || {
                padded("{\"zzz\":", "[", "")
            }),
            parse_probe("1 MiB of [ at the top", false, || padded("", "[", "")),
            parse_probe("1 MiB string of escapes in dir", false, || {
                padded("{\"dir\":\"/", "\\u00e9", "\"}")
            }),
            parse_probe("1 MiB number in k", false, || {
                padded("{\"dir\":\"/big\",\"k\":1", "0", "}")
            }),
            parse_probe("over QUERY_LEN_MAX by one byte", false, || {
                let mut q = valid_query();
                q.insert(1, b' ');
                q
            }),
        ],
    }
}

fn filter_probe(shape: &str, valid: bool, input: fn() -> String) -> Probe {
    probe(shape, move |_, m| {
        let f = input();
        let (s, r) = once(m, || Filter::parse(&f))?;
        match (valid, r) {
            (true, Ok(_)) | (false, Err(_)) => Ok(plain(s)),
            (true, Err(e)) => Err(format!("the valid filter was rejected: {e}")),
            (false, Ok(_)) => Err("the adversarial filter was accepted".into()),
        }
    })
}

fn parse_filter_case() -> Case {
    Case {
        probes: vec![
            filter_probe("depth 16, 256 terms, a 256-value in list", true, worst_filter),
            filter_probe("one level deeper than FILTER_DEPTH_MAX", false, || {
                format!("({})", worst_filter())
            }),
            filter_probe("1 MiB of (", false, || "(".repeat(QUERY_LEN_MAX)),
            filter_probe("1 MiB of not", false, || "not ".repeat(QUERY_LEN_MAX / 4)),
            filter_probe("a 1 MiB quoted value", true, || {
                format!("a = \"{}\"", "x\\\"".repeat(QUERY_LEN_MAX / 3))
            }),
        ],
    }
}
