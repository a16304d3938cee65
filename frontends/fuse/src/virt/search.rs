//! `/.vexfs/search`, the transaction file: one [`Search`] per open file, holding a query
//! buffer and a result buffer, so concurrent searches never see each other's results.
//!
//! A write appends to the query (more than `QUERY_LEN_MAX` bytes in all: `EINVAL`); once the
//! bytes form a complete JSON value the query (an object) or batch (an array of objects, whose
//! answer lines carry `"query":N`) is parsed and run, as the caller writing it, under the
//! engine's read lock ([`run_queries`]). Incomplete JSON is accepted and waits for more; a
//! malformed or failing query fails the write (`EINVAL` for malformed queries, the core's errno
//! otherwise, e.g. `ENOENT` for a missing collection) and a read then returns one line
//! `{"error":"..."}`. Reads return the result lines in order from the first, whatever the file
//! position (the file is a stream). A write after a finished query starts a new one.
//!
//! Memory: a file's buffers are charged to the [`Budget`] before they grow, and the result lines
//! of a query may fill at most what the budget has left for the file: the core's line writer
//! stops there and the query fails with `ENOBUFS` and an error line, never a truncated answer.
//! Invariant: after every call the file's `charged` equals its footprint
//! (`SEARCH_HANDLE_BYTES` plus its buffers' capacity) until it is closed, then 0.

use super::handles::Budget;
use crate::metrics::FsOp;
use crate::state::Shared;
use fuser::Errno;
use vexfs_core::limits::{QUERY_LEN_MAX, SEARCH_HANDLE_BYTES};
use vexfs_core::query::{Queries, Target, parse_queries};
use vexfs_core::{Creds, Error, HitLines};

/// One line `{"error":"..."}`.
fn error_line(msg: &str, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(serde_json::json!({ "error": msg }).to_string().as_bytes());
    out.push(b'\n');
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing written since the last finished query (or ever).
    Empty,
    /// Some bytes of a query that is not yet complete JSON.
    Partial,
    /// The query ran (or failed): `out` holds its result or error lines.
    Done,
}

/// One open `search` file: a query being written and the lines of the last one, charged to
/// the budget as `SEARCH_HANDLE_BYTES` plus its buffers' capacity (`charged`).
#[derive(Debug)]
pub(crate) struct Search {
    query: Vec<u8>,
    state: State,
    out: Vec<u8>,
    cursor: usize,
    /// Who opened it: the budget charges this user.
    uid: u32,
    charged: usize,
    closed: bool,
}

/// How a [`Search`] runs complete, valid queries: writes their result lines into the buffer,
/// at most the given number of bytes, and returns whether they fit. An error names the query
/// of a batch it belongs to.
pub(crate) type Runner<'a> = dyn FnMut(&Queries, usize, &mut Vec<u8>) -> Result<bool, Failed> + 'a;

/// A query that failed, and its index in its batch.
#[derive(Debug)]
pub(crate) struct Failed {
    pub(crate) error: Error,
    pub(crate) query: Option<usize>,
    /// The path the error is about (a missing `dir` or `like`), for the error line.
    pub(crate) path: Option<String>,
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        Failed {
            error,
            query: None,
            path: None,
        }
    }
}

/// Runs `qs` against the engine on behalf of `creds` (under the read lock, in work memory
/// borrowed from the pool for their duration), writing at most `limit` bytes of result lines.
pub(crate) fn run_queries(
    shared: &Shared,
    qs: &Queries,
    creds: &Creds,
    limit: usize,
    out: &mut Vec<u8>,
) -> Result<bool, Failed> {
    shared.metrics.time(FsOp::Search, || {
        let mut work = shared.handles.take_work();
        let r = (|| {
            let e = shared.read().map_err(|_| Error::Io {
                during: "locking the engine",
                errno: libc::EIO,
            })?;
            for (i, q) in qs.queries.iter().enumerate() {
                let at = qs.batch.then_some(i);
                let failed = |error| Failed {
                    error,
                    query: at,
                    path: None,
                };
                let dir = e
                    .search(q, creds, &mut work.scratch, &mut work.hits)
                    .map_err(|error| {
                        // Name the path that does not resolve: `dir` unless it does (same caller, so
                        // this tells nothing the failed search did not).
                        let path = match (&error, &q.target) {
                            (Error::NotFound, _) if e.resolve_as(q.dir.as_bytes(), true, creds).is_err() => {
                                Some(q.dir.clone())
                            }
                            (Error::NotFound, Target::Like(like)) => Some(like.clone()),
                            _ => None,
                        };
                        Failed {
                            error,
                            query: at,
                            path,
                        }
                    })?;
                let lines = HitLines {
                    include: &q.include,
                    query: at,
                    limit,
                };
                if !e
                    .write_hits_json(dir, &work.hits, &lines, &mut work.scratch, out)
                    .map_err(failed)?
                {
                    return Ok(false);
                }
            }
            Ok(true)
        })();
        shared.handles.put_work(work);
        r
    })
}

/// The message of a query refused for want of search memory.
const NO_MEMORY: &str = "search memory budget exhausted (too much held by open /.vexfs/search files; \
    close some, or raise the mount's --search-memory-mib)";

/// The message of a query whose results would not fit what the budget has left.
fn too_big(limit: usize) -> String {
    format!(
        "results would exceed the search memory budget ({limit} bytes left for this file): lower k, \
         include fewer fields, split the batch, or raise the mount's --search-memory-mib"
    )
}

impl Search {
    /// A new open `search` file, charged `SEARCH_HANDLE_BYTES` to `uid` (by the caller).
    pub(crate) fn new(uid: u32) -> Self {
        Search {
            query: Vec::new(),
            state: State::Empty,
            out: Vec::new(),
            cursor: 0,
            uid,
            charged: SEARCH_HANDLE_BYTES,
            closed: false,
        }
    }

    /// What the budget should hold for this file now.
    fn footprint(&self) -> usize {
        SEARCH_HANDLE_BYTES + self.query.capacity() + self.out.capacity()
    }

    /// Brings the charge in line with the buffers; false when growth did not fit.
    fn recharge(&mut self, budget: &Budget) -> bool {
        let now = self.footprint();
        if now > self.charged {
            if !budget.charge(self.uid, now - self.charged) {
                return false;
            }
        } else {
            budget.refund(self.uid, self.charged - now);
        }
        self.charged = now;
        true
    }

    /// Frees the buffers and refunds everything (release). Later calls do nothing.
    pub(crate) fn close(&mut self, budget: &Budget) {
        self.query = Vec::new();
        self.out = Vec::new();
        if !self.closed {
            budget.refund(self.uid, self.charged);
        }
        self.charged = 0;
        self.closed = true;
    }

    /// Appends `data` to the query; runs it once complete against `shared`'s engine as
    /// `creds`. See [`Search::write_with`].
    pub(crate) fn write(&mut self, data: &[u8], shared: &Shared, creds: &Creds) -> Result<usize, Errno> {
        let mut run =
            |qs: &Queries, limit: usize, out: &mut Vec<u8>| run_queries(shared, qs, creds, limit, out);
        self.write_with(data, &shared.handles.budget, &mut run)
    }

    /// Appends `data` to the query; runs it with `run` once complete. Returns the bytes
    /// accepted (all of them) or the errno of a malformed or failed query (`ENOBUFS` when the
    /// buffers would outgrow the budget).
    pub(crate) fn write_with(
        &mut self,
        data: &[u8],
        budget: &Budget,
        run: &mut Runner<'_>,
    ) -> Result<usize, Errno> {
        if self.closed {
            return Err(Errno::EBADF);
        }
        if self.state == State::Done {
            // The last query's buffers go: an idle file holds only its results.
            self.query = Vec::new();
            self.out = Vec::new();
            self.cursor = 0;
            self.state = State::Empty;
        }
        if self.query.len() + data.len() > QUERY_LEN_MAX {
            self.fail(
                &format!("invalid query: query is longer than {QUERY_LEN_MAX} bytes"),
                budget,
            );
            return Err(Errno::EINVAL);
        }
        let need = self.query.len() + data.len();
        if need > self.query.capacity() {
            // Charged before it is allocated: growth past the budget never happens.
            let target = need.max(2 * self.query.capacity()).min(QUERY_LEN_MAX);
            let grow = target - self.query.capacity();
            if !budget.charge(self.uid, grow) {
                self.fail(NO_MEMORY, budget);
                return Err(Errno::ENOBUFS);
            }
            self.charged += grow;
            self.query.reserve_exact(target - self.query.len());
            self.settle(budget);
        }
        self.query.extend_from_slice(data);
        let first = self.query.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_none() {
            // Only whitespace so far: wait.
            self.state = if self.query.is_empty() {
                State::Empty
            } else {
                State::Partial
            };
            return Ok(data.len());
        }
        // Complete JSON yet? A value cut short is an EOF error; wait for the rest.
        if matches!(first, Some(b'{' | b'['))
            && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&self.query)
            && e.is_eof()
        {
            self.state = State::Partial;
            return Ok(data.len());
        }
        // What the results may fill: what the budget has left, plus the buffers this file
        // holds now (the query's goes before the results are kept).
        let limit = budget
            .room(self.uid)
            .saturating_add(self.query.capacity() + self.out.capacity());
        let result = parse_queries(&self.query).map_err(Failed::from).and_then(|qs| {
            self.out.clear();
            self.cursor = 0;
            run(&qs, limit, &mut self.out)
        });
        self.query = Vec::new();
        if self.out.capacity() > limit {
            self.out.shrink_to_fit();
        }
        match result {
            Ok(true) if self.recharge(budget) => {
                self.state = State::Done;
                Ok(data.len())
            }
            Ok(true) => {
                self.fail(NO_MEMORY, budget);
                Err(Errno::ENOBUFS)
            }
            Ok(false) => {
                self.fail(&too_big(limit), budget);
                Err(Errno::ENOBUFS)
            }
            Err(Failed { error, query, path }) => {
                let msg = match path {
                    Some(p) => format!("{p}: {error}"),
                    None => error.to_string(),
                };
                match query {
                    Some(i) if !matches!(error, Error::Query(_)) => {
                        self.fail(&format!("query {i}: {msg}"), budget)
                    }
                    // Query errors of a batch already name their query.
                    _ => self.fail(&msg, budget),
                }
                Err(crate::errno::errno(&error))
            }
        }
    }

    fn fail(&mut self, msg: &str, budget: &Budget) {
        self.query = Vec::new();
        self.out = Vec::new();
        error_line(msg, &mut self.out);
        self.out.shrink_to_fit();
        self.cursor = 0;
        self.state = State::Done;
        // The error line is small (a message, or a quote of at most a query's bad part): it
        // is kept even if the budget is full, so the caller learns why.
        self.settle(budget);
    }

    /// Brings the charge in line with the buffers whether or not the budget has room (for
    /// the few bytes an allocator rounds up, and an error line).
    fn settle(&mut self, budget: &Budget) {
        let now = self.footprint();
        if now > self.charged {
            budget.force(self.uid, now - self.charged);
        } else {
            budget.refund(self.uid, self.charged - now);
        }
        self.charged = now;
    }

    /// The next at most `size` bytes of the result lines. While the query is incomplete this is
    /// an error line saying so (the query stays open for more writes).
    pub(crate) fn read(&mut self, size: u32) -> &[u8] {
        if self.state == State::Partial && self.cursor == 0 {
            let msg = match serde_json::from_slice::<serde::de::IgnoredAny>(&self.query) {
                Err(e) => format!("invalid query: incomplete JSON ({e})"),
                Ok(_) => "invalid query: incomplete JSON".to_owned(),
            };
            error_line(&msg, &mut self.out);
        }
        let start = self.cursor.min(self.out.len());
        let end = start.saturating_add(size as usize).min(self.out.len());
        self.cursor = end;
        &self.out[start..end]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MIB: usize = 1 << 20;

    fn ok_runner() -> impl FnMut(&Queries, usize, &mut Vec<u8>) -> Result<bool, Failed> {
        |qs, _, out| {
            for q in &qs.queries {
                out.extend_from_slice(format!("{{\"dir\":\"{}\"}}\n", q.dir).as_bytes());
            }
            Ok(true)
        }
    }

    fn read_all(s: &mut Search) -> String {
        let mut all = Vec::new();
        loop {
            let chunk = s.read(7).to_vec();
            if chunk.is_empty() {
                break;
            }
            all.extend(chunk);
        }
        String::from_utf8(all).unwrap()
    }

    fn fresh() -> (Search, Budget) {
        let b = Budget::new(64 * MIB);
        assert!(b.charge(1000, SEARCH_HANDLE_BYTES));
        (Search::new(1000), b)
    }

    #[test]
    fn buffers_are_charged_and_past_the_budget_a_query_fails_with_enobufs() {
        let b = Budget::new(8 * SEARCH_HANDLE_BYTES + 4096);
        assert!(b.charge(7, SEARCH_HANDLE_BYTES));
        let mut s = Search::new(7);
        let mut run = ok_runner();
        // A user's quarter is 3 KiB, 1 KiB of it the file itself: 2.5 KiB of query does not fit.
        let big = format!("{{\"dir\":\"/{}", "x".repeat(2500));
        assert_eq!(s.write_with(big.as_bytes(), &b, &mut run), Err(Errno::ENOBUFS));
        assert!(read_all(&mut s).contains("search memory"));
        // Small queries still work, and the charge follows the buffers.
        s.write_with(b"{\"dir\":\"/d\",\"vector\":[1]}", &b, &mut run)
            .unwrap();
        assert_eq!(read_all(&mut s), "{\"dir\":\"/d\"}\n");
        assert_eq!(b.total(), s.footprint());
        s.close(&b);
        assert_eq!(b.total(), 0);
        // A result larger than the budget allows is refused, not kept.
        let b = Budget::new(4 * SEARCH_HANDLE_BYTES + 4 * 1024);
        assert!(b.charge(7, SEARCH_HANDLE_BYTES));
        let mut s = Search::new(7);
        let mut huge = |_: &Queries, _: usize, out: &mut Vec<u8>| {
            out.resize(64 * 1024, b'x');
            Ok(true)
        };
        assert_eq!(
            s.write_with(b"{\"dir\":\"/d\",\"vector\":[1]}", &b, &mut huge),
            Err(Errno::ENOBUFS)
        );
        assert!(b.total() < 2 * SEARCH_HANDLE_BYTES, "{}", b.total());
        s.close(&b);
        assert_eq!(b.total(), 0);
    }

    #[test]
    fn an_idle_file_keeps_only_its_results() {
        let (mut s, b) = fresh();
        let mut run = ok_runner();
        let padded = format!("{{\"dir\":\"/d\",\"vector\":[1]}}{}", " ".repeat(100_000));
        s.write_with(padded.as_bytes(), &b, &mut run).unwrap();
        assert!(s.query.capacity() == 0 && s.out.len() < 64, "{}", s.footprint());
        assert_eq!(b.total(), s.footprint());
    }

    #[test]
    fn split_query_runs_when_complete() {
        let (mut s, b) = fresh();
        let mut run = ok_runner();
        assert_eq!(s.write_with(b"{\"dir\":\"/d\",", &b, &mut run), Ok(12));
        assert!(read_all(&mut s).contains("incomplete"));
        assert_eq!(s.write_with(b"\"vector\":[1]}", &b, &mut run), Ok(13));
        assert_eq!(read_all(&mut s), "{\"dir\":\"/d\"}\n");
        // A new query replaces the old results.
        s.write_with(b"{\"dir\":\"/e\",\"vector\":[1]}\n", &b, &mut run)
            .unwrap();
        assert_eq!(read_all(&mut s), "{\"dir\":\"/e\"}\n");
    }

    #[test]
    fn malformed_query_is_einval_with_an_error_line() {
        let (mut s, b) = fresh();
        let mut run = ok_runner();
        assert_eq!(
            s.write_with(b"{\"dir\":\"/d\"}", &b, &mut run),
            Err(Errno::EINVAL)
        );
        let line = read_all(&mut s);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(v["error"].as_str().unwrap().contains("vector"), "{line}");
        assert_eq!(s.write_with(b"[1,2]", &b, &mut run), Err(Errno::EINVAL));
        assert_eq!(s.write_with(b"{} trailing", &b, &mut run), Err(Errno::EINVAL));
        let big = vec![b' '; QUERY_LEN_MAX + 1];
        assert_eq!(s.write_with(&big, &b, &mut run), Err(Errno::EINVAL));
        assert!(read_all(&mut s).contains("longer"));
    }

    #[test]
    fn engine_errors_keep_their_errno() {
        let (mut s, b) = fresh();
        let mut run = |_: &Queries, _: usize, _: &mut Vec<u8>| Err(Failed::from(Error::NotFound));
        assert_eq!(
            s.write_with(b"{\"dir\":\"/nope\",\"vector\":[1]}", &b, &mut run),
            Err(Errno::ENOENT)
        );
        assert!(read_all(&mut s).contains("no such file"));
        let mut denied = |_: &Queries, _: usize, _: &mut Vec<u8>| Err(Failed::from(Error::Access));
        assert_eq!(
            s.write_with(b"{\"dir\":\"/secret\",\"vector\":[1]}", &b, &mut denied),
            Err(Errno::EACCES)
        );
    }

    #[test]
    fn a_batch_runs_once_complete_and_its_errors_name_the_query() {
        let (mut s, b) = fresh();
        let mut run = ok_runner();
        let batch = br#"[{"dir":"/a","vector":[1]},{"dir":"/b","vector":[1]}]"#;
        // Split inside the array: nothing runs until the array is complete.
        assert_eq!(s.write_with(&batch[..30], &b, &mut run), Ok(30));
        assert!(read_all(&mut s).contains("incomplete"));
        s.write_with(&batch[30..], &b, &mut run).unwrap();
        assert_eq!(read_all(&mut s), "{\"dir\":\"/a\"}\n{\"dir\":\"/b\"}\n");
        // A malformed query anywhere fails the batch before anything runs.
        let mut never = |_: &Queries, _: usize, _: &mut Vec<u8>| -> Result<bool, Failed> { panic!("ran") };
        assert_eq!(
            s.write_with(br#"[{"dir":"/a","vector":[1]},{"dir":"/b"}]"#, &b, &mut never),
            Err(Errno::EINVAL)
        );
        assert!(read_all(&mut s).contains("query 1: "));
        // An engine error keeps its errno and names the query.
        let mut missing = |_: &Queries, _: usize, _: &mut Vec<u8>| {
            Err(Failed {
                error: Error::NotFound,
                query: Some(1),
                path: Some("/nope".into()),
            })
        };
        assert_eq!(s.write_with(batch, &b, &mut missing), Err(Errno::ENOENT));
        assert!(read_all(&mut s).starts_with("{\"error\":\"query 1: /nope: no such file"));
    }

    #[test]
    fn results_past_the_room_left_are_an_error_not_a_truncated_answer() {
        let b = Budget::new(4 * (SEARCH_HANDLE_BYTES + 4096));
        assert!(b.charge(7, SEARCH_HANDLE_BYTES));
        let mut s = Search::new(7);
        // The runner is told the room left (a user's quarter, less what is charged) and says
        // the lines did not fit.
        let mut seen = 0;
        let mut full = |_: &Queries, limit: usize, out: &mut Vec<u8>| {
            seen = limit;
            out.extend_from_slice(b"{\"path\":\"/d/a\",\"distance\":0}\n");
            Ok(false)
        };
        assert_eq!(
            s.write_with(b"{\"dir\":\"/d\",\"vector\":[1]}", &b, &mut full),
            Err(Errno::ENOBUFS)
        );
        assert!(seen > 0 && seen <= 4096, "{seen}");
        let line = read_all(&mut s);
        assert!(
            line.starts_with("{\"error\":\"results would exceed the search memory budget"),
            "{line}"
        );
        assert_eq!(b.total(), s.footprint());
        s.close(&b);
        assert_eq!(b.total(), 0);
    }
}
