#!/usr/bin/env bash
# `make compare`: filo-mio vs tokio-quiche vs raw quiche as real servers on
# loopback, loaded by tquic_client (small requests, handshakes) and filo-mio
# clients (bulk, idle connections). Installs/builds what is missing, then
# runs the harness (benches/src/bin/compare). See docs/performance.md.
#
# Usage: scripts/compare.sh [compare options...]   (e.g. --rounds 5 --secs 10)
# Environment: FILO_TOOLS (default ~/.cache/filo-tools) holds the pinned
# tools; FILO_COMPARE_OUT (default target/compare... under CARGO_TARGET_DIR)
# receives compare.md and compare.json.
set -euo pipefail
cd "$(dirname "$0")/.."

TQUIC_VERSION="1.6.0"
TOOLS="${FILO_TOOLS:-$HOME/.cache/filo-tools}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/filo-target}"
OUT="${FILO_COMPARE_OUT:-$CARGO_TARGET_DIR/compare}"

log() { echo "compare: $*" >&2; }

./scripts/deps.sh
command -v taskset >/dev/null 2>&1 || { log "taskset (util-linux) is required"; exit 1; }
if [ "$(nproc)" -lt 2 ]; then
  log "needs 2 cores (servers on core 1, clients on core 0); this machine has $(nproc)"
  exit 1
fi

# 1. The neutral load generator, pinned.
TQUIC="$TOOLS/tquic/bin/tquic_client"
if ! [ -x "$TQUIC" ] || ! "$TQUIC" --version 2>/dev/null | grep -q "$TQUIC_VERSION"; then
  log "installing tquic_tools $TQUIC_VERSION (tquic_client) into $TOOLS/tquic"
  cargo install tquic_tools --version "$TQUIC_VERSION" --locked \
    --root "$TOOLS/tquic" --target-dir "$TOOLS/tquic-target" >&2
fi

# 2. tokio-quiche's published example server, in its own workspace.
TOKIO_QUICHE="$(./scripts/build-tokio-quiche.sh "$TOOLS/tokio-quiche")"

# 3. filo-mio's bench server, the raw-quiche server and the harness.
cargo build --release -p filo-mio --example bench_server --example raw_quiche_server >&2
cargo build --release -p filo-benches --bin compare >&2
BIN="$CARGO_TARGET_DIR/release"

exec "$BIN/compare" \
  --tquic "$TQUIC" \
  --tokio-quiche "$TOKIO_QUICHE" \
  --filo "$BIN/examples/bench_server" \
  --raw "$BIN/examples/raw_quiche_server" \
  --out "$OUT" \
  "$@"
