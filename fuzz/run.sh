#!/usr/bin/env bash
# Fuzzes every loader for SECONDS each (default 600), two targets at a time on this 2-core
# machine. Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Seeds each
# corpus with the real files in tests/fixtures/ and presets/ plus fuzz/seeds/make_seeds.rs's.
# Crashes land in fuzz/artifacts/<target>/; the log of each run in fuzz/logs/.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-600}
mkdir -p corpus/weights corpus/reference corpus/preset corpus/tokenize logs
cargo +nightly run --release --bin make_seeds
for f in ../tests/fixtures/*.safetensors; do
  # Small files only: libFuzzer's input length follows the largest seed.
  if [ "$(stat -c %s "$f")" -le 32768 ]; then
    cp "$f" corpus/weights/ && cp "$f" corpus/reference/
  fi
done
cp ../presets/*.toml corpus/preset/
# The shipped vocabulary and the head of its validation text.
python3 - <<'PY'
import json, struct
with open("../models/shakespeare-charlstm.safetensors", "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(n))
vocab = header["__metadata__"]["dynq.vocab"]
text = open("../tests/fixtures/shakespeare_val_head.txt", encoding="utf-8").read()[:1500]
open("corpus/tokenize/shakespeare", "wb").write(vocab.encode() + b"\0" + text.encode())
PY
run() {
  cargo +nightly fuzz run "$1" "corpus/$1" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
    -malloc_limit_mb=512 -timeout=10 -print_final_stats=1 >"logs/$1.log" 2>&1 || echo "$1: see fuzz/logs/$1.log"
}
cargo +nightly fuzz build
run weights & run reference & wait
run preset & run tokenize & wait
for t in weights reference preset tokenize; do
  echo "== $t"; grep -E "stat::number_of_executed_units|cov:|stat::peak_rss_mb" "logs/$t.log" | tail -3
done
