# kitshop: run `make help` for the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/.bin

# Generator versions are pinned so `make proto` is reproducible; protoc itself
# is Debian's protobuf-compiler (ops/install-deps.sh installs it when missing).
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
# Installed per version, so bumping a pin installs the new generator instead
# of silently reusing the old binary.
TOOLS := $(BIN)/tools/go-$(PROTOC_GEN_GO_VERSION)-grpc-$(PROTOC_GEN_GO_GRPC_VERSION)
PROTOS := $(shell find pb -name '*.proto' | sort)

TEST_TIMEOUT ?= 12m

.PHONY: help run test deps proto proto-check lint bench chaos tools screenshots

help:
	@echo "make run          start the whole platform, gateway on :8080 (in-memory stores unless DATABASE_URL is set)"
	@echo "make run TRACES=1 the same, with a jaeger or zipkin from PATH started first to collect the traces"
	@echo "make test         install missing test dependencies, gofmt/vet, proto freshness, then all tests with -race"
	@echo "make deps         install what make test needs besides Go (protoc, PostgreSQL server binaries); no-op when present"
	@echo "make proto        regenerate pb/ from the .proto files"
	@echo "make lint         gofmt and go vet"
	@echo "make bench        one table of benchmarks against their peers (not part of make test; installs nginx)"
	@echo "make chaos        long scenarios under load, not part of make test: rolling restart, blue-green, canary, chaos"
	@echo "make screenshots  the README's storefront, order and console pictures, taken by the browser test into docs/images"

# Needs nothing but Go. TRACES=1 starts a trace backend found on PATH
# (jaeger, jaeger-all-in-one or zipkin) first and points every process at
# it; KITSHOP_ZIPKIN_URL, when set, is used as it is.
TRACES ?=
run:
	$(GO) run ./ops/launcher $(if $(TRACES),-traces=$(TRACES))

# A fresh machine needs only `make test`: deps installs what is missing and
# costs a few milliseconds when nothing is.
test: deps lint proto-check
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	@for m in $(NESTED_MODULES); do echo "== $$m (nested module)"; \
		(cd $$m && $(GO) vet ./... && $(GO) test -count=1 -timeout 5m ./...) || exit 1; done

# Validation suites with heavy dependency trees (compose-spec, kustomize,
# actionlint) live in modules of their own under ops/, so the platform's
# binaries and go.mod do not carry them.
NESTED_MODULES := $(patsubst %/go.mod,%,$(wildcard ops/*/go.mod))

deps:
	@bash ops/install-deps.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>&1); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

tools: $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc

$(TOOLS)/protoc-gen-go:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(TOOLS)/protoc-gen-go-grpc:
	GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

proto: deps tools
	@command -v protoc >/dev/null || { echo "protoc missing: run bash ops/install-deps.sh"; exit 1; }
	find pb -name '*.pb.go' -delete
	PATH=$(TOOLS):$$PATH protoc -I pb -I /usr/include \
		--go_out=pb --go_opt=paths=source_relative \
		--go-grpc_out=pb --go-grpc_opt=paths=source_relative \
		$(PROTOS)

# Fails when the committed pb/ differs from what `make proto` generates.
proto-check: proto
	@git diff --exit-code --stat -- pb || { echo "pb/ is stale: run 'make proto' and commit"; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard pb); if [ -n "$$untracked" ]; then echo "untracked generated files: $$untracked"; exit 1; fi

# Benchmarks need make test's dependencies (Postgres, pgbench) and nginx,
# which the gateway benchmark measures as a plain reverse proxy for
# comparison (ops/bench-deps.sh; optional: without it that row is skipped).
# ops/benchtable runs issue 11's benchmarks one after the other and prints
# one table, each figure beside its peer from the same run (~5 minutes).
# Every benchmark of the module: go test -run '^$$' -bench . ./...
bench: deps
	@bash ops/bench-deps.sh
	GO=$(GO) $(GO) run ./ops/benchtable

# Long scenarios under load, kept out of make test (build tags rollout and
# chaos): every service instance replaced one at a time under ops/loadgen's
# journey mix; blue-green switches and canaries (a faulty one rolled back,
# a healthy one promoted); partition by blackhole, etcd down, Postgres
# restarted. The shorter chaos scenarios (kill, partition by drop,
# payments slowed, the rolling restart) run in make test too.
chaos: deps
	$(GO) test -race -count=1 -tags rollout,chaos \
		-run 'TestRollingRestartUnderLoad|TestChaos|TestBlueGreenSwitchUnderLoad|TestCanaryWithFaultsIsRolledBack|TestHealthyCanaryReachesFullTraffic' \
		-timeout 40m ./ops/e2e/ ./ops/e2e/chaos/

# The README's storefront, order and console pictures: the browser test
# walks the journey against real processes and saves them into docs/images
# (make test saves them to a temporary directory only).
screenshots: deps
	KITSHOP_SCREENSHOT_DIR=$(CURDIR)/docs/images $(GO) test -count=1 -run 'TestStorefront' -timeout 5m ./ops/e2e/
