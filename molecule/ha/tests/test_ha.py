"""Verify the HA topology on the servers: etcd quorum, Patroni roles, TLS, REST API auth,
and an induced failover that loses no acknowledged write in synchronous mode."""
import json
import subprocess
import time

import psycopg2
import pytest

from pgha_lab import AckWriter, Lab, wait_for

NODES = ("pg1", "pg2", "pg3")
ADDRESS = {"pg1": "127.0.1.1", "pg2": "127.0.1.2", "pg3": "127.0.1.3"}
PATRONI_ONLY = "molecule/ha/patroni_only.yml"
LAB = Lab(ADDRESS)
CA = LAB.ca
secret = LAB.secret
api = LAB.api
cluster = LAB.cluster
leader = LAB.leader
run_playbook = LAB.run_playbook


def connect(node, **extra):
    return psycopg2.connect(host=ADDRESS[node], port=5432, dbname="postgres", user="postgres",
                            password=secret("superuser"), sslmode="verify-full", sslrootcert=CA,
                            connect_timeout=3, **extra)


@pytest.fixture(scope="module")
def node():
    return LAB.host


def test_etcd_has_three_healthy_members(node):
    endpoints = ",".join("https://%s:2379" % ADDRESS[n] for n in NODES)
    out = node("pg1").check_output(
        "ETCDCTL_API=3 etcdctl --endpoints=%s --cacert=/etc/etcd/pki/ca.crt --cert=/etc/etcd/pki/member.crt "
        "--key=/etc/etcd/pki/member.key endpoint health -w json", endpoints)
    health = json.loads(out)
    assert sorted(h["endpoint"] for h in health if h["health"]) == sorted(endpoints.split(","))


def test_one_leader_two_streaming_replicas_one_sync_standby():
    state = cluster()
    roles = sorted(m["role"] for m in state["members"])
    assert roles == ["leader", "replica", "sync_standby"], state
    for member in state["members"]:
        expected = "running" if member["role"] == "leader" else "streaming"
        assert member["state"] == expected, member
    status, config = api("pg1", "/config")
    assert status == 200 and config["synchronous_mode"] is True
    assert (config["ttl"], config["loop_wait"], config["retry_timeout"]) == (20, 2, 5)


def test_servers_agree_with_patroni_on_who_leads():
    lead = leader()
    for name in NODES:
        with connect(name) as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_is_in_recovery(), ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            in_recovery, tls = cur.fetchone()
        conn.close()
        assert tls is True
        assert in_recovery is (name != lead), name


def through(port):
    """A connection as the lab user through HAProxy on lb1 (127.0.1.10)."""
    return LAB.through_proxy("127.0.1.10", port)


def server_of(port):
    return LAB.served_by("127.0.1.10", port)


def test_haproxy_routes_writes_to_the_leader_and_reads_to_replicas():
    lead = leader()
    assert wait_for(lambda: server_of(5000) == (False, ADDRESS[lead]), timeout=30), server_of(5000)
    replicas = {ADDRESS[n] for n in NODES if n != lead}
    seen = set()
    for _attempt in range(8):
        in_recovery, address = server_of(5001)
        assert in_recovery is True
        seen.add(address)
    assert seen <= replicas and seen, seen
    assert server_of(5010) == (False, ADDRESS[lead])
    assert server_of(5011)[0] is True


def test_haproxy_checks_follow_the_patroni_timing_preset():
    """The inventory sets patroni_timing fast only; HAProxy's checks take the same preset."""
    lb1 = LAB.host("lb1")
    config = lb1.file("/etc/haproxy/haproxy.cfg").content_string
    assert "default-server inter 1s fall 2 rise 1 " in config, config


def test_pgbouncer_pools_in_transaction_mode_with_auth_query(node):
    lead = leader()
    console = psycopg2.connect(host=ADDRESS[lead], port=6432, dbname="pgbouncer", user="pgbouncer_admin",
                               password=secret("pgbouncer_admin"), sslmode="disable", connect_timeout=3)
    console.autocommit = True
    try:
        with console.cursor() as cur:
            cur.execute("SHOW CONFIG")
            config = {row[0]: row[1] for row in cur.fetchall()}
    finally:
        console.close()
    assert config["pool_mode"] == "transaction"
    assert config["auth_type"] == "scram-sha-256"
    assert config["auth_query"].startswith("SELECT usename, passwd FROM pgbouncer.user_lookup(")
    with node(lead).sudo():
        userlist = node(lead).file("/etc/pgbouncer/userlist.txt").content_string
    assert '"lab"' not in userlist  # the lab user logs in through auth_query: no userlist drift
    conn = psycopg2.connect(host=ADDRESS[lead], port=6432, dbname="postgres", user="lab",
                            password=secret("lab"), sslmode="disable", connect_timeout=3)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_user, pg_is_in_recovery()")
            assert cur.fetchone() == ("lab", False)
    finally:
        conn.close()


def test_unsafe_endpoints_need_credentials():
    lead = leader()
    replica = next(n for n in NODES if n != lead)
    body = {"leader": lead, "candidate": replica}
    assert api(lead, "/switchover", method="POST", body=body)[0] == 401
    assert api(lead, "/switchover", method="POST", auth=("patroni", "wrong"), body=body)[0] == 401
    assert leader() == lead


def test_timing_that_patroni_would_silently_change_is_refused():
    proc = run_playbook(PATRONI_ONLY, "--check", "--limit", "pg1", "-e",
                        '{"patroni_ttl": 20, "patroni_loop_wait": 10, "patroni_retry_timeout": 10}')
    assert proc.returncode != 0
    said = "loop_wait + 2 * retry_timeout <= ttl (30 > 20 here)" in " ".join(proc.output.split())
    assert said, proc.tail()


def test_dynamic_configuration_follows_the_inventory():
    """After bootstrap, the role keeps the DCS settings through PATCH /config."""
    def lag_limit():
        return api("pg1", "/config")[1]["maximum_lag_on_failover"]
    assert lag_limit() == 1048576
    try:
        proc = run_playbook(PATRONI_ONLY, "--limit", "pg1", "-e", "patroni_maximum_lag_on_failover=2097152")
        assert proc.returncode == 0, proc.tail()
        assert wait_for(lambda: lag_limit() == 2097152, timeout=15), lag_limit()
    finally:
        proc = run_playbook(PATRONI_ONLY, "--limit", "pg1")
    assert proc.returncode == 0, proc.tail()
    assert wait_for(lambda: lag_limit() == 1048576, timeout=15), lag_limit()


def test_switchover_playbook_moves_the_leader_and_the_old_one_follows():
    old = leader()
    target = next(m["name"] for m in cluster()["members"] if m["role"] == "sync_standby")
    proc = run_playbook("playbooks/switchover.yml", "-e", "switchover_leader=%s" % target)
    assert proc.returncode == 0, proc.tail()
    assert leader() == target
    with connect(target) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_is_in_recovery()")
        assert cur.fetchone()[0] is False
    conn.close()

    def old_streams():
        return any(m["name"] == old and m["state"] == "streaming" for m in cluster()["members"])
    assert wait_for(old_streams, timeout=60), cluster()
    again = run_playbook("playbooks/switchover.yml", "-e", "switchover_leader=%s" % target)
    assert again.returncode == 0 and "changed=0" in again.stdout, again.tail()


def test_hard_kill_of_the_leader_loses_no_acknowledged_write():
    """podman kill the leader's node while a client commits through HAProxy's 5000 (and
    PgBouncer); every acknowledged row survives and the killed node rejoins as a replica."""
    old = leader()
    assert old
    with connect(old) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS pgha_ha_verify (id bigint PRIMARY KEY, at timestamptz DEFAULT now())")
        cur.execute("GRANT SELECT, INSERT ON pgha_ha_verify TO lab")
    conn.close()
    writer = AckWriter(lambda: through(5000), "INSERT INTO pgha_ha_verify (id) VALUES (%s)",
                       errors_of=(psycopg2.Error,))
    writer.start()
    try:
        assert wait_for(lambda: writer.count() > 20, timeout=20)
        killed_at = time.monotonic()
        subprocess.run(["podman", "kill", old], check=True, capture_output=True, timeout=60)
        assert wait_for(lambda: leader() not in (None, old), timeout=60), "no new leader within 60 s"
        count_at_failover = writer.count()
        assert wait_for(lambda: writer.count() > count_at_failover + 20, timeout=60), writer.errors[-3:]
        print("new leader %s after %.1f s; %d acknowledged commits" % (
            leader(), time.monotonic() - killed_at, writer.count()))
    finally:
        writer.stop()
        subprocess.run(["podman", "start", old], check=False, capture_output=True, timeout=120)
    acknowledged = writer.ids()
    new = leader()
    with connect(new) as conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM pgha_ha_verify WHERE id = ANY(%s)", (acknowledged,))
        present = {row[0] for row in cur.fetchall()}
    conn.close()
    missing = sorted(set(acknowledged) - present)
    assert not missing, "acknowledged but lost: %s" % missing[:20]

    # The killed node boots, Patroni starts, and it rejoins as a streaming replica.
    def rejoined():
        state = cluster()
        return bool(state) and any(m["name"] == old and m["state"] == "streaming" for m in state["members"])
    assert wait_for(rejoined, timeout=180, step=2), cluster()
