"""Verify logical replication on the servers: row filters and column lists, a later table through
an all-tables publication, the subscription password kept out of Ansible's output, permanent
slots and a PostgreSQL 17 failover slot (native) that carry the subscriptions across a
switchover and a hard failover of the publisher, conflict handling with skip_lsn, and the
external etcd Patroni runs on."""
import json
import re
import subprocess
import time

import psycopg2
import yaml

from pgha_lab import AckWriter, Lab, recap, wait_for

SOURCE = ("pub1", "pub2")
ADDRESS = {"pub1": "127.0.2.1", "pub2": "127.0.2.2", "sub1": "127.0.2.3"}
LAB = Lab(ADDRESS)
CA = LAB.ca
secret = LAB.secret


def target_log():
    """sub1's PostgreSQL log (Debian's layout: postgresql-<major>-main.log)."""
    return "/var/log/postgresql/postgresql-%d-main.log" % LAB.postgresql_version("sub1")


def source(dbname="sales", **extra):
    """A connection to whichever source member accepts writes (libpq multi-host, read-write)."""
    return psycopg2.connect(host="127.0.2.1,127.0.2.2", port="5432,5432", dbname=dbname, user="postgres",
                            password=secret("superuser"), sslmode="verify-full", sslrootcert=CA,
                            target_session_attrs="read-write", connect_timeout=3, **extra)


def member(name, dbname="postgres"):
    return psycopg2.connect(host=ADDRESS[name], port=5432, dbname=dbname, user="postgres",
                            password=secret("superuser"), sslmode="verify-full", sslrootcert=CA, connect_timeout=3)


def query(conn_factory, text, params=None, **kwargs):
    conn = conn_factory(**kwargs)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(text, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def target_query(text, dbname="sales"):
    """Run SQL on the target as postgres (peer), rows as lists of strings."""
    out = LAB.host("sub1").check_output(
        "runuser -u postgres -- psql -X -A -t -F '|' -d %s -c %s", dbname, text)
    return [line.split("|") for line in out.splitlines() if line]


def leader():
    for name in SOURCE:
        try:
            if query(lambda **k: member(name), "SELECT NOT pg_is_in_recovery()")[0][0]:
                return name
        except psycopg2.Error:
            continue
    return None


def patroni_running(name):
    try:
        return query(lambda **k: member(name), "SELECT 1")[0][0] == 1
    except psycopg2.Error:
        return False


def logical_slots(name):
    """How many logical slots a member has (None while it is down: Patroni restarts a replica to copy slots)."""
    try:
        return len(query(lambda **k: member(name), "SELECT 1 FROM pg_replication_slots WHERE slot_type = 'logical'"))
    except psycopg2.Error:
        return None


def run_playbook(path, *args):
    return LAB.run_playbook(path, *args)


def recap_changed(output):
    return recap(output)


def target_ids(region="eu", dbname="sales"):
    return {int(row[0]) for row in target_query("SELECT id FROM orders WHERE region = '%s'" % region, dbname=dbname)}


PERMANENT = [("eu_orders", "logical", "sales"), ("inventory", "logical", "inventory")]
NATIVE = "eu_orders_native"


def native_slot(name):
    """(failover, ready) of the native subscription's slot on a member, None when it has none or is down. ready is
    PostgreSQL 17's own check of a standby's copy, synced and no longer temporary and not conflicting: the slot sync
    worker keeps a new copy temporary until the primary's slot has passed what the standby needs (26 s in the lab
    after a switchover), and a promotion drops a temporary copy - a hard failover before then loses the slot."""
    try:
        rows = query(lambda **k: member(name), "SELECT failover, synced AND NOT temporary AND NOT conflicting "
                     "FROM pg_replication_slots WHERE slot_name = %s", (NATIVE,))
    except psycopg2.Error:
        return None
    return rows[0] if rows else None


def test_patroni_runs_on_the_external_etcd_in_its_own_namespace():
    sub1 = LAB.host("sub1")
    keys = sub1.check_output(
        "ETCDCTL_API=3 etcdctl --endpoints=https://127.0.2.3:2379 --cacert=/etc/etcd/pki/ca.crt "
        "--cert=/etc/etcd/pki/member.crt --key=/etc/etcd/pki/member.key get --prefix --keys-only /pgha-logical/sales/")
    assert "/pgha-logical/sales/leader" in keys.split(), keys
    pub1 = LAB.host("pub1")
    etcd3 = yaml.safe_load(pub1.file("/etc/patroni/patroni.yml").content_string)["etcd3"]
    assert etcd3["hosts"] == ["127.0.2.3:2379"]
    assert etcd3["cacert"] == "/etc/patroni/pki/etcd-ca.crt" and etcd3["cert"] == "/etc/patroni/pki/etcd-client.crt"
    # The external etcd's CA is not the collection's CA.
    assert pub1.file("/etc/patroni/pki/etcd-ca.crt").content != pub1.file("/etc/patroni/pki/ca.crt").content


def test_row_filter_and_column_list_shape_what_arrives():
    eu_on_source = {row[0] for row in query(source, "SELECT id FROM orders WHERE region = 'eu'")}
    assert eu_on_source
    assert wait_for(lambda: eu_on_source <= target_ids(), timeout=30)
    assert target_query("SELECT count(*) FROM orders WHERE region <> 'eu'") == [["0"]]
    columns = [row[0] for row in target_query(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'customers' ORDER BY ordinal_position")]
    assert columns == ["id", "name", "region"]
    assert target_query("SELECT name, region FROM customers ORDER BY id") == [["Ada", "eu"], ["Bob", "us"]]


def test_slots_are_permanent_on_every_source_member():
    for name in SOURCE:
        slots = query(lambda **k: member(name), "SELECT slot_name, slot_type, database FROM pg_replication_slots "
                      "WHERE slot_type = 'logical' AND slot_name <> %s ORDER BY 1", (NATIVE,))
        assert slots == PERMANENT, (name, slots)
    status, config = LAB.api("pub1", "/config")
    assert status == 200 and sorted(config["slots"]) == ["eu_orders", "inventory"], config.get("slots")


def test_the_native_slot_is_a_failover_slot_synchronised_by_the_replica():
    """No Patroni permanent slot: the leader's slot has failover = true, the replica's is PostgreSQL's
    synchronised copy (synced = true), and the cluster runs with what the slot sync worker needs."""
    status, config = LAB.api("pub1", "/config")
    assert status == 200 and NATIVE not in config.get("slots", {}), config.get("slots")
    old = leader()
    replica = [n for n in SOURCE if n != old][0]
    # Made by SQL on the leader (synced false); a copy promoted by an earlier failover keeps synced true.
    assert native_slot(old) is not None and native_slot(old)[0] is True, native_slot(old)
    assert wait_for(lambda: native_slot(replica) == (True, True), timeout=60), native_slot(replica)
    settings = query(lambda **k: member(replica), "SELECT current_setting('sync_replication_slots'), "
                     "current_setting('hot_standby_feedback'), current_setting('primary_conninfo')")[0]
    assert settings[:2] == ("on", "on") and "dbname=" in settings[2], settings[:2]
    assert query(lambda **k: member(old), "SHOW synchronized_standby_slots")[0][0] == replica
    # The subscription asked for it, and the module reads it back.
    assert target_query("SELECT subfailover FROM pg_subscription WHERE subname = '%s'" % NATIVE,
                        dbname="sales_native") == [["t"]]
    proc = LAB.run_ansible(old, "-b", "--become-user", "postgres", "-m", "pgha.replication.pg_replication_slot",
                           "-a", json.dumps({"name": NATIVE, "slot_type": "logical", "login_db": "sales",
                                             "failover": True}))
    assert proc.returncode == 0 and '"changed": false' in proc.stdout, proc.tail()
    assert '"failover": true' in proc.stdout and '"synced": ' in proc.stdout, proc.tail()


def test_slot_hygiene_knows_what_patroni_keeps_and_refuses_it(tmp_path):
    """playbooks/slot_hygiene.yml on the Patroni cluster: the leader's slots carry who keeps them (permanent, the
    replica's member slot, the native failover slot left to PostgreSQL); a slot made by SQL is flagged as unknown to
    Patroni and may be dropped once confirmed; a permanent slot and a member slot are refused, with what to do
    instead, before anything is dropped."""
    old = leader()
    replica = [n for n in SOURCE if n != old][0]
    report_file = str(tmp_path / "report.json")
    slot_count = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s"

    def hygiene(*args):
        proc = run_playbook("playbooks/slot_hygiene.yml", "-e", "slot_hygiene_file=" + report_file, *args)
        assert proc.returncode == 0, proc.tail()
        with open(report_file) as handle:
            return proc, json.load(handle)

    query(lambda **k: member(old), "SELECT pg_create_physical_replication_slot('stray_tool', true)")
    try:
        proc, report = hygiene()
        owners = dict((row["slot_name"], row["owner"]) for row in report["rows"])
        assert owners == {"eu_orders": "permanent", "inventory": "permanent", NATIVE: "failover",
                          replica: "member %s" % replica, "stray_tool": "unknown"}, owners
        assert report["flagged"] == ["stray_tool"], report["flagged"]
        assert "unknown to Patroni" in " ".join(proc.stdout.split()), proc.tail()

        for name, words in (("eu_orders", "pg_replication_slot name=eu_orders permanent=true state=absent"),
                            (replica, "the slot Patroni keeps for member %s" % replica)):
            proc = run_playbook("playbooks/slot_hygiene.yml", "-e", "slot_hygiene_drop=stray_tool,%s" % name,
                                "-e", "slot_hygiene_confirm=stray_tool,%s" % name)
            assert proc.returncode != 0, proc.tail()
            assert words in " ".join(proc.output.split()) and "Nothing was dropped" in proc.output, proc.tail()
            assert query(lambda **k: member(old), slot_count, (name,)) == [(1,)]
            assert query(lambda **k: member(old), slot_count, ("stray_tool",)) == [(1,)]

        confirm = ("-e", "slot_hygiene_drop=stray_tool", "-e", "slot_hygiene_confirm=stray_tool")
        proc, report = hygiene(*confirm)
        assert sum(proc.changed.values()) == 1 and report["drop"] == ["stray_tool"], proc.tail()
        assert query(lambda **k: member(old), slot_count, ("stray_tool",)) == [(0,)]
        proc, report = hygiene(*confirm)
        assert sum(proc.changed.values()) == 0 and report["absent"] == ["stray_tool"], proc.tail()
    finally:
        query(lambda **k: member(old), "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
              "WHERE slot_name = 'stray_tool'")
    status, config = LAB.api("pub1", "/config")
    assert status == 200 and sorted(config["slots"]) == ["eu_orders", "inventory"], config.get("slots")


def test_check_mode_on_the_converged_lab_changes_nothing():
    """The idempotence step proved a real re-run changes nothing; --check must predict the same."""
    proc = run_playbook("playbooks/logical.yml", "--check", "--diff")
    assert proc.returncode == 0, proc.tail()
    changed = recap_changed(proc.stdout)
    # localhost: the inventory check play that opens every playbook.
    assert set(changed) == {"localhost", "pub1", "pub2", "sub1"} and set(changed.values()) == {0}, changed


def rootcert(conninfo):
    """The sslrootcert values of a stored connection string (PostgreSQL quotes them: sslrootcert='...')."""
    return re.findall(r"sslrootcert='?([^'\s]+)", conninfo)


def test_the_subscriptions_check_the_source_with_the_ca_file_of_the_cluster_description():
    """The CA file a subscription checks the source with comes from the cluster description
    (pgha_postgresql_ca_file), not from a path written into the playbook: by default the file the
    target's PostgreSQL itself uses; pointed elsewhere, the playbook would change the subscriptions."""
    ssl_ca_file = target_query("SHOW ssl_ca_file", dbname="postgres")[0][0]
    rootcerts = [rootcert(row[0]) for row in target_query(
        "SELECT subconninfo FROM pg_subscription ORDER BY subname", dbname="postgres")]
    assert rootcerts == [[ssl_ca_file]] * 3, (ssl_ca_file, rootcerts)
    sub1 = LAB.host("sub1")
    elsewhere = "/etc/ssl/pgha-lab-source-ca.crt"
    sub1.check_output("install -m 0644 %s %s", ssl_ca_file, elsewhere)
    try:
        proc = run_playbook("playbooks/logical.yml", "--check", "--diff", "-e", "pgha_postgresql_ca_file=" + elsewhere)
        assert proc.returncode == 0, proc.tail()
        assert proc.changed.get("sub1", 0) > 0 and elsewhere in proc.stdout, proc.tail()
    finally:
        sub1.run("rm -f %s", elsewhere)
    # Check mode changed nothing.
    assert [rootcert(row[0]) for row in target_query(
        "SELECT subconninfo FROM pg_subscription ORDER BY subname", dbname="postgres")] == rootcerts


def test_status_playbook_reports_subscriptions_and_publications():
    proc = run_playbook("playbooks/logical_status.yml")
    assert proc.returncode == 0, proc.tail()
    text = " ".join(proc.stdout.split())
    assert "subscription eu_orders (sales): enabled, worker running" in text, proc.tail()
    assert "public.orders ready" in text and "public.customers ready" in text, proc.tail()
    assert ("publication eu_orders (sales): public.customers (id, name, region); "
            "public.orders WHERE (region = 'eu'::text) [publish insert, update, delete, truncate]") in text, proc.tail()
    assert "slot eu_orders (sales): active, WAL reserved" in text, proc.tail()


def test_the_subscription_password_appears_nowhere_in_the_output():
    password = secret("logical")
    proc = run_playbook("playbooks/logical.yml", "-v", "--diff")
    assert proc.returncode == 0, proc.tail()
    assert "Keep the subscriptions" in proc.stdout
    assert password not in proc.output
    status = run_playbook("playbooks/logical_status.yml", "-v")
    assert status.returncode == 0 and password not in status.output


def test_an_all_tables_publication_carries_a_table_created_later():
    query(source, "CREATE TABLE IF NOT EXISTS suppliers (id integer PRIMARY KEY, name text)", dbname="inventory")
    query(source, "INSERT INTO suppliers VALUES (1, 'acme'), (2, 'globex') ON CONFLICT DO NOTHING", dbname="inventory")
    proc = run_playbook("playbooks/logical.yml")
    assert proc.returncode == 0, proc.tail()
    assert recap_changed(proc.stdout).get("sub1", 0) > 0
    assert wait_for(lambda: target_query("SELECT name FROM suppliers ORDER BY id", dbname="inventory")
                    == [["acme"], ["globex"]], timeout=60)
    query(source, "INSERT INTO suppliers VALUES (3, 'initech')", dbname="inventory")
    assert wait_for(lambda: ["initech"] in target_query("SELECT name FROM suppliers", dbname="inventory"), timeout=30)
    again = run_playbook("playbooks/logical.yml")
    assert again.returncode == 0 and set(recap_changed(again.stdout).values()) == {0}, again.tail()


def failover_state(writer):
    """What a stalled writer sees, for the failure message."""
    state = {"acked": writer.count(), "errors": len(writer.errors), "last_error": writer.last_error}
    for name in SOURCE:
        try:
            state[name] = query(lambda **k: member(name), "SELECT pg_is_in_recovery(), "
                                "current_setting('synchronous_standby_names'), "
                                "(SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep')")[0]
        except psycopg2.Error as err:
            state[name] = str(err).strip()
    return state


def eu_order_writer(first_id):
    """Inserts EU orders through the multi-host read-write connection; remembers each acknowledged id."""
    return AckWriter(source, "INSERT INTO orders (id, region, amount) VALUES (%s, 'eu', 1)", first_id=first_id,
                     errors_of=(psycopg2.Error,))


def duplicate_key_errors():
    """Apply errors from a row the target already has, as the target's server log counts them."""
    log = LAB.host("sub1").file(target_log()).content_string
    return log.count('duplicate key value violates unique constraint "orders_pkey"')


def test_subscriptions_survive_a_switchover_and_a_hard_failover_of_the_source():
    duplicates_before = duplicate_key_errors()
    writer = eu_order_writer(query(source, "SELECT coalesce(max(id), 0) + 100000 FROM orders")[0][0])
    writer.start()
    killed = None
    try:
        assert wait_for(lambda: writer.count() > 20, timeout=20)
        old = leader()
        other = [n for n in SOURCE if n != old][0]
        # In the scenario the leader made the native slot itself (synced false); on a lab that failed over
        # before, it may be a copy promoted then, which keeps synced true.
        own_slot = query(lambda **k: member(old), "SELECT NOT synced FROM pg_replication_slots "
                         "WHERE slot_name = %s", (NATIVE,)) == [(True,)]
        # The native subscription stops consuming for the switchover, so that its slot on the new leader
        # stays where it is and the old leader's new copy cannot become ready (below).
        target_query("ALTER SUBSCRIPTION %s DISABLE" % NATIVE, dbname="sales_native")
        try:
            proc = run_playbook("playbooks/switchover.yml", "-e", "switchover_leader=%s" % other)
            assert proc.returncode == 0, proc.tail()
            assert leader() == other
            if own_slot:
                # The old leader kept its own failover slot (not synced), which would stop the slot sync worker
                # there; the patroni role's callback drops it and the worker synchronises the new leader's: as
                # a temporary copy while the new leader's slot is behind what the old leader needs.
                assert wait_for(lambda: native_slot(old) == (True, False), timeout=60), native_slot(old)
                # A promotion would drop that copy: switchover.yml waits for it, then refuses, changing nothing.
                refused = run_playbook("playbooks/switchover.yml", "-e", "switchover_leader=%s" % old,
                                       "-e", "switchover_slot_ready_timeout=6")
                assert refused.returncode != 0, refused.tail()
                assert "copies of the failover slots %s are not ready after 6 s" % NATIVE in refused.output, \
                    refused.tail()
                assert leader() == other and native_slot(old) == (True, False)
            else:
                # A promoted copy stays a synchronised copy on the demoted member and is kept up to date.
                assert wait_for(lambda: native_slot(old) == (True, True), timeout=60), native_slot(old)
        finally:
            target_query("ALTER SUBSCRIPTION %s ENABLE" % NATIVE, dbname="sales_native")
        # Consumed again, the slot moves on and the copy becomes ready (persistent); it must be before the
        # hard failover below promotes the old leader.
        assert wait_for(lambda: native_slot(old) == (True, True), timeout=150), native_slot(old)
        after_switchover = writer.count()
        # Synchronous mode: commits wait until the old leader streams again as the sync standby,
        # which took over 30 s once under the load of parallel lanes.
        assert wait_for(lambda: writer.count() > after_switchover + 20, timeout=120), failover_state(writer)
        # Let Patroni advance the slot copy on the new replica before the hard failover.
        time.sleep(6)
        killed = other
        subprocess.run(["podman", "kill", killed], check=True, capture_output=True, timeout=60)
        assert wait_for(lambda: leader() == old, timeout=90), "no new leader after the kill"
        after_failover = writer.count()
        assert wait_for(lambda: writer.count() > after_failover + 20, timeout=120), failover_state(writer)
    finally:
        writer.stop()
        if killed:
            subprocess.run(["podman", "start", killed], check=False, capture_output=True, timeout=120)
    acked = set(writer.ids())
    assert wait_for(lambda: acked <= target_ids(), timeout=120), sorted(acked - target_ids())[:20]
    # Nothing was sent twice: a row sent again would hit the target's primary key and stop apply.
    assert duplicate_key_errors() == duplicates_before
    # The killed member comes back as a replica and keeps the permanent slots, and has the
    # native slot again as a synchronised copy.
    assert wait_for(lambda: patroni_running(killed) and leader() == old, timeout=180)
    assert wait_for(lambda: logical_slots(killed) == 3, timeout=120)
    assert wait_for(lambda: native_slot(killed) == (True, True), timeout=120), native_slot(killed)
    # The native subscription got every acknowledged row too: the new leader's logical walsender sends
    # what the standbys in synchronized_standby_slots (the killed member) have received, so the last
    # rows arrive once it streams again.
    assert wait_for(lambda: acked <= target_ids(dbname="sales_native"), timeout=180), \
        sorted(acked - target_ids(dbname="sales_native"))[:20]
    assert duplicate_key_errors() == duplicates_before


def test_a_conflict_stops_apply_and_skip_lsn_resumes_it():
    target_query("INSERT INTO orders (id, region, amount) VALUES (900001, 'eu', 0)")
    query(source, "INSERT INTO orders (id, region, amount) VALUES (900001, 'eu', 1)")
    query(source, "INSERT INTO orders (id, region, amount) VALUES (900002, 'eu', 2)")
    sub1 = LAB.host("sub1")

    def failing_lsn():
        found = re.findall(r'relation "public\.orders" in transaction \d+, finished at ([0-9A-F]+/[0-9A-F]+)',
                           sub1.file(target_log()).content_string)
        return found[-1] if found else None

    assert wait_for(lambda: failing_lsn() is not None, timeout=30)
    assert 900002 not in target_ids()
    errors = target_query("SELECT apply_error_count FROM pg_stat_subscription_stats WHERE subname = 'eu_orders'")
    assert int(errors[0][0]) > 0
    lsn = failing_lsn()
    proc = LAB.run_ansible("sub1", "-b", "--become-user", "postgres", "-m", "pgha.replication.pg_subscription",
                           "-a", json.dumps({"name": "eu_orders", "login_db": "sales", "skip_lsn": lsn}))
    assert proc.returncode == 0, proc.tail()
    assert lsn in proc.stdout and '"changed": true' in proc.stdout, proc.tail()
    assert wait_for(lambda: 900002 in target_ids(), timeout=60)
    # The target keeps its own row; the skipped transaction's row never arrived.
    assert target_query("SELECT amount FROM orders WHERE id = 900001") == [["0.00"]]
    query(source, "DELETE FROM orders WHERE id IN (900001, 900002)")
    assert wait_for(lambda: not {900001, 900002} & target_ids(), timeout=30)


def test_failover_of_an_enabled_subscription_is_changed_and_it_resumes():
    """PostgreSQL 17 alters failover only on a disabled subscription: pg_subscription disables it,
    alters it (the server alters the slot on the publisher) and enables it again; check mode
    predicts the same statements and changes nothing."""
    def module(failover, *args):
        return LAB.run_ansible("sub1", "-b", "--become-user", "postgres", "-m", "pgha.replication.pg_subscription",
                               "-a", json.dumps({"name": NATIVE, "login_db": "sales_native", "failover": failover}),
                               *args)

    statements = ['"ALTER SUBSCRIPTION \\"%s\\" DISABLE"' % NATIVE,
                  '"ALTER SUBSCRIPTION \\"%s\\" SET (failover = false)"' % NATIVE,
                  '"ALTER SUBSCRIPTION \\"%s\\" ENABLE"' % NATIVE]
    checked = module(False, "--check")
    assert checked.returncode == 0 and all(st in checked.stdout for st in statements), checked.tail()
    assert native_slot(leader())[0] is True
    for failover in (False, True):
        proc = module(failover)
        assert proc.returncode == 0 and '"changed": true' in proc.stdout, proc.tail()
        assert native_slot(leader())[0] is failover
        assert target_query("SELECT subenabled, subfailover FROM pg_subscription WHERE subname = '%s'" % NATIVE,
                            dbname="sales_native") == [["t", "t" if failover else "f"]]
    assert '"changed": false' in module(True).stdout
    query(source, "INSERT INTO orders (id, region, amount) VALUES (900101, 'eu', 1)")
    try:
        assert wait_for(lambda: 900101 in target_ids(dbname="sales_native"), timeout=60)
        replica = [n for n in SOURCE if n != leader()][0]
        assert wait_for(lambda: native_slot(replica) == (True, True), timeout=90), native_slot(replica)
    finally:
        query(source, "DELETE FROM orders WHERE id = 900101")
