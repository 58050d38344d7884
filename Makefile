# kitshop: run `make help` for the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := $(CURDIR)/.bin

# Generator versions are pinned so `make proto` is reproducible; protoc itself
# is Debian's protobuf-compiler (installed by .ci/run and ops/install-deps.sh).
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.2
PROTOS := $(shell find pb -name '*.proto' | sort)

TEST_TIMEOUT ?= 12m

.PHONY: help run test proto proto-check lint bench tools

help:
	@echo "make run          start the registry and every service (in-memory stores unless DATABASE_URL is set)"
	@echo "make test         gofmt/vet, proto freshness, then all tests with -race"
	@echo "make proto        regenerate pb/ from the .proto files"
	@echo "make lint         gofmt and go vet"
	@echo "make bench        benchmarks (not part of make test)"

run:
	$(GO) run ./ops/launcher

test: lint proto-check
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go') 2>&1); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

tools: $(BIN)/protoc-gen-go $(BIN)/protoc-gen-go-grpc

$(BIN)/protoc-gen-go:
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(BIN)/protoc-gen-go-grpc:
	GOBIN=$(BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

proto: tools
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install protobuf-compiler libprotobuf-dev"; exit 1; }
	find pb -name '*.pb.go' -delete
	PATH=$(BIN):$$PATH protoc -I pb -I /usr/include \
		--go_out=pb --go_opt=paths=source_relative \
		--go-grpc_out=pb --go-grpc_opt=paths=source_relative \
		$(PROTOS)

# Fails when the committed pb/ differs from what `make proto` generates.
proto-check: proto
	@git diff --exit-code --stat -- pb || { echo "pb/ is stale: run 'make proto' and commit"; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard pb); if [ -n "$$untracked" ]; then echo "untracked generated files: $$untracked"; exit 1; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 3s ./...
