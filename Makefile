# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test lint fuzz mutate wheelhouse

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# Embedded default: SQLite and a 0600 key file in ./data; prints the bootstrap
# administrator's password once, then serves on 127.0.0.1:8000.
run: $(STAMP)
	bash scripts/system-deps run
	$(VENV)/bin/registry init
	$(VENV)/bin/registry serve

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# Lint, then the whole suite on SQLite and on a real PostgreSQL (the machine's, or a
# throwaway one the suite starts), with SoftHSM2 for the PKCS#11 key provider.
test: $(STAMP) lint
	bash scripts/system-deps
	$(VENV)/bin/pytest -n 2 -q

# A longer contract fuzz than the suite's (REGISTRY_FUZZ_EXAMPLES requests over every operation).
fuzz: $(STAMP)
	REGISTRY_FUZZ_EXAMPLES=$${REGISTRY_FUZZ_EXAMPLES:-10000} $(VENV)/bin/pytest -q -p no:randomly tests/test_contract.py

# Mutation testing of the kernel (mutmut, one worker; MUTATE="ciphertext merkle disclosure verify"
# to choose): scores and survivors in bench/README.md and bench/results/mutate-*.json.
mutate: $(STAMP)
	$(VENV)/bin/pip install -q -e '.[test,mutate]'
	$(VENV)/bin/python -m bench.mutate $${MUTATE:-ciphertext merkle}

# Every wheel the service needs (the project's own and its dependencies'), for an install
# on an isolated network of the same platform and Python (docs/operations.md, "Install").
wheelhouse: $(STAMP)
	rm -rf wheelhouse build  # never a stale file of an earlier build in the wheel
	$(VENV)/bin/pip wheel -q -w wheelhouse .
	@echo "wheelhouse/: pip install --no-index --find-links wheelhouse registry"
