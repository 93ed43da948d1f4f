# The one entry point: every workflow of the project is a target here, and CI calls these.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HUB    := $(BIN)/helperhub
PACKAGE ?=
PART    ?= patch
VERSION ?=
MODE    ?= image
PYTEST_ARGS ?=

.PHONY: help venv release images bump registry-up registry-down registry-serve engine \
        test test-fast check lint typecheck imports clean compose-up compose-down pins pins-bump pins-outdated \
        pins-check who-pins compile demo hardening-table registry-image manifests bench test-tools docs-screenshots

help: ## Show the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed ## Create .venv with the tooling (done by every target that needs it)

# Use the engine, OCI registry and base image of `make engine` when they are up.
ENGINE_ENV = eval "$$(bash scripts/engine.sh --env)" &&
# Provision them first where none answers, as `make engine` does (idempotent; a failure stops the
# target with engine.sh's message), then use them: what building and pushing images needs.
ENGINE_UP = engine_env="$$(bash scripts/engine.sh)" && eval "$$engine_env" &&

release: venv ## Release PACKAGE (default: all helpers): tests, wheel, registry, image, pins.json (provisions the engine)
	@$(ENGINE_UP) $(HUB) release $(PACKAGE)

images: venv ## Build and push the image of an already released PACKAGE (provisions the engine)
	@$(ENGINE_UP) $(HUB) images $(PACKAGE)

bump: venv ## Set the next version of PACKAGE: PART=major|minor|patch or PART=<version>
	$(HUB) bump $(PACKAGE) $(PART)

registry-up: venv ## Start the embedded registry in the background
	$(HUB) registry up

registry-down: venv ## Stop the embedded registry
	$(HUB) registry down

registry-serve: venv ## Run the registry in the foreground
	$(HUB) registry serve --htpasswd .hub/htpasswd

pins: venv ## Show the lock: helper -> version, sha256, image digest
	$(HUB) pins show

pins-bump: venv ## Pin PACKAGE to an already released VERSION (resolved from the registries)
	@$(ENGINE_ENV) $(HUB) pins bump $(PACKAGE) $(VERSION)

pins-outdated: venv ## Newer releases of every pin: release time, major or not, what moves in each closure (--json: JSON=1)
	@$(ENGINE_ENV) $(HUB) pins outdated $(if $(JSON),--json)

pins-check: venv ## Fail unless every pin is served with its sha256 and its image digest exists
	$(HUB) pins check

who-pins: venv ## Which compiled pipelines and components use which helper versions
	$(HUB) who-pins

compile: venv ## Compile the example pipeline for every delivery mode into pipelines/compiled/
	$(HUB) compile

demo: venv ## Run the example pipeline locally: MODE=image|package|embedded
	@$(ENGINE_ENV) $(HUB) demo --mode $(MODE)

engine: ## Provision a Docker engine, the OCI registry and the targets' base images if missing
	@bash scripts/engine.sh >/dev/null

test-tools: ## Install what the tests need besides the engine (Debian's chromium, chromedriver, nginx), if missing
	@bash scripts/test-tools.sh

registry-image: venv ## Build the registry image offline, push it to HUB_OCI_REGISTRY, print its digest; OVERLAY=local|production pins it there
	@$(ENGINE_ENV) $(HUB) registry image $(foreach o,$(OVERLAY),--overlay $(o))

manifests: venv ## Render the registry's kustomize overlays into build/manifests/<overlay>.yaml
	$(HUB) registry manifests --out build/manifests

oci-gc: venv ## Delete unreferenced layers from the local OCI registry (read-only meanwhile), after a registry gc --apply
	$(HUB) registry oci-gc

compose-up: venv ## Start the Compose stack (index front, registry, OCI registry) on images built here; prints export lines
	@docker info >/dev/null 2>&1 && command -v docker-compose >/dev/null || bash scripts/engine.sh --compose >/dev/null
	@$(ENGINE_ENV) $(HUB) compose up

compose-down: venv ## Stop the Compose stack (volumes stay)
	@$(HUB) compose down

lint: venv ## ruff
	$(BIN)/ruff check helperhub bench tests helpers examples images conftest.py

imports: venv ## The layering contracts (import-linter): one-way layers, a server without release code, no circles
	$(BIN)/lint-imports --no-cache

typecheck: venv ## mypy --strict, of the tooling and of each helper package
	$(BIN)/mypy
	$(BIN)/mypy --strict helperhub/images/registry_api.py
	@for h in helpers/*/; do (cd $$h && MYPYPATH=src:../tabular-helpers/src ../../$(BIN)/mypy --strict src) || exit 1; done

check: lint typecheck imports ## Lint, type-check and check the import contracts

test: venv check ## Run every test (provisions the engine, with arm64 emulation and Compose, first); the 25 slowest are listed at the end
	@eval "$$(bash scripts/engine.sh --emulation --compose)" && bash scripts/test-tools.sh && $(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: venv ## The fast lane: every test not marked slow (under two minutes; no lint, no type check)
	@eval "$$(bash scripts/engine.sh --emulation --compose)" && bash scripts/test-tools.sh && $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

hardening-table: venv ## Run the side-by-side hardening tests and write docs/hardening.md from them
	HUB_HARDENING_TABLE=docs/hardening.md $(BIN)/python -m pytest -q -m sidebyside tests/registry/test_hardening.py

docs-screenshots: venv test-tools ## Photograph the catalog page of a sample index into docs/catalog.png
	$(BIN)/python -m tests.screenshots --out docs/catalog.png

bench: venv ## Benchmarks P1-P4 side by side; writes docs/benchmarks.{json,md,png} (needs the engine)
	@bash scripts/engine.sh >/dev/null
	@command -v wrk >/dev/null && command -v nginx >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk nginx-light >/dev/null; }
	@eval "$$(bash scripts/engine.sh --env)" && $(BIN)/python -m bench

clean: ## Remove build outputs (not the registry's packages)
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache
