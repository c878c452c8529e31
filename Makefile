# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
PYTEST_ARGS ?=
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-each soak bench lint clean browser node outside-issuer

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	# uv installs what pip would in a third of the time (docs/performance.md §Test suite), and `make test`'s ten
	# minutes include this step; pip is the fallback where uv cannot be had.
	{ $(BIN)/pip install --quiet uv && $(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'; } || \
	  { $(BIN)/pip install --quiet --upgrade pip && $(BIN)/pip install --quiet -e '.[dev]'; }
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/vsmesh up

# Three worker processes on the two cores, a test file each at a time (each starts its own servers and mesh):
# the suite waits on servers and subprocesses more than it computes, and two workers left a third of the two
# cores idle (docs/performance.md §Test suite). Files are handed out in the order tests/conftest.py gives them
# (slowest first), not reordered by test count.
TEST_JOBS ?= 3

test: $(STAMP) browser outside-issuer
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder --durations=10 $(PYTEST_ARGS)

# The page tests drive Debian's chromium with Playwright (Playwright's own browser download cannot work
# where only PyPI and Debian answer). Installed when it can be; otherwise `make test` fails, never skips.
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium (Debian) for the page tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "error: the page tests need chromium: run 'sudo apt-get install chromium' (Debian/Ubuntu)" >&2; \
	    exit 1; \
	  fi; }

# The login tests' outside issuer is panva's oidc-provider, a certified OpenID Provider on Node.js
# (tests/outside_issuer): Node.js from Debian when it can be installed; otherwise `make test` fails, never skips.
node:
	@{ command -v node && command -v npm; } >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing nodejs and npm (Debian) for the outside issuer's login tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	  else \
	    echo "error: the outside issuer's login tests need Node.js: run 'sudo apt-get install nodejs npm' (Debian/Ubuntu)" >&2; \
	    exit 1; \
	  fi; }

# Its packages as the lockfile pins them, again only when the lockfile is newer than what is installed.
OUTSIDE_ISSUER := tests/outside_issuer
outside-issuer: node $(OUTSIDE_ISSUER)/node_modules/.package-lock.json

$(OUTSIDE_ISSUER)/node_modules/.package-lock.json: $(OUTSIDE_ISSUER)/package-lock.json
	npm ci --prefix $(OUTSIDE_ISSUER) --no-audit --no-fund --loglevel=error
	touch $@

# Every test file in a session of its own: what passes only after another file ran fails here (not in `make test`).
test-each: $(STAMP) browser outside-issuer
	PYTHON=$(BIN)/python tests/run_each_file.sh $(PYTEST_ARGS)

soak: $(STAMP)
	$(BIN)/python -m pytest -q -s -m soak tests/soak

bench: $(STAMP)
	for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .vsmesh $(OUTSIDE_ISSUER)/node_modules
