//! The names of search hits, fast: a per-collection table from inode number to the file's name
//! as a Python `str`, valid for exactly one state of the engine.
//!
//! A search hit is an inode; its name in the collection is `Inode::name_in(dir)` after a
//! lookup in the namespace's B-tree, several cache misses per hit. A batch of 10,000 queries
//! with k = 10 looks up 100,000 names: on 100k x 128 vectors that was about 12 % of the search
//! time, and creating a fresh `str` per hit added more. So after enough hits (a quarter of the
//! collection's size since its last change), a search builds a [`NameTable`] of the
//! collection's directory (one pass over its entries, a `str` per name), and later searches
//! take each hit's name from it by index: one array access and a reference count increment.
//!
//! Validity: every call that takes the filesystem's write lock increments
//! [`Generation`] while holding it, and a table records the generation it was built at (its
//! listing is taken under the same read lock as the search that builds it). A search uses a
//! table only when its generation equals the current one, read under the read lock, so no
//! change can have happened in between: the names are exactly those `name_in` would give
//! (the smallest name of a file with several in the directory). Otherwise the search looks the
//! names up in the namespace, as before. Results are therefore the same with or without a table.

use pyo3::prelude::*;
use pyo3::types::PyString;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use vexfs::{Ino, Vexfs};

/// Counts the changes made to the filesystem: incremented under the write lock by every call
/// that takes it, so it is constant while a read lock is held.
#[derive(Debug, Default)]
pub struct Generation(AtomicU64);

impl Generation {
    /// The current value (call with the read or write lock held for a stable answer).
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Marks a change (call with the write lock held).
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Inode → name of the files of one collection directory, at one generation.
#[derive(Debug)]
pub struct NameTable {
    generation: u64,
    base: Ino,
    names: Vec<Option<Py<PyString>>>,
}

impl NameTable {
    /// The name of `ino` as a new reference, or `None` if it is not in the directory.
    pub fn name(&self, py: Python<'_>, ino: Ino) -> Option<Py<PyString>> {
        let i = usize::try_from(ino.checked_sub(self.base)?).ok()?;
        self.names.get(i)?.as_ref().map(|n| n.clone_ref(py))
    }
}

/// The entries of a directory, taken under the read lock, to build a table from with the GIL.
#[derive(Debug)]
pub struct Listing {
    generation: u64,
    dir: Ino,
    base: Ino,
    /// Per inode from `base`, the smallest name in the directory.
    names: Vec<Option<Box<[u8]>>>,
}

#[derive(Debug, Default)]
struct Slot {
    table: Option<Arc<NameTable>>,
    /// The generation `hits` counts for.
    generation: u64,
    /// Hits whose names were looked up in the namespace at `generation`.
    hits: u64,
}

/// What a search should do about names.
#[derive(Debug)]
pub enum Plan {
    /// Take names from this table (valid now).
    Table(Arc<NameTable>),
    /// Look names up in the namespace; and take a listing to build a table if `build`.
    Lookup {
        /// Whether to take a [`Listing`] for a new table.
        build: bool,
    },
}

/// The name tables of a filesystem, by collection directory.
#[derive(Debug, Default)]
pub struct Tables {
    slots: Mutex<BTreeMap<Ino, Slot>>,
}

/// Largest span of inode numbers a table covers, relative to the entries it holds (beyond it the
/// directory's inodes are too scattered for a dense table, and searches keep looking names up).
const SPAN_PER_ENTRY_MAX: u64 = 4;
const SPAN_SLACK: u64 = 4096;

impl Tables {
    /// Decides how a search of `hits` results in collection `dir` (of `len` vectors) at
    /// `generation` gets its names. Call under the read lock.
    pub fn plan(&self, dir: Ino, generation: u64, hits: u64, len: u64) -> Plan {
        let Ok(mut slots) = self.slots.lock() else {
            return Plan::Lookup { build: false };
        };
        let slot = slots.entry(dir).or_default();
        if let Some(t) = &slot.table
            && t.generation == generation
        {
            return Plan::Table(t.clone());
        }
        if slot.generation != generation {
            slot.generation = generation;
            slot.hits = 0;
            slot.table = None;
        }
        slot.hits += hits;
        Plan::Lookup {
            build: slot.hits >= (len / 4).max(1),
        }
    }

    /// Lists directory `dir` for a table at `generation` (under the read lock); `None` when its
    /// inodes are too scattered for one.
    pub fn list(fs: &Vexfs, dir: Ino, generation: u64) -> Option<Listing> {
        let e = fs.engine();
        let mut entries: Vec<(Ino, Box<[u8]>)> = Vec::new();
        e.readdir(dir, 2, |d| {
            entries.push((d.ino, d.name));
            true
        })
        .ok()?;
        let lo = entries.iter().map(|(i, _)| *i).min().unwrap_or(0);
        let hi = entries.iter().map(|(i, _)| *i).max().unwrap_or(0);
        let span = hi - lo + 1;
        if span > SPAN_PER_ENTRY_MAX * entries.len() as u64 + SPAN_SLACK {
            return None;
        }
        let mut names: Vec<Option<Box<[u8]>>> = (0..span).map(|_| None).collect();
        for (ino, name) in entries {
            let slot = &mut names[(ino - lo) as usize];
            if slot.as_ref().is_none_or(|have| *name < **have) {
                *slot = Some(name);
            }
        }
        Some(Listing {
            generation,
            dir,
            base: lo,
            names,
        })
    }

    /// Builds the table of a listing (with the GIL) and keeps it for later searches.
    pub fn build(&self, py: Python<'_>, l: Listing) -> PyResult<Arc<NameTable>> {
        let names = l
            .names
            .iter()
            .map(|n| {
                n.as_ref()
                    .map(|b| {
                        crate::fs::name_out(py, b, false)
                            .and_then(|s| Ok(s.cast_into::<PyString>()?.unbind()))
                    })
                    .transpose()
            })
            .collect::<PyResult<Vec<_>>>()?;
        let table = Arc::new(NameTable {
            generation: l.generation,
            base: l.base,
            names,
        });
        if let Ok(mut slots) = self.slots.lock() {
            let slot = slots.entry(l.dir).or_default();
            if slot.generation == l.generation {
                slot.table = Some(table.clone());
            }
        }
        Ok(table)
    }
}
