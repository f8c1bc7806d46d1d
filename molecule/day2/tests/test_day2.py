"""Verify the day-2 member changes on Debian 12 (PostgreSQL 15): minor_update brings every member
from the older PostgreSQL 15 build (prepare.yml) to the newer one, replicas first and the leader
last after a switchover, with no acknowledged write lost; member_add brings dy4, a spare host,
into the running cluster, seeded from the pgBackRest repository, behind PgBouncer and HAProxy,
with nothing else restarted.

The tests run in file order: member_add runs last, on the updated cluster."""
import os
import re

import psycopg2

from pgha_lab import AckWriter, Lab, recap, wait_for

NODES = ("dy1", "dy2", "dy3")
NEW = "dy4"
LB = "127.0.6.10"
ADDRESS = {"dy1": "127.0.6.1", "dy2": "127.0.6.2", "dy3": "127.0.6.3", "dy4": "127.0.6.4", "dylb": LB}
MINOR_UPDATE = "playbooks/minor_update.yml"
MEMBER_ADD = "playbooks/member_add.yml"
LAB = Lab(ADDRESS)


def cluster(members=NODES):
    return LAB.cluster(members)


def leader():
    return LAB.leader(NODES)


def patroni(name):
    """GET /patroni of a member: its state, server_version and postmaster_start_time."""
    status, body = LAB.api(name, "/patroni")
    assert status == 200, (name, status, body)
    return body


def start_times(names):
    return {name: patroni(name)["postmaster_start_time"] for name in names}


def server_versions(names):
    return {name: patroni(name)["server_version"] for name in names}


def installed(name):
    """The installed build of postgresql-15 on a node, as dpkg has it."""
    return LAB.run(name, "dpkg-query -W -f '${Version}' postgresql-15").strip()


def builds():
    """The postgresql-15 builds the mirror has, oldest first (as prepare.yml sorts them)."""
    out = LAB.run("dy1", "apt-cache madison postgresql-15")
    versions = sorted({line.split("|")[1].strip() for line in out.splitlines() if "|" in line},
                      key=lambda v: [int(x) for x in re.findall(r"\d+", v)])
    return versions


def as_num(build):
    """15.20-0+deb12u1 -> 150020, as server_version_num."""
    major, minor = re.match(r"(\d+)\.(\d+)", build).groups()
    return int(major) * 10000 + int(minor)


def run_playbook(path, *args, timeout=1200):
    return LAB.run_playbook(path, *args, timeout=timeout)


def changed(run):
    return {host: count for host, count in recap(run.stdout).items() if count}


LAB_USER = "lab"


def superuser(*statements):
    """Run statements on the leader as postgres, over TLS."""
    conn = psycopg2.connect(host=ADDRESS[leader()], port=5432, dbname="postgres", user="postgres",
                            password=LAB.secret("superuser"), sslmode="verify-full", sslrootcert=LAB.ca,
                            connect_timeout=3)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def rw_connect():
    """The pooled read-write endpoint: HAProxy on dylb to PgBouncer on the leader."""
    return LAB.through_proxy(LB, 5000)


def test_the_cluster_runs_on_debian_12_with_the_older_build():
    versions = builds()
    assert len(versions) >= 2, versions
    state = cluster()
    assert state and len(state["members"]) == 3, state
    for name in NODES:
        assert installed(name) == versions[0], (name, installed(name), versions)
        assert patroni(name)["server_version"] == as_num(versions[0]), name
    assert "Debian GNU/Linux 12" in LAB.run("dy1", "cat /etc/os-release")
    # Debian's postgresql packages run no cluster of their own beside Patroni's.
    assert LAB.run("dy1", "pg_lsclusters -h", check=False).strip() == ""


def test_minor_update_updates_every_member_the_leader_last_and_loses_no_write():
    versions = builds()
    old, new = versions[0], versions[-1]
    before = start_times(NODES)
    lead = leader()

    checked = run_playbook(MINOR_UPDATE, "--check")
    assert checked.returncode == 0, checked.tail()
    assert "would update" in checked.stdout and "(the leader after a switchover)" in checked.stdout, checked.tail()
    assert start_times(NODES) == before and leader() == lead
    assert {installed(n) for n in NODES} == {old}

    bad = run_playbook(MINOR_UPDATE, "-e", "minor_update_wait_timeout=0")
    assert bad.returncode != 0 and "minor_update_wait_timeout is 1 or more seconds" in bad.output, bad.tail()

    writer = AckWriter(rw_connect, "INSERT INTO minor_update_probe (id) VALUES (%s)", errors_of=(psycopg2.Error,))
    superuser("CREATE TABLE IF NOT EXISTS minor_update_probe (id bigint PRIMARY KEY)",
              "TRUNCATE minor_update_probe", "GRANT SELECT, INSERT ON minor_update_probe TO %s" % LAB_USER)
    writer.start()
    try:
        assert wait_for(lambda: writer.count() > 20, timeout=30)
        run = run_playbook(MINOR_UPDATE)
        assert run.returncode == 0, run.tail()
        after_update = writer.count()
        assert wait_for(lambda: writer.count() > after_update + 20, timeout=60), writer.last_error
    finally:
        writer.stop()
    after = start_times(NODES)
    # Every member runs the new build and has it installed; each one restarted once.
    assert {installed(n) for n in NODES} == {new}
    assert set(server_versions(NODES).values()) == {as_num(new)}
    assert all(after[n] != before[n] for n in NODES), (before, after)
    # The replicas first, the old leader last - after a switchover.
    assert max(after[n] for n in NODES if n != lead) < after[lead], (lead, after)
    assert leader() != lead
    assert wait_for(lambda: LAB.healthy(3, sync_standby=True, members=NODES), timeout=60), cluster()
    assert "%s -> %s" % (".".join(old.split("-")[0].split(".")[:2]), ".".join(new.split("-")[0].split(".")[:2])) \
        in run.stdout, run.tail()
    # No acknowledged write lost (synchronous mode).
    conn = LAB.through_proxy(LB, 5000)
    with conn.cursor() as cur:
        cur.execute("SELECT id FROM minor_update_probe")
        stored = {row[0] for row in cur.fetchall()}
    conn.close()
    assert set(writer.ids()) <= stored, sorted(set(writer.ids()) - stored)[:20]

    again = run_playbook(MINOR_UPDATE)
    assert again.returncode == 0 and not changed(again), again.tail()
    assert "nothing to update" in again.stdout, again.tail()
    assert start_times(NODES) == after


def extra_inventory(tmp_path):
    """The inventory change an operator makes first: the new host in the members' group."""
    path = os.path.join(str(tmp_path), "new-member.yml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("patroni:\n  hosts:\n    %s:\n" % NEW)
    return path


def test_member_add_refuses_bad_requests_and_changes_nothing():
    missing = run_playbook(MEMBER_ADD)
    assert missing.returncode != 0 and "Set member_add_host to the new host" in missing.output, missing.tail()
    # dy4 is not in the group yet: the operator has to put it there first.
    outside = run_playbook(MEMBER_ADD, "-e", "member_add_host=%s" % NEW)
    assert outside.returncode != 0 and "dy4 is not in member_add_hosts=patroni" in outside.output, outside.tail()
    # An etcd member: member_add leaves the etcd membership alone.
    etcd = run_playbook(MEMBER_ADD, "-e", "member_add_host=dy1")
    assert etcd.returncode != 0 and "dy1 is in the group etcd: member_add leaves the etcd membership alone" \
        in etcd.output, etcd.tail()
    assert len(cluster()["members"]) == 3
    assert LAB.run(NEW, "systemctl is-active patroni", check=False).strip() != "active"


def test_member_add_seeds_the_new_member_from_the_repository_and_restarts_nothing_else(tmp_path):
    extra = extra_inventory(tmp_path)
    args = ("-i", extra, "-e", "member_add_host=%s" % NEW)
    before = start_times(NODES)
    haproxy_pid = LAB.run("dylb", "systemctl show -p MainPID --value haproxy").strip()

    checked = run_playbook(MEMBER_ADD, "--check", *args)
    assert checked.returncode == 0, checked.tail()
    assert "would add %s as a replica of" % NEW in checked.stdout, checked.tail()
    assert "seeded by pgBackRest (the repository on dylb)" in checked.stdout, checked.tail()
    assert len(cluster()["members"]) == 3
    assert LAB.run(NEW, "test -e /usr/bin/pgbackrest || test -e /opt/patroni || echo none", check=False).strip() == "none"

    run = run_playbook(MEMBER_ADD, *args, timeout=1500)
    assert run.returncode == 0, run.tail()
    state = cluster(NODES + (NEW,))
    new = [m for m in state["members"] if m["name"] == NEW]
    assert new and new[0]["state"] == "streaming", state
    assert wait_for(lambda: LAB.healthy(4, sync_standby=True, members=NODES + (NEW,)), timeout=60), cluster()
    # Seeded from the repository: Patroni's first replica method, pgBackRest, made it.
    log = LAB.run(NEW, "journalctl -u patroni --no-pager -o cat")
    assert re.search(r"replica has been created using pgbackrest", log), log[-3000:]
    # It runs the cluster's build, behind its own PgBouncer, and HAProxy sends reads to it.
    assert patroni(NEW)["server_version"] == patroni(leader())["server_version"]
    assert LAB.run(NEW, "systemctl is-active pgbouncer").strip() == "active"
    seen = set()

    def read_from_new():
        seen.add(LAB.served_by(LB, 5001)[1])
        return ADDRESS[NEW] in seen

    # HAProxy marks the new backend up after its health checks pass (/replica: streaming).
    assert wait_for(read_from_new, timeout=60, step=0.2), seen
    # Nothing else restarted: the other members' PostgreSQL, and HAProxy (reloaded, same process).
    assert start_times(NODES) == before
    assert LAB.run("dylb", "systemctl show -p MainPID --value haproxy").strip() == haproxy_pid
    # The stanza knows the new member and checks out.
    assert LAB.run("dylb", "grep -rl 'host=%s$' /etc/pgbackrest" % NEW).strip(), "dy4 is not in the stanza"
    LAB.run("dylb", "runuser -u postgres -- pgbackrest --stanza=day2 check")

    joined = start_times(NODES + (NEW,))
    again = run_playbook(MEMBER_ADD, *args, timeout=1500)
    assert again.returncode == 0 and not changed(again), (changed(again), again.tail())
    assert "%s is a member already" % NEW in again.stdout, again.tail()
    assert start_times(NODES + (NEW,)) == joined
