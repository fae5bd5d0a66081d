# Two entry points for a fresh machine (see README):  make demo  |  make test
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: install demo test test-fast bench lock clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

## Run the main job: local S3 store, simulated Sentinel-1 product, full flow, outputs listed.
demo: $(STAMP)
	$(VENV)/bin/alignsar demo

## Run the whole test suite (this is what .ci/run calls).
test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,bench]"
	$(PY) benchmarks/bench_burst_io.py
	$(PY) benchmarks/bench_simulate.py
	$(PY) benchmarks/bench_signatures.py

## Re-pin the full environment after changing pyproject.toml.
lock:
	rm -rf /tmp/alignsar-lock && $(PYTHON) -m venv /tmp/alignsar-lock
	/tmp/alignsar-lock/bin/pip install --quiet --upgrade "pip>=24"
	/tmp/alignsar-lock/bin/pip install --quiet -e ".[dev,bench]"
	/tmp/alignsar-lock/bin/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
