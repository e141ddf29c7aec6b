# The two commands of the README: `make run` (local stack with demo data) and `make test`.
# Each installs what it needs into .venv by itself: the Lambda runtime's Python, packages from uv.lock.
# The interpreter is the one template.yaml's Globals name (Runtime: python3.X): tests run on what
# Lambda runs. pyenv's shim answers for a version it does not have selected only when PYENV_VERSION
# names it. Elsewhere: make PY=/path/to/python3.X.
RUNTIME := $(shell sed -n 's/^    Runtime: \(python3\.[0-9]*\)$$/\1/p' template.yaml | head -n 1)
PY ?= $(shell PYENV_VERSION=$(RUNTIME:python%=%) $(RUNTIME) -c 'import sys; print(sys.executable)' 2>/dev/null)
UV_VERSION := 0.13.9
SAM_VERSION := 1.170.0
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
SAM := PATH="$(abspath $(SAM_VENV)/bin):$$PATH" SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
SAM_STAMP := $(SAM_VENV)/.installed-$(RUNTIME)-$(SAM_VERSION)
# the deploy checks' tools (checkov, cfn-lint with the Serverless Lens rules, actionlint), pinned
# with hashes in infra/deploy/tools.txt, in a venv of their own: checkov's boto3 is not the lock's
DEPLOY_VENV := .venv-deploy
DEPLOY_BIN := $(DEPLOY_VENV)/bin
DEPLOY_STAMP := $(DEPLOY_VENV)/.installed-$(shell cksum < infra/deploy/tools.txt | cut -d' ' -f1)
# the regions template.yaml is checked for besides cfn-lint's default (us-east-1): AWS China's
# two and Hong Kong (README "On AWS")
REGIONS := cn-north-1 cn-northwest-1 ap-east-1
# the government services' nested templates (infra/deploy/services writes them)
NESTED := $(sort $(wildcard infra/services/*.yaml infra/services/invoke/*.yaml))
# the generated catalogue of 200 services the deploy checks prove the template's shape with
CATALOGUE := .aws-sam/catalogue-200
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml uv.lock | cksum | cut -d' ' -f1)
export PYTHONPATH := layers/core/python:layers/platform/python:layers/rules/python:.

.PHONY: install lock rules build deploy deploy-check deploy-tools deploy-tools-lock services new-service run test lint typecheck unit demo review audit audit-demo bench coverage-report openapi clean

# A venv on $(RUNTIME) with uv in it; one on another Python (an older checkout's) is made anew.
define runtime_venv
	@test -n "$(PY)" || { echo "$(RUNTIME) (the Lambda runtime in template.yaml) not found: make PY=/path/to/$(RUNTIME)" >&2; exit 1; }
	test "$$($(BIN)/python -c 'import sys; print("python%d.%d" % sys.version_info[:2])' 2>/dev/null)" = $(RUNTIME) \
		|| { rm -rf $(VENV) && $(PY) -m venv $(VENV); }
	$(BIN)/python -m pip install -q uv==$(UV_VERSION)
endef

install: $(STAMP)

# exactly the lock (nothing more, nothing less); fails if pyproject.toml changed without `make lock`
$(STAMP): pyproject.toml uv.lock
	$(runtime_venv)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync -q --locked --extra dev --python $(BIN)/python
	$(BIN)/python -m infra.dev_path $(PYTHONPATH)
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# After changing pyproject.toml's dependencies: resolve uv.lock again and pin the dependencies
# layer from it (every runtime package, boto3 and botocore included; tests/unit/test_packaging.py).
lock:
	$(runtime_venv)
	$(BIN)/uv lock --python $(BIN)/python
	{ printf '%s\n' \
		'# The dependencies layer (sam build, BuildMethod in template.yaml): the runtime dependencies' \
		'# of pyproject.toml as pinned in uv.lock, with hashes; boto3 and botocore included, so Lambda' \
		'# runs the SDK pair the tests ran, not the runtime'"'"'s. Written by `make lock`; do not edit.'; \
	  $(BIN)/uv export --frozen --no-emit-project --no-dev --no-header; } > layers/dependencies/requirements.txt

# sam build (no container) into .aws-sam/build, with sam in a venv of its own on $(RUNTIME):
# that venv's bin/$(RUNTIME) (with pip) is the interpreter sam's Python builder looks for on PATH.
build: $(SAM_STAMP)
	$(SAM) build $(ARGS)

$(SAM_STAMP):
	@test -n "$(PY)" || { echo "$(RUNTIME) not found: make build PY=/path/to/$(RUNTIME)" >&2; exit 1; }
	rm -rf $(SAM_VENV) && $(PY) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q aws-sam-cli==$(SAM_VERSION)
	touch $@

# sam deploy of what make build built, with samconfig.toml's environment: make deploy ENV=dev|prod
# (its parameter overrides, and CodeRevision: a new version of every function when the code or a
# layer changed, infra/deploy/revision.py)
deploy: $(SAM_STAMP)
	@test -n "$(ENV)" || { echo "make deploy ENV=dev|prod (samconfig.toml)" >&2; exit 1; }
	$(SAM) deploy --config-env $(ENV) --parameter-overrides "$$($(PY) -m infra.deploy.revision $(ENV))" $(ARGS)

deploy-tools: $(DEPLOY_STAMP)

$(DEPLOY_STAMP): infra/deploy/tools.txt $(STAMP)
	@test -n "$(PY)" || { echo "$(RUNTIME) not found: make PY=/path/to/$(RUNTIME)" >&2; exit 1; }
	rm -rf $(DEPLOY_VENV) && $(PY) -m venv $(DEPLOY_VENV)
	$(BIN)/uv pip install -q --python $(DEPLOY_BIN)/python --require-hashes -r infra/deploy/tools.txt
	touch $@

# After changing infra/deploy/tools.in: pin the deploy tools again, with hashes.
deploy-tools-lock: $(STAMP)
	$(BIN)/uv pip compile infra/deploy/tools.in --python-version $(RUNTIME:python%=%) \
		--python-platform x86_64-manylinux_2_28 --generate-hashes --no-header -q -o infra/deploy/tools.txt

# What a deploy would meet, without an AWS account (issue 13): the template validates and lints
# as SAM, builds without a container, and every built handler answers one event on the runtime's
# interpreter (infra/deploy/smoke.py); cfn-lint in the regions above, with the Serverless Lens
# rules; checkov (every skip in template.yaml says why); the CI workflow checked by actionlint.
#
# The services' nested templates must be what `make services` writes from the rules layer; and a
# generated catalogue of 200 services (synthetic copies of the seeds, outside the published
# rules) must validate and keep every stack under 400 resources (infra/deploy/services):
# `sam validate --lint` (SAM's transform and cfn-lint) of its root and of its largest services
# stack and that stack's invoke permissions: the nested templates differ only in how many
# services they hold (the repository's own are all linted in every region above).
deploy-check: $(STAMP) $(SAM_STAMP) $(DEPLOY_STAMP)
	$(BIN)/python -m infra.deploy.services check
	$(SAM) validate --lint
	$(SAM) build
	$(BIN)/python -m infra.deploy.smoke $(PY)
	$(BIN)/python -m infra.deploy.lint_regions $(DEPLOY_BIN)/cfn-lint $(REGIONS)
	$(DEPLOY_BIN)/cfn-lint -a cfn_lint_serverless.rules -- template.yaml $(NESTED)
	$(DEPLOY_BIN)/checkov -f template.yaml $(addprefix -f ,$(NESTED)) --framework cloudformation --quiet --compact --skip-download
	$(BIN)/python -m infra.deploy.services catalogue 200 $(CATALOGUE)
	$(BIN)/python -m infra.deploy.services sizes $(CATALOGUE)/template.yaml
	$(SAM) validate --lint -t $(CATALOGUE)/template.yaml
	$(SAM) validate --lint -t $(CATALOGUE)/services/synthetic-market.yaml
	$(SAM) validate --lint -t $(CATALOGUE)/services/invoke/synthetic-market.yaml
	$(DEPLOY_BIN)/checkov -d .github/workflows --framework github_actions --quiet --compact --skip-download
	$(DEPLOY_BIN)/actionlint

# the services' nested templates and template.yaml's generated parts, from the rules layer
services: $(STAMP)
	$(BIN)/python -m infra.deploy.services generate

# a new government service: its data skeleton in the rules layer, its function and route
new-service: $(STAMP)
	@test -n "$(ID)" -a -n "$(AUTHORITY)" || { echo "make new-service ID=pet-licence AUTHORITY=urban-management" >&2; exit 1; }
	$(BIN)/python -m infra.deploy.services new $(ID) $(AUTHORITY) $(ARGS)

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
	$(BIN)/cfn-lint template.yaml $(NESTED)
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy layers functions infra

# After changing a rule file: compile the rules layer again (miaopi.compiled; a function loads
# the compiled form at cold start, and tests/unit/test_compiled_rules.py fails until it is current)
rules: $(STAMP)
	$(BIN)/python -m miaopi.compiled layers/rules/python/miaopi_rules/services

coverage-report: $(STAMP)
	$(BIN)/python -m miaopi.coverage

test: lint typecheck deploy-check
	$(BIN)/python -m miaopi.coverage --fail-on-gaps
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m tests.bench $(ARGS)

clean:
	rm -rf $(VENV) $(SAM_VENV) $(DEPLOY_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .bench
