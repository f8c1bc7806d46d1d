"""Failover benchmark on the HA lab (`make lab TOPOLOGY=ha`), printed as a table.

For each timing preset and each event, over N trials, a client writes one row every 20 ms
with synchronous commit through the read-write endpoint (HAProxy's 5000 when the lab has
it, else straight to the current leader) and records every acknowledged commit. Measured:
client-visible write unavailability (from the last acknowledged commit before the event to
the first one after it), and acknowledged commits missing afterwards (must be 0 with
synchronous_mode). Events:
  kill        hard crash of the leader's node: podman kill, then podman start
  stop        graceful stop of Patroni on the leader: systemctl stop patroni, then start
  switchover  playbooks/switchover.yml (module patroni_switchover) to a replica
A preset is applied with PATCH /config on Patroni's REST API (ttl, loop_wait,
retry_timeout), exactly the values of the patroni role's presets. Every fault is undone
in a finally, and the cluster is healthy again before the next trial.
"""
import argparse
import base64
import json
import os
import ssl
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import psycopg2

PRESETS = {"fast": {"ttl": 20, "loop_wait": 2, "retry_timeout": 5},
           "default": {"ttl": 30, "loop_wait": 10, "retry_timeout": 10}}
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


class Lab:
    def __init__(self, lab_dir):
        self.dir = lab_dir
        self.ca = os.path.join(lab_dir, "pki", "ca.crt")
        self.nodes = {"pg1": "127.0.1.1", "pg2": "127.0.1.2", "pg3": "127.0.1.3"}
        self.rw = None
        if os.path.exists(os.path.join(lab_dir, "secrets", "pgbouncer_auth")):
            self.rw = ("127.0.1.10", 5000)

    def secret(self, name):
        with open(os.path.join(self.dir, "secrets", name), encoding="utf-8") as handle:
            return handle.read().split()[0]

    def api(self, node, path, method="GET", body=None, timeout=3):
        request = urllib.request.Request("https://%s:8008%s" % (self.nodes[node], path), method=method)
        if body is not None:
            request.data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
            token = base64.b64encode(("patroni:%s" % self.secret("restapi")).encode()).decode()
            request.add_header("Authorization", "Basic " + token)
        context = ssl.create_default_context(cafile=self.ca)
        with urllib.request.urlopen(request, context=context, timeout=timeout) as response:
            return json.loads(response.read().decode() or "null")

    def cluster(self):
        for node in self.nodes:
            try:
                return self.api(node, "/cluster")
            except (OSError, urllib.error.URLError, ValueError):
                continue
        return None

    def leader(self):
        state = self.cluster() or {"members": []}
        names = [m["name"] for m in state["members"] if m["role"] == "leader" and m["state"] == "running"]
        return names[0] if names else None

    def healthy(self):
        state = self.cluster()
        if not state or len(state["members"]) != 3:
            return False
        states = sorted(m["state"] for m in state["members"])
        return states == ["running", "streaming", "streaming"] and any(m["role"] == "sync_standby" for m in state["members"])

    def connect(self, admin=False):
        """The writer's connection: the lab user through HAProxy and PgBouncer when the lab
        has them; else (and for setup and checks) the superuser on the leader, over TLS."""
        if self.rw and not admin:
            host, port = self.rw
            return psycopg2.connect(host=host, port=port, dbname="postgres", user="lab",
                                    password=self.secret("lab"), sslmode="disable", connect_timeout=2)
        return psycopg2.connect(host=self.nodes[self.leader()], port=5432, dbname="postgres", user="postgres",
                                password=self.secret("superuser"), sslmode="require", connect_timeout=2)


def wait(predicate, timeout, step=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def trial(lab, event, run_id):
    leader = lab.leader()
    target = next(m["name"] for m in lab.cluster()["members"] if m["role"] == "sync_standby")
    acks, stop, next_id = [], threading.Event(), [run_id * 1_000_000]

    def writer():
        conn = None
        while not stop.is_set():
            try:
                if conn is None:
                    conn = lab.connect()
                    conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO pgha_bench (id) VALUES (%s)", (next_id[0],))
                acks.append((time.monotonic(), next_id[0]))
            except (psycopg2.Error, TypeError, KeyError):
                try:
                    if conn is not None:
                        conn.close()
                except psycopg2.Error:
                    pass
                conn = None
                time.sleep(0.05)
            next_id[0] += 1
            time.sleep(0.02)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        wait(lambda: len(acks) > 25, 20)
        event_at = time.monotonic()
        if event == "kill":
            subprocess.run(["podman", "kill", leader], check=True, capture_output=True, timeout=60)
        elif event == "stop":
            subprocess.run(["podman", "exec", leader, "systemctl", "stop", "patroni"], check=True,
                           capture_output=True, timeout=120)
        else:
            env = dict(os.environ, ANSIBLE_NOCOLOR="1")
            subprocess.run(["ansible-playbook", "-i", os.path.join(lab.dir, "inventory"),
                            os.path.join(REPO, "playbooks", "switchover.yml"), "-e", "switchover_leader=" + target],
                           check=True, capture_output=True, timeout=300, env=env)
        wait(lambda: bool(acks) and acks[-1][0] > event_at + 0.5 and lab.leader() not in (None, leader), 120, 0.2)
        time.sleep(2)
    finally:
        stop.set()
        thread.join(timeout=30)
        if event == "kill":
            subprocess.run(["podman", "start", leader], check=False, capture_output=True, timeout=120)
        elif event == "stop":
            subprocess.run(["podman", "exec", leader, "systemctl", "start", "patroni"], check=False,
                           capture_output=True, timeout=120)
    # The longest stretch without an acknowledged commit that ends after the event.
    times = [ack[0] for ack in acks]
    gaps = [later - earlier for earlier, later in zip(times, times[1:]) if later > event_at]
    gap = max(gaps) if gaps else float("nan")
    with lab.connect(admin=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pgha_bench WHERE id = ANY(%s)", ([ack[1] for ack in acks],))
        present = cur.fetchone()[0]
    conn.close()
    if not wait(lab.healthy, 240, 2):
        raise SystemExit("the cluster did not become healthy again within 240 s: %s" % lab.cluster())
    return gap, len(acks) - present, len(acks)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default=os.path.join(REPO, ".lab", "ha"))
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--presets", default="fast,default")
    parser.add_argument("--events", default="kill,stop,switchover")
    args = parser.parse_args()
    lab = Lab(args.lab)
    if not lab.healthy():
        raise SystemExit("the HA lab is not healthy (make lab TOPOLOGY=ha): %s" % lab.cluster())
    with lab.connect(admin=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS pgha_bench (id bigint PRIMARY KEY, at timestamptz DEFAULT now())")
        cur.execute("GRANT SELECT, INSERT ON pgha_bench TO lab")
    conn.close()
    rows, run_id = [], 1
    try:
        for preset in args.presets.split(","):
            lab.api(lab.leader(), "/config", method="PATCH", body=PRESETS[preset])
            time.sleep(5)
            for event in args.events.split(","):
                gaps, lost, total = [], 0, 0
                for _trial in range(args.trials):
                    gap, missing, acked = trial(lab, event, run_id)
                    run_id += 1
                    gaps.append(gap)
                    lost += missing
                    total += acked
                    print("  %-8s %-10s unavailable %6.2f s, %d acknowledged, %d lost" % (
                        preset, event, gap, acked, missing), flush=True)
                rows.append((preset, event, len(gaps), statistics.median(gaps), max(gaps), total, lost))
    finally:
        lab.api(lab.leader(), "/config", method="PATCH", body=PRESETS["fast"])
    endpoint = "HAProxy 127.0.1.10:5000" if lab.rw else "the leader directly"
    print("\nWrite unavailability through %s (synchronous_mode on), %d trial(s) each" % (endpoint, args.trials))
    print("%-8s %-10s %6s %10s %10s %8s %6s" % ("PRESET", "EVENT", "TRIALS", "MEDIAN S", "MAX S", "ACKED", "LOST"))
    for row in rows:
        print("%-8s %-10s %6d %10.2f %10.2f %8d %6d" % row)
    return 1 if any(row[-1] for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
