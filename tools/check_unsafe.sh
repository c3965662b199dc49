#!/usr/bin/env bash
# Runs every test under AddressSanitizer (`--release`, with the SIMD kernels this CPU has), so
# that an out-of-bounds read or write in dynq's unsafe code (src/kernels), a use after free or
# a double free stops the test that made it. Optional, like everything in tools/; needs the
# nightly toolchain (`rustup toolchain install nightly`). LineBuf pads its buffers by two cache
# lines inside its own allocation, so a read that far past one of them is not seen.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
# Its own target directory: the flag rebuilds every crate. The explicit target keeps the
# sanitizer out of build scripts and proc macros.
CARGO_TARGET_DIR=target/asan RUSTFLAGS="-Zsanitizer=address" \
  cargo +nightly test --release --target "$host" --tests "$@"
