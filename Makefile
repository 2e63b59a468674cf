# strata — build, run and test.
#
# `make run`  builds and starts a single-node dev gateway (fs backend in ./strata-data).
# `make test` runs everything CI runs.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.version=$(VERSION)
BIN       := $(CURDIR)/bin
STRATA    := $(BIN)/strata

# Test tools are slow to build: cache them outside the work tree, per version,
# so fresh clones (CI) on the same machine reuse them.
TOOLS_CACHE        ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/strata/tools
VERSITYGW_VERSION  := v1.8.0
VERSITYGW          := $(TOOLS_CACHE)/versitygw-$(VERSITYGW_VERSION)/versitygw
STATICCHECK_VERSION := v0.8.2
STATICCHECK        := $(TOOLS_CACHE)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
export STRATA_VERSITYGW := $(VERSITYGW)

# Core packages run under the race detector; the black-box tests (e2e) start
# the real binary and run without it.
CORE_PKGS := ./fsm/... ./cluster/... ./backend/... ./gateway/... ./iam/... ./admin/... \
             ./replication/... ./internal/... ./server/... ./config/...
FUZZTIME  ?= 5s
LONG_FUZZTIME ?= 2m

.PHONY: all build run test test-unit test-e2e test-fuzz fuzz bench lint tools clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(STRATA) ./cmd/strata

## run: single-node dev gateway in ./strata-data (prints endpoint + credentials)
run: build
	$(STRATA) server

## tools: build and cache the pinned test servers
tools: $(VERSITYGW)

$(VERSITYGW):
	@echo ">> building versitygw $(VERSITYGW_VERSION) (once; cached in $(TOOLS_CACHE))"
	mkdir -p $(dir $@)
	GOBIN=$(dir $@) CGO_ENABLED=0 $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

$(STATICCHECK):
	mkdir -p $(dir $@)
	GOBIN=$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## aws-cli: the README quick-start test needs the aws CLI (Debian's awscli when missing)
.PHONY: aws-cli
aws-cli:
	@command -v aws >/dev/null 2>&1 || { echo ">> installing awscli (Debian package)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli) >/dev/null; }

## docker-compose: the compose and chaos tests drive the docker daemon with
## docker-compose (Debian's package when missing; the daemon itself must run)
.PHONY: docker-compose
docker-compose:
	@command -v docker-compose >/dev/null 2>&1 || { echo ">> installing docker-compose (Debian package)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose) >/dev/null; }

## test: everything CI runs
test: lint tools aws-cli docker-compose test-unit test-e2e test-docker test-fuzz

test-unit:
	$(GO) test -race -count=1 -timeout 20m $(CORE_PKGS)

test-e2e: build
	STRATA_BINARY=$(STRATA) $(GO) test -count=1 -timeout 20m $$($(GO) list ./e2e/... | grep -v -e /e2e/compose -e /e2e/chaos) ./cmd/...

## docker-images: strata:dev and strata-versitygw:dev (static binaries, FROM scratch)
.PHONY: docker-images cluster-up cluster-down test-docker
docker-images: tools
	VERSITYGW=$(VERSITYGW) ./deploy/cluster.sh images

## cluster-up: three nodes + versitygw from deploy/compose.yaml; prints the S3 endpoints
cluster-up: docker-images
	STRATA_SKIP_IMAGES=1 ./deploy/cluster.sh up

## cluster-down: remove the compose cluster (KEEP=1 keeps its volumes)
cluster-down:
	./deploy/cluster.sh down

## test-docker: the deploy files, the compose cluster and chaos tests, one package at a time (two clusters
## at once overload two cores); they fail, not skip, without docker
test-docker: docker-compose docker-images
	STRATA_REQUIRE_DOCKER=1 STRATA_SKIP_IMAGES=1 $(GO) test -p 1 -count=1 -timeout 20m ./deploy/... ./e2e/compose/... ./e2e/chaos/...

## test-fuzz: every fuzz target for $(FUZZTIME) (make fuzz: $(LONG_FUZZTIME) each)
test-fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

fuzz:
	./scripts/fuzz.sh $(LONG_FUZZTIME)

lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

## bench: strata vs the direct backend, results in bench/results/
bench: build tools
	STRATA_BINARY=$(STRATA) $(GO) run ./bench/cmd/strata-bench -out bench/results

clean:
	rm -rf $(BIN)
