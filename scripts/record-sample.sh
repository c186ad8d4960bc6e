#!/usr/bin/env bash
# Record data/sample/: two runs one after the other over every client and
# runtime this host has (study "all"), then hyperfine's measurement of `run`
# of `true` under runc and crun in the same sitting (an outside check for the
# analysis tests). Run as root after `make setup`.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS=${TRIALS:-12}
rm -rf data/sample.new && mkdir -p data/sample.new
for n in 1 2; do
  .venv/bin/rtlab collect --study all --trials "$TRIALS" --warmup 2 --seed "$n" \
    --no-progress --out "data/sample.new/run-$n"
done
.venv/bin/python scripts/hyperfine_run_true.py data/sample.new/hyperfine-run-true.json
rm -rf data/sample.keep && { [ -d data/sample ] && mv data/sample data/sample.keep || true; }
mv data/sample.new data/sample
cp data/sample.keep/README.md data/sample/ 2>/dev/null || true
rm -rf data/sample.keep
echo "recorded data/sample"
