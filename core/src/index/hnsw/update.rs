//! Mutations of the graph: [`Hnsw::insert`], [`Hnsw::replace`], [`Hnsw::remove`] and
//! [`Hnsw::compact`], with the linking they need (a new node's beam search and list, back links
//! and the pruning heuristic, the spanning-tree parent, the repair of the lists around a removed
//! node). The parent module documents the graph's shape, the tree and the deletion scheme.
//!
//! Invariant: every public mutation returns with the graph satisfying everything
//! [`Hnsw::check`] verifies (see `check`): lists within their level's bound, no self or
//! duplicate link, one spanning tree whose edges are present both ways at level 0, and the label
//! map and the free list agreeing with the tombstones; the tests check it after every step.

use super::scratch::SearchScratch;
use super::*;

impl Hnsw {
    /// Indexes `label` (not present) with `vector` (validated, `vector_bytes` long).
    pub fn insert(&mut self, label: u64, vector: &[u8]) {
        assert_eq!(
            vector.len(),
            self.vbytes,
            "vector length does not match the index"
        );
        assert!(!self.by_label.contains_key(&label), "label inserted twice");
        let mut bs = std::mem::take(&mut self.scratch);
        if let Some(id) = self.free.pop() {
            self.reuse(id, label, vector, &mut bs);
        } else {
            let level = self.draw_level();
            self.append(label, vector, level, &mut bs);
        }
        self.scratch = bs;
        self.train_if_due();
    }

    /// Replaces the vector of an indexed `label`: the old node is removed (its neighbours
    /// repaired) and the label re-inserted into the same slot, so no search can see the old
    /// position.
    pub fn replace(&mut self, label: u64, vector: &[u8]) {
        assert_eq!(
            vector.len(),
            self.vbytes,
            "vector length does not match the index"
        );
        assert!(
            self.remove_inner(label, false),
            "replace of a label that is not indexed"
        );
        self.insert(label, vector);
    }

    /// Removes `label`; false when it was not indexed.
    pub fn remove(&mut self, label: u64) -> bool {
        self.remove_inner(label, true)
    }

    pub(super) fn remove_inner(&mut self, label: u64, may_compact: bool) -> bool {
        let Some(id) = self.by_label.remove(&label) else {
            return false;
        };
        if self.by_label.is_empty() {
            self.reset();
            return true;
        }
        self.info[id as usize] |= TOMB;
        self.free.push(id);
        let mut bs = std::mem::take(&mut self.scratch);
        self.repair_around(id, &mut bs);
        self.scratch = bs;
        if may_compact {
            let deleted = self.free.len() as u64;
            let nodes = self.labels.len() as u64;
            if deleted >= TOMBSTONE_COMPACT_MIN && deleted * 100 > nodes * TOMBSTONE_COMPACT_PERCENT {
                self.compact();
            }
        }
        true
    }

    /// Empties the graph (keeping capacities and the level stream).
    pub(super) fn reset(&mut self) {
        self.nodes.clear();
        self.labels.clear();
        self.info.clear();
        self.parent.clear();
        self.upper_off.clear();
        self.upper.clear();
        self.by_label.clear();
        self.free.clear();
        self.entry = NONE;
        self.max_level = 0;
        if let Some(q) = &mut self.sq {
            q.reset();
        }
    }

    /// Rebuilds the graph from its live nodes, in id order, keeping their levels.
    pub fn compact(&mut self) {
        #[cfg(test)]
        tests::COMPACTIONS.with(|c| c.set(c.get() + 1));
        let live = self.by_label.len();
        let mut fresh = Hnsw::new(self.params);
        fresh.draws = self.draws;
        fresh.rerank = self.rerank;
        fresh.scratch = std::mem::take(&mut self.scratch);
        fresh.reserve(live);
        for id in 0..self.labels.len() as u32 {
            if !self.is_tomb(id) {
                let level = self.info[id as usize] & LEVEL_MASK;
                let mut bs = std::mem::take(&mut fresh.scratch);
                fresh.append(self.labels[id as usize], self.vec_of(id), level, &mut bs);
                fresh.scratch = bs;
            }
        }
        fresh.retrain();
        *self = fresh;
    }

    /// Adds a new node at the end with `level` and links it.
    pub(super) fn append(&mut self, label: u64, vector: &[u8], level: u8, bs: &mut SearchScratch) {
        let n = self.labels.len();
        assert!(n < NONE as usize, "index is full");
        self.grow_for_one();
        let id = n as u32;
        let upper_off = self.upper.len();
        assert!(upper_off + usize::from(level) * self.stride_up <= u32::MAX as usize);
        self.nodes.resize(self.nodes.len() + self.rec, 0);
        self.set_vector(id, vector);
        self.labels.push(label);
        self.info.push(level);
        self.parent.push(NONE);
        self.upper_off.push(upper_off as u32);
        self.upper
            .resize(upper_off + usize::from(level) * self.stride_up, 0);
        self.by_label.insert(label, id);
        if n == 0 {
            self.entry = id;
            self.max_level = level;
            return;
        }
        self.link_node(id, true, bs);
        if level > self.max_level {
            self.entry = id;
            self.max_level = level;
        }
    }

    /// Reuses tombstoned slot `id` for `label`/`vector`: keeps its level and tree edges,
    /// relinks everything else.
    pub(super) fn reuse(&mut self, id: u32, label: u64, vector: &[u8], bs: &mut SearchScratch) {
        self.set_vector(id, vector);
        self.labels[id as usize] = label;
        self.by_label.insert(label, id);
        // Still a tombstone while its new neighbours are searched, so it cannot select itself.
        self.link_node(id, false, bs);
        self.info[id as usize] &= !TOMB;
    }

    /// Searches neighbours for node `id` (whose vector is in place) level by level and links
    /// it both ways. `fresh`: a new node that still needs a tree parent; otherwise a reused
    /// slot whose protected links are kept.
    pub(super) fn link_node(&mut self, id: u32, fresh: bool, bs: &mut SearchScratch) {
        let level = self.level_of(id);
        let ef = self.params.ef_construction as usize;
        bs.prepare(self, ef, false);
        let (mut ep, mut epd) = {
            let q = self.node_query(id);
            let e = self.entry;
            let d = self.dist(q, e);
            self.greedy_descent(&q, e, d, level + 1)
        };
        if let Some(sk) = &self.sk {
            sk.prepare(self.vec_of(id), &mut bs.sk);
        }
        let top = level.min(usize::from(self.max_level));
        for l in (0..=top).rev() {
            bs.begin();
            let q = Query {
                sk: self.sk.is_some().then_some(&bs.sk),
                ..self.node_query(id)
            };
            self.beam_build(q, ep, epd, l, ef, id, &mut bs.beam);
            bs.build.cands.clear();
            bs.build.cands.extend_from_slice(bs.beam.res.as_slice());
            bs.build.cands.sort_unstable();
            if let Some(&k) = bs.build.cands.first() {
                ep = key_id(k);
                epd = key_dist(k);
            }
            // This node's new list: protected links (a reused slot's tree edges) first.
            bs.build.list.clear();
            if l == 0 && !fresh {
                for &t in self.links(id, 0) {
                    if self.is_tree_edge(id, t) {
                        bs.build.list.push(t);
                    }
                }
                let prot = &bs.build.list;
                bs.build.cands.retain(|&k| !prot.contains(&key_id(k)));
            }
            let room = self.m.min(self.budget(l) - bs.build.list.len());
            self.select(&bs.build.cands, room, id, l, Prune::New, &mut bs.build.sel);
            bs.build.list.extend_from_slice(&bs.build.sel);
            if l == 0 && fresh {
                let p = self.find_parent(&bs.build.list, &bs.build.cands, id);
                self.parent[id as usize] = p;
                if !bs.build.list.contains(&p) {
                    bs.build.list.push(p);
                }
            }
            self.set_links(id, l, &bs.build.list);
            for i in 0..bs.build.list.len() {
                let y = bs.build.list[i];
                self.add_link(y, id, l, &mut bs.build.shrink, &mut bs.build.shrink_sel);
            }
        }
    }

    /// A parent for new node `id`: the first of its selected neighbours, then of its beam
    /// candidates, then of all nodes (by id), with fewer than [`TREE_SLOTS`] children.
    pub(super) fn find_parent(&self, selected: &[u32], cands: &[u64], id: u32) -> u32 {
        let has_room = |y: u32| y != id && self.child_count(y) < TREE_SLOTS;
        if let Some(&y) = selected.iter().find(|&&y| has_room(y)) {
            return y;
        }
        if let Some(y) = cands.iter().map(|&k| key_id(k)).find(|&y| has_room(y)) {
            return y;
        }
        // Always found: a tree over the other nodes has fewer children than they have room for.
        let p = (0..self.labels.len() as u32).find(|&y| has_room(y));
        assert!(p.is_some(), "no spanning-tree parent with room");
        p.unwrap_or(NONE)
    }

    /// Adds link `y → x` at `level`, re-selecting `y`'s list with the heuristic when it would
    /// exceed its budget. A link to a new tree child always has a slot of its own.
    pub(super) fn add_link(&mut self, y: u32, x: u32, level: usize, keys: &mut Vec<u64>, out: &mut Vec<u32>) {
        let cur = self.links(y, level);
        if cur.contains(&x) {
            return;
        }
        let child = |t: u32| level == 0 && self.parent[t as usize] == y;
        let others = cur.iter().filter(|&&t| !child(t)).count();
        if child(x) || others < self.budget(level) {
            let s = self.list_start(y, level);
            let block = if level == 0 {
                &mut self.nodes
            } else {
                &mut self.upper
            };
            let n = block[s] as usize;
            block[s + 1 + n] = x;
            block[s] = (n + 1) as u32;
            return;
        }
        keys.clear();
        let qy = self.node_query(y);
        for &t in cur.iter().chain(std::iter::once(&x)) {
            keys.push(key(self.dist(qy, t), t));
        }
        keys.sort_unstable();
        self.select(keys, self.budget(level), y, level, Prune::Shrink, out);
        self.set_links(y, level, out);
    }

    /// Heuristic neighbour selection (algorithm 4): walks `cands` (keys by distance to
    /// `base`, ascending) and keeps a candidate unless an already kept one is closer to it
    /// than `base` is, up to `cap` ([`Prune::Repair`] relaxes "closer" by [`REPAIR_ALPHA`]).
    /// Unless `rule` is [`Prune::New`], level-0 tree edges of `base` are always kept: the link
    /// to its parent takes one of the `cap` places, links to its children come on top (their
    /// own [`TREE_SLOTS`]). Fewer candidates than places are all kept.
    pub(super) fn select(
        &self,
        cands: &[u64],
        cap: usize,
        base: u32,
        level: usize,
        rule: Prune,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        let protect = rule != Prune::New && level == 0;
        let is_prot = |t: u32| protect && self.is_tree_edge(base, t);
        let kids = if protect {
            cands
                .iter()
                .filter(|&&k| self.parent[key_id(k) as usize] == base)
                .count()
        } else {
            0
        };
        let cap = cap + kids;
        if cands.len() <= cap {
            out.extend(cands.iter().map(|&k| key_id(k)));
            return;
        }
        let alpha = match (rule, self.params.metric) {
            (Prune::New | Prune::Shrink, _) => 1.0,
            // A factor on a negative inner product would tighten the rule, not relax it.
            (Prune::Repair, vector::Metric::Dot) => 1.0,
            (Prune::Repair, vector::Metric::L2) => REPAIR_ALPHA * REPAIR_ALPHA,
            (Prune::Repair, _) => REPAIR_ALPHA,
        };
        let nprot = if protect {
            cands.iter().filter(|&&k| is_prot(key_id(k))).count()
        } else {
            0
        };
        debug_assert!(nprot <= cap);
        let mut room = cap.saturating_sub(nprot);
        for &k in cands {
            let c = key_id(k);
            if is_prot(c) {
                out.push(c);
                continue;
            }
            if room == 0 {
                if out.len() >= cap {
                    break;
                }
                continue;
            }
            let dc = key_dist(k);
            let qc = self.node_query(c);
            let good = out.iter().all(|&s| alpha * self.dist(qc, s) >= dc);
            if good {
                out.push(c);
                room -= 1;
            }
        }
    }

    /// After tombstoning `d`: every live neighbour of `d` that links back to it re-selects its
    /// list from its neighbours ∪ `d`'s neighbours, without `d` (unless protected) and
    /// without other tombstones (unless protected).
    pub(super) fn repair_around(&mut self, d: u32, bs: &mut SearchScratch) {
        for l in 0..=self.level_of(d) {
            bs.build.list.clear();
            bs.build.list.extend_from_slice(self.links(d, l));
            for i in 0..bs.build.list.len() {
                let n = bs.build.list[i];
                if self.is_tomb(n) || !self.links(n, l).contains(&d) {
                    continue;
                }
                let keys = &mut bs.build.shrink;
                keys.clear();
                let qn = self.node_query(n);
                let prot = |t: u32| l == 0 && self.is_tree_edge(n, t);
                for &t in self.links(n, l).iter().chain(bs.build.list.iter()) {
                    if t == n || (self.is_tomb(t) && !prot(t)) {
                        continue;
                    }
                    keys.push(key(self.dist(qn, t), t));
                }
                keys.sort_unstable();
                keys.dedup();
                self.select(
                    keys,
                    self.budget(l),
                    n,
                    l,
                    Prune::Repair,
                    &mut bs.build.shrink_sel,
                );
                let sel = std::mem::take(&mut bs.build.shrink_sel);
                self.set_links(n, l, &sel);
                bs.build.shrink_sel = sel;
            }
        }
    }
}
