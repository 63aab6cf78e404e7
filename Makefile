# Two entry points: `make demo` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mixq-installed

.PHONY: demo test setup system-deps bench clean

setup: $(STAMP) system-deps

# torch first and pinned: any other order lets pip resolve the CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q torch==2.13.0
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $(STAMP)

system-deps:
	bash scripts/install-system-deps.sh

demo: setup
	$(PY) -m mixq demo $(ARGS)

test: setup
	$(PY) -m pytest -n 2 -q $(ARGS)

bench: setup
	$(PY) bench/qat_overhead.py

clean:
	rm -rf $(VENV) runs build dist
