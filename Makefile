# The README's two commands: `make demo` and `make test`. Each creates .venv when missing and
# installs everything: system packages (Apertium, Chromium) when run as root with apt, torch
# pinned to the CPU build first, then the project with its test and Ray extras.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SYSTEM_STAMP := $(VENV)/.system-stamp

.PHONY: demo test install system-deps lint bench clean constraints

install: $(STAMP) $(SYSTEM_STAMP)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Every install is held to constraints.txt, the exact set the project was tested with
# (pyproject.toml declares ranges; `make constraints` rewrites the file from .venv).
PIP_INSTALL := $(BIN)/python -m pip install --quiet -c constraints.txt

$(STAMP): pyproject.toml constraints.txt $(VENV)/bin/python
	$(PIP_INSTALL) --upgrade pip
	$(PIP_INSTALL) torch==2.13.0
	$(PIP_INSTALL) -e '.[test,ray]'
	# Compile clustering's inner loop once now (numba caches it; ~8 s) rather than in the
	# first `aggregator cluster`.
	$(BIN)/python -c "from aggregator.cluster.window import warm_up; warm_up()"
	touch $(STAMP)

$(SYSTEM_STAMP): scripts/install-system-deps.sh $(VENV)/bin/python
	bash scripts/install-system-deps.sh
	touch $(SYSTEM_STAMP)

system-deps: $(SYSTEM_STAMP)

# Into db/demo.db (the demo command's default), never the real run's db/aggregator.db.
demo: install
	$(BIN)/aggregator demo --db db/demo.db

test: install lint
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check aggregator tests bench
	$(BIN)/ruff format --check aggregator tests bench
	$(BIN)/mypy aggregator  # settings: [tool.mypy] in pyproject.toml

# After changing a version in .venv (and testing it): the exact installed set, less the project
# itself. torch's local label (+cpu, from the CPU wheel) is dropped so the pin also matches the
# same release from PyPI.
constraints: $(VENV)/bin/python
	( echo "# The exact versions the project is tested with; make install uses them (-c)."; \
	  echo "# Regenerate with \`make constraints\` (see README, Development)."; \
	  $(BIN)/python -m pip freeze --exclude-editable \
	    | grep -v -i '^news-aggregator==' | sed -E 's/^(torch==[^+]*)\+.*/\1/' ) > constraints.txt

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) db/*.db db/*.db-*
