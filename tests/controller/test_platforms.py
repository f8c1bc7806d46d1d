"""Every role refuses a platform the collection does not support before it changes anything, the postgresql
role refuses a PostgreSQL major the host's Debian release does not ship, and what a platform's packages cannot do
(prepared statements in PgBouncer 1.18, quorum commit in Debian's Patroni) is refused, naming the version.

The host is the controller itself (a local connection, in check mode, become off), with the platform facts of
the case set as cached facts by a first play (set_fact cacheable, which is what ansible_facts then holds): the
roles run as they would on such a host, from the real filter and tasks. ANSIBLE_COLLECTIONS_PATH must find the
collection (the Makefile sets it)."""
import os
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The roles a play applies to a managed host (inventory_check runs on the controller and has no platform).
ROLES = sorted(name for name in os.listdir(os.path.join(REPO, "roles"))
               if name != "inventory_check" and os.path.isdir(os.path.join(REPO, "roles", name, "tasks")))
SUPPORTED = "it supports Debian 12 (bookworm, PostgreSQL 15), Debian 13 (trixie, PostgreSQL 17)"
PLAY = """
- hosts: box
  gather_facts: false
  tasks:
    - ansible.builtin.set_fact:
        distribution: {distribution}
        distribution_major_version: "{major}"
        distribution_version: "{version}"
        distribution_release: {release}
        os_family: Debian
        cacheable: true
- hosts: box
  gather_facts: false
  become: false
  tasks:
    - ansible.builtin.include_role:
        name: pgha.replication.{role}
        tasks_from: {tasks_from}
"""


BOOKWORM = dict(distribution="Debian", major="12", version="12.12", release="bookworm")
TRIXIE = dict(distribution="Debian", major="13", version="13.2", release="trixie")
# box as a Patroni member with PgBouncer and an etcd member, for the roles whose preflight checks the groups.
GROUPS = "[patroni]\nbox\n[etcd]\nbox\n"
SECRETS = ["-e", '{"pgbouncer_auth_password": "x", "patroni_restapi_password": "x", "patroni_superuser_password": "x",'
           ' "patroni_replication_password": "x", "patroni_rewind_password": "x", "pgha_node_address": "127.0.0.1"}']


def run(tmp_path, role, facts, tasks_from="main", *args, groups=""):
    (tmp_path / "inventory").write_text("box ansible_connection=local ansible_python_interpreter=/usr/bin/python3\n"
                                        + groups)
    (tmp_path / "play.yml").write_text(PLAY.format(role=role, tasks_from=tasks_from, **facts))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0")
    proc = subprocess.run(["ansible-playbook", "--check", "-i", str(tmp_path / "inventory"), str(tmp_path / "play.yml"),
                           *args], capture_output=True, text=True, env=env, timeout=300, check=False)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


@pytest.mark.parametrize("role", ROLES)
def test_every_role_refuses_an_unsupported_platform_first(tmp_path, role):
    facts = dict(distribution="Ubuntu", major="24", version="24.04", release="noble")
    rc, out = run(tmp_path, role, facts)
    assert rc != 0, out
    assert "Ubuntu 24.04 (noble) is not a platform pgha.replication supports; " + SUPPORTED in out, out
    assert "changed=0" in out and "failed=1" in out, out
    # The first task of the role that failed is the platform check (role pgha, its dependency).
    assert out.count("fatal: [box]") == 1, out


def test_an_older_debian_is_refused_too(tmp_path):
    rc, out = run(tmp_path, "postgresql", dict(distribution="Debian", major="11", version="11.11", release="bullseye"))
    assert rc != 0 and "Debian 11.11 (bullseye) is not a platform pgha.replication supports; " + SUPPORTED in out, out


def test_postgresql_refuses_a_major_the_release_does_not_ship(tmp_path):
    trixie = dict(distribution="Debian", major="13", version="13.2", release="trixie")
    rc, out = run(tmp_path, "postgresql", trixie, "install", "-e", "pgha_postgresql_version=15")
    assert rc != 0, out
    assert ("PostgreSQL 15 is not a package of Debian 13 (trixie), which ships PostgreSQL 17: leave "
            "pgha_postgresql_version unset (it follows the release) or set it to 17, or set postgresql_package_source "
            'to "pgdg" for PostgreSQL 15 from apt.postgresql.org.') in out, out
    assert "changed=0" in out, out


def test_pgbouncer_refuses_prepared_statements_where_it_is_older_than_1_21(tmp_path):
    """Debian 12's PgBouncer is 1.18 (the installed package's version, or the release's where it is not installed)."""
    rc, out = run(tmp_path, "pgbouncer", BOOKWORM, "main", *SECRETS, "-e", "pgbouncer_max_prepared_statements=100",
                  groups=GROUPS)
    assert rc != 0, out
    assert ("pgbouncer_max_prepared_statements=100 needs PgBouncer 1.21 or later; box has PgBouncer 1.18 (Debian 12 "
            "ships 1.18, Debian 13 1.24).") in out, out
    assert "changed=0" in out and out.count("fatal: [box]") == 1, out


def test_patroni_refuses_quorum_commit_from_debian_packages(tmp_path):
    rc, out = run(tmp_path, "patroni", TRIXIE, "main", *SECRETS, "-e",
                  '{"patroni_install_method": "debian", "pgha_synchronous_mode": "quorum"}', groups=GROUPS)
    assert rc != 0, out
    assert ("quorum commit needs Patroni 4.1 or later, patroni_install_method pip (Debian 12's patroni package is "
            "3.0, which has no quorum mode, and Debian 13's 4.0.7 refuses synchronous_mode: quorum in "
            "--validate-config).") in out, out
    assert "changed=0" in out and out.count("fatal: [box]") == 1, out


def test_patroni_refuses_an_unknown_synchronous_mode(tmp_path):
    rc, out = run(tmp_path, "patroni", TRIXIE, "main", *SECRETS, "-e", "patroni_synchronous_mode=maybe", groups=GROUPS)
    assert rc != 0, out
    assert "value of patroni_synchronous_mode must be one of: off, on, quorum, got: maybe" in out, out
    assert "changed=0" in out, out


@pytest.mark.parametrize("value", ["true", "false", '"off"', '"quorum"'])
def test_patroni_takes_booleans_and_the_names_of_the_modes(tmp_path, value):
    """The role's former boolean (and YAML's unquoted on/off, which are booleans) passes the argument spec and the
    synchronous-replication check (the run stops later, at a check this host cannot pass)."""
    _rc, out = run(tmp_path, "patroni", TRIXIE, "main", *SECRETS, "-e", '{"patroni_synchronous_mode": %s}' % value,
                   groups=GROUPS)
    assert "must be one of" not in out, out
    assert "TASK [pgha.replication.patroni : Check the synchronous replication settings] *** ok: [box]" in out, out


PATRONI_ARGS = ["-e", '{"patroni_group": "all", "patroni_etcd_hosts": ["127.0.0.1:2379"], "pgha_timing": "fast", '
                '"patroni_restapi_password": "x", "patroni_superuser_password": "x", '
                '"patroni_replication_password": "x", "patroni_rewind_password": "x"}']


@pytest.mark.parametrize("variable", ["pgha_logical_slot_failover", "patroni_logical_slot_failover"])
def test_patroni_refuses_native_slot_failover_before_postgresql_17(tmp_path, variable):
    rc, out = run(tmp_path, "patroni", BOOKWORM, "main", *PATRONI_ARGS, "-e", variable + "=native")
    assert rc != 0, out
    assert ("native (PostgreSQL's failover slots, synchronised to the standbys) needs PostgreSQL 17 or later "
            "(patroni_postgresql_version is 15: use permanent, Patroni's permanent slots)") in out, out
    assert "changed=0" in out and out.count("fatal: [box]") == 1, out


def test_patroni_refuses_native_slot_failover_without_member_slots(tmp_path):
    rc, out = run(tmp_path, "patroni", TRIXIE, "main", *PATRONI_ARGS, "-e", "patroni_logical_slot_failover=native",
                  "-e", "patroni_use_slots=false")
    assert rc != 0 and "patroni_use_slots true (synchronized_standby_slots lists the members' physical slots)" in out, out
    assert "changed=0" in out, out


@pytest.mark.parametrize("extra", [
    '{"logical_slot_failover": "native"}',
    '{"logical_subscriptions": [{"name": "s", "database": "d", "source_database": "d", "publications": ["p"], '
    '"slot_failover": "native"}]}',
])
def test_logical_refuses_native_slot_failover_before_postgresql_17(tmp_path, extra):
    rc, out = run(tmp_path, "logical", BOOKWORM, "main", "-e", "logical_password=x", "-e", extra)
    assert rc != 0, out
    assert ("native (PostgreSQL's failover slots) needs PostgreSQL 17 or later on the source and the target, and "
            "pgha_postgresql_version is 15: use permanent (Patroni's permanent slots)") in out, out
    assert "changed=0" in out and out.count("fatal: [box]") == 1, out


def test_logical_refuses_an_unknown_slot_failover(tmp_path):
    rc, out = run(tmp_path, "logical", TRIXIE, "main", "-e", "logical_password=x", "-e",
                  '{"logical_subscriptions": [{"name": "s", "database": "d", "source_database": "d", '
                  '"publications": ["p"], "slot_failover": "sometimes"}]}')
    assert rc != 0 and "are permanent or native (got permanent, sometimes)" in out, out
