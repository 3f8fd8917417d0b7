# Allotment: `make demo` to see it work, `make test` to prove it does.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
VENDOR := src/allotment/web/static/web/vendor/.stamp

.PHONY: demo demo-slurm test lint format clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Allotment needs Python 3.11 or newer; set PYTHON=python3.x"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

# The portal's chart.js and htmx, from npm (package-lock.json) into the static folder.
$(VENDOR): package.json package-lock.json scripts/vendor-static
	scripts/vendor-static
	@touch $@

# The agent (shifts, Slurm syncs, deadlines) runs beside the portal; Ctrl-C stops both.
SERVE = mkdir -p $${ALLOTMENT_VAR_DIR:-var}; \
	$(BIN)/allot agent run --tick 1 >$${ALLOTMENT_VAR_DIR:-var}/agent.log 2>&1 & agent=$$!; \
	trap 'kill $$agent 2>/dev/null' EXIT INT TERM; \
	echo "The agent runs beside the portal (log: $${ALLOTMENT_VAR_DIR:-var}/agent.log)."; \
	$(BIN)/allot runserver 127.0.0.1:8000 --noreload

## demo: set up, load the example site, print the admin login, serve on :8000 with the agent
demo: $(STAMP) $(VENDOR)
	$(BIN)/allot migrate --noinput
	$(BIN)/allot demo load
	$(BIN)/allot demo admin
	@$(SERVE)

## demo-slurm: the demo, with the example site's brecca on a real Slurm on loopback (root)
demo-slurm: $(STAMP) $(VENDOR)
	$(BIN)/allot migrate --noinput
	$(BIN)/allot demo load
	$(BIN)/allot dev slurm up
	$(BIN)/allot slurm sync brecca
	$(BIN)/allot demo admin
	@$(SERVE)

## test: lint, then the whole suite on SQLite and again on PostgreSQL
test: $(STAMP) $(VENDOR)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	scripts/run-tests

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
