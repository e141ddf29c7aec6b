# The two commands of the README: `make run` (local stack with demo data) and `make test`.
# Each installs what it needs into .venv by itself.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
export PYTHONPATH := layers/core/python:layers/platform/python:layers/rules/python:.

.PHONY: install run test lint typecheck unit demo review audit audit-demo bench coverage-report openapi clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip install -q --python $(BIN)/python -r pyproject.toml --extra dev
	$(BIN)/python -m infra.dev_path $(PYTHONPATH)
	rm -f $(VENV)/.installed-* && touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m infra.local.stack $(ARGS)

demo: $(STAMP)
	$(BIN)/python -m infra.local.demo $(ARGS)

# the reviewers' CLI against the running stack, e.g. make review ARGS="queue"
review: $(STAMP)
	$(BIN)/python -m infra.cli.review $(ARGS)

# the auditors' CLI against the running stack, e.g. make audit ARGS="verify --week"
audit: $(STAMP)
	$(BIN)/python -m infra.cli.audit $(ARGS)

# after make demo: rejections and why, verify, replay, what-if, export (infra/local/demo_audit.py)
audit-demo: $(STAMP)
	$(BIN)/python -m infra.local.demo_audit $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/cfn-lint template.yaml
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy layers functions infra

coverage-report: $(STAMP)
	$(BIN)/python -m miaopi.coverage

test: lint typecheck
	$(BIN)/python -m miaopi.coverage --fail-on-gaps
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m tests.bench $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .bench
