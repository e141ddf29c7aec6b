# The recipe `sam build` runs for our own layers (BuildMethod: makefile in template.yaml; SAM runs
# `make --makefile <layer>/Makefile build-<LogicalId>` in a scratch copy of the layer's folder,
# with ARTIFACTS_DIR set). Lambda's /opt is read-only, so a layer shipped as source is compiled
# again at every cold start of every function that imports it (~35 ms of the service function's
# import, make bench --only cold). The layer's python/ is shipped with its bytecode, made by the
# runtime's interpreter (sam's own venv puts it first on PATH; elsewhere it must be on PATH, as
# BuildMethod: python3.X needs it too) as unchecked-hash bytecode (PEP 552): used as it is,
# whatever the files' times after the zip (the source ships alongside, for
# tracebacks). tests/unit/test_packaging.py keeps the interpreter the template's runtime, and the
# deploy check (infra/deploy/smoke.py) finds the bytecode of every module of the built layers.
LAYER_PYTHON := python3.13

define compiled-layer
rm -rf "$(ARTIFACTS_DIR)/python"
mkdir -p "$(ARTIFACTS_DIR)"
cp -R python "$(ARTIFACTS_DIR)/python"
find "$(ARTIFACTS_DIR)/python" -name __pycache__ -type d -prune -exec rm -rf {} +
$(LAYER_PYTHON) -I -m compileall -q -j 0 -o 0 --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)/python"
endef
