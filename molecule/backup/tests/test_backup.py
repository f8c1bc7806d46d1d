"""Verify backups on the servers: the pgBackRest repository host over TLS, WAL archiving
through Patroni, a point-in-time restore of the whole cluster, archiving after a switchover,
replicas seeded from the repository, the restore drill on a good and on a damaged repository,
a cipher passphrase that never reaches Ansible's output, and, last, the same cluster moved to a
local repository on a filesystem the members share.

The tests run in file order and build on each other (the restore needs the backup before it)."""
import json
import os
import re
import time

import psycopg2
import pytest

from pgha_lab import Lab, wait_for

NODES = ("bk1", "bk2", "bk3")
ADDRESS = {"bk1": "127.0.4.1", "bk2": "127.0.4.2", "bk3": "127.0.4.3", "backup1": "127.0.4.20"}
STANZA = "pgha"
REPO_PATH = "/var/lib/pgbackrest"
# One host directory mounted here on bk1-bk3 (lab_shared_dirs in molecule.yml).
SHARED_REPO = "/srv/pgbackrest-shared"
LAB = Lab(ADDRESS)
CA = LAB.ca
# Every playbook output of this module, checked for the cipher passphrase at the end.
OUTPUTS = []
secret = LAB.secret
host = LAB.host


def cluster():
    return LAB.cluster(NODES)


def leader():
    return LAB.leader(NODES)


def healthy(size=3):
    """The cluster has size members, one running leader, the others streaming, one timeline."""
    return LAB.healthy(size, members=NODES)


def timeline():
    state = cluster()
    return next(m["timeline"] for m in state["members"] if m["role"] == "leader")


def connect(node):
    return psycopg2.connect(host=ADDRESS[node], port=5432, dbname="postgres", user="postgres",
                            password=secret("superuser"), sslmode="verify-full", sslrootcert=CA,
                            connect_timeout=3)


def query(node, sql, args=None):
    conn = connect(node)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def run_playbook(name, *args, timeout=900):
    """A playbook of playbooks/, with -v; its output (stdout and stderr) kept for the
    passphrase check."""
    proc = LAB.run_playbook(os.path.join("playbooks", name), "-v", *args, timeout=timeout)
    OUTPUTS.append((name, proc.output))
    return proc


def pgbackrest(node, *args):
    """Run pgbackrest as postgres on a node (never as root: root-owned files break the repository)."""
    return host(node).run("runuser -u postgres -- pgbackrest --stanza=%s %s" % (STANZA, " ".join(args)))


def info():
    out = pgbackrest("backup1", "--output=json", "info")
    assert out.rc == 0, out.stderr
    return json.loads(out.stdout)[0]


def journal_since(node, unit, since):
    return host(node).check_output("journalctl -u %s --since %s --no-pager -o cat", unit, since)


def now_for_journal():
    """The nodes' clock (the host's, in the nodes' time zone), for journalctl --since."""
    return host("bk1").check_output("date --date='-1 second' '+%F %T'")


def test_repository_host_holds_an_encrypted_stanza_with_a_first_backup():
    backup1 = host("backup1")
    assert backup1.service("pgbackrest").is_running
    assert backup1.socket("tcp://127.0.4.20:8432").is_listening
    stanza = info()
    assert stanza["name"] == STANZA
    assert stanza["status"]["code"] == 0, stanza["status"]
    assert stanza["cipher"] == "aes-256-cbc"
    assert [b["type"] for b in stanza["backup"]][:1] == ["full"], stanza["backup"]
    # Nothing in the repository belongs to root.
    assert backup1.check_output("find %s ! -user postgres -print -quit", REPO_PATH) == ""


def test_database_hosts_archive_asynchronously_without_the_passphrase():
    lead = leader()
    settings = dict(query(lead, "SELECT name, setting FROM pg_settings WHERE name IN ('archive_mode', 'archive_command')"))
    assert settings == {"archive_mode": "on", "archive_command": "pgbackrest --stanza=pgha archive-push %p"}
    for node in NODES:
        with host(node).sudo():
            config = host(node).file("/etc/pgbackrest/pgbackrest.conf").content_string
        assert "archive-async=y" in config and "repo1-host=backup1" in config and "repo1-host-type=tls" in config
        assert "cipher-pass" not in config, node
        assert host(node).service("pgbackrest").is_running
    assert pgbackrest(lead, "check").rc == 0


def test_backups_are_scheduled_on_the_repository_host_only():
    for kind in ("full", "diff", "incr"):
        timer = host("backup1").service("pgbackrest-pgha-%s.timer" % kind)
        assert timer.is_enabled and timer.is_running, kind
    for node in NODES:
        assert host(node).run("systemctl list-timers --all --no-legend 'pgbackrest*'").stdout.strip() == "", node


def test_restore_refuses_without_confirmation():
    before = leader()
    proc = run_playbook("restore.yml", "-e", "restore_type=latest")
    assert proc.returncode != 0
    assert "Refusing to restore" in proc.output, proc.output[-2000:]
    assert "OVERWRITES the data directory" in proc.output
    assert leader() == before and healthy()


def test_point_in_time_restore_of_the_whole_cluster():
    assert wait_for(healthy, timeout=60), cluster()
    proc = run_playbook("backup.yml", "-e", "backup_type=full")
    assert proc.returncode == 0, proc.output[-3000:]
    assert "WAL START-STOP" in proc.output  # the table
    lead = leader()
    old_timeline = timeline()
    query(lead, "DROP TABLE IF EXISTS pitr_rows")
    query(lead, "CREATE TABLE pitr_rows (id serial PRIMARY KEY, label text, at timestamptz DEFAULT clock_timestamp())")
    for _row in range(5):
        query(lead, "INSERT INTO pitr_rows (label) VALUES ('before')")
    time.sleep(1.5)
    # Whole seconds (pgBackRest parses them to choose the backup): at most 1 s before now,
    # still after the last 'before' row (1.5 s ago) and before the first 'after' row.
    target = query(lead, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00'")[0][0]
    time.sleep(1.5)
    for _row in range(5):
        query(lead, "INSERT INTO pitr_rows (label) VALUES ('after')")
    query(lead, "SELECT pg_switch_wal()")
    assert pgbackrest(lead, "check").rc == 0  # the WAL with the 'after' rows is in the repository
    print("target %s, leader %s on timeline %s" % (target, lead, old_timeline))

    since = now_for_journal()
    started = time.monotonic()
    proc = run_playbook("restore.yml", "-e", "restore_confirm=pgha", "-e", "restore_type=time",
                        "-e", "restore_target='%s'" % target)
    assert proc.returncode == 0, proc.output[-4000:]
    print("restore.yml took %.0f s" % (time.monotonic() - started))
    assert wait_for(healthy, timeout=120, step=2), cluster()
    new_lead = leader()
    rows = dict(query(new_lead, "SELECT label, count(*) FROM pitr_rows GROUP BY label"))
    assert rows == {"before": 5}, rows
    assert timeline() > old_timeline
    # The replicas re-created themselves from the repository, on the new timeline.
    for node in NODES:
        if node == new_lead:
            continue
        log = journal_since(node, "patroni", since)
        assert "replica has been created using pgbackrest" in log, (node, log[-2000:])
        in_recovery, = query(node, "SELECT pg_is_in_recovery()")[0]
        assert in_recovery is True
        receiving = query(node, "SELECT status, received_tli FROM pg_stat_wal_receiver")
        assert receiving and receiving[0] == ("streaming", timeline()), (node, receiving)


def test_archiving_continues_after_a_switchover():
    assert wait_for(healthy, timeout=60), cluster()
    old = leader()
    # In synchronous mode Patroni switches over to the synchronous standby only; after the
    # restore Patroni may take a loop or two to name one.
    assert wait_for(lambda: any(m["role"] == "sync_standby" for m in (cluster() or {}).get("members", [])),
                    timeout=90, step=2), cluster()
    target = next(m["name"] for m in cluster()["members"] if m["role"] == "sync_standby")
    proc = run_playbook("switchover.yml", "-e", "switchover_leader=%s" % target)
    assert proc.returncode == 0, proc.output[-3000:]
    assert leader() == target != old
    check = pgbackrest(target, "check")
    assert check.rc == 0, check.stderr
    assert wait_for(healthy, timeout=120, step=2), cluster()


def test_a_replica_recreated_after_backups_is_seeded_from_the_repository():
    assert wait_for(healthy, timeout=60), cluster()
    proc = run_playbook("backup.yml", "-e", "backup_type=incr")
    assert proc.returncode == 0, proc.output[-3000:]
    replica = next(m["name"] for m in cluster()["members"] if m["role"] != "leader")
    node = host(replica)
    since = now_for_journal()
    try:
        node.check_output("systemctl stop patroni")
        data_dir = "/var/lib/postgresql/%d/pgha" % LAB.postgresql_version(replica)
        node.check_output("rm -rf %s && install -d -o postgres -g postgres -m 0700 %s", data_dir, data_dir)
        node.check_output("systemctl start patroni")
        assert wait_for(healthy, timeout=240, step=2), cluster()
    finally:
        node.run("systemctl start patroni")
    log = journal_since(replica, "patroni", since)
    assert "replica has been created using pgbackrest" in log, log[-3000:]
    with node.sudo():
        restore_log = node.file("/var/log/pgbackrest/pgha-restore.log").content_string
    last_restore = restore_log.split("restore command begin")[-1]
    assert "restore command end: completed successfully" in last_restore, last_restore[-2000:]


def test_the_drill_passes_on_a_good_backup():
    proc = run_playbook("backup_verify.yml")
    assert proc.returncode == 0, proc.output[-4000:]
    assert "result: passed" in proc.output
    assert "status: ok" in proc.output
    report = [line for line in proc.output.splitlines() if "restore and recovery:" in line]
    print(report)
    backup1 = host("backup1")
    assert not backup1.file("/var/lib/pgbackrest-drill/pgha").exists
    assert backup1.run("pgrep -f '[p]gbackrest-drill'").rc != 0  # [p]: not the shell running pgrep


def test_the_drill_fails_loudly_on_a_damaged_repository():
    backup1 = host("backup1")
    label = info()["backup"][-1]["label"]
    backup_dir = "%s/backup/%s/%s/pg_data" % (REPO_PATH, STANZA, label)
    damaged = backup1.check_output("find %s -type f -size +2k -printf '%%s %%p\\n' | sort -n | tail -1 | cut -d' ' -f2",
                                   backup_dir)
    assert damaged, "no file to damage in %s" % backup_dir
    original = backup1.check_output("sha256sum %s | cut -d' ' -f1", damaged)
    backup1.check_output("cp -p %s /root/drill-damaged.orig", damaged)
    try:
        backup1.check_output("dd if=/dev/urandom of=%s bs=256 count=1 seek=4 conv=notrunc status=none", damaged)
        assert backup1.check_output("sha256sum %s | cut -d' ' -f1", damaged) != original
        proc = run_playbook("backup_verify.yml", "-e", "backup_verify_set=%s" % label)
        assert proc.returncode != 0, proc.output[-3000:]
        assert "RESTORE DRILL FAILED" in proc.output, proc.output[-3000:]
        print([line for line in proc.output.splitlines() if "RESTORE DRILL FAILED" in line][:1])
    finally:
        backup1.run("cp -p /root/drill-damaged.orig %s && rm -f /root/drill-damaged.orig", damaged)
    assert backup1.check_output("sha256sum %s | cut -d' ' -f1", damaged) == original
    assert not backup1.file("/var/lib/pgbackrest-drill/pgha").exists
    assert backup1.run("pgrep -f '[p]gbackrest-drill'").rc != 0  # [p]: not the shell running pgrep
    verify = pgbackrest("backup1", "--output=text", "--verbose", "verify")
    assert verify.rc == 0 and "status: ok" in verify.stdout, verify.stdout


def test_the_cipher_passphrase_never_reaches_the_output():
    proc = run_playbook("pgbackrest.yml")
    assert proc.returncode == 0, proc.output[-3000:]
    assert re.search(r"changed=[1-9]", proc.output) is None, proc.output[-3000:]  # idempotent
    passphrase = secret("cipher")
    assert len(passphrase) >= 20
    assert OUTPUTS
    for name, output in OUTPUTS:
        assert passphrase not in output, name
    # pgBackRest's own logs redact it too.
    for node in NODES + ("backup1",):
        assert host(node).run("grep -rlF -- '%s' /var/log/pgbackrest" % passphrase).stdout == "", node


def test_a_local_repository_on_a_filesystem_the_members_share():
    """pgbackrest_repo_location=local: no repository host and no TLS server; every member keeps
    the repository settings, the leader alone backs up, scheduled or on demand."""
    local = ("-e", "pgbackrest_repo_location=local", "-e", "pgbackrest_repo_path=" + SHARED_REPO)
    assert wait_for(healthy, timeout=60), cluster()
    # What is left of a stanza whose files were deleted (a dangling "latest" link) is not a
    # stanza: refused, naming it, and left as it was.
    leftover = SHARED_REPO + "/backup/pgha/latest"
    host("bk1").check_output("sudo install -d -o postgres -g postgres -m 0750 %s/backup %s/backup/pgha && "
                             "sudo -u postgres ln -sfn 20261201-000000F %s" % (SHARED_REPO, SHARED_REPO, leftover))
    proc = run_playbook("pgbackrest.yml", *local)
    assert proc.returncode != 0
    assert ("refused the repository %s (ERROR: [040]: backup directory not empty): where stanza pgha's files go it "
            "holds %s, and no backup.info or archive.info" % (SHARED_REPO, leftover)) in proc.output, proc.output[-4000:]
    assert host("bk1").check_output("sudo find %s -mindepth 1 | sort" % SHARED_REPO).split() == [
        SHARED_REPO + "/backup", SHARED_REPO + "/backup/pgha", leftover, SHARED_REPO + "/pgha-shared-pgha"]
    host("bk1").check_output("sudo rm -r %s/backup" % SHARED_REPO)
    proc = run_playbook("pgbackrest.yml", *local)
    assert proc.returncode == 0, proc.output[-4000:]
    assert "with pgbackrest_repo_location=local the" in proc.output  # backup1 is left alone
    lead = leader()
    for node in NODES:
        with host(node).sudo():
            config = host(node).file("/etc/pgbackrest/pgbackrest.conf").content_string
        assert "repo1-path=%s" % SHARED_REPO in config and "repo1-host" not in config, node
        assert "repo1-cipher-pass=" in config and "tls-server" not in config, node
        assert not host(node).service("pgbackrest").is_running, node
        assert host(node).service("pgbackrest-pgha-incr.timer").is_enabled, node
        # Every member reads the same repository: the stanza and its first full backup.
        out = pgbackrest(node, "--output=json", "info")
        stanza = json.loads(out.stdout)[0]
        assert stanza["status"]["code"] == 0 and stanza["cipher"] == "aes-256-cbc", (node, stanza["status"])
        assert [b["type"] for b in stanza["backup"]][:1] == ["full"], node
    assert pgbackrest(lead, "check").rc == 0

    def backups():
        return json.loads(pgbackrest(lead, "--output=json", "info").stdout)[0]["backup"]

    # The timer's service on a replica is skipped by its condition; on the leader it backs up.
    before = len(backups())
    replica = next(node for node in NODES if node != lead)
    host(replica).check_output("systemctl start pgbackrest-pgha-incr.service")
    assert "exec-condition" in host(replica).check_output(
        "systemctl show -p Result --value pgbackrest-pgha-incr.service; journalctl -u pgbackrest-pgha-incr.service --no-pager -o cat | tail -3")
    assert len(backups()) == before
    host(lead).check_output("systemctl start pgbackrest-pgha-incr.service")
    assert len(backups()) == before + 1 and backups()[-1]["type"] == "incr"
    # backup.yml finds the leader itself.
    proc = run_playbook("backup.yml", *local, "-e", "backup_type=diff")
    assert proc.returncode == 0, proc.output[-3000:]
    assert len(backups()) == before + 2 and backups()[-1]["type"] == "diff"
    # The drill runs on the last member, which reads the shared repository itself.
    proc = run_playbook("backup_verify.yml", *local)
    assert proc.returncode == 0, proc.output[-3000:]
    assert "result: passed" in proc.output and re.search(r"bk3 +: ok=[1-9]", proc.output), proc.output[-3000:]
    # Converged: a second run changes nothing.
    proc = run_playbook("pgbackrest.yml", *local)
    assert proc.returncode == 0, proc.output[-3000:]
    assert re.search(r"changed=[1-9]", proc.output) is None, proc.output[-3000:]
    passphrase = secret("cipher")
    for name, output in OUTPUTS:
        assert passphrase not in output, name


@pytest.fixture(scope="module", autouse=True)
def report_outputs():
    yield
    print("playbook runs: %s" % ", ".join(name for name, _output in OUTPUTS))
