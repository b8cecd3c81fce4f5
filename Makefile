PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench clean

$(BIN)/splitbrain: pyproject.toml setup.py splitbrain/checkers/linearizable/_wgl.c splitbrain/_edn.c splitbrain/sim/_wire.c splitbrain/sim/_loop.c
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/splitbrain

run: $(BIN)/splitbrain
	$(BIN)/splitbrain test

test: $(BIN)/splitbrain
	$(BIN)/python -m pytest -q

.PHONY: test-fast
test-fast: $(BIN)/splitbrain  # only the tests that start no process (see tests/README.md)
	$(BIN)/python -m pytest -q -m "not integration"

bench: $(BIN)/splitbrain
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit $$?; done

clean:
	rm -rf $(VENV) build *.egg-info
