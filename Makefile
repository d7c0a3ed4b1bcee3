# The project's vocabulary. `make run` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROTOS := $(wildcard protos/sendingip/v1/*.proto)
PROTOC  = $(BIN)/python -m grpc_tools.protoc -Iprotos

.PHONY: install lock run test soak lint format protos check-protos clean bench loadtest

install: $(STAMP)

# Every dependency, the transitive ones too, at the version and hashes of requirements.lock;
# then sendingip itself (setuptools, its build backend, comes from the lock as well).
# The first install takes a minute or two: each step says what it does, pip's packages are
# counted as they come, and the whole of pip's output is kept in .venv/pip.log.
$(STAMP): pyproject.toml requirements.lock
	@set -e; start=$$(date +%s); log=$(VENV)/pip.log; \
	total=$$(grep -c '^[A-Za-z0-9].*==' requirements.lock); \
	echo "install: creating $(VENV) with $$($(PYTHON) --version)"; \
	$(PYTHON) -m venv $(VENV); : > $$log; \
	echo "install: $$total pinned packages from requirements.lock (about a minute the first time)"; \
	{ $(BIN)/pip install --disable-pip-version-check --progress-bar off --require-hashes -r requirements.lock \
	    >>$$log 2>&1 || echo failed >$(VENV)/.pip-failed; } & pip=$$!; \
	said=; quiet=0; while kill -0 $$pip 2>/dev/null; do sleep 2; quiet=$$((quiet + 2)); \
	  if grep -q '^Installing collected' $$log; then now="unpacking and installing them (the longest step)"; \
	  else now="fetched $$(grep -c '^Collecting' $$log || true)/$$total"; fi; \
	  if [ "$$now" != "$$said" ] || [ $$quiet -ge 15 ]; then \
	    echo "install: $$now ($$(( $$(date +%s) - start ))s)"; said=$$now; quiet=0; fi; \
	done; wait $$pip; \
	if [ -f $(VENV)/.pip-failed ]; then rm -f $(VENV)/.pip-failed; tail -n 20 $$log >&2; \
	  echo "install: pip failed; its whole output is in $$log" >&2; exit 1; fi; \
	echo "install: sendingip itself (editable)"; \
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e . >>$$log 2>&1 || \
	  { tail -n 20 $$log >&2; exit 1; }; \
	touch $(STAMP); echo "install: done in $$(( $$(date +%s) - start ))s"

# Regenerate requirements.lock after changing pyproject.toml's dependencies (needs the package
# index; pins already in the lock are kept unless pyproject.toml rules them out).
lock:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp"; "$$tmp/bin/pip" install --quiet --disable-pip-version-check pip-tools==7.6.2; \
	"$$tmp/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --extra dev --strip-extras \
	  --no-emit-index-url --no-emit-find-links --output-file requirements.lock pyproject.toml

# --init: this folder's .data is the database (created on the first run), whatever an
# earlier `sendingip serve` elsewhere noted. The server prints each step and every address.
run: install
	$(BIN)/sendingip serve --init

# PYTEST_ARGS narrows a run, e.g. make test PYTEST_ARGS="tests/unit -x".
test: install
	@echo "test: pytest $(or $(PYTEST_ARGS),(the whole suite: about 8 minutes on 2 cores)); an embedded PostgreSQL starts first"
	$(BIN)/pytest $(PYTEST_ARGS)

# The long reliability runs (about 10 minutes): a ten-minute soak, a worker killed in
# a 3,000-account rebalance. Their short forms run in `make test`.
soak: install
	SENDINGIP_SOAK=1 $(BIN)/pytest tests/reliability -m soak $(PYTEST_ARGS)

# The benchmark (docs/benchmarks.md): its own PostgreSQL and servers, < 10 minutes.
# BENCH_ARGS=--quick for a ~3-minute run. h2load comes from nghttp2-client, wrk from wrk; the
# line and Postfix doors' client (bench/doorclient.c) is built with the system cc.
bench: install
	@command -v h2load >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y nghttp2-client; } || \
	  { echo "make bench needs h2load: sudo apt-get install -y nghttp2-client" >&2; exit 1; }
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y wrk; } || \
	  { echo "make bench needs wrk: sudo apt-get install -y wrk" >&2; exit 1; }
	$(BIN)/sendingip bench $(BENCH_ARGS)

# Simulated MTAs against a running router, e.g.
# make loadtest LOADTEST_ARGS="--target 127.0.0.1:50051 --key $$SENDINGIP_API_KEY --mtas 20 --rate 2000 --duration 30 --account-count 1000"
loadtest: install
	$(BIN)/sendingip loadtest $(LOADTEST_ARGS)

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
