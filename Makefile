# Two commands are the whole setup on a fresh machine with Python 3.11:
#   make demo   -- create .venv, install pinned dependencies, run the demo job
#   make test   -- same setup, then the whole test suite
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-slow lint install docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall whenever the dependency declarations change.
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/actionzoo demo --report-dir demo-report

# Two pytest-xdist workers (the machine CI uses has 2 cores); --dist loadfile keeps
# each test file in one worker, so its module-scoped fixtures are built once.
PYTEST := $(BIN)/python -m pytest -q -n 2 --dist loadfile

test: $(STAMP)
	$(PYTEST)

# The tests marked slow (excluded from `make test`; see .ci/run for why CI skips them).
test-slow: $(STAMP)
	$(PYTEST) -m slow

# pyflakes, pycodestyle, isort and bugbear rules of [tool.ruff] in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check .

# The documentation site (mkdocs.yml), warnings as errors, into site/.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) demo-report site
