"""Backup and restore throughput on the backup lab (make lab TOPOLOGY=backup), printed
as a table of measured numbers.

On a pgbench database of about --size-gb GB on the Patroni leader:
  pgBackRest full backup on the repository host backup1 (TLS to the leader, zst, encrypted
  repository) with process-max 1 and 2, then a restore of that backup into a scratch
  directory on backup1 with the same process-max;
  pg_basebackup from backup1 to the leader (tar, client-side zstd, WAL streamed), then its
  "restore": extracting the archives into a scratch directory.
Throughput is the cluster's size (pg_database_size of every database) over the wall-clock
time of each command. The pgBackRest backups stay in the repository (its retention expires
the oldest full ones); the scratch directories and the pgbench database are removed.
"""
import argparse
import json
import os
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "molecule", "_lab"))
from pgha_lab import Lab  # noqa: E402  pylint: disable=wrong-import-position

NODES = {"bk1": "127.0.4.1", "bk2": "127.0.4.2", "bk3": "127.0.4.3"}
STANZA = "pgha"
SCRATCH = "/var/lib/pgbackrest-bench"
# pgbench: about 15 MB per scale unit (tables and indexes).
MB_PER_SCALE = 15.0
# The backup lab, set by main().
LAB = None


def sh(node, command, check=True, env=None):
    """A shell command as root on a node, over the lab's SSH; its stdout."""
    return LAB.run(node, command, check=check, env=env)


def timed(node, command, env=None):
    started = time.monotonic()
    sh(node, command, env=env)
    return time.monotonic() - started


def as_postgres(command):
    return "runuser -u postgres -- " + command


def leader():
    name = LAB.leader()
    if name is None:
        raise RuntimeError("no leader found: %s" % LAB.cluster())
    return name


def human(size):
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return "%.1f%s" % (size, unit)
        size /= 1024.0
    return "%.1fGB" % size


def prepare(lead, scale):
    sh(lead, as_postgres("psql -XAtq -c 'DROP DATABASE IF EXISTS bench' -c 'CREATE DATABASE bench'"))
    started = time.monotonic()
    sh(lead, as_postgres("pgbench -q -i -s %d bench" % scale))
    print("pgbench -i -s %d: %.0f s" % (scale, time.monotonic() - started), file=sys.stderr)
    sh(lead, as_postgres("psql -XAtq -c CHECKPOINT"))
    return int(sh(lead, as_postgres("psql -XAtc 'SELECT sum(pg_database_size(oid)) FROM pg_database'")).strip())


def scratch_config(process_max):
    """The drill's way to restore on the repository host: its own config, the repository's
    settings copied on the node (the passphrase never leaves it), no database host."""
    return (
        "rm -rf {s} && install -d -o postgres -g postgres -m 0700 {s} {s}/conf {s}/data {s}/log && "
        "( echo '[global]'; grep -E '^repo1-(path|cipher-type|cipher-pass)=' /etc/pgbackrest/pgbackrest.conf; "
        "echo 'log-path={s}/log'; echo 'lock-path={s}/lock'; echo 'spool-path={s}/spool'; echo 'process-max={p}'; "
        "echo '[{stanza}]'; echo 'pg1-path={s}/data' ) > {s}/conf/pgbackrest.conf && "
        "chown postgres:postgres {s}/conf/pgbackrest.conf && chmod 0600 {s}/conf/pgbackrest.conf"
    ).format(s=SCRATCH, p=process_max, stanza=STANZA)


def latest_label():
    out = sh("backup1", as_postgres("pgbackrest --stanza=%s --output=json info" % STANZA))
    backups = json.loads(out)[0]["backup"]
    return backups[-1]["label"], backups[-1]["info"]["repository"]["delta"]


def run_pgbackrest(process_max):
    backup = timed("backup1", as_postgres(
        "pgbackrest --stanza=%s --type=full --process-max=%d backup" % (STANZA, process_max)))
    label, stored = latest_label()
    sh("backup1", scratch_config(process_max))
    restore = timed("backup1", as_postgres(
        "pgbackrest --config-path=%s/conf --stanza=%s --set=%s --type=immediate --process-max=%d restore"
        % (SCRATCH, STANZA, label, process_max)))
    sh("backup1", "rm -rf %s" % SCRATCH)
    return backup, restore, stored


def run_basebackup(lead):
    sh("backup1", "rm -rf {s} && install -d -o postgres -g postgres -m 0700 {s} {s}/bb {s}/data".format(s=SCRATCH))
    env = {"PGPASSWORD": LAB.secret("replication"), "PGSSLMODE": "verify-full",
           "PGSSLROOTCERT": "/etc/pgbackrest/tls/ca.crt"}
    # runuser keeps the environment, which reaches the node on stdin: the password never
    # appears in a command line.
    backup = timed("backup1", as_postgres(
        "pg_basebackup -h %s -U replicator -D %s/bb -Ft --compress=client-zstd:3 -X stream -c fast"
        % (NODES[lead], SCRATCH)), env=env)
    stored = int(sh("backup1", "du -sb %s/bb | cut -f1" % SCRATCH).strip())
    restore = timed("backup1", as_postgres(
        "tar -I zstd -xf {s}/bb/base.tar.zst -C {s}/data && "
        # PostgreSQL 15 compresses only base.tar on the client (pg_wal.tar stays plain); take either.
        "install -d -m 0700 {s}/data/pg_wal && if [ -f {s}/bb/pg_wal.tar.zst ]; then "
        "tar -I zstd -xf {s}/bb/pg_wal.tar.zst -C {s}/data/pg_wal; else tar -xf {s}/bb/pg_wal.tar -C {s}/data/pg_wal; fi"
        .format(s=SCRATCH)))
    sh("backup1", "rm -rf %s" % SCRATCH)
    return backup, restore, stored


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default=os.path.join(REPO, ".lab", "backup"))
    parser.add_argument("--size-gb", type=float, default=float(os.environ.get("BENCH_SIZE_GB", "3")),
                        help="approximate size of the pgbench database (default 3; 0.2 for a quick run)")
    parser.add_argument("--keep", action="store_true", help="keep the pgbench database")
    args = parser.parse_args()
    global LAB  # pylint: disable=global-statement
    LAB = Lab(NODES, args.lab)
    scale = max(1, int(round(args.size_gb * 1024 / MB_PER_SCALE)))
    sh("backup1", "apt-get install -y -q postgresql-client-%d zstd >/dev/null" % LAB.postgresql_version("bk1"))
    lead = leader()
    size = prepare(lead, scale)
    rows = []
    try:
        for process_max in (1, 2):
            backup, restore, stored = run_pgbackrest(process_max)
            rows.append(("pgBackRest zst process-max %d" % process_max, backup, restore, stored))
        backup, restore, stored = run_basebackup(lead)
        rows.append(("pg_basebackup tar client-zstd:3", backup, restore, stored))
    finally:
        sh("backup1", "rm -rf %s" % SCRATCH, check=False)
        if not args.keep:
            sh(lead, as_postgres("psql -XAtq -c 'DROP DATABASE IF EXISTS bench'"), check=False)
    print("cluster size %s (pgbench scale %d on %s; backups run on backup1, restores into a scratch directory there)"
          % (human(size), scale, lead))
    header = ("METHOD", "BACKUP s", "BACKUP MB/s", "RESTORE s", "RESTORE MB/s", "STORED")
    print("%-34s %9s %12s %10s %13s %10s" % header)
    for name, backup, restore, stored in rows:
        print("%-34s %9.1f %12.1f %10.1f %13.1f %10s" % (
            name, backup, size / 1048576.0 / backup, restore, size / 1048576.0 / restore, human(stored)))


if __name__ == "__main__":
    main()
