#!/usr/bin/env bash
# Builds tokio-quiche's published example server `async_http3_server`
# (crate tokio-quiche, exactly 0.20.1 from crates.io) from the crate's own
# source, in its OWN workspace and target dir. tokio-quiche enables
# quiche/qlog, so it must never be unified with filo's workspace build.
#
# Usage: scripts/build-tokio-quiche.sh [OUT_DIR]
#   OUT_DIR defaults to $HOME/.cache/filo-tools/tokio-quiche
# Prints the path of the built binary ($OUT/bin/async_http3_server) on stdout.
# Idempotent: if the binary and a matching version stamp exist, it only prints.
set -euo pipefail

VERSION="0.20.1"
CRATE="tokio-quiche"
EXAMPLE="async_http3_server"

OUT="${1:-$HOME/.cache/filo-tools/tokio-quiche}"
BIN="$OUT/bin/$EXAMPLE"
STAMP="$OUT/bin/.version"

die() { echo "build-tokio-quiche: error: $*" >&2; exit 1; }
log() { echo "build-tokio-quiche: $*" >&2; }

if [ -x "$BIN" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$CRATE $VERSION" ]; then
  echo "$BIN"
  exit 0
fi

command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust via rustup)"

# cmake/clang/libclang for BoringSSL (quiche's `boringssl-boring-crate`/vendored build).
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -x "$SCRIPT_DIR/deps.sh" ] || [ -f "$SCRIPT_DIR/deps.sh" ]; then
  bash "$SCRIPT_DIR/deps.sh" >&2 || die "scripts/deps.sh failed (cmake/clang/libclang-dev needed for BoringSSL)"
fi

mkdir -p "$OUT" || die "cannot create output directory $OUT"
OUT="$(cd "$OUT" && pwd)"
BIN="$OUT/bin/$EXAMPLE"
STAMP="$OUT/bin/.version"

# --- 1. Fetch the crate source through cargo (no git) -----------------------
FETCH="$OUT/fetch"
mkdir -p "$FETCH/src"
cat >"$FETCH/Cargo.toml" <<EOF
[package]
name = "filo-fetch-tokio-quiche"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
$CRATE = "=$VERSION"

[workspace]
EOF
echo "fn main() {}" >"$FETCH/src/main.rs"

log "fetching $CRATE $VERSION from crates.io"
(cd "$FETCH" && cargo fetch --manifest-path "$FETCH/Cargo.toml" >&2) \
  || die "cargo fetch of $CRATE =$VERSION failed (network access to crates.io?)"

CARGO_HOME_DIR="${CARGO_HOME:-$HOME/.cargo}"
SRC_IN_REGISTRY=""
for d in "$CARGO_HOME_DIR"/registry/src/*/"$CRATE-$VERSION"; do
  if [ -f "$d/Cargo.toml" ]; then SRC_IN_REGISTRY="$d"; break; fi
done
[ -n "$SRC_IN_REGISTRY" ] \
  || die "fetched, but $CARGO_HOME_DIR/registry/src/*/$CRATE-$VERSION not found (CARGO_HOME=$CARGO_HOME_DIR)"
log "crate source: $SRC_IN_REGISTRY"

# --- 2. Copy it out as a standalone workspace root --------------------------
SRC="$OUT/src"
rm -rf "$SRC"
cp -R "$SRC_IN_REGISTRY" "$SRC"
chmod -R u+w "$SRC"
[ -d "$SRC/examples/$EXAMPLE" ] || [ -f "$SRC/examples/$EXAMPLE.rs" ] \
  || die "example $EXAMPLE not shipped in $CRATE $VERSION"
# Make the copy its own workspace root so cargo never walks up into an
# enclosing workspace (e.g. if $OUT lies inside some other project).
if ! grep -q '^\[workspace\]' "$SRC/Cargo.toml"; then
  printf '\n[workspace]\n' >>"$SRC/Cargo.toml"
fi

# --- 3. Build -----------------------------------------------------------------
export CARGO_TARGET_DIR="$OUT/target"
build() {
  (cd "$SRC" && cargo build --release --example "$EXAMPLE" "$@" >&2)
}
if [ -f "$SRC/Cargo.lock" ]; then
  log "building $EXAMPLE with the crate's shipped Cargo.lock (--locked); first BoringSSL build takes minutes"
  if ! build --locked; then
    # Fallback: if the shipped lock cannot be used as is (e.g. it needs an
    # update under this cargo), resolve afresh within the crate's semver ranges.
    log "warning: --locked build failed; retrying without --locked (lock re-resolved)"
    build || die "cargo build --release --example $EXAMPLE failed"
  fi
else
  # The published crate ships no Cargo.lock: dependencies are resolved afresh.
  log "no Cargo.lock shipped; building $EXAMPLE with a freshly resolved lock"
  build || die "cargo build --release --example $EXAMPLE failed"
fi

BUILT="$CARGO_TARGET_DIR/release/examples/$EXAMPLE"
[ -x "$BUILT" ] || die "build finished but $BUILT is missing"
mkdir -p "$OUT/bin"
cp "$BUILT" "$BIN.tmp"
mv -f "$BIN.tmp" "$BIN"
# Keep the lock that was actually used beside the binary, for reference.
cp "$SRC/Cargo.lock" "$OUT/bin/Cargo.lock" 2>/dev/null || true
echo "$CRATE $VERSION" >"$STAMP"
log "built $BIN"
echo "$BIN"
