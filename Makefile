# The project's vocabulary. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROTOS := $(wildcard protos/sendingip/v1/*.proto)
PROTOC  = $(BIN)/python -m grpc_tools.protoc -Iprotos

.PHONY: install run test lint format protos check-protos clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/sendingip serve

# PYTEST_ARGS narrows a run, e.g. make test PYTEST_ARGS="tests/unit -x".
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Generated code lives in sendingip/v1 (the Python package of the proto package
# sendingip.v1) and is committed; check-protos fails when it is out of date.
protos: install
	$(PROTOC) --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)
	touch sendingip/__init__.py sendingip/v1/__init__.py

check-protos: install
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PROTOC) --python_out=$$tmp --pyi_out=$$tmp --grpc_python_out=$$tmp $(PROTOS); \
	touch $$tmp/sendingip/__init__.py $$tmp/sendingip/v1/__init__.py; \
	if diff -r -x __pycache__ $$tmp/sendingip sendingip; then echo "protos: generated code is up to date"; \
	else echo "protos: generated code differs from protos/; run 'make protos' and commit" >&2; exit 1; fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
