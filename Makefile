# The task host. `make demo` runs it; `make test` runs every test, after
# installing or starting what the tests need.

GO      ?= go
BIN     := bin/host
PLUGINS := $(patsubst %/main.go,%,$(wildcard plugins/core/*/main.go))
WASM    := $(addsuffix .wasm,$(PLUGINS))
# Enterprise plugins are built outside plugins/ (which workers scan for
# drop-ins) and shipped as a signed bundle: make enterprise.
ENTERPRISE_WASM := $(patsubst plugins/enterprise/%/main.go,dist/enterprise/%.wasm,$(wildcard plugins/enterprise/*/main.go))
GOWASM  := GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 $(GO) build -buildmode=c-shared -trimpath -ldflags="-s -w"

.PHONY: help all build generate plugins pin services test test-run test-scale test-unit test-race bench fuzz demo tools celery enterprise build-enterprise plugins-polyglot clean FORCE

all: build plugins

## help: this list of targets
help:
	@awk '/^## /{ l = substr($$0, 4); if (match(l, /^[a-z-]+: /)) printf "  %-18s %s\n", substr(l, 1, RLENGTH-2), substr(l, RLENGTH+1); else printf "  %-18s %s\n", "", l }' $(MAKEFILE_LIST)

## build: the host binary, bin/host (pure Go, CGO_ENABLED=0)
VERSION ?= $(shell git describe --always --dirty --tags 2>/dev/null || echo devel)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.Version=$(VERSION)" -o $(BIN) ./cmd/host

## plugins: every plugin under plugins/core, and the host (tracked files stay as they are: no digest is written)
plugins: $(WASM) build

plugins/%.wasm: FORCE
	$(GOWASM) -o $@ ./plugins/$*

dist/enterprise/%.wasm: FORCE
	$(GOWASM) -o $@ ./plugins/enterprise/$*

## enterprise: build plugins/enterprise and bundle them, signed, into dist/enterprise.tbundle
## (ENTERPRISE_KEY, default .keys/enterprise.key, made on first use; workers trust its .pub with --bundle-key)
ENTERPRISE_KEY ?= .keys/enterprise.key
enterprise: build $(ENTERPRISE_WASM)
	@if [ -z "$(ENTERPRISE_WASM)" ] || [ ! -f plugins/enterprise/manifest.toml ]; then \
		echo "enterprise: no plugins under plugins/enterprise (or no plugins/enterprise/manifest.toml): nothing to bundle"; exit 0; fi; \
	if [ ! -f $(ENTERPRISE_KEY) ]; then ./$(BIN) bundle keygen --out $(dir $(ENTERPRISE_KEY)) --name $(basename $(notdir $(ENTERPRISE_KEY))); fi; \
	./$(BIN) bundle build --key $(ENTERPRISE_KEY) --manifest plugins/enterprise/manifest.toml --out dist/enterprise.tbundle

## build-enterprise: bin/host-enterprise, a host with the enterprise bundle and its public key built in (-tags embedbundle)
build-enterprise: enterprise
	cp dist/enterprise.tbundle cmd/host/embedded.tbundle
	cp $(ENTERPRISE_KEY:.key=.pub) cmd/host/embedded.pub
	CGO_ENABLED=0 $(GO) build -trimpath -tags embedbundle -o bin/host-enterprise ./cmd/host

## services: the servers the tests use (Redis, PostgreSQL, a Temporal dev server, a hatchet-lite engine), started or
## installed when missing (the Temporal CLI and the Hatchet engine are built once into ~/.cache/taskhost/tools)
services:
	@command -v socat >/dev/null || { (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq socat >/dev/null; }
	@./scripts/services.sh
	@./scripts/temporal-up.sh >/dev/null
	@./scripts/hatchet-up.sh >/dev/null

## tools: what the tests need beyond Go: clang and wasm-ld for the C test plugins; wasi-libc, the wasm32
## compiler runtime and Debian's Rust for the polyglot example plugins (AssemblyScript comes from npm)
TOOLS_PKGS := clang lld wasi-libc libclang-rt-14-dev-wasm32 rustc libstd-rust-dev-wasm32
tools:
	@command -v clang >/dev/null && command -v wasm-ld >/dev/null && [ -f /usr/lib/wasm32-wasi/libc.a ] \
		&& ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 \
		&& [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/wasm32-wasi ] || { \
		echo "installing $(TOOLS_PKGS)"; \
		(apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TOOLS_PKGS) >/dev/null; }

## plugins-polyglot: the example plugins in C, Rust and AssemblyScript, into dist/polyglot (each skipped, with a
## message, when its toolchain is missing)
plugins-polyglot:
	@./scripts/build-polyglot.sh dist/polyglot

## celery: Debian's Python Celery and its Redis client, for the Celery interop tests and the benchmarks against Celery
celery:
	@/usr/bin/python3 -c 'import celery, redis' 2>/dev/null || { \
		echo "installing python3-celery and python3-redis (benchmark baseline)"; \
		(apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-celery python3-redis >/dev/null; }

## test: vet, then every test with the race detector; the Temporal and Hatchet servers it started are stopped at
## the end (KEEP_SERVICES=1 keeps them for the next run)
test: tools services celery plugins
	@status=0; $(MAKE) --no-print-directory test-run || status=$$?; \
	if [ "$(KEEP_SERVICES)" != 1 ]; then ./scripts/temporal-down.sh; ./scripts/hatchet-down.sh; fi; exit $$status

test-run:
	$(GO) vet ./...
	GOOS=wasip1 GOARCH=wasm $(GO) vet ./sdk/... ./plugins/...
	TASKHOST_REQUIRE_CELERY=1 TASKHOST_REQUIRE_HATCHET=1 $(GO) test -race -count=1 -timeout 40m ./...
	./$(BIN) plugins verify

## test-scale: the scale-and-faults harness: an engine, three workers and a client on a private network of network
## namespaces, for every engine: throughput with 1 and 3 workers, kill -9, a worker cut off, an engine restart
## (as root; make test runs its short form)
test-scale: build services
	TASKHOST_SCALE=full TASKHOST_SCALE_OUT=$(CURDIR)/scale-results.txt $(GO) test ./internal/scale -run TestScale -v -count=1 -timeout 90m

## test-unit: the quick loop: tests without the race detector
test-unit: plugins
	$(GO) test -count=1 ./...

## generate: the core plugins' generated JSON codecs (easyjson, a tool in go.mod; a test checks they are current)
generate:
	$(GO) generate ./plugins/...

## bench: the benchmarks recorded in docs/BENCHMARKS.md
bench: tools services celery
	$(GO) test ./host -run '^$$' -bench 'BenchmarkCall|BenchmarkFreshInstance' -benchtime 5000x
	$(GO) test ./host -run '^$$' -bench BenchmarkLoad -benchtime 5x
	$(GO) test ./host/internal/meter -run '^$$' -bench BenchmarkInstrument
	$(GO) test ./cmd/host -run '^$$' -bench BenchmarkRiverEndToEnd -benchtime 1x -timeout 30m
	$(GO) test ./cmd/host -run '^$$' -bench BenchmarkAsynqEndToEnd -benchtime 1x -timeout 30m
	$(GO) test ./cmd/host -run '^$$' -bench BenchmarkCeleryWire -benchtime 1x -timeout 30m
	$(GO) test ./cmd/host -run '^$$' -bench BenchmarkTemporalEndToEnd -benchtime 1x -timeout 30m
	$(GO) test ./cmd/host -run '^$$' -bench BenchmarkHatchetEndToEnd -benchtime 1x -timeout 30m
	$(GO) test ./cmd/host -run '^$$' -bench BenchmarkWorkerStart -benchtime 10x

## fuzz: each fuzz target for FUZZTIME (default 3m), the meter's among them
FUZZTIME ?= 3m
fuzz:
	$(GO) test ./abi -run '^$$' -fuzz '^FuzzDecodeError$$' -fuzztime $(FUZZTIME)
	$(GO) test ./abi -run '^$$' -fuzz '^FuzzParseMeta$$' -fuzztime $(FUZZTIME)
	$(GO) test ./host -run '^$$' -fuzz '^FuzzParseManifest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./host/internal/meter -run '^$$' -fuzz '^FuzzInstrument$$' -fuzztime $(FUZZTIME)

## demo: build everything and run core tasks through the sandbox
demo: plugins
	@./scripts/demo.sh

clean:
	rm -rf bin $(WASM)
