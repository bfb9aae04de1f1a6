# huitou — the two commands are `make demo` and `make test`; everything else is what they call.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgresql://postgres@127.0.0.1:5432/huitou
PORT ?= 8000
CUSTOMERS ?= 5000
VENDOR := huitou/static/vendor
# A leg of the suite takes about 9 minutes on 2 cores; a deadlock inside one process (which no
# per-test timer can break, it needs the interpreter) ends the leg here instead of at CI's limit.
LEG_TIMEOUT ?= 1500
PYTEST := timeout --kill-after=30 $(LEG_TIMEOUT) $(BIN)/pytest

.PHONY: demo test venv venv-test assets locale lint typecheck test-sqlite test-postgres browser-deps bench clean

demo: venv assets locale
	$(BIN)/huitou demo --customers $(CUSTOMERS) --port $(PORT)

test: venv-test assets locale browser-deps lint typecheck test-sqlite test-postgres

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

venv: $(BIN)/python
	$(BIN)/pip install --quiet -e .

venv-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

# Front-end packages come from the npm registry (lock file committed); copied, not committed.
assets: frontend/node_modules/.package-lock.json
	mkdir -p $(VENDOR)/bootstrap $(VENDOR)/bootstrap-icons $(VENDOR)/htmx $(VENDOR)/chartjs
	cp frontend/node_modules/bootstrap/dist/css/bootstrap.min.css $(VENDOR)/bootstrap/
	cp frontend/node_modules/bootstrap/dist/js/bootstrap.bundle.min.js $(VENDOR)/bootstrap/
	cp -r frontend/node_modules/bootstrap-icons/font/bootstrap-icons.min.css frontend/node_modules/bootstrap-icons/font/fonts $(VENDOR)/bootstrap-icons/
	cp frontend/node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx/
	cp frontend/node_modules/chart.js/dist/chart.umd.min.js $(VENDOR)/chartjs/ 2>/dev/null || cp frontend/node_modules/chart.js/dist/chart.umd.js $(VENDOR)/chartjs/chart.umd.min.js

frontend/node_modules/.package-lock.json: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error

locale: $(BIN)/python
	$(BIN)/python manage.py compile_translations

# Debian's chromium for the browser tests, where apt is available and it is missing.
browser-deps:
	@if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium and CJK fonts from Debian"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk) >/dev/null \
	  || echo "could not install chromium: browser tests will be skipped (and fail in CI)"; \
	fi

lint: venv-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_SETTINGS_MODULE=config.settings.test $(BIN)/python manage.py makemigrations --check --dry-run

typecheck: venv-test
	$(BIN)/mypy huitou config

test-sqlite:
	mkdir -p var/test-results
	DATABASE_URL=sqlite:///var/test.sqlite3 $(PYTEST) -q -n 2 --junitxml=var/test-results/sqlite.xml

test-postgres:
	@mkdir -p var/test-results; rm -f var/test-results/postgres.xml
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(PG_URL)'.rsplit('/',1)[0]+'/postgres', connect_timeout=3).close()" 2>/dev/null; then \
	  echo "PostgreSQL reachable: running the suite again on it"; \
	  DATABASE_URL=$(PG_URL) $(PYTEST) -q -n 2 --junitxml=var/test-results/postgres.xml; \
	else \
	  echo "PostgreSQL not reachable at $(PG_URL): PostgreSQL leg skipped"; \
	  if [ "$$CI" = "true" ]; then echo "CI=true requires the PostgreSQL leg"; exit 1; fi; \
	fi

bench: venv-test
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) var frontend/node_modules $(VENDOR)
