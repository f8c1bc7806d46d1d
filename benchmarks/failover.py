"""Failover benchmark on the HA lab (`make lab TOPOLOGY=ha`), printed as a table.

For each synchronous mode, each timing preset and each event, over N trials, a client writes one row every 20 ms
with synchronous commit through the read-write endpoint (HAProxy's 5000 when the lab has
it, else straight to the current leader) and records every acknowledged commit. Measured:
client-visible write unavailability (from the last acknowledged commit before the event to
the first one after it), and acknowledged commits missing afterwards (must be 0 with
synchronous_mode on or quorum). Modes (--modes): "on" (synchronous_mode: true, FIRST 1) and
"quorum" (synchronous_mode: quorum, ANY 1 of the two replicas). Events:
  kill        hard crash of the leader's node: podman kill, then podman start
  stop        graceful stop of Patroni on the leader: systemctl stop patroni (over SSH), then start
  switchover  playbooks/switchover.yml (module patroni_switchover) to a replica
A mode and a preset are applied with PATCH /config on Patroni's REST API (synchronous_mode
and synchronous_node_count; ttl, loop_wait, retry_timeout: exactly the values of the patroni
role's presets), and the lab is put back to "on" and "fast" at the end. Every fault is undone
in a finally, and the cluster is healthy again before the next trial.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

import psycopg2

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "molecule", "_lab"))
from pgha_lab import SYNC_ROLES, AckWriter, Lab, wait_for  # noqa: E402  pylint: disable=wrong-import-position

PRESETS = {"fast": {"ttl": 20, "loop_wait": 2, "retry_timeout": 5},
           "default": {"ttl": 30, "loop_wait": 10, "retry_timeout": 10}}
MODES = {"on": {"synchronous_mode": True, "synchronous_node_count": 1},
         "quorum": {"synchronous_mode": "quorum", "synchronous_node_count": 1}}
NODES = {"pg1": "127.0.1.1", "pg2": "127.0.1.2", "pg3": "127.0.1.3"}


class HaLab(Lab):
    """The HA lab: its members, and the writers' endpoint (HAProxy's 5000 when it has one)."""

    def __init__(self, lab_dir):
        super().__init__(NODES, lab_dir)
        self.rw = None
        if os.path.exists(os.path.join(lab_dir, "secrets", "pgbouncer_auth")):
            self.rw = ("127.0.1.10", 5000)

    def patch_config(self, body):
        status, answer = self.api(self.leader(), "/config", method="PATCH", body=body,
                                  auth=("patroni", self.secret("restapi")), timeout=3)
        if status != 200:
            raise SystemExit("PATCH /config: %s %s" % (status, answer))

    def connect(self, admin=False):
        """The writer's connection: the lab user through HAProxy and PgBouncer when the lab
        has them; else (and for setup and checks) the superuser on the leader, over TLS."""
        if self.rw and not admin:
            host, port = self.rw
            return psycopg2.connect(host=host, port=port, dbname="postgres", user="lab",
                                    password=self.secret("lab"), sslmode="disable", connect_timeout=2)
        return psycopg2.connect(host=self.nodes[self.leader()], port=5432, dbname="postgres", user="postgres",
                                password=self.secret("superuser"), sslmode="require", connect_timeout=2)


def trial(lab, event, run_id):
    leader = lab.leader()
    target = next(m["name"] for m in lab.cluster()["members"] if m["role"] in SYNC_ROLES)
    # TypeError, KeyError: no leader to connect to for a moment.
    writer = AckWriter(lab.connect, "INSERT INTO pgha_bench (id) VALUES (%s)", first_id=run_id * 1_000_000,
                       errors_of=(psycopg2.Error, TypeError, KeyError))
    writer.start()
    try:
        wait_for(lambda: writer.count() > 25, 20)
        event_at = time.monotonic()
        if event == "kill":
            subprocess.run(["podman", "kill", leader], check=True, capture_output=True, timeout=60)
        elif event == "stop":
            lab.run(leader, "systemctl stop patroni", timeout=120)
        else:
            proc = lab.run_playbook("playbooks/switchover.yml", "-e", "switchover_leader=" + target, timeout=300)
            if proc.returncode != 0:
                raise SystemExit("switchover.yml failed: %s" % proc.tail())
        wait_for(lambda: bool(writer.acked) and writer.acked[-1][0] > event_at + 0.5
                 and lab.leader() not in (None, leader), 120, 0.2)
        time.sleep(2)
    finally:
        writer.stop()
        if event == "kill":
            subprocess.run(["podman", "start", leader], check=False, capture_output=True, timeout=120)
        elif event == "stop":
            lab.run(leader, "systemctl start patroni", check=False, timeout=120)
    # The longest stretch without an acknowledged commit that ends after the event.
    times = [at for at, _id in writer.acked]
    gaps = [later - earlier for earlier, later in zip(times, times[1:]) if later > event_at]
    gap = max(gaps) if gaps else float("nan")
    with lab.connect(admin=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pgha_bench WHERE id = ANY(%s)", (writer.ids(),))
        present = cur.fetchone()[0]
    conn.close()
    if not wait_for(lambda: lab.healthy(3, sync_standby=True), 240, 2):
        raise SystemExit("the cluster did not become healthy again within 240 s: %s" % lab.cluster())
    return gap, writer.count() - present, writer.count()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default=os.path.join(REPO, ".lab", "ha"))
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--presets", default="fast,default")
    parser.add_argument("--modes", default="on", help="synchronous modes, comma-separated: on, quorum")
    parser.add_argument("--events", default="kill,stop,switchover")
    args = parser.parse_args()
    lab = HaLab(args.lab)
    if not lab.healthy(3, sync_standby=True):
        raise SystemExit("the HA lab is not healthy (make lab TOPOLOGY=ha): %s" % lab.cluster())
    with lab.connect(admin=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS pgha_bench (id bigint PRIMARY KEY, at timestamptz DEFAULT now())")
        cur.execute("GRANT SELECT, INSERT ON pgha_bench TO lab")
    conn.close()
    rows, run_id = [], 1
    try:
        for mode in args.modes.split(","):
            lab.patch_config(MODES[mode])
            if not wait_for(lambda: roles_settled(lab, mode), 60, 1):
                raise SystemExit("synchronous_mode %s did not settle within 60 s: %s" % (mode, lab.cluster()))
            rows += run_presets(lab, args, mode, run_id)
            run_id += 1000
    finally:
        lab.patch_config(dict(PRESETS["fast"], **MODES["on"]))
    endpoint = "HAProxy 127.0.1.10:5000" if lab.rw else "the leader directly"
    print("\nWrite unavailability through %s, %d trial(s) each" % (endpoint, args.trials))
    header = ("MODE", "PRESET", "EVENT", "TRIALS", "MEDIAN S", "MAX S", "ACKED", "LOST")
    print("%-7s %-8s %-10s %6s %10s %10s %8s %6s" % header)
    for row in rows:
        print("%-7s %-8s %-10s %6d %10.2f %10.2f %8d %6d" % row)
    return 1 if any(row[-1] for row in rows) else 0


def roles_settled(lab, mode):
    """Every replica has the role of the mode: quorum_standby for quorum, else one sync_standby."""
    state = lab.cluster()
    if not state:
        return False
    roles = [m["role"] for m in state["members"] if m["role"] != "leader"]
    if mode == "quorum":
        return bool(roles) and all(role == "quorum_standby" for role in roles)
    return roles.count("sync_standby") == 1 and "quorum_standby" not in roles


def run_presets(lab, args, mode, run_id):
    """The table's rows of one synchronous mode: each preset, each event, args.trials trials."""
    rows = []
    for preset in args.presets.split(","):
        lab.patch_config(PRESETS[preset])
        time.sleep(5)
        for event in args.events.split(","):
            gaps, lost, total = [], 0, 0
            for _trial in range(args.trials):
                gap, missing, acked = trial(lab, event, run_id)
                run_id += 1
                gaps.append(gap)
                lost += missing
                total += acked
                print("  %-7s %-8s %-10s unavailable %6.2f s, %d acknowledged, %d lost" % (
                    mode, preset, event, gap, acked, missing), flush=True)
            rows.append((mode, preset, event, len(gaps), statistics.median(gaps), max(gaps), total, lost))
    return rows


if __name__ == "__main__":
    sys.exit(main())
