#!/usr/bin/env bash
# The vexfs Python module against the Rust engine (vexfs-bench ann) and against hnswlib and faiss
# from Python, on the same data, in interleaved rounds; then the thread scaling of the module.
#
# Usage: benches/python/run.sh [DATA_DIR]
#   DATA_DIR holds base.fvecs, query.fvecs and gt.ivecs (default: benches/data/gauss100k, made
#   with `vexfs-bench gen --n 100000 --queries 10000 --dim 128 --clusters 100 --seed 1` when missing).
# Environment: ROUNDS (3), RUNS (2: each search repeated, the fastest kept), EFS (16,32,64,128),
#   K (10), M (16), EFC (200), THREADS_EF (64), OUT (benches/data/python-out), CARGO_TARGET_DIR.
#
# Uses the peers' virtual environment (benches/peers/.venv, made as benches/peers/run.sh does)
# and installs the module into it from this checkout with a release build (`pip install
# ./frontends/python`, reinstalled every run). Each library runs in a fresh process per round,
# in turn, so a disturbance on a shared machine hits one round of one library; the best round
# of each is reported (see bench.py). Takes about 15 minutes with the defaults on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
RUNS=${RUNS:-2}
EFS=${EFS:-16,32,64,128}
K=${K:-10}
M=${M:-16}
EFC=${EFC:-200}
THREADS_EF=${THREADS_EF:-64}
DATA=${1:-benches/data/gauss100k}
OUT=${OUT:-benches/data/python-out}
VENV=benches/peers/.venv
TARGET=${CARGO_TARGET_DIR:-target}

# One thread everywhere (the thread-scaling run starts its own threads).
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import hnswlib, faiss, numpy, psutil' 2>/dev/null; then
    "$VENV/bin/pip" install --quiet -r benches/peers/requirements.txt
fi
"$VENV/bin/pip" install --quiet --force-reinstall --no-deps ./frontends/python
"$VENV/bin/python" -c 'import vexfs; print("vexfs module", vexfs.__version__, vexfs.__file__)'

cargo build --release --locked -p vexfs-benches --bin vexfs-bench
BENCH="$TARGET/release/vexfs-bench"
if [ ! -f "$DATA/gt.ivecs" ]; then
    "$BENCH" gen --n 100000 --queries 10000 --dim 128 --clusters 100 --seed 1 --out "$DATA" --k 100
fi
mkdir -p "$OUT"
rm -f "$OUT"/*.jsonl
files=(--base "$DATA/base.fvecs" --query "$DATA/query.fvecs")
common=("${files[@]}" --gt "$DATA/gt.ivecs" --metric l2 --m "$M" --ef-construction "$EFC" --ef "$EFS" -k "$K" --runs "$RUNS")
for round in $(seq 1 "$ROUNDS"); do
    for lib in vexfs-python vexfs-rust hnswlib faiss; do
        case $lib in
            vexfs-rust) cmd=("$BENCH" ann "${common[@]}" --json) ;;
            vexfs-python) cmd=("$VENV/bin/python" benches/python/bench.py run --lib vexfs "${common[@]}") ;;
            *) cmd=("$VENV/bin/python" benches/python/bench.py run --lib "$lib" "${common[@]}") ;;
        esac
        echo "+ [round $round] ${cmd[*]}" >&2
        "${cmd[@]}" > "$OUT/$lib.round$round.jsonl"
    done
done
cmd=("$VENV/bin/python" benches/python/bench.py threads "${files[@]}" --m "$M" --ef-construction "$EFC"
     --ef "$THREADS_EF" -k "$K" --threads 1,2 --repeats 3)
echo "+ ${cmd[*]}" >&2
"${cmd[@]}" > "$OUT/threads.jsonl"
"$VENV/bin/python" benches/python/bench.py compare "$OUT" | tee "$OUT/table.md"
