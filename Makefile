PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DB ?= demo.duckdb
SIZE ?= 100k

.PHONY: venv demo test acceptance bench clean

# The venv is (re)built whenever pyproject.toml or the constraints change.
$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,plot]"
	touch $@

venv: $(BIN)/.installed

demo: venv
	rm -rf $(DEMO_DB) $(DEMO_DB).wal $(basename $(DEMO_DB))-data
	$(BIN)/recdb --db $(DEMO_DB) demo --size $(SIZE)

test: venv
	$(BIN)/python -m pytest

# Real BI/SQL clients (duckdb 1.5 + SQLAlchemy 1.4, the duckdb 1.5 CLI, dbt-duckdb) in their own virtualenvs:
# slow, and needs the package registry the first time.
acceptance: venv
	RECDB_ACCEPTANCE=1 $(BIN)/python -m pytest tests/acceptance -v

# Stage benchmark, each stage beside the seed's approach: make bench [SIZE=10k|100k|1M|10M] (default 10M).
bench: venv
	$(BIN)/python benchmarks/stages.py --size $(if $(filter command line,$(origin SIZE)),$(SIZE),10M) --workdir bench-data

clean:
	rm -rf $(VENV) .acceptance $(DEMO_DB) $(DEMO_DB).wal $(basename $(DEMO_DB))-data .pytest_cache
