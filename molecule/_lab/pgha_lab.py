"""The one helper for the lab's verify tests (molecule/*/tests) and benchmarks (benchmarks/).

Private to this repository's tests. A lab is a state directory (Molecule's ephemeral
directory, or .lab/<topology> for `make lab`) holding what molecule/_lab/create.yml and the
roles made: the inventory, ansible.cfg, ssh_config with the lab's keys and known_hosts, the
CA (pki/) and generated passwords (secrets/).

What it offers:
- the nodes over SSH, as the lab's login user with sudo (testinfra's ssh backend, or
  `Lab.run` for a plain command), through the lab's ssh_config;
- Patroni's REST API over TLS: `api`, `cluster`, `leader`, `healthy`;
- `run_playbook`, which runs ansible-playbook on the lab's inventory with its ansible.cfg
  and keeps stderr, where Ansible 2.19 reports failures;
- `AckWriter`, a client thread that commits one row at a time and remembers every
  acknowledged id (never reusing an id whose outcome is unknown);
- `wait_for`, a deadline-bounded wait on the monotonic clock.
Faults stay on the host: `podman kill/start/pause` and `iptables` are called by the tests.
"""
import base64
import json
import os
import re
import shlex
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Patroni's roles of the standbys that confirm commits: synchronous_mode on, and quorum.
SYNC_ROLES = ("sync_standby", "quorum_standby")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def wait_for(predicate, timeout, step=0.5):
    """Call predicate until it returns something true or timeout seconds have passed (on the
    monotonic clock); its last value, checked once more at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def recap(output):
    """{host: changed} from an ansible-playbook PLAY RECAP."""
    return {host: int(changed) for host, changed, _unreachable, _failed in RECAP.findall(output)}


class PlaybookRun:
    """What an ansible-playbook run printed: stdout, stderr, and both in one text (Ansible
    2.19 prints task failures and warnings on stderr, the recap on stdout)."""

    def __init__(self, proc):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.output = proc.stdout + "\n" + proc.stderr
        self.changed = recap(proc.stdout)

    def tail(self, size=3000):
        """The end of stdout and of stderr, for an assertion's message."""
        return self.stdout[-size:] + "\n--- stderr\n" + self.stderr[-size:]

    def __repr__(self):
        return "PlaybookRun(rc=%s, changed=%s)\n%s" % (self.returncode, self.changed, self.tail(1500))


class Lab:
    """One lab: its state directory and its nodes' addresses ({name: address})."""

    def __init__(self, nodes, directory=None):
        self.dir = directory or os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")
        if not self.dir or not os.path.isdir(self.dir):
            raise RuntimeError("no lab state directory (MOLECULE_EPHEMERAL_DIRECTORY or --lab): %r" % self.dir)
        self.nodes = dict(nodes)
        self.ca = os.path.join(self.dir, "pki", "ca.crt")
        self.inventory = os.path.join(self.dir, "inventory")
        self.ssh_config = os.path.join(self.dir, "ssh_config")
        self.ansible_cfg = os.path.join(self.dir, "ansible.cfg")
        self._hosts = {}
        self._versions = {}

    # --- the lab's files

    def secret(self, name):
        with open(os.path.join(self.dir, "secrets", name), encoding="utf-8") as handle:
            return handle.read().split()[0]

    # --- the nodes, over SSH

    def host(self, name):
        """A testinfra host for a node over SSH; commands run as root through sudo."""
        if name not in self._hosts:
            import testinfra  # only the verify tests need it

            self._hosts[name] = testinfra.get_host("ssh://" + name, ssh_config=self.ssh_config, sudo=True)
        return self._hosts[name]

    def postgresql_version(self, name):
        """The PostgreSQL major installed on a node (its release's own: 15 on bookworm, 17 on trixie)."""
        if name not in self._versions:
            majors = self.run(name, "ls /usr/lib/postgresql").split()
            if len(majors) != 1:
                raise RuntimeError("%s: expected one PostgreSQL major under /usr/lib/postgresql, found %r" % (name, majors))
            self._versions[name] = int(majors[0])
        return self._versions[name]

    def run(self, name, command, check=True, env=None, timeout=None):
        """Run a shell command as root on a node over SSH; its stdout. Environment values
        travel on stdin, never on a command line."""
        script = command
        stdin = None
        if env:
            stdin = "".join("export %s=%s\n" % (key, shlex.quote(value)) for key, value in env.items())
            script = ". /dev/stdin; " + command
        argv = ["ssh", "-F", self.ssh_config, name, "sudo", "/bin/bash", "-c", shlex.quote(script)]
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError("%s: %s failed (rc=%s): %s" % (name, command, proc.returncode, proc.stderr[-2000:]))
        return proc.stdout

    # --- Patroni's REST API

    def api(self, node, path, method="GET", auth=None, body=None, timeout=5):
        """Call a member's REST API over TLS; (status, parsed JSON or text). Connection
        errors (OSError, URLError) reach the caller."""
        request = urllib.request.Request("https://%s:8008%s" % (self.nodes[node], path), method=method)
        if body is not None:
            request.data = json.dumps(body).encode()
            request.add_header("Content-Type", "application/json")
        if auth:
            token = base64.b64encode(("%s:%s" % auth).encode()).decode()
            request.add_header("Authorization", "Basic " + token)
        context = ssl.create_default_context(cafile=self.ca)
        try:
            with urllib.request.urlopen(request, context=context, timeout=timeout) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            status, text = err.code, err.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def cluster(self, members=None, timeout=2):
        """GET /cluster from the first member that answers; None when none does."""
        for node in members or self.nodes:
            try:
                status, body = self.api(node, "/cluster", timeout=timeout)
            except (OSError, urllib.error.URLError):
                continue
            if status == 200 and isinstance(body, dict):
                return body
        return None

    def leader(self, members=None):
        """The running leader's name, or None."""
        state = self.cluster(members) or {"members": []}
        names = [m["name"] for m in state["members"] if m["role"] == "leader" and m["state"] == "running"]
        return names[0] if names else None

    def healthy(self, size, sync_standby=False, members=None):
        """size members: one running leader, the others streaming, all on one timeline (and a
        synchronous standby named, with sync_standby: a sync_standby, or a quorum_standby in quorum mode)."""
        state = self.cluster(members)
        if not state or len(state["members"]) != size:
            return False
        states = sorted(m["state"] for m in state["members"])
        timelines = {m.get("timeline") for m in state["members"]}
        if states != ["running"] + ["streaming"] * (size - 1) or len(timelines) != 1 or None in timelines:
            return False
        return not sync_standby or any(m["role"] in SYNC_ROLES for m in state["members"])

    # --- PostgreSQL through HAProxy

    def through_proxy(self, proxy, port):
        """A connection as the lab user through HAProxy at the address proxy: to PgBouncer on
        5000/5001 (client TLS off), straight to PostgreSQL on 5010/5011 (TLS required, checked
        against self.ca; verify-ca: the certificate names the member, not the proxy)."""
        import psycopg2  # only the tests that connect need it

        return psycopg2.connect(host=proxy, port=port, dbname="postgres", user="lab", password=self.secret("lab"),
                                connect_timeout=3, sslmode="verify-ca" if port in (5010, 5011) else "disable",
                                sslrootcert=self.ca)

    def served_by(self, proxy, port):
        """(in recovery, address) of the server a connection through the proxy reaches."""
        conn = self.through_proxy(proxy, port)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery(), host(inet_server_addr())")
                return cur.fetchone()
        finally:
            conn.close()

    # --- Ansible

    def ansible_env(self):
        """The environment for Ansible on this lab: its ansible.cfg (SSH settings,
        pipelining), plain output, no profiling."""
        env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_STDOUT_CALLBACK="ansible.builtin.default")
        # Molecule's environment enables profile_tasks; an empty value would break Ansible.
        env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
        if os.path.exists(self.ansible_cfg):
            env["ANSIBLE_CONFIG"] = self.ansible_cfg
        return env

    def run_playbook(self, playbook, *args, timeout=900):
        """ansible-playbook on the lab's inventory (playbook: a path, relative to the repo or
        absolute); a PlaybookRun, whatever the exit status."""
        proc = subprocess.run(
            ["ansible-playbook", "-i", self.inventory, os.path.join(REPO, playbook), *args],
            cwd=REPO, env=self.ansible_env(), capture_output=True, text=True, timeout=timeout, check=False)
        return PlaybookRun(proc)

    def run_ansible(self, pattern, *args, timeout=300):
        """An ad-hoc `ansible` command on the lab's inventory; a PlaybookRun."""
        proc = subprocess.run(
            ["ansible", pattern, "-i", self.inventory, *args],
            cwd=REPO, env=self.ansible_env(), capture_output=True, text=True, timeout=timeout, check=False)
        return PlaybookRun(proc)


class AckWriter(threading.Thread):
    """Commits one row at a time (insert, with its id as the only parameter) on connections
    from connect(), and records (monotonic time, id) of every acknowledged commit. After an
    error the connection is dropped and the id is never used again: its outcome is unknown."""

    def __init__(self, connect, insert, first_id=1, pause=0.02, errors_of=(Exception,)):
        super().__init__(daemon=True)
        self.connect = connect
        self.insert = insert
        self.next_id = first_id
        self.pause = pause
        self.errors_of = errors_of
        self.acked = []
        self.errors = []
        self.halt = threading.Event()

    def run(self):
        conn = None
        while not self.halt.is_set():
            try:
                if conn is None:
                    conn = self.connect()
                    conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(self.insert, (self.next_id,))
                self.acked.append((time.monotonic(), self.next_id))
                time.sleep(self.pause)
            except self.errors_of as err:  # pylint: disable=catching-non-exception
                text = str(err).strip()
                self.errors.append(text.splitlines()[0] if text else repr(err))
                self._close(conn)
                conn = None
                time.sleep(0.2)
            self.next_id += 1
        self._close(conn)

    @staticmethod
    def _close(conn):
        if conn is None:
            return
        try:
            conn.close()
        except Exception:  # pylint: disable=broad-except
            pass

    def stop(self, timeout=30):
        self.halt.set()
        self.join(timeout=timeout)

    def count(self):
        return len(self.acked)

    def ids(self):
        return [ack_id for _at, ack_id in self.acked]

    @property
    def last_error(self):
        return self.errors[-1] if self.errors else ""
