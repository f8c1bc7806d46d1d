# pgha.replication — development, lab and test entry points.
# Every target installs what it needs: Debian packages (as root, or through sudo) and a
# Python venv from requirements-dev.txt. Nothing installed by hand is assumed.
SHELL := /bin/bash
.DEFAULT_GOAL := help

REPO        := $(CURDIR)
VENV        := $(REPO)/.venv
BIN         := $(VENV)/bin
COLLECTIONS := $(REPO)/.build/collections
LAB_DIR     := $(REPO)/.lab
SCENARIO    ?= streaming
TOPOLOGY    ?= ha
# The Debian release of lab nodes whose scenario names none (platforms' lab_release).
RELEASE     ?= trixie
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export CONTAINERS_CONF := $(LAB_DIR)/containers.conf
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PGHA_LAB_RELEASE := $(RELEASE)
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0
export PYTHONPATH := $(COLLECTIONS)
export PATH := $(BIN):$(PATH)

.PHONY: help bench-failover bench-backup host-deps venv collection lab-env lab lab-destroy test units server-tests lint sanity docs-lint molecule molecule-all \
	role-readmes controller-tests galaxy-import ee-create core-range

help:
	@echo "make lab [TOPOLOGY=ha|streaming] [RELEASE=bookworm|trixie]  build (or converge) the lab and print its state"
	@echo "make lab-destroy                remove the lab's containers and state"
	@echo "make test                       every gate: lint, sanity, units, module tests, Molecule"
	@echo "make units | lint | sanity | molecule SCENARIO=<name>"
	@echo "make controller-tests | galaxy-import | ee-create | core-range | role-readmes"
	@echo "make bench-failover | bench-backup [BENCH_SIZE_GB=0.2]  benchmarks on a built lab"

# Debian packages on the host: podman and friends for the lab, PostgreSQL for module tests.
$(LAB_DIR)/.host-deps: scripts/host-deps.sh
	@mkdir -p $(LAB_DIR)
	@scripts/host-deps.sh
	@touch $@
host-deps: $(LAB_DIR)/.host-deps

$(VENV)/.installed: requirements-dev.txt
	@test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	@touch $@
venv: $(VENV)/.installed

# The repo root is the collection root; Ansible finds it through this link.
collection:
	@mkdir -p $(COLLECTIONS)/ansible_collections/pgha
	@ln -sfn ../../../.. $(COLLECTIONS)/ansible_collections/pgha/replication

$(LAB_DIR)/containers.conf: molecule/_lab/podman-env.sh
	@molecule/_lab/podman-env.sh $@

lab-env: host-deps venv collection $(LAB_DIR)/containers.conf

# The lab's state (inventory, ansible.cfg, ssh_config and keys, CA, passwords) is in
# .lab/<topology>; .lab/ssh_config points at the current one: ssh -F .lab/ssh_config pg1.
# Prints how long it took, and the converge's recap and 20 slowest tasks.
lab: lab-env
	@# One lab at a time: the topologies share node names and addresses.
	@for t in $$(ls $(LAB_DIR) 2>/dev/null); do \
	  if [ "$$t" != "$(TOPOLOGY)" ] && [ -d $(LAB_DIR)/$$t ] && [ -d molecule/$$t ]; then \
	    echo "lab: removing the $$t lab first"; \
	    MOLECULE_EPHEMERAL_DIRECTORY=$(LAB_DIR)/$$t $(BIN)/molecule destroy -s $$t >/dev/null && rm -rf $(LAB_DIR)/$$t; \
	  fi; \
	done
	@start=$$(date +%s); export MOLECULE_EPHEMERAL_DIRECTORY=$(LAB_DIR)/$(TOPOLOGY); \
	$(BIN)/molecule create -s $(TOPOLOGY) && created=$$(date +%s) && \
	ln -sfn $(TOPOLOGY)/ssh_config $(LAB_DIR)/ssh_config && \
	$(BIN)/molecule converge -s $(TOPOLOGY) && converged=$$(date +%s) && \
	ANSIBLE_CONFIG=$(LAB_DIR)/$(TOPOLOGY)/ansible.cfg $(BIN)/ansible-playbook \
	  -i $(LAB_DIR)/$(TOPOLOGY)/inventory molecule/$(TOPOLOGY)/report.yml \
	  -e pgha_lab_endpoints_file=$(LAB_DIR)/endpoints.json && \
	echo "make lab: $(TOPOLOGY) lab ready in $$(( $$(date +%s) - start )) s (create $$(( created - start )) s, converge $$(( converged - created )) s, report $$(( $$(date +%s) - converged )) s); reach a node with: ssh -F .lab/ssh_config <node>"

lab-destroy: lab-env
	@for t in $$(ls $(LAB_DIR) 2>/dev/null); do \
	  [ -d $(LAB_DIR)/$$t ] && [ -d molecule/$$t ] && \
	  MOLECULE_EPHEMERAL_DIRECTORY=$(LAB_DIR)/$$t $(BIN)/molecule destroy -s $$t; \
	done; true
	rm -rf $(LAB_DIR)

units: venv collection
	$(BIN)/pytest -p no:cacheprovider tests/unit -q

server-tests: host-deps venv collection
	$(BIN)/pytest -p no:cacheprovider tests/server -q

lint: venv collection
	$(BIN)/yamllint -s .
	$(BIN)/ansible-lint --profile production
	$(BIN)/antsibull-changelog lint
	$(BIN)/python scripts/check_argument_specs.py roles
	$(BIN)/python scripts/role_readmes.py --check roles

# Each role's README.md, generated from its meta/argument_specs.yml (make lint checks the drift).
role-readmes: venv
	$(BIN)/python scripts/role_readmes.py roles

# Playbooks on throwaway inventories, on the controller only: wrong groups and missing secrets fail first.
controller-tests: venv collection
	$(BIN)/pytest -p no:cacheprovider tests/controller -q

# Tools with pins of their own, each in its own venv under .build/ (not in requirements-dev.txt).
BUILD                   := $(REPO)/.build
GALAXY_IMPORTER_VERSION := 0.4.44
ANSIBLE_BUILDER_VERSION := 3.2.0
# The lowest ansible-core meta/runtime.yml supports; the newest is the one in .venv.
CORE_MIN                := 2.16
$(BUILD)/venv-importer/.installed:
	@rm -rf $(@D) && python3 -m venv $(@D)
	$(@D)/bin/pip install -q --upgrade pip
	$(@D)/bin/pip install -q 'galaxy-importer==$(GALAXY_IMPORTER_VERSION)'
	@touch $@
$(BUILD)/venv-builder/.installed:
	@rm -rf $(@D) && python3 -m venv $(@D)
	$(@D)/bin/pip install -q --upgrade pip
	$(@D)/bin/pip install -q 'ansible-builder==$(ANSIBLE_BUILDER_VERSION)'
	@touch $@
$(BUILD)/venv-core-$(CORE_MIN)/.installed:
	@rm -rf $(@D) && python3 -m venv $(@D)
	$(@D)/bin/pip install -q --upgrade pip
	$(@D)/bin/pip install -q 'ansible-core==$(CORE_MIN).*' pytest psycopg2-binary jmespath cryptography matplotlib
	@touch $@

# Build the tarball as Galaxy gets it, check it holds only what users run, and run the Galaxy
# importer on it (offline: tests/galaxy/galaxy-importer.cfg); any ERROR fails the target. Its
# ansible-lint warns about community.* modules it cannot resolve (its venv has ansible-core only).
galaxy-import: venv $(BUILD)/venv-importer/.installed
	@rm -rf $(BUILD)/dist && mkdir -p $(BUILD)/dist
	$(BIN)/ansible-galaxy collection build --force --output-path $(BUILD)/dist .
	@tarball=$$(ls $(BUILD)/dist/pgha-replication-*.tar.gz); \
	extra=$$(tar -tzf $$tarball | grep -E '^(\./)?(tests|molecule|benchmarks|scripts|\.ci|\.build|\.lab|docs/notes)/|^(\./)?(Makefile|requirements-dev\.txt|\.ansible-lint|\.yamllint)$$' || true); \
	if [ -n "$$extra" ]; then echo "galaxy-import: the tarball holds development files:"; echo "$$extra"; exit 1; fi; \
	echo "galaxy-import: $$tarball, $$(du -k $$tarball | cut -f1) KB, $$(tar -tzf $$tarball | wc -l) entries"; \
	cd $(BUILD)/dist && PATH=$(BUILD)/venv-importer/bin:$$PATH HOME=$(BUILD)/importer-home \
	  GALAXY_IMPORTER_CONFIG=$(REPO)/tests/galaxy/galaxy-importer.cfg \
	  $(BUILD)/venv-importer/bin/python -m galaxy_importer.main $$(basename $$tarball) > importer.log 2>&1; rc=$$?; \
	cat importer.log; \
	errors=$$(grep -c '^ERROR' importer.log); warnings=$$(grep -c '^WARNING' importer.log); \
	echo "galaxy-import: importer exit $$rc, $$errors error(s), $$warnings warning(s)"; \
	[ $$rc = 0 ] && [ $$errors = 0 ]

# The example execution environment of docs/awx.md: ansible-builder writes its build context
# (no image is built); introspect reads this collection's meta/execution-environment.yml.
ee-create: collection $(BUILD)/venv-builder/.installed
	@rm -rf $(BUILD)/ee-context
	cd docs/examples/ee && $(BUILD)/venv-builder/bin/ansible-builder create -f execution-environment.yml \
	  -c $(BUILD)/ee-context -v 2
	@test -f $(BUILD)/ee-context/Containerfile
	$(BUILD)/venv-builder/bin/ansible-builder introspect --sanitize $(COLLECTIONS) > $(BUILD)/ee-introspect.txt
	@cat $(BUILD)/ee-introspect.txt
	@grep -q 'psycopg2-binary.*pgha.replication' $(BUILD)/ee-introspect.txt && \
	 grep -q 'postgresql-client.*pgha.replication' $(BUILD)/ee-introspect.txt && \
	 echo "ee-create: build context in .build/ee-context; pgha.replication's Python and system requirements found"

# Unit tests and ansible-doc of every plugin on the lowest supported ansible-core and on the newest.
core-range: venv collection $(BUILD)/venv-core-$(CORE_MIN)/.installed
	@grep -q "requires_ansible: \">=$(CORE_MIN).0\"" meta/runtime.yml || { echo "core-range: CORE_MIN=$(CORE_MIN) is not requires_ansible in meta/runtime.yml"; exit 1; }
	scripts/core-range.sh $(BUILD)/venv-core-$(CORE_MIN)/bin
	scripts/core-range.sh $(BIN)

sanity: venv
	scripts/sanity.sh

docs-lint: venv collection
	$(BIN)/antsibull-docs lint-collection-docs --plugin-docs .

# Prints each step's time and the 20 slowest tasks (scripts/molecule-timed.sh).
molecule: lab-env
	scripts/molecule-timed.sh $(SCENARIO)

molecule-all: lab-env
	scripts/molecule-all.sh

# Failover benchmark on the HA lab (build it first: make lab TOPOLOGY=ha); prints a table.
BENCH_ARGS ?=
bench-failover: lab-env
	$(BIN)/python benchmarks/failover.py --lab $(LAB_DIR)/ha $(BENCH_ARGS)

# Backup and restore throughput on the backup lab (build it first: make lab TOPOLOGY=backup);
# BENCH_SIZE_GB=0.2 for a quick run.
BENCH_SIZE_GB ?= 3
bench-backup: lab-env
	$(BIN)/python benchmarks/backup.py --lab $(LAB_DIR)/backup --size-gb $(BENCH_SIZE_GB) $(BENCH_ARGS)

# The module tests (real PostgreSQL, PgBouncer, Patroni on 127.0.0.1 and 127.0.3.x) and the
# controller-only gates (inventory checks, Galaxy importer, execution environment, ansible-core
# range) run one after another in the background, alongside the Molecule scenarios (127.0.1.x,
# 127.0.2.x, 127.0.4.x, 127.0.5.x): they share no address, and Molecule, the longest, mostly waits on
# servers. -k: every background gate runs even after one failed. Their output is printed when
# both are done.
BACKGROUND_GATES := server-tests controller-tests galaxy-import ee-create core-range
test: lint sanity docs-lint units lab-env
	@start=$$(date +%s); mkdir -p $(REPO)/.build; \
	$(MAKE) --no-print-directory -k $(BACKGROUND_GATES) > $(REPO)/.build/background-gates.log 2>&1 & background=$$!; \
	$(MAKE) --no-print-directory molecule-all; molecule=$$?; \
	wait $$background; gates=$$?; \
	echo "=== $(BACKGROUND_GATES) (ran alongside Molecule)"; cat $(REPO)/.build/background-gates.log; \
	echo "make test: background gates exit $$gates, Molecule exit $$molecule, $$(( $$(date +%s) - start )) s for both"; \
	[ $$gates = 0 ] && [ $$molecule = 0 ]
	@echo "make test: all gates passed"
