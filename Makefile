# mlops-glue — the two commands a newcomer runs: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT      := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
UV        := $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
export UV
RUN       := $(UV) run --frozen --project $(ROOT)
TOOL      := $(UV) tool run
export TF_CLI_CONFIG_FILE := $(CURDIR)/terraform/.terraformrc
export AWS_DEFAULT_REGION ?= eu-west-1
export UV_PYTHON ?= 3.11
export SAM_CLI_TELEMETRY := 0
CHECKOV   := checkov==3.3.30
SAMCLI    := aws-sam-cli==1.170.0

.PHONY: help uv sync demo build build-GlueLayer test lint typecheck unit cfn-lint sam-validate tf checkov bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

uv: ## install uv from PyPI when it is missing
	@command -v uv >/dev/null 2>&1 || test -x "$(UV)" || python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv

sync: uv ## install the locked environment (.venv) and build the drift engine's C kernel
	@$(UV) sync --frozen --quiet
	@$(RUN) python -m glue_local.build kernel

demo: sync ## run the whole loop locally on embedded defaults
	$(RUN) python -m glue_local.demo

build: sync ## the shipped artifacts: sam build (zip functions + layer) and the image tree, .pyc, locked requirements
	$(RUN) python -m glue_local.build all

build-GlueLayer: ## (called by `sam build`: the layer's makefile build) locked requirements + mlops_glue, compiled
	cd $(ROOT) && $(RUN) python -m glue_local.build layer "$(ARTIFACTS_DIR)"

# The build and the checks are mostly single-threaded and touch different files (the build writes
# .aws-sam/build and .aws-sam/image; checkov's expansion .aws-sam/expanded): two at a time use both
# cores, each one's output printed whole when it ends, the first failure stopping the run. pytest
# runs after them (tests import the built artifacts), on two workers of its own.
test: sync ## every check (builds first: tests import the built artifacts)
	@$(MAKE) --no-print-directory -j2 --output-sync=target build typecheck tf lint cfn-lint sam-validate checkov
	@$(MAKE) --no-print-directory unit

lint: sync ## ruff: lint and format
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: sync ## mypy --strict on the package
	$(RUN) mypy

# -n 2: the machine's two cores; one file is one unit of work (module fixtures such as the demo's
# run and the MLflow server start once), slow files first (tests/conftest.py: SLOW_FIRST)
PYTEST_WORKERS ?= 2
unit: sync ## pytest (unit, moto, real MLflow, end-to-end) on PYTEST_WORKERS workers
	$(RUN) pytest -q -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

cfn-lint: sync ## cfn-lint on the SAM template
	$(RUN) cfn-lint template.yaml

sam-validate: uv ## sam validate --lint (aws-sam-cli from PyPI, isolated)
	$(TOOL) --quiet --from $(SAMCLI) sam validate --lint --template template.yaml --region $(AWS_DEFAULT_REGION)

tf: ## terraform fmt, validate and test (offline, provider from /opt/tf-plugins)
	terraform -chdir=terraform fmt -check -recursive
	terraform -chdir=terraform init -backend=false -input=false -no-color >/dev/null
	terraform -chdir=terraform validate -no-color
	terraform -chdir=terraform test -no-color

checkov: sync ## checkov over terraform/, template.yaml and its expansion (failures must be skipped inline with a reason)
	$(TOOL) --quiet $(CHECKOV) --quiet --compact --skip-download -d terraform --framework terraform --skip-path .terraform
	@# checkov skips Fn::ForEach: scan the template expanded with the example config's three models' alarms
	@# (every other resource of template.yaml is in the expansion too)
	$(RUN) python -m glue_local.devstack expand --config config/glue.example.yaml --out .aws-sam/expanded/template.json
	$(TOOL) --quiet $(CHECKOV) --quiet --compact --skip-download -f .aws-sam/expanded/template.json --framework cloudformation

bench: sync ## the benchmarks (drift engine, packaging, cold imports); results go to the README
	$(RUN) python bench/run.py

clean: ## remove build and test leftovers
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache terraform/.terraform build dist
