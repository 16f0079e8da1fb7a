# Sluice — `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
KAFKA_JARS := infra/kafka/target/libs/.complete
TENANT ?= acme
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
TOOLS := .tools/bin
KUSTOMIZE_VERSION := v5.8.2
KUBECONFORM_VERSION := v0.8.0
COMPOSE_GO_VERSION := v2.16.2
FLAGGER_VERSION := v1.36.1
PYTEST_ARGS ?=
# Packages installed without their dependencies (pyproject's [tool.sluice] no-deps: pipestats's
# faust-streaming, whose click pin conflicts with huggingface-hub's; the `pipestats` extra pins
# what it runs with).
NO_DEPS = $(shell $(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["tool"]["sluice"]["no-deps"])')
# The local stack's commands (`sluice up|down|ps|scale|demo` once installed), run from this checkout.
LOCAL := $(BIN)/python -m infra.local.cli
# Replicas per service for `make up` / `make scale` (e.g. PARSERS=2 EMBEDDERS=3); unset: 1 each.
SCALE := $(if $(INGESTS),ingest=$(INGESTS)) $(if $(STATUSES),status=$(STATUSES)) $(if $(PARSERS),parser=$(PARSERS)) $(if $(EMBEDDERS),embedder=$(EMBEDDERS))

.PHONY: help install up down ps scale demo token test test-unit test-faults lint typecheck schemas bench bench-quick clean lock image tools

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,local,pipestats]'
	$(BIN)/python -m pip install -q --no-deps $(NO_DEPS)
	@# the local model's ONNX export (status embeds queries on it): made once, at install
	$(BIN)/python -m services.common.embedding.onnx_export
	@rm -f $(VENV)/.installed-* && touch $@

$(KAFKA_JARS): infra/kafka/pom.xml | $(STAMP)
	$(BIN)/python -c "from infra.local.kafka import ensure_kafka_jars; ensure_kafka_jars()"
	@touch $@

install: $(STAMP) $(KAFKA_JARS) ## Create .venv with the project, dev tools, the local stack, `sluice` and Kafka's jars

up: install ## Start Kafka, Postgres and the services in the background (.run/); PARSERS=2 EMBEDDERS=3 ... for replicas
	$(LOCAL) up $(addprefix --scale ,$(SCALE))

down: ## Stop exactly what `make up` started
	@if [ -x $(BIN)/python ]; then $(LOCAL) down; fi

ps: ## Show which services run, with the partitions each consumer replica holds
	$(LOCAL) ps

scale: ## Add or remove replicas gracefully: make scale EMBEDDERS=1 PARSERS=2
	@test -n "$(strip $(SCALE))" || { echo "say how many: make scale EMBEDDERS=N (PARSERS, INGESTS, STATUSES)"; exit 2; }
	$(LOCAL) scale $(SCALE)

demo: install ## Set up, start everything, index examples/ and search them (no API keys)
	$(LOCAL) demo

token: ## Print a development JWT: make token TENANT=acme
	@$(BIN)/sluice token --tenant $(TENANT)

test: install ## The whole suite: unit, integration and end-to-end on real Kafka + Postgres
	@if command -v go >/dev/null; then $(MAKE) -s tools; else echo "no Go: the k8s and compose validation tests skip"; fi
	$(BIN)/pytest -m "not faults_full" $(PYTEST_ARGS)

test-unit: install ## Unit tests only (no Kafka, no Postgres)
	$(BIN)/pytest -m unit $(PYTEST_ARGS)

test-faults: install ## The full fault-injection run (long)
	SLUICE_FAULTS_FULL=1 $(BIN)/pytest tests/faults -m "faults or faults_full" -s $(PYTEST_ARGS)

lint: install ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy --strict on schemas, services, infra and bench
	$(BIN)/mypy

schemas: install ## Re-export the JSON Schemas of the events
	$(BIN)/python -m schemas.export

bench: install ## Benchmarks (~40 min); results appended to docs/benchmarks.md
	$(BIN)/python -m bench.run

bench-quick: install ## Smaller benchmark corpora, fewer runs (~10 min); also appended
	$(BIN)/python -m bench.run --quick

lock: install ## Re-pin the image's dependencies with hashes (infra/docker/requirements.lock)
	$(BIN)/python -m infra.docker.lock

image: ## Build the image, tagged with pyproject's version (the tag infra/k8s deploys)
	docker build -f infra/docker/Dockerfile -t sluice:$(VERSION) .

tools: $(TOOLS)/.kustomize-$(KUSTOMIZE_VERSION) $(TOOLS)/.kubeconform-$(KUBECONFORM_VERSION) $(TOOLS)/.compose-spec-$(COMPOSE_GO_VERSION) $(TOOLS)/.flagger-crd-$(FLAGGER_VERSION) ## kustomize, kubeconform, compose-spec (.tools/bin, built with Go) and Flagger's CRDs for the infra tests

$(TOOLS)/.kustomize-%:
	GOBIN=$(abspath $(TOOLS)) go install sigs.k8s.io/kustomize/kustomize/v5@$*
	@touch $@

$(TOOLS)/.kubeconform-%:
	GOBIN=$(abspath $(TOOLS)) go install github.com/yannh/kubeconform/cmd/kubeconform@$*
	@touch $@

# compose-go's validator (the library `docker compose` loads files with); Go names it `cmd`.
$(TOOLS)/.compose-spec-%:
	GOBIN=$(abspath $(TOOLS)) go install github.com/compose-spec/compose-go/v2/cmd@$*
	mv $(TOOLS)/cmd $(TOOLS)/compose-spec
	@touch $@

# Flagger's CRDs: the Go module's artifacts/flagger/crd.yaml, left in Go's module cache, where
# tests/fixtures/crds.py reads it to validate components/rollouts.
$(TOOLS)/.flagger-crd-%:
	mkdir -p $(TOOLS)
	cd $(TOOLS) && GOFLAGS=-mod=mod go mod download github.com/fluxcd/flagger@$*
	@touch $@

clean: down ## Stop the stack and remove .run/ (local Kafka + Postgres data)
	rm -rf .run
