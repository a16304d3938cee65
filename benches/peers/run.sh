#!/usr/bin/env bash
# VexFS against hnswlib and faiss (IndexHNSWFlat) on the same files, same settings, one thread.
#
# Usage: benches/peers/run.sh [DATA_DIR]
#   DATA_DIR holds base.fvecs, query.fvecs and gt.ivecs (default: benches/data/gauss100k, generated
#   with `vexfs-bench gen` when missing: 100,000 x 128 clustered Gaussian, 100 clusters, 10,000
#   queries, seed 1).
# Environment: M (16), EFC (200), EFS (10,16,24,32,48,64,96,128,192,256,384), K (10), METRIC (l2),
#   ROUNDS (3: the three libraries run in turn, build and sweep, this many times), RUNS (2: each ef
#   sweep is repeated and the fastest run kept), OUT (benches/data/peers-out), CARGO_TARGET_DIR.
#   Each library's best build and best queries/s per ef over all rounds and runs is reported: on a
#   shared machine interference only slows a run down (see peers.py).
#
# Installs hnswlib and faiss-cpu from PyPI into benches/peers/.venv (git-ignored), builds
# vexfs-bench (release), runs the three, and prints the side-by-side table with the ratios
# ours / theirs (see peers.py for how each figure is measured).
set -euo pipefail
cd "$(dirname "$0")/../.."

M=${M:-16}
EFC=${EFC:-200}
EFS=${EFS:-10,16,24,32,48,64,96,128,192,256,384}
K=${K:-10}
METRIC=${METRIC:-l2}
RUNS=${RUNS:-2}
ROUNDS=${ROUNDS:-3}
DATA=${1:-benches/data/gauss100k}
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

if [ ! -f "$DATA/gt.ivecs" ]; then
    "$BENCH" gen --n 100000 --queries 10000 --dim 128 --clusters 100 --seed 1 --out "$DATA" --k 100
fi
mkdir -p "$OUT"
rm -f "$OUT"/*.round*.jsonl
common=(--base "$DATA/base.fvecs" --query "$DATA/query.fvecs" --gt "$DATA/gt.ivecs" --metric "$METRIC"
        --m "$M" --ef-construction "$EFC" --ef "$EFS" -k "$K" --runs "$RUNS")
for round in $(seq 1 "$ROUNDS"); do
    for lib in vexfs hnswlib faiss; do
        if [ "$lib" = vexfs ]; then
            cmd=("$BENCH" ann "${common[@]}" --json)
        else
            cmd=("$VENV/bin/python" benches/peers/peers.py run --lib "$lib" "${common[@]}")
        fi
        echo "+ [round $round] ${cmd[*]}" >&2
        "${cmd[@]}" > "$OUT/$lib.round$round.jsonl"
    done
done
for lib in vexfs hnswlib faiss; do
    "$VENV/bin/python" benches/peers/peers.py best "$OUT/$lib".round*.jsonl > "$OUT/$lib.jsonl"
done
"$VENV/bin/python" benches/peers/peers.py compare "$OUT/vexfs.jsonl" "$OUT/hnswlib.jsonl" "$OUT/faiss.jsonl" \
    | tee "$OUT/table.md"
