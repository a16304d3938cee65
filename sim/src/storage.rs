//! [`SimDisk`] and [`SimStorage`]: the simulator's faulty medium.
//!
//! The disk keeps the **durable** bytes (what survives a power loss) apart from the writes
//! issued since the last `sync` (**pending**), and the **current** bytes (durable plus
//! pending, what reads see while the machine runs). On top of that it injects, at rates the
//! scenario draws from the seed and with randomness from the seed only:
//! - crashes ([`SimDisk::crash`]): pending writes are dropped, kept as a prefix with the next
//!   one torn at a sector boundary, or kept as an arbitrary subset (nothing is assumed about the
//!   order of unsynced writes, docs/format.md §1);
//! - bit flips in stored sectors ([`SimDisk::flip`]): the durable byte changes, so every later
//!   read returns the same damage until the sector is written again;
//! - `EIO` from `read_at`, `write_at` and `sync` (a failed write changes nothing; a failed
//!   sync leaves its writes pending);
//! - `ENOSPC` when the medium would grow past its capacity;
//! - power cuts in the middle of an operation ([`SimDisk::schedule_cut`]): after a given number
//!   of writes, syncs and length changes the disk dies — the write it dies in stays pending (a
//!   crash may keep it, whole or torn), and every later call fails with `EIO` until the world
//!   crashes the disk;
//! - latency: every call costs simulated time, which the runner sleeps after the operation.
//!
//! Every write and length change that may reach the medium is also shown to the
//! [`Guard`](crate::guard::Guard) it holds, the oracle that nothing durable is overwritten.
//!
//! Invariants: `current == durable` with every pending write applied in order; faults fire only
//! while the disk is *armed* (the oracles read with it disarmed, so a check never sees an
//! injected fault); a handle from before the last [`SimDisk::kill_handles`] fails every call
//! with `EIO`, so an engine that "died" in a crash can never write again.

use crate::guard::{Guard, GuardStats};
use crate::rng::Rng;
use crate::scenario::Faults;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use vexfs_core::storage::Storage;

/// Sector size: the unit a torn write keeps or loses.
pub const SECTOR_BYTES: usize = 512;
const EIO: i32 = 5;
const ENOSPC: i32 = 28;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
}

/// Faults that fired since they were last taken.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fired {
    /// Reads failed with EIO.
    pub read_eio: u32,
    /// Writes failed with EIO.
    pub write_eio: u32,
    /// Syncs failed with EIO.
    pub sync_eio: u32,
    /// Writes or length changes refused with ENOSPC.
    pub nospace: u32,
    /// Calls failed because the power was cut (the disk is dead until it is crashed).
    pub cut: u32,
}

impl Fired {
    /// Whether a write-side I/O error fired (the engine's journal is then failed: sticky).
    /// Running out of space is not one: the journal holds room before it writes, so `ENOSPC`
    /// refuses only the operation or checkpoint that did not fit, and changes nothing.
    pub fn write_side(&self) -> bool {
        self.write_eio + self.sync_eio + self.cut > 0
    }

    /// Whether anything fired.
    pub fn any(&self) -> bool {
        self.write_side() || self.read_eio > 0 || self.nospace > 0
    }
}

/// Counters over the disk's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiskStats {
    /// `read_at` calls.
    pub reads: u64,
    /// `write_at` calls.
    pub writes: u64,
    /// `sync` calls.
    pub syncs: u64,
    /// Injected faults of every kind (EIO, ENOSPC).
    pub faults: u64,
    /// Bits flipped.
    pub flips: u64,
    /// Crashes.
    pub crashes: u64,
}

/// How a crash treats the pending writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// All are lost.
    DropAll,
    /// The first `keep` survive; of the next, only its first `sectors` sectors.
    Prefix {
        /// Writes kept whole.
        keep: usize,
        /// Sectors kept of the next one.
        sectors: usize,
    },
    /// Each survives or not independently (drawn from `seed`), one of the survivors torn.
    Subset {
        /// Seed of the draw.
        seed: u64,
    },
}

impl CrashMode {
    /// A crash mode drawn from `r`.
    pub fn random(r: &mut Rng) -> CrashMode {
        match r.below(4) {
            0 => CrashMode::DropAll,
            1 | 2 => CrashMode::Prefix {
                keep: r.below(64) as usize,
                sectors: r.below(16) as usize,
            },
            _ => CrashMode::Subset { seed: r.next_u64() },
        }
    }

    /// A crash mode chosen by one input byte (the fuzzers).
    pub fn from_byte(b: u8) -> CrashMode {
        match b % 4 {
            0 => CrashMode::DropAll,
            1 => CrashMode::Prefix {
                keep: usize::from(b >> 2) % 8,
                sectors: usize::from(b >> 5),
            },
            2 => CrashMode::Prefix {
                keep: usize::MAX,
                sectors: 0,
            },
            _ => CrashMode::Subset { seed: u64::from(b) },
        }
    }
}

#[derive(Debug)]
struct State {
    durable: Vec<u8>,
    current: Vec<u8>,
    pending: Vec<Pending>,
    generation: u64,
    faults: Faults,
    armed: bool,
    rng: Rng,
    latency_ns: (u64, u64),
    cost_ns: u64,
    fired: Fired,
    stats: DiskStats,
    /// Write-side calls left before a scheduled power cut.
    cut_in: Option<u32>,
    /// The power was cut: every call fails until [`SimDisk::crash`].
    dead: bool,
    guard: Guard,
}

/// The simulated medium, shared by every handle opened on it.
#[derive(Debug)]
pub struct SimDisk {
    state: Mutex<State>,
}

/// One handle on a [`SimDisk`]: what the engine gets as its `Storage`.
#[derive(Debug)]
pub struct SimStorage {
    disk: Arc<SimDisk>,
    generation: u64,
}

fn apply_write(img: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let start = offset as usize;
    if img.len() < start + bytes.len() {
        img.resize(start + bytes.len(), 0);
    }
    img[start..start + bytes.len()].copy_from_slice(bytes);
}

fn apply(img: &mut Vec<u8>, p: &Pending, sectors: Option<usize>) {
    match p {
        Pending::SetLen(n) => img.resize(*n as usize, 0),
        Pending::Write { offset, bytes } => {
            let n = sectors.map_or(bytes.len(), |s| (s * SECTOR_BYTES).min(bytes.len()));
            apply_write(img, *offset, &bytes[..n]);
        }
    }
}

impl SimDisk {
    /// An empty disk with fault rates `faults` (disarmed), randomness from `rng`.
    pub fn new(faults: Faults, latency_ns: (u64, u64), rng: Rng) -> Arc<SimDisk> {
        Arc::new(SimDisk {
            state: Mutex::new(State {
                durable: Vec::new(),
                current: Vec::new(),
                pending: Vec::new(),
                generation: 0,
                faults,
                armed: false,
                rng,
                latency_ns,
                cost_ns: 0,
                fired: Fired::default(),
                stats: DiskStats::default(),
                cut_in: None,
                dead: false,
                guard: Guard::default(),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain data updated whole under the lock; a panic elsewhere cannot leave
        // it half-changed, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new handle for the current generation.
    pub fn handle(self: &Arc<Self>) -> Arc<dyn Storage> {
        let generation = self.lock().generation;
        Arc::new(SimStorage {
            disk: Arc::clone(self),
            generation,
        })
    }

    /// Makes every existing handle fail from now on (the process holding them died).
    pub fn kill_handles(&self) {
        self.lock().generation += 1;
    }

    /// Arms or disarms fault injection; returns the previous setting.
    pub fn set_armed(&self, armed: bool) -> bool {
        std::mem::replace(&mut self.lock().armed, armed)
    }

    /// Stops every I/O fault for good (recovery that keeps failing; ENOSPC lifted).
    pub fn calm(&self) {
        let mut s = self.lock();
        s.faults.write_eio = 0;
        s.faults.sync_eio = 0;
        s.faults.read_eio = 0;
        s.faults.capacity_bytes = None;
    }

    /// Raises the capacity (an administrator adds space) by `bytes`.
    pub fn grow(&self, bytes: u64) {
        let mut s = self.lock();
        if let Some(c) = s.faults.capacity_bytes.as_mut() {
            *c += bytes;
        }
    }

    /// Faults that fired since the last call.
    pub fn take_fired(&self) -> Fired {
        std::mem::take(&mut self.lock().fired)
    }

    /// Simulated time the calls since the last call cost.
    pub fn take_cost_ns(&self) -> u64 {
        std::mem::take(&mut self.lock().cost_ns)
    }

    /// Counters.
    pub fn stats(&self) -> DiskStats {
        self.lock().stats
    }

    /// Cuts the power after `calls` more writes, syncs or length changes made while armed
    /// (unless a cut is already scheduled): the `calls`-th fails with `EIO` and so does
    /// everything after it, until the disk is crashed.
    pub fn schedule_cut(&self, calls: u32) {
        let mut s = self.lock();
        if s.cut_in.is_none() && !s.dead {
            s.cut_in = Some(calls.max(1));
        }
    }

    /// Rebuilds the guard's protected set from the engine's `extents` and the durable bytes
    /// (after a durability point), and starts checking.
    pub fn guard_refresh(&self, extents: &[vexfs_core::journal::Extent]) {
        let mut s = self.lock();
        let State { guard, durable, .. } = &mut *s;
        guard.refresh(extents, durable);
    }

    /// Stops the guard until the next refresh (damage was injected: the engine may then drop
    /// what it can no longer read, and reuse its blocks).
    pub fn guard_disable(&self) {
        self.lock().guard.disable();
    }

    /// The first write into a durable extent since the last call, described.
    pub fn take_guard_violation(&self) -> Option<String> {
        self.lock().guard.take_violation()
    }

    /// The guard's counters.
    pub fn guard_stats(&self) -> GuardStats {
        self.lock().guard.stats
    }

    /// Cancels a scheduled power cut that has not happened (the run is ending).
    pub fn cancel_cut(&self) {
        self.lock().cut_in = None;
    }

    /// Whether the power was cut (the disk must be crashed before it works again).
    pub fn is_dead(&self) -> bool {
        self.lock().dead
    }

    /// Number of writes issued since the last sync.
    pub fn pending_writes(&self) -> usize {
        self.lock().pending.len()
    }

    /// The durable bytes.
    pub fn durable(&self) -> Vec<u8> {
        self.lock().durable.clone()
    }

    /// Erases the disk (a new image is about to be created on it).
    pub fn wipe(&self) {
        let mut s = self.lock();
        s.durable.clear();
        s.current.clear();
        s.pending.clear();
        s.dead = false;
        s.cut_in = None;
        s.guard.disable();
    }

    /// A power loss: what reaches the medium of the pending writes is decided by `mode`.
    /// Handles must have been killed first.
    pub fn crash(&self, mode: CrashMode) {
        let mut s = self.lock();
        let pending = std::mem::take(&mut s.pending);
        let mut img = s.durable.clone();
        match mode {
            CrashMode::DropAll => {}
            CrashMode::Prefix { keep, sectors } => {
                for (i, p) in pending.iter().enumerate() {
                    if i < keep {
                        apply(&mut img, p, None);
                    } else {
                        apply(&mut img, p, Some(sectors));
                        break;
                    }
                }
            }
            CrashMode::Subset { seed } => {
                let mut r = Rng::new(seed);
                let torn = r.index(pending.len().max(1));
                for (i, p) in pending.iter().enumerate() {
                    if r.below(2) == 0 {
                        let sectors = (i == torn).then(|| r.below(8) as usize);
                        apply(&mut img, p, sectors);
                    }
                }
            }
        }
        s.durable = img.clone();
        s.current = img;
        s.stats.crashes += 1;
        s.dead = false;
        s.cut_in = None;
        let State { guard, durable, .. } = &mut *s;
        guard.durable_changed(durable);
    }

    /// Flips one random bit of the durable bytes (and of the current bytes, unless a pending
    /// write replaced that byte). Returns the byte offset, or `None` on an empty disk.
    pub fn flip(&self) -> Option<u64> {
        let mut s = self.lock();
        if s.durable.is_empty() {
            return None;
        }
        let len = s.durable.len() as u64;
        let at = s.rng.below(len) as usize;
        let bit = 1u8 << s.rng.below(8);
        s.durable[at] ^= bit;
        let overwritten = s.pending.iter().any(|p| match p {
            Pending::Write { offset, bytes } => {
                (*offset as usize..*offset as usize + bytes.len()).contains(&at)
            }
            Pending::SetLen(_) => false,
        });
        if !overwritten && at < s.current.len() {
            s.current[at] ^= bit;
        }
        s.stats.flips += 1;
        Some(at as u64)
    }
}

impl State {
    fn cost(&mut self, bytes: usize) {
        let (lo, hi) = self.latency_ns;
        let base = if hi > lo { self.rng.range(lo, hi) } else { lo };
        // About 1 GB/s of transfer on top of the per-call latency.
        self.cost_ns += base + bytes as u64;
    }

    /// Counts one write-side call towards a scheduled power cut: `None` while the power is on,
    /// `Some(true)` when it goes in this call, `Some(false)` when it went before (either way
    /// the call fails).
    fn power_gone(&mut self) -> Option<bool> {
        if self.dead {
            self.fired.cut += 1;
            return Some(false);
        }
        if !self.armed {
            return None;
        }
        match self.cut_in.as_mut() {
            Some(n) if *n <= 1 => {
                self.cut_in = None;
                self.dead = true;
                self.fired.cut += 1;
                self.stats.faults += 1;
                Some(true)
            }
            Some(n) => {
                *n -= 1;
                None
            }
            None => None,
        }
    }

    fn fault(&mut self, per_million: u32) -> bool {
        if self.armed && per_million > 0 && self.rng.chance(per_million) {
            self.stats.faults += 1;
            return true;
        }
        false
    }

    fn over_capacity(&mut self, end: u64) -> bool {
        if !self.armed {
            return false;
        }
        match self.faults.capacity_bytes {
            Some(cap) if end > cap && end > self.current.len() as u64 => {
                self.fired.nospace += 1;
                self.stats.faults += 1;
                true
            }
            _ => false,
        }
    }
}

fn err(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

impl SimStorage {
    fn live(&self) -> io::Result<MutexGuard<'_, State>> {
        let s = self.disk.lock();
        if s.generation != self.generation {
            return Err(err(EIO));
        }
        Ok(s)
    }
}

impl Storage for SimStorage {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut s = self.live()?;
        s.stats.reads += 1;
        s.cost(buf.len());
        if s.dead {
            s.fired.cut += 1;
            return Err(err(EIO));
        }
        let rate = s.faults.read_eio;
        if s.fault(rate) {
            s.fired.read_eio += 1;
            return Err(err(EIO));
        }
        let start = usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| s.current.get(start..end))
            .ok_or(io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut s = self.live()?;
        s.stats.writes += 1;
        s.cost(data.len());
        if let Some(now) = s.power_gone() {
            // The write the power went in may reach the medium, whole or torn (the crash
            // decides); the caller learns only that it failed.
            if now {
                s.guard.check_write(offset, data);
                s.pending.push(Pending::Write {
                    offset,
                    bytes: data.to_vec(),
                });
            }
            return Err(err(EIO));
        }
        let rate = s.faults.write_eio;
        if s.fault(rate) {
            s.fired.write_eio += 1;
            return Err(err(EIO));
        }
        if s.over_capacity(offset + data.len() as u64) {
            return Err(err(ENOSPC));
        }
        s.guard.check_write(offset, data);
        apply_write(&mut s.current, offset, data);
        s.pending.push(Pending::Write {
            offset,
            bytes: data.to_vec(),
        });
        Ok(())
    }

    fn sync(&self) -> io::Result<()> {
        let mut s = self.live()?;
        s.stats.syncs += 1;
        s.cost(0);
        if s.power_gone().is_some() {
            return Err(err(EIO));
        }
        let rate = s.faults.sync_eio;
        if s.fault(rate) {
            s.fired.sync_eio += 1;
            return Err(err(EIO));
        }
        // The pending writes reach the medium in order (cheaper than copying the image).
        let State {
            pending,
            durable,
            guard,
            ..
        } = &mut *s;
        for p in pending.drain(..) {
            apply(durable, &p, None);
        }
        guard.durable_changed(durable);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.live()?.current.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut s = self.live()?;
        s.cost(0);
        if s.power_gone().is_some() {
            return Err(err(EIO));
        }
        if s.over_capacity(len) {
            return Err(err(ENOSPC));
        }
        s.guard.check_set_len(len);
        s.current.resize(len as usize, 0);
        s.pending.push(Pending::SetLen(len));
        Ok(())
    }

    fn available(&self) -> Option<u64> {
        let s = self.live().ok()?;
        s.faults
            .capacity_bytes
            .map(|c| c.saturating_sub(s.current.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn crash_modes_and_dead_handles() {
        let d = SimDisk::new(Faults::default(), (0, 0), Rng::new(1));
        let h = d.handle();
        h.write_at(0, b"durable!").unwrap();
        h.sync().unwrap();
        h.write_at(0, b"DU").unwrap();
        h.write_at(600, &[7u8; 1024]).unwrap();
        d.kill_handles();
        assert!(h.write_at(0, b"x").is_err(), "a dead handle cannot write");
        d.crash(CrashMode::Prefix { keep: 1, sectors: 1 });
        let img = d.durable();
        assert_eq!(&img[..8], b"DUrable!");
        assert_eq!(img.len(), 600 + 512, "one sector of the torn write");
        d.crash(CrashMode::DropAll);
        assert_eq!(d.durable(), img, "nothing pending after a crash");
    }

    #[test]
    fn flips_read_back_the_same() {
        let d = SimDisk::new(Faults::default(), (0, 0), Rng::new(2));
        let h = d.handle();
        h.write_at(0, &[0u8; 4096]).unwrap();
        h.sync().unwrap();
        let at = d.flip().unwrap() as usize;
        let (mut a, mut b) = ([0u8; 4096], [0u8; 4096]);
        h.read_at(0, &mut a).unwrap();
        h.read_at(0, &mut b).unwrap();
        assert_eq!(a, b);
        assert_ne!(a[at], 0);
    }

    #[test]
    fn a_power_cut_fails_everything_until_the_crash() {
        let d = SimDisk::new(Faults::default(), (0, 0), Rng::new(4));
        let h = d.handle();
        h.write_at(0, b"durable!").unwrap();
        h.sync().unwrap();
        d.schedule_cut(2);
        h.write_at(0, b"XX").unwrap();
        assert!(!d.is_dead(), "only armed calls count towards the cut");
        d.set_armed(true);
        h.write_at(0, b"DU").unwrap();
        assert_eq!(h.write_at(2, b"RA").unwrap_err().raw_os_error(), Some(EIO));
        assert!(d.is_dead());
        assert!(h.write_at(4, b"BL").is_err() && h.sync().is_err());
        let mut b = [0u8; 2];
        assert!(h.read_at(0, &mut b).is_err(), "a dead disk reads nothing either");
        let fired = d.take_fired();
        assert!(fired.write_side() && fired.cut >= 4);
        d.set_armed(false);
        d.kill_handles();
        // The write the power went in may reach the medium; the ones after it never do.
        d.crash(CrashMode::Prefix {
            keep: usize::MAX,
            sectors: 0,
        });
        assert!(!d.is_dead());
        assert_eq!(&d.durable()[..8], b"DURAble!");
    }

    #[test]
    fn the_guard_sees_writes_into_durable_extents() {
        use vexfs_core::journal::{Extent, ExtentKind};
        let d = SimDisk::new(Faults::default(), (0, 0), Rng::new(5));
        let h = d.handle();
        h.write_at(0, &[0u8; 16 * 4096]).unwrap();
        h.sync().unwrap();
        d.guard_refresh(&[Extent::new(3, 2, ExtentKind::CheckpointData)]);
        h.write_at(2 * 4096, &[1u8; 4096]).unwrap();
        assert!(d.take_guard_violation().is_none());
        h.write_at(4 * 4096 + 10, b"x").unwrap();
        let v = d.take_guard_violation().unwrap();
        assert!(v.contains("file data at blocks 3..5"), "{v}");
        d.wipe();
        h.write_at(4 * 4096, b"x").unwrap();
        assert!(
            d.take_guard_violation().is_none(),
            "a wiped disk protects nothing"
        );
    }

    #[test]
    fn faults_fire_only_when_armed() {
        let faults = Faults {
            write_eio: 1_000_000,
            capacity_bytes: Some(100),
            ..Faults::default()
        };
        let d = SimDisk::new(faults, (0, 0), Rng::new(3));
        let h = d.handle();
        h.write_at(0, &[1; 200]).unwrap();
        d.set_armed(true);
        assert_eq!(h.write_at(0, b"x").unwrap_err().raw_os_error(), Some(EIO));
        assert!(d.take_fired().write_side());
        d.calm();
        h.write_at(0, b"x").unwrap();
    }
}
