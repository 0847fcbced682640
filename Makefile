# Two entry points: `make demo` and `make test`. Each does all set-up on a fresh
# machine (virtualenv, pinned Python packages, Debian packages the tests need).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the integration tests start for real: PostgreSQL, Prometheus,
# headless Chromium + chromedriver, and Java 17 for PySpark.
DEBS := postgresql prometheus prometheus-alertmanager influxdb chromium chromium-driver openjdk-17-jre-headless
# Two workers: the suite fits CI's time on 2 cores (tests isolate their own databases and ports).
PYTEST_ARGS ?= -n 2

.PHONY: demo test lint venv system-deps bench clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Installs only what is missing, so a second run costs nothing.
system-deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

demo: venv
	$(BIN)/admon demo --out demo-out

test: venv system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# What CI checks besides the tests: ruff, the type check (packages listed under
# [tool.mypy] in pyproject.toml) and no new import cycle among admon's modules.
lint: venv
	$(BIN)/ruff check src tests bench .ci
	$(BIN)/mypy
	$(BIN)/python .ci/check_import_cycles.py

bench: venv
	$(BIN)/python bench/data_job.py

clean:
	rm -rf $(VENV) .admon demo-out .pytest_cache .hypothesis
