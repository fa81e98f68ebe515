# filo: run `make demo` (the main job) or `make test` (the test suite).
# Both install missing system packages first (scripts/deps.sh).

CARGO ?= cargo
# Builds go to a cache outside the clone so a fresh clone reuses them.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/filo-target

.PHONY: deps demo test lint ci doc clean fuzz-build fuzz-corpus fuzz-smoke bench bench-build compare

deps:
	@./scripts/deps.sh

## The main job: 1000 requests over a lossy in-memory link.
demo: deps
	$(CARGO) run --release -p filo-sim --bin filo-demo

## The whole test suite: unit, integration, doc tests, allocation audit.
test: deps
	# The example tests run the example binaries: `--all-targets` builds
	# examples only as test harnesses, so build the binaries themselves
	# (with the test profile: same dependency builds, no second BoringSSL).
	$(CARGO) build --profile test -p filo-mio --examples
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc
	$(CARGO) test -p filo-core --features alloc-audit --test alloc -- --nocapture
	$(CARGO) test -p filo-mio --features alloc-audit --test alloc -- --nocapture
	$(CARGO) test -p filo-sim --features fuzz

lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p filo-core -p filo-mio --all-targets --features filo-core/alloc-audit,filo-mio/alloc-audit -- -D warnings
	$(CARGO) clippy -p filo-sim --all-targets --features fuzz -- -D warnings

doc: deps
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

## Fuzzing (nightly + cargo-fuzz; see docs/fuzzing.md).
FUZZ_SECONDS ?= 60
fuzz-build: deps
	./scripts/fuzz.sh build
fuzz-corpus: deps
	./scripts/fuzz.sh corpus
fuzz-smoke: deps
	./scripts/fuzz.sh smoke $(FUZZ_SECONDS)

## Benchmarks (docs/performance.md). Not in CI (too slow); bench-build is.
bench: deps
	$(CARGO) bench -p filo-benches --bench transfer --bench handshake --bench micro
	$(CARGO) bench -p filo-benches --features alloc-audit --bench allocs
	$(CARGO) bench -p filo-benches --bench ratios
bench-build: deps
	$(CARGO) bench --workspace --no-run
	$(CARGO) bench -p filo-benches --features alloc-audit --no-run
## filo-mio vs tokio-quiche vs raw quiche on loopback (installs tquic_client
## and builds tokio-quiche's example first). Options: COMPARE_ARGS="--rounds 5".
compare: deps
	./scripts/compare.sh $(COMPARE_ARGS)

ci: lint test doc bench-build

clean:
	$(CARGO) clean
