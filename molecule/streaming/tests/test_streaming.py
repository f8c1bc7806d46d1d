"""Verify the streaming topology on the servers themselves.

st1 primary; st2 synchronous standby; st3 asynchronous standby; st4 delayed standby
cascading from st3. Every assertion reads PostgreSQL's own views or files on the nodes.
"""
import json
import os
import re
import tempfile
import time
import uuid

import pytest

from pgha_lab import Lab, wait_for

NODES = ("st1", "st2", "st3", "st4")
ADDRESS = {"st1": "127.0.5.1", "st2": "127.0.5.2", "st3": "127.0.5.3", "st4": "127.0.5.4"}
PLAYBOOK = "playbooks/streaming.yml"
LAB = Lab(ADDRESS)


@pytest.fixture(scope="module")
def node():
    return LAB.host


def run_psql(host, query):
    """Run a query as the postgres superuser over the node's socket."""
    return host.run("runuser -u postgres -- psql -XAtq -F '|' -v ON_ERROR_STOP=1 -c %s", query)


def rows_of(cmd):
    return [line.split("|") for line in cmd.stdout.splitlines() if line]


def psql(host, query):
    """Rows of a query that must succeed, as lists of fields."""
    cmd = run_psql(host, query)
    assert cmd.rc == 0, cmd.stderr
    return rows_of(cmd)


def run_playbook(playbook, *args):
    return LAB.run_playbook(playbook, *args)


def ansible_playbook(*args):
    """Run playbooks/streaming.yml, which must succeed; changed count per host."""
    proc = run_playbook(PLAYBOOK, *args)
    assert proc.returncode == 0, proc.tail()
    recap = {host: changed for host, changed in proc.changed.items() if re.match(r"st\d$", host)}
    assert recap, proc.tail()
    return recap, proc.stdout


def controldata(host):
    out = host.check_output("LC_ALL=C /usr/lib/postgresql/15/bin/pg_controldata /var/lib/postgresql/15/main")
    return re.search(r"Database system identifier:\s+(\d+)", out).group(1)


def test_primary_streams_to_a_sync_and_an_async_standby_over_tls(node):
    rows = psql(node("st1"), """
        SELECT r.application_name, r.state, r.sync_state, s.ssl
        FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)
        ORDER BY r.application_name""")
    assert rows == [["st2", "streaming", "sync", "t"], ["st3", "streaming", "async", "t"]]
    rows = psql(node("st1"), "SHOW synchronous_standby_names")
    assert rows == [['FIRST 1 ("st2")']]


def test_initdb_took_the_locale_and_encoding_of_the_cluster(node):
    """pgha_postgresql_locale and pgha_postgresql_encoding (C.UTF-8, UTF8), not initdb's environment."""
    rows = psql(node("st1"), "SELECT datname, pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database "
                             "WHERE datname IN ('template1', 'postgres') ORDER BY datname")
    assert rows == [["postgres", "UTF8", "C.UTF-8", "C.UTF-8"], ["template1", "UTF8", "C.UTF-8", "C.UTF-8"]], rows


def test_cascading_standby_streams_from_pg3_over_tls(node):
    rows = psql(node("st3"), """
        SELECT r.application_name, r.state, s.ssl
        FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)""")
    assert rows == [["st4", "streaming", "t"]]
    rows = psql(node("st4"), "SELECT sender_host, status FROM pg_stat_wal_receiver")
    assert rows == [[ADDRESS["st3"], "streaming"]]


@pytest.mark.parametrize("upstream,slot", [("st1", "st2"), ("st1", "st3"), ("st3", "st4")])
def test_each_standby_uses_its_own_active_slot(node, upstream, slot):
    rows = psql(node(upstream), (
        "SELECT slot_type, active, wal_status FROM pg_replication_slots "
        "WHERE slot_name = '%s'" % slot))
    assert rows == [["physical", "t", "reserved"]]
    rows = psql(node(slot), "SELECT slot_name FROM pg_stat_wal_receiver")
    assert rows == [[slot]]


def test_a_commit_reaches_sync_at_once_async_soon_and_delayed_not_yet(node):
    token = uuid.uuid4().hex
    psql(node("st1"), "CREATE TABLE IF NOT EXISTS pgha_verify (id bigserial PRIMARY KEY, token text NOT NULL)")
    # remote_apply: the commit returns once st2 (the synchronous standby) has applied it.
    rows = psql(node("st1"), (
        "SET synchronous_commit = remote_apply; "
        "INSERT INTO pgha_verify (token) VALUES ('%s'); "
        "SELECT pg_current_wal_lsn()" % token))
    commit_lsn = rows[-1][0]
    query = "SELECT count(*) FROM pgha_verify WHERE token = '%s'" % token

    rows = psql(node("st2"), query)
    assert rows == [["1"]], "st2 is synchronous: the row must be there when the commit returns"

    assert wait_for(lambda: psql(node("st3"), query) == [["1"]], timeout=15), \
        "st3 (async) did not replay the row within 15 s"

    # st4 receives the WAL at once but applies it only after recovery_min_apply_delay.
    def pg4_received():
        rows = psql(node("st4"), "SELECT pg_last_wal_receive_lsn() >= '%s'::pg_lsn" % commit_lsn)
        return rows == [["t"]]
    assert wait_for(pg4_received, timeout=15), "st4 did not receive the WAL within 15 s"
    time.sleep(3)
    cmd = run_psql(node("st4"), query)
    if cmd.rc == 0:
        assert rows_of(cmd) == [["0"]], "st4 is delayed: the row must not be applied yet"
    else:
        # the table itself is not replayed yet on the delayed standby
        assert "does not exist" in cmd.stderr, cmd.stderr
    rows = psql(node("st4"), "SELECT current_setting('recovery_min_apply_delay')")
    assert rows == [["5min"]]


def test_no_trust_on_any_host_line(node):
    for name in NODES:
        rows = psql(node(name), "SELECT type, auth_method, coalesce(error, '') FROM pg_hba_file_rules")
        assert rows, name
        for rule_type, method, error in rows:
            assert error == "", (name, error)
            if rule_type != "local":
                assert method == "scram-sha-256", (name, rule_type, method)
        rows = psql(node(name), "SELECT database, user_name FROM pg_hba_file_rules WHERE auth_method = 'peer'")
        assert rows == [["{all}", "{postgres}"]], name


def test_replication_role_needs_tls(node):
    st2 = node("st2")
    base = ("host=%s user=replicator dbname=replication replication=true "
            "passfile=/var/lib/postgresql/.pgpass-replication"
            % ADDRESS["st1"])
    plain = st2.run("runuser -u postgres -- psql %s -XAtc IDENTIFY_SYSTEM", base + " sslmode=disable")
    assert plain.rc != 0
    assert "no pg_hba.conf entry" in plain.stderr, plain.stderr
    tls = st2.run("runuser -u postgres -- psql %s -XAtc IDENTIFY_SYSTEM",
                  base + " sslmode=verify-full sslrootcert=/etc/postgresql/15/main/root.crt")
    assert tls.rc == 0, tls.stderr
    assert tls.stdout.split("|")[0] == controldata(node("st1"))


def test_check_mode_on_the_converged_lab_changes_nothing():
    changed, out = ansible_playbook("--check")
    assert set(changed) == set(NODES), out[-2000:]
    assert all(count == 0 for count in changed.values()), changed


def test_rerunning_a_standby_does_not_clone_it_again(node):
    st2 = node("st2")
    before = (controldata(st2), psql(st2, "SELECT pg_postmaster_start_time()"))
    changed = ansible_playbook("--limit", "st2")[0]
    after = (controldata(st2), psql(st2, "SELECT pg_postmaster_start_time()"))
    assert changed == {"st2": 0}
    assert after == before
    assert before[0] == controldata(node("st1"))


def test_replication_report_shows_the_topology(tmp_path):
    """playbooks/replication_report.yml prints the pg_replication_info view as a table."""
    out_file = tmp_path / "report.json"
    proc = run_playbook("playbooks/replication_report.yml", "-e", "replication_report_file=%s" % out_file)
    assert proc.returncode == 0, proc.tail()
    assert re.search(r"st4\s+127\.0\.5\.4\s+standby\s+st3\s+async\s+streaming", proc.stdout), proc.tail()
    report = json.loads(out_file.read_text())
    by_node = {row["node"]: row for row in report["nodes"]}
    assert by_node["st1"]["role"] == "primary"
    assert by_node["st2"]["sync_state"] == "sync"
    assert by_node["st3"]["sync_state"] == "async"
    assert by_node["st4"]["upstream"] == "st3"


def test_standby_role_refuses_to_replace_a_primary(node):
    st1, st2 = node("st1"), node("st2")
    slots = "SELECT slot_name FROM pg_replication_slots ORDER BY 1"
    before = (controldata(st1), psql(st1, "SELECT pg_postmaster_start_time()"), psql(st2, slots))
    proc = run_playbook("molecule/streaming/standby_over_primary.yml")
    assert proc.returncode != 0, proc.tail()
    # Ansible prints the failure on stderr; the message names the option that resolves it.
    said = "set standby_reclone=true" in " ".join(proc.output.split())
    assert said, proc.tail()
    assert psql(st1, "SELECT pg_is_in_recovery()") == [["f"]]
    after = (controldata(st1), psql(st1, "SELECT pg_postmaster_start_time()"), psql(st2, slots))
    assert after == before
    assert not st1.file("/var/lib/postgresql/15/main/standby.signal").exists


def test_quorum_commit_is_computed_from_the_inventory():
    """Check mode with primary_synchronous_method=ANY shows the quorum form and changes nothing."""
    proc = run_playbook(PLAYBOOK, "--limit", "st1", "--check", "--diff",
                        "-e", "primary_synchronous_method=ANY")
    assert proc.returncode == 0, proc.tail()
    assert re.search(r"^\+synchronous_standby_names = 'ANY 1 \(\"st2\"\)'", proc.stdout, re.M), proc.tail()
    assert re.search(r"^-synchronous_standby_names = 'FIRST 1 \(\"st2\"\)'", proc.stdout, re.M), proc.tail()


def test_a_parameter_that_needs_a_restart_is_reported_on_the_primary_and_applied_on_a_standby(node):
    """postgresql_restart_policy=standbys (default): restart standbys, only report on a primary."""
    st1, st3 = node("st1"), node("st3")
    started = "SELECT pg_postmaster_start_time()"
    # A parameter the role always writes: taking a restart-only line out of the file would
    # itself leave PostgreSQL waiting for a restart, so the test changes a value and back.
    pending = "SELECT setting, pending_restart FROM pg_settings WHERE name = 'max_wal_senders'"
    pg1_start, pg3_start = psql(st1, started), psql(st3, started)
    bigger = ["-e", "postgresql_max_wal_senders=12"]
    try:
        proc = run_playbook(PLAYBOOK, "--limit", "st1,st3", *bigger)
        assert proc.returncode == 0, proc.tail()
        assert re.search(r"st1: max_wal_senders\s+will apply only after a restart", proc.stdout), proc.tail()
        assert psql(st1, started) == pg1_start
        assert psql(st1, pending) == [["10", "t"]]
        assert psql(st3, started) != pg3_start
        assert psql(st3, pending) == [["12", "f"]]
    finally:
        proc = run_playbook(PLAYBOOK, "--limit", "st1,st3")
        assert proc.returncode == 0, proc.tail()
    # The server applies a reload asynchronously: the flag clears once it has re-read the file.
    assert wait_for(lambda: psql(st1, pending) == [["10", "f"]], timeout=15), psql(st1, pending)
    assert psql(st1, started) == pg1_start
    assert wait_for(lambda: psql(st3, pending) == [["10", "f"]], timeout=15), psql(st3, pending)
    streaming = [["st2", "streaming"], ["st3", "streaming"]]
    assert wait_for(lambda: psql(st1, "SELECT application_name, state FROM pg_stat_replication ORDER BY 1")
                    == streaming, timeout=90), "st3 did not stream again from st1 within 90 s of its restart"
    # st4 is delayed: while its startup process waits out recovery_min_apply_delay on a record
    # (wait event RecoveryApplyDelay; the earlier tests wrote rows minutes ago at most), it
    # starts no new WAL receiver, so it streams again only once that record is due: allow the
    # whole delay and a minute (docs/streaming.md, "Delayed standbys and a restarted upstream").
    st4 = node("st4")
    delay = int(psql(st4, "SELECT setting FROM pg_settings WHERE name = 'recovery_min_apply_delay'")[0][0]) // 1000
    waiting = psql(st4, "SELECT coalesce(wait_event, '') FROM pg_stat_activity WHERE backend_type = 'startup'")
    assert wait_for(lambda: psql(st3, "SELECT application_name, state FROM pg_stat_replication")
                    == [["st4", "streaming"]], timeout=delay + 60), (
        "st4 did not stream again from st3 within its apply delay (%d s) + 60 s; its startup process waited on %s"
        % (delay, waiting))


def test_slot_hygiene_reports_flags_and_drops_only_a_confirmed_inactive_slot(node):
    """playbooks/slot_hygiene.yml on the primary st1: an inactive slot retaining WAL past a (lowered) threshold is
    flagged; dropping it needs the confirmation; an active slot named with it is refused and nothing is dropped;
    check mode drops nothing; the drop happens once, and a second run finds it already absent."""
    st1 = node("st1")
    playbook = "playbooks/slot_hygiene.yml"
    exists = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'stray_etl'"
    report_file = os.path.join(tempfile.mkdtemp(prefix="slot-hygiene-"), "report.json")

    def hygiene(*args):
        if os.path.exists(report_file):
            os.unlink(report_file)
        proc = run_playbook(playbook, "-e", "slot_hygiene_threshold_bytes=1024", "-e", "slot_hygiene_file=" + report_file,
                            *args)
        if not os.path.exists(report_file):
            return proc, None
        with open(report_file) as handle:
            return proc, json.load(handle)

    def hygiene_run(*args):
        return hygiene(*args)[0]

    psql(st1, "SELECT pg_create_physical_replication_slot('stray_etl', true)")
    try:
        psql(st1, "CREATE TABLE slot_hygiene_probe AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 20000) g")
        psql(st1, "DROP TABLE slot_hygiene_probe")
        proc, report = hygiene()
        assert proc.returncode == 0 and sum(proc.changed.values()) == 0, proc.tail()
        rows = dict((row["slot_name"], row) for row in report["rows"])
        assert set(rows) == {"st2", "st3", "stray_etl"}, rows
        assert rows["st2"]["active"] and rows["st3"]["active"] and not rows["stray_etl"]["active"]
        assert rows["stray_etl"]["retained_bytes"] > 1024 and rows["stray_etl"]["wal_status"] == "reserved"
        assert report["flagged"] == ["stray_etl"], report["flagged"]
        assert re.search(r"stray_etl\s+physical\s+no\s+\d+\s+reserved", proc.stdout), proc.tail()

        # Bad requests fail before anything is dropped, naming what to fix.
        proc = hygiene_run("-e", "slot_hygiene_drop=stray_etl")
        assert proc.returncode != 0 and "slot_hygiene_confirm" in proc.output, proc.tail()
        proc = hygiene_run("-e", "slot_hygiene_drop=stray_etl,st2", "-e", "slot_hygiene_confirm=st2,stray_etl")
        assert proc.returncode != 0, proc.tail()
        assert "slot st2 is active (pid" in " ".join(proc.output.split()) and "Nothing was dropped" in proc.output, proc.tail()
        assert psql(st1, exists) == [["1"]]

        confirm = ("-e", "slot_hygiene_drop=stray_etl", "-e", "slot_hygiene_confirm=stray_etl")
        proc = hygiene_run("--check", *confirm)
        assert proc.returncode == 0 and sum(proc.changed.values()) == 1, proc.tail()
        assert "st1: would drop stray_etl" in " ".join(proc.stdout.split()), proc.tail()
        assert psql(st1, exists) == [["1"]]
        proc = hygiene_run(*confirm)
        assert proc.returncode == 0 and sum(proc.changed.values()) == 1, proc.tail()
        assert "st1: dropped stray_etl" in " ".join(proc.stdout.split()), proc.tail()
        assert psql(st1, exists) == [["0"]]
        proc, report = hygiene(*confirm)
        assert proc.returncode == 0 and sum(proc.changed.values()) == 0, proc.tail()
        assert report["absent"] == ["stray_etl"] and report["flagged"] == [], report
        assert "already absent: stray_etl" in " ".join(proc.stdout.split()), proc.tail()
    finally:
        psql(st1, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'stray_etl'")
    streaming = [["st2", "streaming"], ["st3", "streaming"]]
    assert psql(st1, "SELECT application_name, state FROM pg_stat_replication ORDER BY 1") == streaming


def test_delayed_standby_paused_keeps_a_row_deleted_on_the_primary(node):
    """playbooks/delayed_standby.yml on st4 (delayed, cascading from st3): after a DELETE on the
    primary, pausing replay keeps the deleted row readable on st4 past its delay; resuming applies
    the DELETE. The delay is lowered by ALTER SYSTEM for the test (2 min, then 1 s, instead of
    5 minutes) and reset afterwards. Last in the file: the DROP TABLE at its end is a record st4
    waits 5 minutes for, which would hold up a test that restarts its upstream."""
    st1, st4 = node("st1"), node("st4")
    playbook = "playbooks/delayed_standby.yml"

    def set_delay(value):
        psql(st4, "ALTER SYSTEM SET recovery_min_apply_delay = '%s'" % value)
        psql(st4, "SELECT pg_reload_conf()")
        assert wait_for(lambda: psql(st4, "SELECT current_setting('recovery_min_apply_delay')") == [[value]], timeout=15)

    def pause_state():
        return psql(st4, "SELECT pg_get_wal_replay_pause_state()")[0][0]

    def row_on_pg4():
        cmd = run_psql(st4, "SELECT note FROM accident_probe WHERE id = 1")
        return rows_of(cmd) if cmd.rc == 0 else None

    def replay(action, *args):
        return run_playbook(playbook, "-e", "delayed_standby_host=st4", "-e", "delayed_standby_action=%s" % action, *args)

    # Bad requests fail on the first task, naming the variable; nothing is asked of a server.
    for extra, variable in ((["-e", "delayed_standby_host=st1"], "delayed_standby_host"),
                            (["-e", "delayed_standby_host=st4", "-e", "delayed_standby_action=stop"], "delayed_standby_action")):
        proc = run_playbook(playbook, *extra)
        assert proc.returncode != 0 and variable in " ".join(proc.output.split()), proc.tail()
        assert "Read the standby's replay state" not in proc.stdout, proc.tail()
    proc = replay("status")
    assert proc.returncode == 0, proc.tail()
    assert "st4: replay not paused; recovery_min_apply_delay 300 s" in " ".join(proc.stdout.split()), proc.tail()
    try:
        set_delay("0")
        psql(st1, "CREATE TABLE accident_probe (id int PRIMARY KEY, note text)")
        psql(st1, "INSERT INTO accident_probe VALUES (1, 'before the accident')")
        assert wait_for(lambda: row_on_pg4() == [["before the accident"]], timeout=30), "st4 did not replay the row"
        # Long enough for the three playbook runs below to pause replay before the DELETE is due: 20 s
        # was not, once, in a loaded CI run (2026-12-08), and the row was gone.
        set_delay("2min")
        psql(st1, "DELETE FROM accident_probe")
        lsn = psql(st1, "SELECT pg_current_wal_insert_lsn()")[0][0]
        assert wait_for(lambda: psql(st4, "SELECT pg_last_wal_receive_lsn() >= '%s'::pg_lsn" % lsn) == [["t"]], timeout=30)

        proc = replay("pause", "--check")
        assert proc.returncode == 0 and proc.changed.get("st4") == 1, proc.tail()
        assert "st4: replay would be " in proc.stdout, proc.tail()
        assert pause_state() == "not paused"
        proc = replay("pause")
        assert proc.returncode == 0 and proc.changed.get("st4") == 1, proc.tail()
        assert re.search(r"st4: replay (paused|pause requested)", proc.stdout), proc.tail()
        proc = replay("pause")
        assert proc.returncode == 0 and proc.changed.get("st4") == 0, proc.tail()
        # The delay ends for the DELETE: replay stops before it, the row stays readable.
        set_delay("1s")
        assert wait_for(lambda: pause_state() == "paused", timeout=30), pause_state()
        time.sleep(3)
        assert row_on_pg4() == [["before the accident"]]
        assert psql(st1, "SELECT count(*) FROM accident_probe") == [["0"]]
        proc = replay("status")
        assert proc.returncode == 0 and proc.changed.get("st4") == 0, proc.tail()
        assert re.search(r"st4: replay paused; recovery_min_apply_delay 1 s; last replayed transaction \S+ \(\d+ s ago\)",
                         " ".join(proc.stdout.split())), proc.tail()

        proc = replay("resume")
        assert proc.returncode == 0 and proc.changed.get("st4") == 1, proc.tail()
        assert wait_for(lambda: row_on_pg4() == [], timeout=30), "st4 did not apply the DELETE after resume"
        proc = replay("resume")
        assert proc.returncode == 0 and proc.changed.get("st4") == 0, proc.tail()
    finally:
        psql(st4, "SELECT pg_wal_replay_resume()")
        psql(st4, "ALTER SYSTEM RESET recovery_min_apply_delay")
        psql(st4, "SELECT pg_reload_conf()")
        psql(st1, "DROP TABLE IF EXISTS accident_probe")
    assert wait_for(lambda: psql(st4, "SELECT current_setting('recovery_min_apply_delay')") == [["5min"]], timeout=15)
