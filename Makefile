# virt.hostdev: build, test and CI entry points. `make help` lists the targets.
# Every target first runs scripts/bootstrap.sh (idempotent, fast when nothing changed).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# `make test` runs its phases in order and stops at the first failure, also under -j.
.NOTPARALLEL:

VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
PYTEST := $(BIN)/pytest
BUILD := $(CURDIR)/.build
SANITY_DIR := $(BUILD)/sanity/ansible_collections/virt/hostdev

export ANSIBLE_COLLECTIONS_PATH := $(BUILD)/collections
# venv tools first (ansible-test finds python3.11 and the ansible-* commands on PATH)
export PATH := $(BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

# run_pytest DIR: pytest exit code 5 (no tests collected) only passes when DIR really
# contains no test files yet.
define run_pytest
rc=0; $(PYTEST) $(PYTEST_ARGS) $(1) || rc=$$?; \
if [ $$rc -eq 5 ] && [ -z "$$(find $(1) -name 'test_*.py' -o -name '*_test.py' 2>/dev/null | head -n 1)" ]; then \
  echo "make: no tests in $(1) yet"; rc=0; fi; \
exit $$rc
endef

.PHONY: help setup demo test unit integration sanity types lint lab bench build clean

help: ## show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-12s %s\n", $$1, $$2 }'

setup: ## install system packages, .venv and the collection symlink (idempotent)
	@bash scripts/bootstrap.sh

demo: setup ## gather the bundled sample host's facts and print a summary
	@rm -rf $(BUILD)/sample-host
	@$(PYTHON) tests/fixtures/sample_host/sysfs.py $(BUILD)/sample-host >/dev/null
	ANSIBLE_LOCALHOST_WARNING=0 \
	  $(BIN)/ansible-playbook -i localhost, -c local -e ansible_python_interpreter=$(PYTHON) \
	  playbooks/demo.yml $(DEMO_ARGS)

TEST_PHASES := unit integration sanity types lint lab
test: setup ## unit, integration, sanity, types, lint, lab in order; stops at the first failure
	@for phase in $(TEST_PHASES); do \
	  start=$$SECONDS; echo "==== make test: $$phase"; \
	  if ! $(MAKE) --no-print-directory $$phase; then \
	    echo "==== make test: $$phase FAILED after $$((SECONDS - start)) s"; exit 1; fi; \
	  echo "==== make test: $$phase passed in $$((SECONDS - start)) s"; \
	done

unit: setup ## pytest tests/unit
	@$(call run_pytest,tests/unit)

integration: setup ## pytest tests/integration (starts a private libvirtd)
	@$(call run_pytest,tests/integration)

sanity: setup ## ansible-test sanity on a copy of the tracked + untracked files
	@rm -rf $(BUILD)/sanity && mkdir -p $(SANITY_DIR)
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  git ls-files -z -co --exclude-standard; \
	else \
	  find . \( -path ./.git -o -path ./.venv -o -path ./.build \) -prune -o \( -type f -o -type l \) -printf '%P\0'; \
	fi | while IFS= read -r -d '' f; do [ -e "$$f" ] || [ -L "$$f" ] && printf '%s\0' "$$f"; done \
	  | tar --null -T - -cf - | tar -xf - -C $(SANITY_DIR)
	@# ansible-test lists files with git from the nearest .git upwards; without a repo of its
	@# own the copy would be seen as ignored files of this checkout (.build/) and skipped.
	@git -C $(SANITY_DIR) init -q
	cd $(SANITY_DIR) && $(BIN)/ansible-test sanity --python $$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])') --requirements $(SANITY_ARGS)

types: setup ## mypy on module_utils and the controller plugins, for the managed host's Python 3.9
	cd $(BUILD)/collections && $(BIN)/mypy --python-version 3.9 --ignore-missing-imports --no-error-summary \
	  -p ansible_collections.virt.hostdev.plugins.module_utils -p ansible_collections.virt.hostdev.plugins.filter \
	  -p ansible_collections.virt.hostdev.plugins.test -p ansible_collections.virt.hostdev.plugins.plugin_utils

lint: setup ## ansible-lint the role, the demo and the example playbooks
	$(BIN)/ansible-lint --offline roles/ playbooks/ docs/examples/

lab: setup ## boot the virtual-IOMMU guest, run the checks in it, assert on its JSON report
	@rc=0; $(PYTEST) -p no:cacheprovider $(PYTEST_ARGS) tests/lab || rc=$$?; \
	echo "lab report: $(BUILD)/lab/report.json (guest console: $(BUILD)/lab/serial.log)"; exit $$rc

bench: setup ## python tests/bench/bench_model.py
	$(PYTHON) tests/bench/bench_model.py

build: setup ## build the collection tarball into .build/dist
	$(BIN)/ansible-galaxy collection build --force --output-path $(BUILD)/dist

clean: ## remove .venv, .build and caches
	rm -rf $(VENV) $(BUILD) .pytest_cache tests/output
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
