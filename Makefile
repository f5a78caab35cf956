# Two commands: `make up` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
UV_VERSION := 0.13.8

.PHONY: up test install lint typecheck check bench bench-events clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

install: $(UV)
	$(UV) sync --all-packages --frozen --quiet || $(UV) sync --all-packages --quiet

up: install
	$(UV) run --no-sync python -m kopano.devstack up

test: install
	$(UV) run --no-sync python -m pytest

lint: install
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .

typecheck: install
	$(UV) run --no-sync mypy

check: lint typecheck test

# Benchmarks print figures; they are not tests.
bench: install
	$(UV) run --no-sync python -m bench

bench-events: install
	$(UV) run --no-sync python bench/events_pipeline.py

clean:
	rm -rf $(TOOLS) .venv .kopano
