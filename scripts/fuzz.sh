#!/usr/bin/env bash
# filo's fuzzing front end (see docs/fuzzing.md).
#
#   scripts/fuzz.sh build                 build every target
#   scripts/fuzz.sh corpus                regenerate the seed corpus (fuzz/corpus/*/seed-*)
#   scripts/fuzz.sh smoke [SECONDS]       run every target for SECONDS (default 60); fail on any crash
#   scripts/fuzz.sh run TARGET [SECONDS]  fuzz one target (default: until stopped) on fuzz/corpus/TARGET
#
# Builds go to $FILO_FUZZ_TARGET_DIR (default ~/.cache/filo-fuzz-target),
# outside the clone, with BoringSSL in its deterministic fuzzing mode.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

# BoringSSL's fuzzing switches: the two the project has always named, and
# FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, which is what the BoringSSL in
# boring-sys 5 checks (deterministic RNG and RAND_reset_for_fuzzing).
FLAGS="-DBORINGSSL_UNSAFE_DETERMINISTIC_MODE -DBORINGSSL_UNSAFE_FUZZER_MODE -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION"
export CFLAGS="$FLAGS" CXXFLAGS="$FLAGS"
export CARGO_TARGET_DIR="${FILO_FUZZ_TARGET_DIR:-$HOME/.cache/filo-fuzz-target}"
TARGETS=(server_datagrams client_datagrams server_post_handshake h3_api_ops header_validation retry_token transmit_batching)

need_tools() {
  rustup toolchain list | grep -q '^nightly' || { echo "fuzz: the nightly toolchain is required (rustup toolchain install nightly)" >&2; exit 1; }
  if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz"
    cargo install cargo-fuzz --locked
  fi
}

build() {
  need_tools
  if ! cargo +nightly fuzz build -O 2>"$CARGO_TARGET_DIR.build.log"; then
    if grep -q "undefined symbol: RAND_reset_for_fuzzing" "$CARGO_TARGET_DIR.build.log"; then
      # BoringSSL was built without the fuzzing flags (boring-sys does not
      # rebuild when CFLAGS change): rebuild it.
      echo "fuzz: rebuilding BoringSSL in fuzzing mode"
      rm -rf "$CARGO_TARGET_DIR"/*/release/build/boring-sys-* "$CARGO_TARGET_DIR"/*/release/.fingerprint/boring-sys-*
      cargo +nightly fuzz build -O
    else
      cat "$CARGO_TARGET_DIR.build.log" >&2
      exit 1
    fi
  fi
}

bin_dir() { echo "$CARGO_TARGET_DIR/$(rustc -vV | sed -n 's/^host: //p')/release"; }

case "${1:-}" in
  build) build ;;
  corpus)
    build
    "$(bin_dir)/gen_corpus" "$PWD/corpus"
    ;;
  smoke)
    secs="${2:-60}"
    build
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    for t in "${TARGETS[@]}"; do
      # Fuzz a copy of the committed seeds so the clone stays clean.
      mkdir -p "$work/$t"
      cp corpus/"$t"/seed-* "$work/$t"/ 2>/dev/null || true
      echo "fuzz: $t for ${secs}s"
      status=0
      cargo +nightly fuzz run -O "$t" "$work/$t" -- -max_total_time="$secs" -print_final_stats=1 \
        -artifact_prefix="$work/$t-" >"$work/$t.log" 2>&1 || status=$?
      grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|==[0-9]+==ERROR|SUMMARY|thread .* panicked)' "$work/$t.log" || true
      if [ "$status" -ne 0 ] || compgen -G "$work/$t-*" >/dev/null; then
        mkdir -p artifacts/"$t"
        cp "$work/$t"-* artifacts/"$t"/ 2>/dev/null || true
        tail -40 "$work/$t.log" >&2
        echo "fuzz: $t failed (exit $status); inputs saved in fuzz/artifacts/$t" >&2
        exit 1
      fi
    done
    ;;
  run)
    t="${2:?target}"
    build
    if [ -n "${3:-}" ]; then
      cargo +nightly fuzz run -O "$t" corpus/"$t" -- -max_total_time="$3" -print_final_stats=1
    else
      cargo +nightly fuzz run -O "$t" corpus/"$t"
    fi
    ;;
  *)
    sed -n '2,10p' "$0"
    exit 2
    ;;
esac
