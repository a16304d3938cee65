//! Whole-graph invariant check, shared by [`Hnsw::check`] (tests, fsck) and by decoding (so a
//! decoded graph is accepted only when it satisfies everything the mutations rely on).
//!
//! Verified, in order: array lengths and the upper-level prefix sums; node levels, the entry
//! point and the top level; tombstones (count, free list, no duplicates) and the label map
//! (each live label has exactly one live node and the reverse); every list (count within its
//! slots, on level 0 at most `2m` links besides those to the node's at most `TREE_SLOTS`
//! children, zeroed unused slots, targets in range, no self link, no duplicate, upper-level
//! targets present at that level); the spanning tree (one root, both directions of every tree
//! edge present at level 0, no cycle); and reachability of every live node from the entry point over
//! level-0 links (iterative BFS). A valid spanning tree already implies that level 0 is strongly
//! connected, so decoding skips the BFS (it is the only part of the check that reads records in
//! random order); [`Hnsw::check`] runs it anyway, and also compares every derived word (split
//! cosine norms, sq8 codes and statistics) with what the stored vector gives. The list checks are one sequential pass over
//! the records. Nothing here recurses.

use super::{Hnsw, LEVEL_MASK, NONE, TOMB, TREE_SLOTS};
use crate::limits::HNSW_LEVEL_MAX;

/// Which serialized section a violation concerns (decode turns it into a byte offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Header,
    Info,
    Labels,
    Parent,
    Nodes,
    Upper,
    Free,
}

/// The first invariant found broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) what: &'static str,
    pub(crate) section: Section,
    /// The node (or free-list position) concerned, when there is one.
    pub(crate) at: Option<u32>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            Some(n) => write!(f, "{} (node {n})", self.what),
            None => f.write_str(self.what),
        }
    }
}

fn bad(what: &'static str, section: Section, at: Option<u32>) -> Violation {
    Violation { what, section, at }
}

impl Hnsw {
    /// The first node whose sq8 code region differs from what its vector gives (a frame of its
    /// own, so the encoder's locals are not in `check_structure`'s frame).
    #[inline(never)]
    fn first_bad_code(&self) -> Option<u32> {
        let sq = self.sq.as_deref()?;
        let mut region = vec![0u32; self.cwords];
        (0..self.labels.len() as u32).find(|&id| {
            super::encode_region(sq, self.vec_of(id), &mut region);
            let s = id as usize * self.rec + self.coff;
            self.nodes[s..s + self.cwords] != region[..]
        })
    }

    /// The first node whose sketch differs from what its vector gives (a frame of its own,
    /// like [`Hnsw::first_bad_code`]).
    #[inline(never)]
    fn first_bad_sketch(&self) -> Option<u32> {
        let sk = self.sk.as_deref()?;
        let mut region = vec![0u32; self.swords];
        let mut buf = Vec::new();
        (0..self.labels.len() as u32).find(|&id| {
            sk.encode(self.vec_of(id), &mut region, &mut buf);
            let s = id as usize * self.rec + self.soff;
            self.nodes[s..s + self.swords] != region[..]
        })
    }

    /// Checks everything; with `bfs`, also walks level 0 from the entry point (implied by a
    /// valid spanning tree, which is always checked, so decoding skips the walk). One step per
    /// group of invariants, in the order of the module documentation, so the first violation
    /// found is the same whatever calls this.
    pub(crate) fn check_structure(&self, bfs: bool) -> Result<(), Violation> {
        use Section::*;
        let n = self.labels.len();
        let (top, tombs) = self.check_levels()?;
        if n == 0 {
            if self.entry != NONE || self.max_level != 0 || !self.free.is_empty() {
                return Err(bad("hnsw header: empty graph with an entry point", Header, None));
            }
            if !self.by_label.is_empty() {
                return Err(bad("hnsw labels: labels without nodes", Labels, None));
            }
            return Ok(());
        }
        if self.entry as usize >= n || top != self.max_level || self.level_of(self.entry) != usize::from(top)
        {
            return Err(bad(
                "hnsw header: entry point is not on the top level",
                Header,
                None,
            ));
        }
        self.check_free_and_labels(tombs)?;
        self.check_derived(bfs)?;
        let children = self.check_parents()?;
        self.check_lists(&children)?;
        self.check_acyclic()?;
        if bfs {
            self.check_reachable()?;
        }
        Ok(())
    }

    /// Array lengths, node levels and flags, and the upper-level offsets (prefix sums of the
    /// levels); returns the top level and the number of tombstones.
    #[inline(never)]
    fn check_levels(&self) -> Result<(u8, usize), Violation> {
        use Section::*;
        let n = self.labels.len();
        if n >= NONE as usize {
            return Err(bad("hnsw header: too many nodes", Header, None));
        }
        if self.info.len() != n
            || self.parent.len() != n
            || self.upper_off.len() != n
            || self.nodes.len() != n * self.rec
        {
            return Err(bad("hnsw arrays: lengths disagree", Header, None));
        }
        // Levels and upper offsets.
        let mut off = 0usize;
        let mut top = 0u8;
        let mut tombs = 0usize;
        for id in 0..n {
            let inf = self.info[id];
            if inf & !(TOMB | LEVEL_MASK) != 0 || inf & LEVEL_MASK > HNSW_LEVEL_MAX {
                return Err(bad("hnsw node: bad level or flags", Info, Some(id as u32)));
            }
            if self.upper_off[id] as usize != off {
                return Err(bad("hnsw upper: offsets disagree", Upper, Some(id as u32)));
            }
            let level = inf & LEVEL_MASK;
            off += usize::from(level) * self.stride_up;
            top = top.max(level);
            tombs += usize::from(inf & TOMB != 0);
        }
        if off != self.upper.len() {
            return Err(bad("hnsw upper: length disagrees with levels", Upper, None));
        }
        Ok((top, tombs))
    }

    /// The free list (exactly the tombstones, each once) and the label map (exactly the live
    /// nodes, each under its own label), given the number of tombstones.
    #[inline(never)]
    fn check_free_and_labels(&self, tombs: usize) -> Result<(), Violation> {
        use Section::*;
        let n = self.labels.len();
        // Tombstones and the free list.
        if tombs != self.free.len() {
            return Err(bad("hnsw free list: count differs from tombstones", Free, None));
        }
        if tombs == n {
            return Err(bad("hnsw free list: no live node", Free, None));
        }
        let mut listed = vec![false; n];
        for (i, &f) in self.free.iter().enumerate() {
            if f as usize >= n || !self.is_tomb(f) || listed[f as usize] {
                return Err(bad("hnsw free list: bad entry", Free, Some(i as u32)));
            }
            listed[f as usize] = true;
        }
        // Label map <-> live nodes.
        if self.by_label.len() != n - tombs {
            return Err(bad(
                "hnsw labels: live count differs from the label map",
                Labels,
                None,
            ));
        }
        for (&label, &id) in &self.by_label {
            if id as usize >= n || self.is_tomb(id) || self.labels[id as usize] != label {
                return Err(bad("hnsw labels: map and nodes disagree", Labels, Some(id)));
            }
        }
        Ok(())
    }

    /// Words derived from the vectors: in the full check (`bfs`), the split cosine norms and
    /// the sq8 codes (decoding computes them itself); always, zeroed vector padding.
    #[inline(never)]
    fn check_derived(&self, bfs: bool) -> Result<(), Violation> {
        use Section::*;
        let n = self.labels.len();
        // Norms (split cosine): exactly the norm of the stored vector (decoding computes them
        // itself, so only the full check looks).
        for id in (0..n as u32).filter(|_| bfs) {
            if let Some(w) = self.norm_words(self.vec_of(id)) {
                let s = id as usize * self.rec + self.stride0;
                if self.nodes[s..s + w.len()] != w {
                    return Err(bad(
                        "hnsw nodes: stored norm is not the vector's",
                        Nodes,
                        Some(id),
                    ));
                }
            }
        }
        // Codes (sq8): exactly the code and statistic the training gives the stored vector
        // (decoding computes them itself, so only the full check looks). The training is
        // valid by construction: `Sq8::load` refuses anything else.
        if bfs && let Some(id) = self.first_bad_code() {
            return Err(bad(
                "hnsw nodes: stored sq8 code is not the vector's",
                Nodes,
                Some(id),
            ));
        }
        // Sketches: exactly what the rotation gives the stored vector (decoding computes them
        // itself, so only the full check looks).
        if bfs && let Some(id) = self.first_bad_sketch() {
            return Err(bad(
                "hnsw nodes: stored sketch is not the vector's",
                Nodes,
                Some(id),
            ));
        }
        // Vector padding (canonical encoding).
        if self.vwords * 4 != self.vbytes {
            for id in 0..n {
                let s = id * self.rec + self.voff;
                let bytes = bytemuck::cast_slice::<u32, u8>(&self.nodes[s..s + self.vwords]);
                if bytes[self.vbytes..].iter().any(|&b| b != 0) {
                    return Err(bad("hnsw nodes: vector padding not zero", Nodes, Some(id as u32)));
                }
            }
        }
        Ok(())
    }

    /// Tree parents in range, exactly one root; returns how many children each node has.
    #[inline(never)]
    fn check_parents(&self) -> Result<Vec<u32>, Violation> {
        use Section::*;
        let n = self.labels.len();
        // Tree parents: range, one root, and how many children each node has.
        let mut children = vec![0u32; n];
        let mut roots = 0usize;
        for id in 0..n as u32 {
            let p = self.parent[id as usize];
            if p == NONE {
                roots += 1;
            } else if p as usize >= n || p == id {
                return Err(bad("hnsw tree: bad parent", Parent, Some(id)));
            } else {
                children[p as usize] += 1;
            }
        }
        if roots != 1 {
            return Err(bad("hnsw tree: not exactly one root", Parent, None));
        }
        Ok(children)
    }

    /// Every list of every node (see the module documentation), given the children counts.
    #[inline(never)]
    fn check_lists(&self, children: &[u32]) -> Result<(), Violation> {
        use Section::*;
        let n = self.labels.len();
        // Lists, in one sequential pass. `mark[t] == stamp` detects duplicates within a list
        // (a fresh stamp per list). On level 0 each node must hold its parent, and as many of
        // its links must point at its children as it has children (so, links being distinct,
        // every child).
        let mut mark = vec![0u32; n];
        let mut stamp = 0u32;
        for id in 0..n as u32 {
            let parent = self.parent[id as usize];
            for l in 0..=self.level_of(id) {
                if stamp == u32::MAX {
                    mark.fill(0);
                    stamp = 0;
                }
                stamp += 1;
                let s = self.list_start(id, l);
                let (block, sec) = if l == 0 {
                    (&self.nodes, Nodes)
                } else {
                    (&self.upper, Upper)
                };
                let cap = self.cap(l);
                let cnt = block[s] as usize;
                if cnt > cap {
                    return Err(bad("hnsw links: degree over its bound", sec, Some(id)));
                }
                if block[s + 1 + cnt..s + 1 + cap].iter().any(|&x| x != 0) {
                    return Err(bad("hnsw links: unused slot not zero", sec, Some(id)));
                }
                let mut has_parent = parent == NONE;
                let mut kids = 0u32;
                for &t in &block[s + 1..s + 1 + cnt] {
                    if t as usize >= n {
                        return Err(bad("hnsw links: target out of range", sec, Some(id)));
                    }
                    if t == id {
                        return Err(bad("hnsw links: self link", sec, Some(id)));
                    }
                    if mark[t as usize] == stamp {
                        return Err(bad("hnsw links: duplicate link", sec, Some(id)));
                    }
                    mark[t as usize] = stamp;
                    if l == 0 {
                        has_parent |= t == parent;
                        kids += u32::from(self.parent[t as usize] == id);
                    } else if self.level_of(t) < l {
                        return Err(bad("hnsw links: target not on this level", sec, Some(id)));
                    }
                }
                if l == 0 && (!has_parent || kids != children[id as usize]) {
                    return Err(bad("hnsw tree: parent edge missing", Parent, Some(id)));
                }
                if l == 0 && (kids as usize > TREE_SLOTS || cnt - kids as usize > self.m0) {
                    return Err(bad("hnsw links: degree over its bound", sec, Some(id)));
                }
            }
        }
        Ok(())
    }

    /// No cycle through the parents (so, with one root, the parents form a tree).
    #[inline(never)]
    fn check_acyclic(&self) -> Result<(), Violation> {
        use Section::*;
        let n = self.labels.len();
        // state: 0 unseen, 1 on the current path, 2 reaches the root.
        let mut state = vec![0u8; n];
        let mut path: Vec<u32> = Vec::new();
        for start in 0..n as u32 {
            let mut x = start;
            path.clear();
            while x != NONE && state[x as usize] == 0 {
                state[x as usize] = 1;
                path.push(x);
                x = self.parent[x as usize];
            }
            if x != NONE && state[x as usize] == 1 {
                return Err(bad("hnsw tree: parent cycle", Parent, Some(x)));
            }
            for &p in &path {
                state[p as usize] = 2;
            }
        }
        Ok(())
    }

    /// Every live node is reachable from the entry point over level-0 links (iterative BFS).
    fn check_reachable(&self) -> Result<(), Violation> {
        let n = self.labels.len();
        let mut seen = vec![false; n];
        let mut queue: Vec<u32> = Vec::with_capacity(n);
        seen[self.entry as usize] = true;
        queue.push(self.entry);
        let mut head = 0;
        while head < queue.len() {
            let x = queue[head];
            head += 1;
            for &t in self.links(x, 0) {
                if !seen[t as usize] {
                    seen[t as usize] = true;
                    queue.push(t);
                }
            }
        }
        for id in 0..n as u32 {
            if !seen[id as usize] && !self.is_tomb(id) {
                return Err(bad("hnsw links: live node unreachable", Section::Nodes, Some(id)));
            }
        }
        Ok(())
    }
}
