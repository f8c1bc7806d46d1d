# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real, throw-away PostgreSQL cluster for the server tests, plus helpers to run modules as Ansible would.

The cluster lives in a temporary directory, listens on 127.0.0.1 on a free port and on a unix socket in
that directory, trusts local connections (test cluster only) and is stopped at the end of the session.
A standby (streaming from the primary through a physical slot) is started on first use.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import contextlib
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

psycopg2 = pytest.importorskip('psycopg2')
import psycopg2.extras  # noqa: E402  pylint: disable=wrong-import-position

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
COLLECTIONS_PATH = os.path.join(REPO_ROOT, '.build', 'collections')
MODULE_PACKAGE = 'ansible_collections.pgha.replication.plugins.modules.'
PASSWORD_ROLE = 'pwuser'
PASSWORD = 'S3cret-Pa55word-xyzzy'
MONITOR_ROLE = 'monitor'
START_TIMEOUT = 60


def find_bindir():
    """Directory holding initdb/pg_ctl/postgres: pg_config --bindir, else the newest /usr/lib/postgresql/*/bin."""
    candidates = []
    pg_config = shutil.which('pg_config')
    if pg_config:
        try:
            out = subprocess.run([pg_config, '--bindir'], capture_output=True, text=True, timeout=30, check=False)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(out.stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass

    def version_key(path):
        try:
            return int(path.split(os.sep)[-2])
        except ValueError:
            return 0

    candidates += sorted(glob.glob('/usr/lib/postgresql/*/bin'), key=version_key, reverse=True)
    for candidate in candidates:
        if all(os.access(os.path.join(candidate, tool), os.X_OK) for tool in ('initdb', 'pg_ctl', 'postgres')):
            return candidate
    return None


def free_port():
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def as_server_user(argv):
    """The server refuses to run as root: run server tools as the postgres OS user when we are root."""
    if os.geteuid() == 0:
        return ['runuser', '-u', 'postgres', '--'] + argv
    return argv


def run_checked(argv, timeout=120):
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if out.returncode != 0:
        raise RuntimeError('%s failed (%s): %s %s' % (argv, out.returncode, out.stdout, out.stderr))
    return out


class Cluster(object):
    """One running PostgreSQL instance."""

    def __init__(self, bindir, base, name, port):
        self.bindir = bindir
        self.base = base
        self.datadir = os.path.join(base, name)
        self.socket_dir = base
        self.logfile = os.path.join(base, name + '.log')
        self.port = port
        self.started = False

    def tool(self, name):
        return os.path.join(self.bindir, name)

    def configure(self, extra=''):
        with open(os.path.join(self.datadir, 'postgresql.conf'), 'a') as conf:
            conf.write(
                "\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"
                "wal_level = logical\nmax_replication_slots = 20\nmax_wal_senders = 20\nhot_standby = on\n"
                "fsync = off\nwal_receiver_status_interval = 1s\nlogging_collector = off\n%s"
                % (self.port, self.socket_dir, extra))
        with open(os.path.join(self.datadir, 'pg_hba.conf'), 'w') as hba:
            # Test cluster only: password auth for the password role, trust for everything else.
            hba.write(
                'local all %(pw)s scram-sha-256\nhost all %(pw)s 127.0.0.1/32 scram-sha-256\n'
                'local all all trust\nhost all all 127.0.0.1/32 trust\n'
                'local replication all trust\nhost replication all 127.0.0.1/32 trust\n' % {'pw': PASSWORD_ROLE})

    def start(self):
        run_checked(as_server_user([self.tool('pg_ctl'), '-D', self.datadir, '-l', self.logfile,
                                    '-w', '-t', str(START_TIMEOUT), 'start']), timeout=START_TIMEOUT + 30)
        self.started = True

    def stop(self):
        if self.started:
            subprocess.run(as_server_user([self.tool('pg_ctl'), '-D', self.datadir, '-m', 'immediate', '-w', '-t', '60', 'stop']),
                           capture_output=True, timeout=90, check=False)
            self.started = False

    def dsn(self, **overrides):
        params = dict(host=self.socket_dir, port=self.port, user='postgres', dbname='postgres')
        params.update(overrides)
        return params

    def connect(self, **overrides):
        conn = psycopg2.connect(**self.dsn(**overrides))
        conn.autocommit = True
        return conn

    def query(self, text, params=None, **overrides):
        """Independent verification query: a fresh connection, rows as dicts."""
        conn = self.connect(**overrides)
        try:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
                cur.execute(text, params)
                return [dict(r) for r in cur.fetchall()] if cur.description else []
        finally:
            conn.close()

    def conn_args(self, **extra):
        """Module connection options for this cluster (unix socket in the temp dir)."""
        args = dict(login_unix_socket=self.socket_dir, port=self.port, login_user='postgres')
        args.update(extra)
        return args

    def wait_for(self, predicate, timeout=30, what='condition'):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError('timed out after %ss waiting for %s' % (timeout, what))


@pytest.fixture(scope='session')
def pg_bindir():
    bindir = find_bindir()
    if bindir is None:
        pytest.skip('no PostgreSQL server binaries found (pg_config --bindir or /usr/lib/postgresql/*/bin); '
                    'install postgresql-15 to run the server tests')
    return bindir


@pytest.fixture(scope='session')
def pg_base():
    base = tempfile.mkdtemp(prefix='pgha-test-')
    if os.geteuid() == 0:
        pw = pwd.getpwnam('postgres')
        os.chown(base, pw.pw_uid, pw.pw_gid)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope='session')
def primary(pg_bindir, pg_base):
    cluster = Cluster(pg_bindir, pg_base, 'primary', free_port())
    run_checked(as_server_user([cluster.tool('initdb'), '-D', cluster.datadir, '-U', 'postgres', '--auth=trust',
                                '-E', 'UTF8', '--locale=C']))
    cluster.configure()
    try:
        cluster.start()
        cluster.query("CREATE ROLE %s LOGIN SUPERUSER PASSWORD '%s'" % (PASSWORD_ROLE, PASSWORD))
        cluster.query('CREATE ROLE %s LOGIN IN ROLE pg_monitor' % MONITOR_ROLE)
        cluster.query('CREATE DATABASE otherdb')
        cluster.query('CREATE TABLE IF NOT EXISTS t (i int)')
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope='session')
def standby(primary, pg_base):
    """A streaming standby of ``primary`` using the physical slot ``test_standby``."""
    cluster = Cluster(primary.bindir, pg_base, 'standby', free_port())
    primary.query("SELECT pg_create_physical_replication_slot('test_standby', true)")
    run_checked(as_server_user([primary.tool('pg_basebackup'), '-h', '127.0.0.1', '-p', str(primary.port), '-U', 'postgres',
                                '-D', cluster.datadir, '-R', '-X', 'stream', '-S', 'test_standby',
                                '--checkpoint=fast']), timeout=180)
    cluster.configure("primary_slot_name = 'test_standby'\n")
    with open(os.path.join(cluster.datadir, 'postgresql.auto.conf'), 'a') as auto:
        auto.write("primary_conninfo = 'host=127.0.0.1 port=%d user=postgres application_name=test_standby'\n" % primary.port)
    try:
        cluster.start()
        primary.wait_for(lambda: primary.query("SELECT 1 FROM pg_stat_replication WHERE application_name = 'test_standby' "
                                               "AND state = 'streaming'"), what='the standby to stream')
        yield cluster
    finally:
        cluster.stop()
        try:
            primary.query("SELECT pg_drop_replication_slot('test_standby')")
        except psycopg2.Error:
            pass


def run_module(module, args, check_mode=False, diff=True, timeout=120):
    """Run a module of the collection the way Ansible does (args file) and return (rc, parsed JSON result)."""
    module_args = dict(args)
    module_args['_ansible_check_mode'] = check_mode
    module_args['_ansible_diff'] = diff
    fd, path = tempfile.mkstemp(suffix='.json', prefix='pgha-args-')
    try:
        with os.fdopen(fd, 'w') as handle:
            json.dump({'ANSIBLE_MODULE_ARGS': module_args}, handle)
        env = dict(os.environ)
        env['PYTHONPATH'] = COLLECTIONS_PATH + (os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
        out = subprocess.run([sys.executable, '-m', MODULE_PACKAGE + module, path], capture_output=True, text=True,
                             timeout=timeout, env=env, cwd=REPO_ROOT, check=False)
    finally:
        os.unlink(path)
    try:
        result = json.loads(out.stdout)
    except ValueError:
        raise AssertionError('module printed no JSON (rc=%s): stdout=%r stderr=%r' % (out.returncode, out.stdout, out.stderr))
    result['_raw'] = out.stdout + out.stderr
    return out.returncode, result


def run_four_steps(module, module_args, verify_changed, verify_unchanged_before, compare=('queries', 'diff'),
                   each=None, check_queries=None):
    """The four steps of every module server test; returns the result of the real run.

    1. check mode: reports the change (``check_queries``, or any statement) and changes nothing -
       ``verify_unchanged_before()`` checks that with an independent read of the server;
    2. apply: reports the change, ``verify_changed()`` sees it on the server, and the ``compare`` keys of the
       result are what check mode predicted;
    3. and 4. check mode, then apply again: no change, no statement, ``diff`` before == after, and the server
       still as ``verify_changed()`` wants it.
    ``each(result)`` runs on every result (for example: no password anywhere in it).
    """
    each = each or (lambda res: None)
    rc, res = run_module(module, module_args, check_mode=True)
    assert rc == 0, res
    assert res['changed'] is True, res
    if check_queries is None:
        assert res['queries'], res
    else:
        assert res['queries'] == check_queries, res
    each(res)
    verify_unchanged_before()
    predicted = [res[key] for key in compare]

    rc, res = run_module(module, module_args)
    assert rc == 0, res
    assert res['changed'] is True, res
    each(res)
    verify_changed()
    assert [res[key] for key in compare] == predicted, 'check mode must predict the real run'
    applied = res

    for check_mode in (True, False):
        rc, res = run_module(module, module_args, check_mode=check_mode)
        assert rc == 0, res
        assert res['changed'] is False, res
        assert res['queries'] == []
        assert res['diff']['before'] == res['diff']['after']
        each(res)
        verify_changed()
    return applied


@pytest.fixture
def module_runner():
    return run_module


@contextlib.contextmanager
def background(argv, stop_timeout=15):
    """Start a client process (pg_receivewal...), always stop it afterwards."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=stop_timeout)
        if proc.stdout:
            proc.stdout.close()


# --- pg_subscription: a second, independent cluster used as a logical replication subscriber ---------------------------

@pytest.fixture(scope='session')
def subscriber(pg_bindir, pg_base):
    """An independent cluster (its own initdb, not a standby) to subscribe to publications of ``primary``."""
    cluster = Cluster(pg_bindir, pg_base, 'subscriber', free_port())
    run_checked(as_server_user([cluster.tool('initdb'), '-D', cluster.datadir, '-U', 'postgres', '--auth=trust',
                                '-E', 'UTF8', '--locale=C']))
    cluster.configure('max_logical_replication_workers = 8\nmax_worker_processes = 16\nwal_retrieve_retry_interval = 1s\n')
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


def run_concurrently(module, args, runs=5, check_mode=False, timeout=180):
    """Start ``runs`` identical runs of a module at the same moment (each its own process, as two AWX jobs would) and
    return their (rc, result) pairs."""
    import threading
    results = [None] * runs
    barrier = threading.Barrier(runs)

    def one(index):
        barrier.wait()
        results[index] = run_module(module, args, check_mode=check_mode, timeout=timeout)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + 30)
    return results


class GatedProxy(object):
    """A TCP proxy to a cluster on 127.0.0.1 that holds the first ``gate`` connections until all of them have arrived
    (or ``gate_timeout`` passed), then forwards every message after ``delay`` seconds.

    Concurrent runs of a module through it start their sessions at the same moment and advance in lockstep, one
    delayed round trip at a time, so that their reads all happen before any of their writes: the race of two AWX jobs,
    made to happen every time instead of now and then.
    """

    def __init__(self, target_port, gate, delay=0.02, gate_timeout=20):
        import threading
        self.target_port = target_port
        self.delay = delay
        self.gate_timeout = gate_timeout
        self.arrived = threading.Semaphore(0)
        self.open = threading.Event()
        self.gate = gate
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.closed = False
        self.threading = threading

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _serve(self, client):
        self.arrived.release()
        self.open.wait(self.gate_timeout)
        server = socket.create_connection(('127.0.0.1', self.target_port))
        for src, dst in ((client, server), (server, client)):
            self.threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                client, dummy = self.listener.accept()
            except OSError:
                return
            self.threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _gatekeeper(self):
        deadline = time.time() + self.gate_timeout
        for dummy in range(self.gate):
            if not self.arrived.acquire(timeout=max(0.1, deadline - time.time())):
                break
        self.open.set()

    def __enter__(self):
        self.threading.Thread(target=self._accept, daemon=True).start()
        self.threading.Thread(target=self._gatekeeper, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.closed = True
        self.open.set()
        self.listener.close()


def run_in_lockstep(cluster, module, args, runs=5, check_mode=False, timeout=180):
    """``runs`` identical runs of a module, connected over TCP through a GatedProxy, so that they race for real."""
    with GatedProxy(cluster.port, runs) as proxy:
        module_args = dict(args, login_host='127.0.0.1', port=proxy.port)
        module_args.pop('login_unix_socket', None)
        return run_concurrently(module, module_args, runs=runs, check_mode=check_mode, timeout=timeout)
