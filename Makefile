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
SUDO        := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

export CONTAINERS_CONF := $(LAB_DIR)/containers.conf
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_FORCE_COLOR := 0
export PY_COLORS := 0
export PYTHONPATH := $(COLLECTIONS)
export PATH := $(BIN):$(PATH)

.PHONY: help bench-failover bench-backup host-deps venv collection lab-env lab lab-destroy test units server-tests lint sanity docs-lint molecule molecule-all

help:
	@echo "make lab [TOPOLOGY=ha|streaming] build (or converge) the lab and print its state"
	@echo "make lab-destroy                remove the lab's containers and state"
	@echo "make test                       every gate: lint, sanity, units, module tests, Molecule"
	@echo "make units | lint | sanity | molecule SCENARIO=<name>"
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

# The module tests (real PostgreSQL, PgBouncer, Patroni on 127.0.0.1 and 127.0.3.x) run
# alongside the Molecule scenarios (127.0.1.x, 127.0.2.x, 127.0.4.x): they share no address, and each spends
# most of its time waiting on servers. Their output is printed when both are done.
test: lint sanity docs-lint units lab-env
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory server-tests > $(REPO)/.build/server-tests.log 2>&1 & server=$$!; \
	$(MAKE) --no-print-directory molecule-all; molecule=$$?; \
	wait $$server; tests=$$?; \
	echo "=== module tests on real servers (ran alongside Molecule)"; cat $(REPO)/.build/server-tests.log; \
	echo "make test: module tests exit $$tests, Molecule exit $$molecule, $$(( $$(date +%s) - start )) s for both"; \
	[ $$tests = 0 ] && [ $$molecule = 0 ]
	@echo "make test: all gates passed"
