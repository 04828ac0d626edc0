# Two entry points, both self-contained on a machine with Python 3.11 and make:
#   make lab   set up the environment and open the lessons in JupyterLab
#   make test  set up the environment and run every test, notebooks included
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The protocol core and the network model, compiled with mypyc (see mqttsim/native.py);
# rebuilt when one of them changes. Without a C compiler everything runs as pure Python.
NATIVE := mqttsim/native.json
NATIVE_SOURCES := $(wildcard mqttsim/protocol/*.py mqttsim/sim/*.py mqttsim/sim/scenarios/*.py)

.PHONY: test lab bench lint clean venv native validate

venv: $(STAMP)

native: $(NATIVE)

$(NATIVE): $(STAMP) $(NATIVE_SOURCES) mqttsim/native.py
	@echo "mqttsim: compiling the protocol core and the network model (mypyc; pure Python if it fails)"
	@$(BIN)/mqttsim native build || true

$(STAMP): pyproject.toml
	@echo "mqttsim: creating the environment in $(VENV) with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "mqttsim: installing mqttsim and its dependencies (a few minutes the first time)"
	@$(BIN)/python -m pip install --quiet -e '.[test,native,cluster]'
	@touch $(STAMP)

test: $(STAMP) $(NATIVE)
	$(BIN)/python -m pytest tests notebooks --nbval --nbval-current-env -p no:cacheprovider $(PYTEST_ARGS)

# JupyterLab refuses to run as root unless told to (containers and CI images run as root).
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
LAB_ARGS ?=

lab: $(STAMP) $(NATIVE)
	@echo "mqttsim: opening notebooks/00-index.ipynb in JupyterLab (Ctrl-C stops it)"
	$(BIN)/jupyter lab $(LAB_ROOT) --ServerApp.root_dir=notebooks \
		--LabApp.default_url=/lab/tree/00-index.ipynb $(LAB_ARGS)

# The simulator against real stacks through the link emulator (root; hours for the whole grid):
# writes docs/validation.md. VALIDATE_ARGS narrows it, e.g. VALIDATE_ARGS='--links clean --qos 2'.
validate: $(STAMP) $(NATIVE)
	$(BIN)/mqttsim validate --seeds 1 --sim-seeds 10 --workdir build/validation \
		--deviations docs/validation-deviations.md \
		--report docs/validation.md --csv docs/validation.csv $(VALIDATE_ARGS)

bench: $(STAMP) $(NATIVE)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[lint]'
	$(BIN)/python -m ruff check mqttsim tests bench

clean:
	rm -rf $(VENV) build *.egg-info
	find mqttsim -name '*.so' -delete; rm -f $(NATIVE)
