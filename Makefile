# Every target creates or reuses .venv, so `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PORT ?= 8443

.PHONY: venv run test lint format bench bench-render bench-serve e2e-assets e2e clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

run: venv
	$(BIN)/webhook serve --self-signed --serviceaccounts examples/serviceaccounts.yaml --port $(PORT)

lint: venv
	$(BIN)/ruff check webhook tests hack
	$(BIN)/ruff format --check webhook tests hack

format: venv
	$(BIN)/ruff format webhook tests hack
	$(BIN)/ruff check --fix webhook tests hack

test: venv lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

e2e-assets:
	bash hack/e2e-assets.sh

e2e: venv e2e-assets
	$(BIN)/python -m pytest -m e2e $(PYTEST_ARGS)

bench: bench-render bench-serve

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
