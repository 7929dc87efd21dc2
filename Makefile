# Everything a fresh clone needs: `make run` (install + main job), `make test` (install + tests).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test notebooks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'

run: install
	$(BIN)/scaling search

# The machine's own device count; tests marked devices(8) rerun themselves in a child process with
# 8 forced CPU devices (tests/conftest.py). SCALING_SMOKE=1: the notebooks run with tiny budgets
# into temporary directories (pytest --nbmake).
test: install
	SCALING_SMOKE=1 $(BIN)/python -m pytest -q --durations=30 --nbmake --nbmake-timeout=1800 tests notebooks

# The notebooks executed in place, saved with their outputs as committed (notebooks/execute.py:
# SCALING_SMOKE=1, so figures come from the committed results/ and training is smoke-sized).
notebooks: install
	$(BIN)/python notebooks/execute.py

clean:
	rm -rf $(VENV) .pytest_cache
