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
SYNC_MODE = "molecule/ha/sync_mode.yml"
MAINTENANCE = "playbooks/maintenance.yml"
MEMBER_REINIT = "playbooks/member_reinit.yml"
ROLLING_RESTART = "playbooks/rolling_restart.yml"
MEMBER_REMOVE = "playbooks/member_remove.yml"
FAILOVER_DRILL = "playbooks/failover_drill.yml"
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


def test_patroni_bootstrap_took_the_locale_and_encoding_of_the_cluster():
    """pgha_postgresql_locale and pgha_postgresql_encoding (C.UTF-8, UTF8) reach initdb through Patroni's bootstrap
    (initdb alone makes SQL_ASCII on Debian 13)."""
    with connect(leader()) as conn, conn.cursor() as cur:
        cur.execute("SELECT datname, pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database "
                    "WHERE datname IN ('template1', 'postgres') ORDER BY datname")
        rows = cur.fetchall()
    conn.close()
    assert rows == [("postgres", "UTF8", "C.UTF-8", "C.UTF-8"), ("template1", "UTF8", "C.UTF-8", "C.UTF-8")], rows


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


def console(address, statement):
    """One statement on a PgBouncer admin console; its rows."""
    conn = psycopg2.connect(host=address, port=6432, dbname="pgbouncer", user="pgbouncer_admin",
                            password=secret("pgbouncer_admin"), sslmode="disable", connect_timeout=3)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def pgbench_prepared(seconds=8):
    """pgbench -M prepared (protocol-level prepared statements) as the lab user through HAProxy's 5000,
    PgBouncer's transaction pool, with a new connection for every transaction (-C), so that server connections
    pass from client to client and a statement prepared by one is met by the next; (exit status, output)."""
    bindir = "/usr/lib/postgresql/%s/bin" % LAB.postgresql_version("pg1")
    proc = LAB.run("pg1", '%s/pgbench -n -C -M prepared -c 4 -j 2 -T %d "host=127.0.1.10 port=5000 user=lab '
                   'dbname=postgres sslmode=disable" 2>&1; echo "exit=$?"' % (bindir, seconds),
                   env={"PGPASSWORD": secret("lab")}, timeout=120)
    body, _sep, status = proc.rstrip().rpartition("exit=")
    return int(status), body


def test_pgbouncer_keeps_prepared_statements_through_the_transaction_pool():
    """The inventory sets pgbouncer_max_prepared_statements: 100 (PgBouncer 1.24 on Debian 13): pgbench -M prepared
    through the transaction pool runs with no failed or aborted transaction; with the setting at 0 (SET on the
    console, the negative control) the same run aborts on prepared statements; RELOAD restores the file's 100."""
    for name in NODES:
        config = {row[0]: row[1] for row in console(ADDRESS[name], "SHOW CONFIG")}
        assert config["max_prepared_statements"] == "100", (name, config["max_prepared_statements"])
    lead = leader()
    bindir = "/usr/lib/postgresql/%s/bin" % LAB.postgresql_version("pg1")
    LAB.run("pg1", '%s/pgbench -i -q -s 1 "host=%s user=postgres dbname=postgres sslmode=require" && %s/psql -Atc '
            '"GRANT SELECT, INSERT, UPDATE ON pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history '
            'TO lab" "host=%s user=postgres dbname=postgres sslmode=require"' % (bindir, ADDRESS[lead], bindir, ADDRESS[lead]),
            env={"PGPASSWORD": secret("superuser")}, timeout=120)
    status, out = pgbench_prepared()
    print(out)
    assert status == 0 and "number of failed transactions: 0 (0.000%)" in out and "aborted" not in out, out
    processed = int(out.split("number of transactions actually processed: ", 1)[1].split()[0].split("/")[0])
    assert processed > 100, out
    try:
        for name in NODES:
            console(ADDRESS[name], "SET max_prepared_statements = 0")
        status, out = pgbench_prepared(seconds=3)
        assert status != 0 and 'prepared statement "P_0" already exists' in out, out
    finally:
        for name in NODES:
            console(ADDRESS[name], "RELOAD")
    for name in NODES:
        assert dict((row[0], row[1]) for row in console(ADDRESS[name], "SHOW CONFIG"))["max_prepared_statements"] == "100"


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


def test_member_reinit_rebuilds_a_replica_and_leaves_a_healthy_one_alone():
    """playbooks/member_reinit.yml: without the confirmation, and for the leader, it fails naming what to do; a
    healthy replica is left alone; forced, --check changes nothing, then the replica's data directory is replaced
    (a file planted in it is gone), it streams again on the leader's system and a healthy re-run changes nothing."""
    lead = leader()
    replica = next(m["name"] for m in cluster()["members"] if m["role"] == "replica")
    unconfirmed = run_playbook(MEMBER_REINIT, "-e", "member_reinit_host=" + replica)
    assert unconfirmed.returncode != 0 and "member_reinit_confirm to the same name" in unconfirmed.output, unconfirmed
    the_leader = run_playbook(MEMBER_REINIT, "-e", "member_reinit_host=" + lead, "-e", "member_reinit_confirm=" + lead)
    assert the_leader.returncode != 0, the_leader
    assert "member '%s' is the leader: it cannot be rebuilt from itself; switch over first" % lead in the_leader.output
    confirm = ("-e", "member_reinit_host=" + replica, "-e", "member_reinit_confirm=" + replica)
    healthy = run_playbook(MEMBER_REINIT, *confirm)
    assert healthy.returncode == 0 and set(healthy.changed.values()) == {0}, healthy
    assert "%s: none (%s streams on timeline" % (replica, replica) in healthy.output, healthy

    with connect(replica) as conn, conn.cursor() as cur:
        cur.execute("SHOW data_directory")
        data_dir = cur.fetchone()[0]
    conn.close()
    marker = data_dir + "/pgha_reinit_marker"
    LAB.run(replica, "runuser -u postgres -- touch " + marker)
    check = run_playbook(MEMBER_REINIT, "--check", *confirm, "-e", "member_reinit_force=true")
    assert check.returncode == 0 and "%s: would reinitialize (force)" % replica in check.output, check
    assert LAB.run(replica, "test -e %s && echo there" % marker).strip() == "there"
    forced = run_playbook(MEMBER_REINIT, *confirm, "-e", "member_reinit_force=true")
    assert forced.returncode == 0 and "%s: reinitialized (force)" % replica in forced.output, forced
    assert "streaming again after" in forced.output, forced
    assert LAB.run(replica, "test -e %s && echo there || echo gone" % marker).strip() == "gone"
    identifiers = set()
    for name in (lead, replica):
        with connect(name) as conn, conn.cursor() as cur:
            cur.execute("SELECT system_identifier FROM pg_control_system()")
            identifiers.add(cur.fetchone()[0])
        conn.close()
    assert len(identifiers) == 1, identifiers
    assert wait_for(lambda: LAB.healthy(3, sync_standby=True), timeout=60), cluster()
    again = run_playbook(MEMBER_REINIT, *confirm)
    assert again.returncode == 0 and set(again.changed.values()) == {0}, again


def set_parameter(name, value):
    """A cluster-wide PostgreSQL parameter in the DCS, as `patronictl edit-config` sets it (None removes it)."""
    status, dummy = api(leader(), "/config", method="PATCH", auth=("patroni", secret("restapi")),
                        body={"postgresql": {"parameters": {name: value}}})
    assert status == 200, status


def start_times_of(names):
    """Each member's PostgreSQL start time, from its own REST API."""
    return dict((name, api(name, "/patroni")[1]["postmaster_start_time"]) for name in names)


def start_times():
    return start_times_of(NODES)


def pending():
    return sorted(m["name"] for m in cluster()["members"] if m.get("pending_restart"))


def test_rolling_restart_restarts_replicas_first_then_switches_over_and_restarts_the_old_leader():
    """playbooks/rolling_restart.yml: with nothing pending it changes nothing; a restart-only parameter (wal_buffers)
    changed in the DCS makes every member pending; --check restarts nothing; the run restarts the asynchronous
    replica, then the synchronous standby, each streaming again, switches over to a synchronous standby and
    restarts the old leader last; every member then runs with the new value, nothing is pending, and a second
    run changes nothing. The parameter is then removed again the same way."""
    idle = run_playbook(ROLLING_RESTART)
    assert idle.returncode == 0 and set(idle.changed.values()) == {0}, idle
    assert "nothing to restart: no member has a pending restart" in idle.output, idle
    old = leader()
    state = cluster()
    sync = next(m["name"] for m in state["members"] if m["role"] == "sync_standby")
    replica = next(m["name"] for m in state["members"] if m["role"] == "replica")
    try:
        set_parameter("wal_buffers", "1MB")
        assert wait_for(lambda: pending() == sorted(NODES), timeout=30), cluster()
        before = start_times()
        check = run_playbook(ROLLING_RESTART, "--check")
        assert check.returncode == 0, check
        said = " ".join(check.output.split())
        assert "%s would restart, %s would restart, %s would restart" % (replica, sync, old) in said, check
        assert start_times() == before and pending() == sorted(NODES) and leader() == old
        proc = run_playbook(ROLLING_RESTART)
        assert proc.returncode == 0, proc
        said = " ".join(proc.output.split())
        assert "%s restarted in" % replica in said and "%s restarted in" % sync in said, proc
        # The new leader is the synchronous standby of the moment (Patroni names another while one restarts).
        new = leader()
        assert new not in (None, old) and "leader %s -> %s" % (old, new) in said, proc
        after = start_times()
        assert all(after[name] != before[name] for name in NODES), (before, after)
        # One at a time, in order: the asynchronous replica, the synchronous standby, the old leader.
        assert after[replica] < after[sync] < after[old], after
        assert pending() == []
        for name in NODES:
            with connect(name) as conn, conn.cursor() as cur:
                cur.execute("SHOW wal_buffers")
                assert cur.fetchone()[0] == "1MB", name
            conn.close()
        assert wait_for(lambda: LAB.healthy(3, sync_standby=True), timeout=60), cluster()
        again = run_playbook(ROLLING_RESTART)
        assert again.returncode == 0 and set(again.changed.values()) == {0}, again
    finally:
        set_parameter("wal_buffers", None)
        # Pending again once the members have seen it (none are when the run stopped before any restart).
        wait_for(lambda: len(pending()) == 3, timeout=30)
        restore = run_playbook(ROLLING_RESTART)
    assert restore.returncode == 0, restore
    assert pending() == [] and wait_for(lambda: LAB.healthy(3, sync_standby=True), timeout=60), cluster()


def slot_on(node, name):
    with connect(node) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (name,))
        found = cur.fetchone()[0]
    conn.close()
    return found


def test_member_remove_takes_a_replica_out_and_refuses_the_leader_and_too_few_members():
    """playbooks/member_remove.yml: without the confirmation, and for the leader, it fails naming what to do; --check
    changes nothing; the run stops and disables Patroni and PgBouncer on the replica, which leaves the DCS, drops the
    leader's slot for it (still gone two HA loops later) and renders HAProxy without it, while no other member's
    PostgreSQL restarts; removing the last replica is then refused (synchronous mode needs two members), and a
    second run changes nothing. The member is then started again and HAProxy rendered with it."""
    lead = leader()
    state = cluster()
    replica = next(m["name"] for m in state["members"] if m["role"] == "replica")
    sync = next(m["name"] for m in state["members"] if m["role"] == "sync_standby")
    unconfirmed = run_playbook(MEMBER_REMOVE, "-e", "member_remove_host=" + replica)
    assert unconfirmed.returncode != 0 and "member_remove_confirm to the same name" in unconfirmed.output, unconfirmed
    the_leader = run_playbook(MEMBER_REMOVE, "-e", "member_remove_host=" + lead, "-e", "member_remove_confirm=" + lead)
    assert the_leader.returncode != 0, the_leader
    assert "%s is the leader: switch over first" % lead in " ".join(the_leader.output.split()), the_leader
    confirm = ("-e", "member_remove_host=" + replica, "-e", "member_remove_confirm=" + replica)
    haproxy_cfg = LAB.host("lb1").file("/etc/haproxy/haproxy.cfg")
    config_before = haproxy_cfg.content_string
    assert "server %s " % replica in config_before
    started = start_times()
    check = run_playbook(MEMBER_REMOVE, "--check", *confirm)
    assert check.returncode == 0, check
    assert "%s: would be taken out of the cluster" % replica in " ".join(check.output.split()), check
    assert len(cluster()["members"]) == 3 and haproxy_cfg.content_string == config_before
    assert LAB.run(replica, "systemctl is-active patroni.service").strip() == "active"
    try:
        proc = run_playbook(MEMBER_REMOVE, *confirm)
        assert proc.returncode == 0, proc
        said = " ".join(proc.output.split())
        assert "%s: taken out of the cluster; stopped and disabled: patroni.service, pgbouncer.service" % replica in said
        assert sorted(m["name"] for m in cluster()["members"]) == sorted([lead, sync])
        assert LAB.run(replica, "systemctl is-active patroni.service pgbouncer.service", check=False).split() == [
            "inactive", "inactive"]
        assert LAB.run(replica, "systemctl is-enabled patroni.service", check=False).strip() == "disabled"
        assert slot_on(lead, replica) == 0
        loop_wait = api(lead, "/config")[1]["loop_wait"]
        time.sleep(2 * loop_wait + 1)
        assert slot_on(lead, replica) == 0, "Patroni created the slot of the removed member again"
        config_after = haproxy_cfg.content_string
        assert "server %s " % replica not in config_after and "server %s " % sync in config_after, config_after
        now = start_times_of([lead, sync])
        assert now == dict((name, started[name]) for name in (lead, sync)), (started, now)
        assert wait_for(lambda: LAB.healthy(2, sync_standby=True), timeout=30), cluster()
        last = run_playbook(MEMBER_REMOVE, "-e", "member_remove_host=" + sync, "-e", "member_remove_confirm=" + sync)
        assert last.returncode != 0, last
        assert ("removing %s leaves 1 member(s) (%s) and synchronous_mode=on with synchronous_node_count=1 needs 2"
                % (sync, lead)) in " ".join(last.output.split()), last
        again = run_playbook(MEMBER_REMOVE, *confirm)
        assert again.returncode == 0 and set(again.changed.values()) == {0}, again
        assert "%s: not in the cluster (already removed)" % replica in " ".join(again.output.split()), again
    finally:
        LAB.run(replica, "systemctl enable --now patroni.service pgbouncer.service", timeout=60)
        restore = run_playbook("playbooks/site.yml", "--tags", "haproxy")
    assert restore.returncode == 0, restore
    assert wait_for(lambda: LAB.healthy(3, sync_standby=True), timeout=120, step=2), cluster()
    assert haproxy_cfg.content_string == config_before


def test_failover_drill_kills_the_leader_under_writes_and_reports_rto_rpo_as_json_and_png(tmp_path):
    """playbooks/failover_drill.yml: without the cluster's name, or with another, it fails before anything is done;
    --check fails nothing; a kill drill (SIGKILL to Patroni and PostgreSQL on the leader) with the lab user writing
    through HAProxy's 5000 elects another leader, brings the old one back as a streaming replica, and writes a
    JSON report (verdict pass, RPO 0, an RTO, the timeline) and a PNG into the directory named."""
    login = ("-e", "failover_drill_login_user=lab", "-e", "failover_drill_login_password=" + secret("lab"),
             "-e", "failover_drill_dir=%s" % tmp_path)
    scope = cluster()["scope"]
    unconfirmed = run_playbook(FAILOVER_DRILL, *login)
    assert unconfirmed.returncode != 0 and "set failover_drill_confirm to the cluster's name" in unconfirmed.output
    wrong = run_playbook(FAILOVER_DRILL, *login, "-e", "failover_drill_confirm=other")
    assert wrong.returncode != 0, wrong
    assert "failover_drill_confirm is other, but this cluster is %s" % scope in " ".join(wrong.output.split()), wrong
    old = leader()
    confirm = ("-e", "failover_drill_confirm=" + scope, "-e", "failover_drill_mode=kill")
    check = run_playbook(FAILOVER_DRILL, "--check", *login, *confirm)
    assert check.returncode == 0, check
    assert "would kill Patroni and PostgreSQL on the leader %s" % old in " ".join(check.output.split()), check
    assert leader() == old and list(tmp_path.iterdir()) == []
    proc = run_playbook(FAILOVER_DRILL, *login, *confirm)
    assert proc.returncode == 0, proc
    reports = sorted(tmp_path.glob("drill-*-kill.json"))
    assert len(reports) == 1, list(tmp_path.iterdir())
    with open(reports[0], encoding="utf-8") as handle:
        report = json.load(handle)
    print("kill drill: RTO %s s, RPO %s, %s acknowledged, %s client errors" % (
        report["rto_seconds"], report["rpo_writes"], report["acknowledged"], report["errors"]["count"]))
    assert report["verdict"] == "pass" and report["rpo_writes"] == 0, report["reasons"]
    assert report["rto_seconds"] > 0 and report["acknowledged"] > 100
    names = [event["name"] for event in report["timeline"]]
    assert names[0] == "induced" and names[1].startswith("new leader ") and names[2] == "%s rejoined" % old, names
    assert report["drill"]["old_leader"] == old and report["drill"]["new_leader"] != old
    with open(str(reports[0])[:-len(".json")] + ".png", "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert leader() not in (None, old)
    assert wait_for(lambda: LAB.healthy(3, sync_standby=True), timeout=60), cluster()
    assert "%s drill on %s: PASS" % ("kill", scope) in " ".join(proc.output.split()), proc


def test_maintenance_pauses_failover_and_resumes():
    """playbooks/maintenance.yml: --check changes nothing; paused, the leader's PostgreSQL stopped under it is
    neither restarted nor failed over for longer than the TTL; a second pause changes nothing; PostgreSQL started
    again by hand while paused and then resumed, the same member leads and the cluster is healthy."""
    lead = leader()
    check = run_playbook(MAINTENANCE, "--check", "-e", "maintenance_state=paused")
    assert check.returncode == 0 and "would be paused (changed)" in check.output, check.tail()
    assert not cluster().get("pause"), cluster()
    try:
        proc = run_playbook(MAINTENANCE, "-e", "maintenance_state=paused")
        assert proc.returncode == 0 and cluster().get("pause") is True, proc.tail()
        again = run_playbook(MAINTENANCE, "-e", "maintenance_state=paused")
        assert again.returncode == 0 and "paused (already so)" in again.output, again.tail()
        with connect(lead) as conn, conn.cursor() as cur:
            cur.execute("SHOW data_directory")
            data_dir = cur.fetchone()[0]
        conn.close()
        LAB.run(lead, "runuser -u postgres -- /usr/lib/postgresql/%d/bin/pg_ctl -D %s stop -m fast -w"
                % (LAB.postgresql_version(lead), data_dir), timeout=60)
        # GET /cluster shows what the members last wrote to the DCS (once per loop_wait).
        assert wait_for(lambda: next(m for m in cluster()["members"] if m["name"] == lead)["state"] != "running",
                        timeout=15), cluster()
        ttl = api(lead, "/config")[1]["ttl"]
        deadline = time.monotonic() + ttl + 10
        while time.monotonic() < deadline:
            state = cluster()
            leaders = [m["name"] for m in state["members"] if m["role"] == "leader"]
            assert leaders in ([], [lead]), state
            member = next(m for m in state["members"] if m["name"] == lead)
            assert member["state"] != "running", state
            time.sleep(1)
        # The operator's work is done: PostgreSQL started again by hand, still paused, then resumed.
        LAB.run(lead, "runuser -u postgres -- /usr/lib/postgresql/%d/bin/pg_ctl -D %s start -w -l /dev/null"
                % (LAB.postgresql_version(lead), data_dir), timeout=60)
    finally:
        proc = run_playbook(MAINTENANCE, "-e", "maintenance_state=resumed")
    assert proc.returncode == 0 and not cluster().get("pause"), proc.tail()
    assert wait_for(lambda: LAB.healthy(3, sync_standby=True), timeout=120, step=2), cluster()
    assert leader() == lead


def test_hard_kill_of_the_leader_loses_no_acknowledged_write():
    """podman kill the leader's node while a client commits through HAProxy's 5000 (and
    PgBouncer); every acknowledged row survives and the killed node rejoins as a replica."""
    hard_kill_under_writes()


def test_quorum_commit_routes_its_standbys_and_loses_no_acknowledged_write_in_a_hard_kill():
    """pgha_synchronous_mode=quorum: Patroni's synchronous_standby_names becomes ANY 1 of both
    replicas (both quorum standbys), HAProxy's 5002 checks GET /quorum and reaches them, and a hard
    kill of the leader under writes loses no acknowledged write. Then back to "on"."""
    try:
        proc = run_playbook(SYNC_MODE, "-e", "pgha_synchronous_mode=quorum")
        assert proc.returncode == 0, proc.tail()
        status, config = api(leader(), "/config")
        assert status == 200 and config["synchronous_mode"] == "quorum" and config["synchronous_node_count"] == 1

        def quorum_roles():
            roles = sorted(m["role"] for m in cluster()["members"])
            return roles == ["leader", "quorum_standby", "quorum_standby"]
        assert wait_for(quorum_roles, timeout=60), cluster()
        lead = leader()
        with connect(lead) as conn, conn.cursor() as cur:
            cur.execute("SHOW synchronous_standby_names")
            names = cur.fetchone()[0]
        conn.close()
        others = sorted(n for n in NODES if n != lead)
        assert names.startswith("ANY 1 (") and sorted(names[len("ANY 1 ("):-1].split(",")) == others, names
        config = LAB.host("lb1").file("/etc/haproxy/haproxy.cfg").content_string
        assert "option httpchk GET /quorum" in config and "GET /sync" not in config, config
        quorum = {ADDRESS[n] for n in others}
        assert wait_for(lambda: server_of(5002)[1] in quorum, timeout=30), server_of(5002)
        assert server_of(5002)[0] is True
        hard_kill_under_writes()
    finally:
        proc = run_playbook(SYNC_MODE)
    assert proc.returncode == 0, proc.tail()
    assert api(leader(), "/config")[1]["synchronous_mode"] is True
    assert wait_for(lambda: LAB.healthy(3, sync_standby=True) and all(
        m["role"] != "quorum_standby" for m in cluster()["members"]), timeout=60), cluster()
    assert "option httpchk GET /sync" in LAB.host("lb1").file("/etc/haproxy/haproxy.cfg").content_string


def hard_kill_under_writes():
    """Kill the leader's node while a client commits through HAProxy's 5000 and PgBouncer; assert every
    acknowledged row is on the new leader and the killed node rejoins as a streaming replica."""
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
