"""Every playbook checks its inventory first, on the controller: a wrong-group inventory and a
missing secret fail the run with the names expected, before any host is contacted.

Runs ansible-playbook on throwaway inventories (no lab: the hosts are unreachable addresses,
and an output with UNREACHABLE would mean a host was contacted). ANSIBLE_COLLECTIONS_PATH
must find the collection (the Makefile sets it)."""
import glob
import os
import subprocess

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLAYBOOKS = sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(REPO, "playbooks", "*.yml")))
# Hosts nothing listens for: if a check let a play start, the run would show them unreachable.
UNREACHABLE = {"ansible_host": "127.0.9.1", "ansible_port": 1, "ansible_connection": "ssh"}
SECRETS = {
    "patroni_restapi_password": "a", "patroni_superuser_password": "b", "patroni_replication_password": "c",
    "patroni_rewind_password": "d", "pgbouncer_auth_password": "e", "postgresql_replication_password": "f",
}


def inventory(tmp_path, groups, all_vars=None):
    # localhost is named so that --limit localhost runs the check play alone (the plays after it match no host).
    data = {"all": {"vars": dict(all_vars or {}), "hosts": {"localhost": {"ansible_connection": "local"}}, "children": {}}}
    for group, hosts in groups.items():
        data["all"]["children"][group] = {"hosts": {h: dict(UNREACHABLE) for h in hosts}}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def run(playbook, inv, *args):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_HOST_KEY_CHECKING="0",
               ANSIBLE_RETRY_FILES_ENABLED="0")
    proc = subprocess.run(["ansible-playbook", "-i", inv, "pgha.replication." + playbook, *args],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert "UNREACHABLE" not in out, out
    return proc.returncode, " ".join(out.split())


def test_every_playbook_checks_its_inventory_first():
    for name in PLAYBOOKS:
        with open(os.path.join(REPO, "playbooks", name + ".yml"), encoding="utf-8") as handle:
            first = yaml.safe_load(handle)[0]
        assert first["hosts"] == "localhost", name
        assert "always" in first.get("tags", []), name
        assert [r["role"] for r in first["roles"]] == ["pgha.replication.inventory_check"], name


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_wrong_groups_fail_with_the_names_expected(tmp_path, playbook):
    rc, out = run(playbook, inventory(tmp_path, {"db": ["db1"], "lb": ["lb1"]}, SECRETS))
    assert rc != 0, out
    assert "pgha.replication.%s needs the inventory group(s)" % playbook in out, out
    assert "The inventory has the group(s): db, lb." in out, out
    assert "Nothing was run." in out


def test_site_names_each_missing_group(tmp_path):
    rc, out = run("site", inventory(tmp_path, {"databases": ["db1"]}, SECRETS))
    assert rc != 0
    assert "needs the inventory group(s) patroni, etcd; missing or empty: patroni (the PostgreSQL nodes" in out, out


def test_site_without_haproxy_only_reports_it(tmp_path):
    rc, out = run("site", inventory(tmp_path, {"patroni": ["db1"], "etcd": ["db1"]}, SECRETS), "--limit", "localhost")
    assert rc == 0, out
    assert "no host in group haproxy, its play is skipped" in out, out


def test_site_with_external_etcd_needs_no_etcd_group(tmp_path):
    all_vars = dict(SECRETS, patroni_etcd_hosts=["127.0.9.5:2379"])
    rc, out = run("site", inventory(tmp_path, {"patroni": ["db1"]}, all_vars), "--limit", "localhost")
    assert rc == 0, out


def test_site_missing_secret_names_the_variable(tmp_path):
    secrets = {k: v for k, v in SECRETS.items() if k != "patroni_superuser_password"}
    # A value from a vault variable that is not defined counts as missing too.
    secrets["patroni_rewind_password"] = "{{ vault_pg_rewind }}"
    rc, out = run("site", inventory(tmp_path, {"patroni": ["db1", "db2"], "etcd": ["db1"]}, secrets))
    assert rc != 0, out
    assert ("pgha.replication.site needs these variables set and not empty (from the inventory, a vault or AWX "
            "credentials; docs/awx.md): patroni_superuser_password (group patroni: db1, db2); "
            "patroni_rewind_password (group patroni: db1, db2). Nothing was run.") in out, out


def test_site_skipping_pgbouncer_does_not_need_its_password(tmp_path):
    secrets = {k: v for k, v in SECRETS.items() if k != "pgbouncer_auth_password"}
    inv = inventory(tmp_path, {"patroni": ["db1"], "etcd": ["db1"]}, secrets)
    rc, out = run("site", inv, "--limit", "localhost")
    assert rc != 0 and "pgbouncer_auth_password (group patroni: db1)" in out, out
    rc, out = run("site", inv, "--limit", "localhost", "--skip-tags", "pgbouncer")
    assert rc == 0, out


def test_streaming_missing_replication_password(tmp_path):
    rc, out = run("streaming", inventory(tmp_path, {"primary": ["db1"], "standby": ["db2"]}))
    assert rc != 0
    assert "postgresql_replication_password (group primary: db1); postgresql_replication_password (group standby: db2)" in out, out


def test_switchover_names_the_variable_of_the_group(tmp_path):
    rc, out = run("switchover", inventory(tmp_path, {"pg": ["db1"]}, SECRETS), "-e", "switchover_hosts=cluster_a")
    assert rc != 0
    assert "needs the inventory group(s) cluster_a (switchover_hosts); missing or empty: cluster_a (the Patroni members)" in out, out


def test_logical_names_the_target_group_variable(tmp_path):
    rc, out = run("logical", inventory(tmp_path, {"patroni": ["db1"]}, SECRETS))
    assert rc != 0
    assert "patroni (logical_source_group), target (logical_target_group); missing or empty: target (the target cluster)" in out, out


def test_pgbackrest_repository_group_only_with_a_repository_host(tmp_path):
    rc, out = run("pgbackrest", inventory(tmp_path, {"patroni": ["db1"]}, SECRETS))
    assert rc != 0
    assert "missing or empty: backup (the repository host)" in out, out
    rc, out = run("pgbackrest", inventory(tmp_path, {"patroni": ["db1"]}, dict(SECRETS, pgbackrest_repo_location="local")),
                  "--limit", "localhost")
    assert rc == 0, out


@pytest.mark.parametrize("extra, message", [
    (("-e", "member_remove_host=db2"), "member_remove_confirm to the same name (got member_remove_host='db2', "
                                       "member_remove_confirm='')"),
    (("-e", "member_remove_host=db9", "-e", "member_remove_confirm=db9"),
     "it must be a host of member_remove_hosts=patroni (db1, db2)"),
    (("-e", "member_remove_host=db2", "-e", "member_remove_confirm=db2", "-e", "member_remove_wait_timeout=0"),
     "member_remove_wait_timeout is 1 or more seconds. Nothing was changed."),
])
def test_member_remove_refuses_a_bad_request_before_any_host_is_contacted(tmp_path, extra, message):
    rc, out = run("member_remove", inventory(tmp_path, {"patroni": ["db1", "db2"]}, dict(SECRETS, pgha_patroni_api_password="a")),
                  *extra)
    assert rc != 0 and message in out, out


@pytest.mark.parametrize("groups, extra, message", [
    ({"patroni": ["db1", "db2"]}, (), "Set member_add_host to the new host (got '')"),
    ({"patroni": ["db1", "db2"]}, ("-e", "member_add_host=db2", "-e", "member_add_wait_timeout=x"),
     "member_add_wait_timeout is 1 or more seconds (got 'x')"),
    ({"patroni": ["db1", "db2"]}, ("-e", "member_add_host=db3",),
     "db3 is not in member_add_hosts=patroni (db1, db2), or it is alone there"),
    ({"patroni": ["db3"]}, ("-e", "member_add_host=db3",), "db3 is not in member_add_hosts=patroni (db3), or it is alone"),
    ({"patroni": ["db1", "db2", "db3"], "etcd": ["db1", "db2", "db3"]}, ("-e", "member_add_host=db3",),
     "db3 is in the group etcd: member_add leaves the etcd membership alone"),
])
def test_member_add_refuses_a_bad_request_before_any_host_is_contacted(tmp_path, groups, extra, message):
    rc, out = run("member_add", inventory(tmp_path, groups, SECRETS), *extra)
    assert rc != 0 and message in out and "Nothing was changed." in out, out


def test_right_inventory_passes_the_check(tmp_path):
    rc, out = run("site", inventory(tmp_path, {"patroni": ["db1"], "etcd": ["db1"], "haproxy": ["lb1"]}, SECRETS),
                  "--limit", "localhost")
    assert rc == 0, out
    assert "failed=0" in out
