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

export ANSIBLE_COLLECTIONS_PATH := $(BUILD)/collections
# venv tools first (ansible-test finds python3.11 and the ansible-* commands on PATH)
export PATH := $(BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

# Every pytest run lists its slowest tests, so each CI log says where its 40 minutes go.
DURATIONS := --durations=15 --durations-min=10

# run_pytest DIR: pytest exit code 5 (no tests collected) only passes when DIR really
# contains no test files yet.
define run_pytest
rc=0; $(PYTEST) $(DURATIONS) $(PYTEST_ARGS) $(1) || rc=$$?; \
if [ $$rc -eq 5 ] && [ -z "$$(find $(1) -name 'test_*.py' -o -name '*_test.py' 2>/dev/null | head -n 1)" ]; then \
  echo "make: no tests in $(1) yet"; rc=0; fi; \
exit $$rc
endef

.PHONY: help setup demo test unit integration sanity compat types lint docs lab lab-host labs bench bench-fleet build clean

help: ## show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  %-12s %s\n", $$1, $$2 }'

setup: ## install system packages, .venv and the collection symlink (idempotent)
	@bash scripts/bootstrap.sh

demo: ## gather the bundled sample host's facts and print a summary (installs only what it needs)
	@bash scripts/bootstrap.sh --demo
	@rm -rf $(BUILD)/sample-host
	@$(PYTHON) tests/fixtures/sample_host/sysfs.py $(BUILD)/sample-host >/dev/null
	ANSIBLE_LOCALHOST_WARNING=0 \
	  $(BIN)/ansible-playbook -i localhost, -c local -e ansible_python_interpreter=$(PYTHON) \
	  playbooks/demo.yml $(DEMO_ARGS)

# No lint phase: tests/integration/test_ansible_lint.py runs ansible-lint at the root of a clean copy of the
# checkout, without --offline (what `make lint` runs offline, and more), so `make test` lints once.
TEST_PHASES := unit integration sanity compat types docs labs
test: setup ## unit, integration (with ansible-lint at the root), sanity, compat, types, docs, then lab and lab-host side by side; stops at the first failure
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
	bash scripts/sanity.sh $(VENV) $(BUILD)/sanity $(SANITY_ARGS)

compat: setup ## unit tests and sanity on the oldest and newest ansible-core claimed (venvs in .build/compat)
	bash scripts/compat.sh $(COMPAT_LINES)

types: setup ## mypy on module_utils and the controller plugins, for the managed host's Python 3.9
	cd $(BUILD)/collections && $(BIN)/mypy --python-version 3.9 --ignore-missing-imports --no-error-summary \
	  -p ansible_collections.virt.hostdev.plugins.module_utils -p ansible_collections.virt.hostdev.plugins.filter \
	  -p ansible_collections.virt.hostdev.plugins.test -p ansible_collections.virt.hostdev.plugins.plugin_utils

# What a contributor types, offline: .ansible-lint holds the profile (production) and what is skipped
# (generated files only); the collection resolves through $(ANSIBLE_COLLECTIONS_PATH).
lint: setup ## ansible-lint at the root, as .ansible-lint says (profile production, everything but generated files)
	$(BIN)/ansible-lint --offline

DOCS := $(BUILD)/docs
# tests/docsite runs here, on the site just built: the docs are built once per `make test`.
docs: setup ## the docsite in .build/docs: (re)writes its pages from docs/*.md, antsibull-docs lint, Sphinx without warnings, tests/docsite on it
	$(PYTHON) scripts/docsite.py
	cd $(BUILD)/collections/ansible_collections/virt/hostdev && $(BIN)/antsibull-docs lint-collection-docs --plugin-docs .
	rm -rf $(DOCS) && mkdir -p $(DOCS) && chmod 755 $(DOCS)
	$(BIN)/antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error --title virt.hostdev \
	  --dest-dir $(DOCS) virt.hostdev >/dev/null
	@# No network: the labels of Ansible's docsite come from a local inventory; links still go there.
	$(PYTHON) scripts/docsite.py --inventory $(DOCS)/ansible_devel.inv
	echo "intersphinx_mapping = {'ansible_devel': ('https://docs.ansible.com/projects/ansible/devel/', '$(DOCS)/ansible_devel.inv')}" \
	  >>$(DOCS)/conf.py
	cd $(DOCS) && ./build.sh >build.log 2>&1 || { tail -n 40 build.log; exit 1; }
	@echo "docsite: $(DOCS)/build/html/index.html"
	DOCSITE_HTML=$(DOCS)/build/html $(PYTEST) $(PYTEST_ARGS) tests/docsite

# run_lab DIR NAME: one lab's pytest run, then where its report and guest console are.
define run_lab
rc=0; $(PYTEST) -p no:cacheprovider $(DURATIONS) $(PYTEST_ARGS) tests/$(1) || rc=$$?; \
echo "$(2) report: $(BUILD)/$(1)/report.json (guest console: $(BUILD)/$(1)/serial.log)"; exit $$rc
endef

lab: setup ## boot the virtual-IOMMU guest, run the checks in it, assert on its JSON report
	@$(call run_lab,lab,lab)

lab-host: setup ## build (or reuse) the Debian 12 lab host, prepare it over SSH with its real GRUB, reboot and VFIO
	@$(call run_lab,lab_host,lab-host)

# Each lab keeps about one core busy with its TCG guest, and each waits much of its time on the guest:
# side by side they end minutes sooner than one after the other (their time bounds allow a machine three
# times slower). Each one's output is printed when it ends, and kept in $(BUILD)/<lab>.out.
labs: setup ## lab and lab-host side by side; fails when either fails
	@mkdir -p $(BUILD); \
	( $(call run_lab,lab,lab) ) >$(BUILD)/lab.out 2>&1 & lab=$$!; \
	( $(call run_lab,lab_host,lab-host) ) >$(BUILD)/lab_host.out 2>&1 & host=$$!; \
	rc=0; \
	if wait $$lab; then echo "==== labs: lab passed"; else rc=1; echo "==== labs: lab FAILED"; fi; cat $(BUILD)/lab.out; \
	if wait $$host; then echo "==== labs: lab-host passed"; else rc=1; echo "==== labs: lab-host FAILED"; fi; \
	cat $(BUILD)/lab_host.out; exit $$rc

bench: setup ## python tests/bench/bench_model.py, then bench_names.py (what device names cost)
	$(PYTHON) tests/bench/bench_model.py
	$(PYTHON) tests/bench/bench_names.py

bench-fleet: setup ## 1,000 hosts: hostdev facts vs setup min; sysfs path vs a bare walk; bytes (.build/bench/fleet.json)
	$(PYTHON) tests/bench/bench_fleet.py

# Nothing but a user's own build of a checkout: the docsite's pages are committed (make docs
# writes them, make unit fails when they are stale), galaxy.yml's build_ignore leaves out the rest.
build: setup ## the collection tarball in .build/dist: `ansible-galaxy collection build`, as of any checkout
	$(BIN)/ansible-galaxy collection build --force --output-path $(BUILD)/dist

clean: ## remove .venv, .build and caches
	rm -rf $(VENV) $(BUILD) .pytest_cache tests/output .ansible
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
