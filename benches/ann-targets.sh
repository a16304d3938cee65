#!/usr/bin/env bash
# The recall targets of the HNSW issue that the peers script does not cover, on the same data:
# filtered search (10 % and 1 % of files matching), f16 and i8 against f32 at the same ef (i8 on
# integer data), and bin with hamming. Every recall is measured against exact search (the
# filtered ones against exact filtered search, computed by vexfs-bench itself).
#
# Usage: benches/ann-targets.sh            (about 6 minutes on 2 cores)
# Environment: QUERIES (1000 of the data set's queries), EFS (16,32,64,128), OUT
#   (benches/data/targets-out), CARGO_TARGET_DIR.
# Data: benches/data/gauss100k (as benches/peers/run.sh makes it) and benches/data/gauss100k-int8
# (the same generator rounded to integers in -127..=127), generated when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

QUERIES=${QUERIES:-1000}
EFS=${EFS:-16,32,64,128}
OUT=${OUT:-benches/data/targets-out}
TARGET=${CARGO_TARGET_DIR:-target}

cargo build --release --locked -p vexfs-benches --bin vexfs-bench
BENCH="$TARGET/release/vexfs-bench"
F=benches/data/gauss100k
I=benches/data/gauss100k-int8
[ -f "$F/gt.ivecs" ] || "$BENCH" gen --n 100000 --queries 10000 --dim 128 --clusters 100 --seed 1 --out "$F" --k 100
[ -f "$I/gt.ivecs" ] || "$BENCH" gen --n 100000 --queries 10000 --dim 128 --clusters 100 --seed 1 --out "$I" --k 100 --integer 127
mkdir -p "$OUT"

# name | data | extra arguments
runs=(
    "f32|$F|--gt $F/gt.ivecs"
    "f32, 10% match|$F|--filter-selectivity 0.1"
    "f32, 1% match|$F|--filter-selectivity 0.01"
    "f16|$F|--type f16 --gt $F/gt.ivecs"
    "f32 (integer data)|$I|--gt $I/gt.ivecs"
    "i8 (integer data)|$I|--type i8 --gt $I/gt.ivecs"
    "bin, hamming|$F|--type bin --metric hamming"
)
for i in "${!runs[@]}"; do
    IFS='|' read -r name data extra <<< "${runs[$i]}"
    echo "+ $name" >&2
    # shellcheck disable=SC2086 # $extra is several arguments
    "$BENCH" ann --base "$data/base.fvecs" --query "$data/query.fvecs" --queries "$QUERIES" --ef "$EFS" \
        --json $extra | sed "s/^{/{\"run\":\"$name\",/" > "$OUT/run$i.jsonl"
done

python3 - "$OUT"/run*.jsonl <<'EOF'
import json, sys
rows = [json.loads(l) for f in sorted(sys.argv[1:], key=lambda p: int(p.rsplit("run", 1)[1].split(".")[0])) for l in open(f)]
efs = sorted({r["ef"] for r in rows if r["phase"] == "search"})
print("| run | inserts/s | " + " | ".join(f"ef {e}: recall@10 (queries/s)" for e in efs) + " |")
print("|---|---:|" + "---:|" * len(efs))
for name in dict.fromkeys(r["run"] for r in rows):
    build = next(r for r in rows if r["run"] == name and r["phase"] == "build")
    res = {r["ef"]: r for r in rows if r["run"] == name and r["phase"] == "search"}
    print(f"| {name} | {build['inserts_per_s']:,.0f} | "
          + " | ".join(f"{res[e]['recall']:.4f} ({res[e]['qps']:,.0f})" for e in efs) + " |")
EOF
