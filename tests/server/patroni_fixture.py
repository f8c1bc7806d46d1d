# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real, throw-away two-member Patroni 4 cluster on a single-member etcd (v3 API) for the Patroni module tests.

- etcd (Debian's etcd-server, run as the current user) listens on 127.0.3.3; Patroni and PostgreSQL run as the
  ``postgres`` OS user when we are root; member pg1 on 127.0.3.1, member pg2 on 127.0.3.2, every port a free one.
- Patroni comes from PyPI, into a cached venv ``.build/patroni-venv`` built with the system Python (which the
  ``postgres`` user can execute) the first time it is missing.
- The REST API requires basic authentication for requests that change the cluster (``restapi.authentication``);
  ``synchronous_mode: true`` with short ttl/loop_wait/retry_timeout so a switchover completes in seconds.
- Every process started here runs in its own process group and is stopped at the end of the session (and at
  interpreter exit as a last resort); every wait is bounded.

Use it through the ``patroni_cluster`` fixture (import it into the test module).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import atexit
import base64
import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

from .conftest import REPO_ROOT, as_server_user, find_bindir

try:
    from urllib.request import Request, urlopen
    from urllib.error import HTTPError
except ImportError:  # pragma: no cover
    Request = urlopen = HTTPError = None

PATRONI_VENV = os.path.join(REPO_ROOT, '.build', 'patroni-venv')
PATRONI_REQUIREMENT = 'patroni[etcd3,psycopg2-binary]>=4,<5'
SCOPE = 'pgha-test'
API_USER = 'patroni'
API_PASSWORD = 'Api-Pa55word-plugh'
SUPERUSER_PASSWORD = 'Super-Pa55word-frotz'
REPLICATION_PASSWORD = 'Repl-Pa55word-xyzzy'
ETCD_HOST = '127.0.3.3'
MEMBERS = (('pg1', '127.0.3.1'), ('pg2', '127.0.3.2'))
BOOTSTRAP_TIMEOUT = 80
DCS = dict(ttl=20, loop_wait=2, retry_timeout=5, maximum_lag_on_failover=1048576, synchronous_mode=True)


def free_port(host):
    """A free TCP port on ``host``; odd ones only, to keep clear of the lab's fixed even ports."""
    for dummy in range(50):
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port % 2 == 1:
            return port
    raise RuntimeError('no free odd port on %s' % host)


def ensure_patroni_venv(timeout=240):
    """Create the cached Patroni venv when missing (or left half-built); return the path of the ``patroni`` script."""
    patroni = os.path.join(PATRONI_VENV, 'bin', 'patroni')
    done = os.path.join(PATRONI_VENV, '.installed')
    if os.path.exists(done) and os.access(patroni, os.X_OK):
        return patroni
    # The system Python, which the postgres user can execute (a pyenv Python under /root is not reachable).
    python = '/usr/bin/python3' if os.access('/usr/bin/python3', os.X_OK) else shutil.which('python3')
    shutil.rmtree(PATRONI_VENV, ignore_errors=True)
    try:
        subprocess.run([python, '-m', 'venv', PATRONI_VENV], check=True, timeout=timeout, capture_output=True)
        subprocess.run([os.path.join(PATRONI_VENV, 'bin', 'pip'), 'install', '-q', PATRONI_REQUIREMENT], check=True,
                       timeout=timeout, capture_output=True)
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(PATRONI_VENV, ignore_errors=True)
        pytest.skip('cannot install Patroni from PyPI into %s: %s' % (PATRONI_VENV, exc))
    with open(done, 'w') as handle:
        handle.write(PATRONI_REQUIREMENT + '\n')
    return patroni


def http(method, url, body=None, auth=None, timeout=10):
    """Independent REST client for the tests (plain urllib, not the module's code). Returns (status, parsed or text)."""
    data = json.dumps(body).encode() if body is not None else None
    req = Request(url, data=data, method=method)
    if data is not None:
        req.add_header('Content-Type', 'application/json')
    if auth:
        req.add_header('Authorization', 'Basic ' + base64.b64encode(('%s:%s' % auth).encode()).decode())
    try:
        with urlopen(req, timeout=timeout) as resp:
            status, text = resp.status, resp.read().decode()
    except HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


class Process(object):
    """A background process in its own process group, with its output in a log file."""

    def __init__(self, argv, logfile, cwd=None):
        self.argv = argv
        self.logfile = logfile
        self.log = open(logfile, 'ab')
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=30):
        if self.alive():
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
                try:
                    os.killpg(self.proc.pid, sig)
                except OSError:
                    pass
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.log.close()

    def tail(self, lines=30):
        try:
            with open(self.logfile, 'rb') as handle:
                return b''.join(handle.readlines()[-lines:]).decode('utf-8', 'replace')
        except OSError:
            return ''


class PatroniCluster(object):
    """etcd + two Patroni members. ``members`` maps name -> dict(host, pg_port, api_port, api_url, datadir)."""

    def __init__(self):
        self.base = None
        self.etcd = None
        self.patronis = {}
        self.members = {}
        self.bindir = None
        self.etcd_url = None
        self.bootstrap_seconds = None

    # -- helpers used by the tests -------------------------------------------------------------------------------
    @property
    def api_url(self):
        return self.members['pg1']['api_url']

    def module_args(self, **extra):
        args = dict(api_url=self.api_url, api_username=API_USER, api_password=API_PASSWORD)
        args.update(extra)
        return args

    def get(self, path, member='pg1'):
        status, body = http('GET', self.members[member]['api_url'] + path)
        assert status == 200, (path, status, body)
        return body

    def cluster(self):
        """GET /cluster, independently of the modules."""
        return self.get('/cluster')

    def leader(self):
        members = self.cluster()['members']
        leaders = [m['name'] for m in members if m['role'] == 'leader' and m['state'] == 'running']
        return leaders[0] if len(leaders) == 1 else None

    def pg_connect(self, name):
        import psycopg2
        member = self.members[name]
        conn = psycopg2.connect(host=member['host'], port=member['pg_port'], user='postgres', password=SUPERUSER_PASSWORD,
                                dbname='postgres', connect_timeout=5)
        conn.autocommit = True
        return conn

    def pg_query(self, name, text, params=None):
        conn = self.pg_connect(name)
        try:
            with conn.cursor() as cur:
                cur.execute(text, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def in_recovery(self, name):
        return self.pg_query(name, 'SELECT pg_is_in_recovery()')[0][0]

    def wait_healthy(self, timeout=60, leader=None):
        """Wait for one running leader and every other member a streaming sync/replica on the leader's timeline."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                last = self.cluster()
            except (AssertionError, OSError, ValueError):
                time.sleep(0.5)
                continue
            members = last.get('members', [])
            leaders = [m for m in members if m['role'] == 'leader' and m['state'] == 'running']
            if len(members) == len(self.members) and len(leaders) == 1 and (leader is None or leaders[0]['name'] == leader):
                timeline = leaders[0].get('timeline')
                others = [m for m in members if m is not leaders[0]]
                if all(m['state'] == 'streaming' and m['role'] == 'sync_standby' and m.get('timeline') == timeline
                       and m.get('lag') == 0 for m in others):
                    return last
            time.sleep(0.5)
        raise AssertionError('Patroni cluster not healthy after %ss: %s\n%s' % (timeout, json.dumps(last), self.logs()))

    def switchover_requests(self):
        """How many switchover requests the members' Patroni accepted for processing (counted in their logs)."""
        count = 0
        for proc in self.patronis.values():
            proc.log.flush()
            with open(proc.logfile, 'rb') as handle:
                count += handle.read().count(b'received switchover request')
        return count

    def set_tags(self, name, tags, timeout=30):
        """Rewrite a member's tags in its patroni.yml, POST /reload, and wait until GET /cluster shows them."""
        path = os.path.join(self.base, name + '.yml')
        with open(path) as handle:
            config = json.load(handle)
        config['tags'] = tags
        with open(path, 'w') as handle:
            json.dump(config, handle, indent=2)
        status, body = http('POST', self.members[name]['api_url'] + '/reload', body={}, auth=(API_USER, API_PASSWORD))
        assert status == 202, (status, body)
        shown = dict((k, v) for k, v in tags.items() if v)  # Patroni does not publish false tags

        def applied():
            member = [m for m in self.cluster()['members'] if m['name'] == name]
            return member and member[0].get('tags', {}) == shown
        self._wait(applied, timeout, 'tags %s on %s' % (shown, name))

    def logs(self):
        out = []
        if self.etcd:
            out.append('--- etcd\n' + self.etcd.tail(10))
        for name, proc in sorted(self.patronis.items()):
            out.append('--- %s\n%s' % (name, proc.tail(40)))
        return '\n'.join(out)

    # -- life cycle ----------------------------------------------------------------------------------------------
    def start(self):
        started = time.time()
        self.bindir = find_bindir()
        if self.bindir is None:
            pytest.skip('no PostgreSQL server binaries found; install postgresql-15 to run the Patroni tests')
        etcd = shutil.which('etcd')
        if etcd is None:
            pytest.skip('etcd is not installed (Debian package etcd-server)')
        patroni = ensure_patroni_venv()
        self.base = tempfile.mkdtemp(prefix='pgha-patroni-')
        os.chmod(self.base, 0o700)
        if os.geteuid() == 0:
            pw = pwd.getpwnam('postgres')
            os.chown(self.base, pw.pw_uid, pw.pw_gid)

        etcd_client, etcd_peer = free_port(ETCD_HOST), free_port(ETCD_HOST)
        etcd_dir = os.path.join(self.base, 'etcd')
        client_url = 'http://%s:%d' % (ETCD_HOST, etcd_client)
        peer_url = 'http://%s:%d' % (ETCD_HOST, etcd_peer)
        self.etcd_url = client_url
        self.etcd = Process([etcd, '--name', 'etcd1', '--data-dir', etcd_dir, '--listen-client-urls', client_url,
                             '--advertise-client-urls', client_url, '--listen-peer-urls', peer_url,
                             '--initial-advertise-peer-urls', peer_url, '--initial-cluster', 'etcd1=' + peer_url,
                             '--initial-cluster-state', 'new', '--initial-cluster-token', 'pgha-test'],
                            os.path.join(self.base, 'etcd.log'))
        self._wait(lambda: http('GET', client_url + '/health', timeout=2)[0] == 200, 20, 'etcd to answer',
                   tolerate=(OSError,))

        for name, host in MEMBERS:
            pg_port, api_port = free_port(host), free_port(host)
            self.members[name] = dict(host=host, pg_port=pg_port, api_port=api_port,
                                      api_url='http://%s:%d' % (host, api_port),
                                      datadir=os.path.join(self.base, name))
        # pg1 bootstraps the cluster; pg2 starts once pg1 leads (it then clones it with pg_basebackup).
        for index, (name, host) in enumerate(MEMBERS):
            config = self._write_config(name, '%s:%d' % (ETCD_HOST, etcd_client))
            self.patronis[name] = Process(as_server_user([patroni, config]), os.path.join(self.base, name + '.log'),
                                          cwd=self.base)
            if index == 0:
                self._wait(lambda: self._is_leader('pg1'), BOOTSTRAP_TIMEOUT, 'pg1 to bootstrap and lead')
        self.wait_healthy(timeout=max(5, BOOTSTRAP_TIMEOUT - (time.time() - started)))
        self.bootstrap_seconds = round(time.time() - started, 1)
        return self

    def _is_leader(self, name):
        try:
            status, body = http('GET', self.members[name]['api_url'] + '/patroni', timeout=2)
        except OSError:
            return False
        return status == 200 and body.get('role') in ('primary', 'master') and body.get('state') == 'running'

    def _wait(self, predicate, timeout, what, tolerate=()):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for proc in [self.etcd] + list(self.patronis.values()):
                if proc is not None and not proc.alive():
                    raise AssertionError('%s exited while waiting for %s\n%s' % (proc.argv[0], what, self.logs()))
            try:
                if predicate():
                    return
            except tolerate:
                pass
            time.sleep(0.25)
        raise AssertionError('timed out after %ss waiting for %s\n%s' % (timeout, what, self.logs()))

    def _write_config(self, name, etcd_host):
        member = self.members[name]
        host = member['host']
        socket_dir = os.path.join(self.base, 'sock-' + name)
        os.mkdir(socket_dir, 0o700)
        if os.geteuid() == 0:
            pw = pwd.getpwnam('postgres')
            os.chown(socket_dir, pw.pw_uid, pw.pw_gid)
        config = dict(
            scope=SCOPE,
            name=name,
            log=dict(level='INFO'),
            restapi=dict(listen='%s:%d' % (host, member['api_port']), connect_address='%s:%d' % (host, member['api_port']),
                         authentication=dict(username=API_USER, password=API_PASSWORD)),
            etcd3=dict(hosts=[etcd_host], protocol='http'),
            bootstrap=dict(
                dcs=dict(DCS, postgresql=dict(
                    use_pg_rewind=True, use_slots=True,
                    parameters=dict(wal_level='replica', hot_standby='on', max_wal_senders=10, max_replication_slots=10,
                                    wal_keep_size='128MB', fsync='off', synchronous_commit='on',
                                    wal_receiver_status_interval='1s'))),
                initdb=[dict(encoding='UTF8'), dict(locale='C'), 'data-checksums'],
            ),
            postgresql=dict(
                listen='%s:%d' % (host, member['pg_port']),
                connect_address='%s:%d' % (host, member['pg_port']),
                data_dir=member['datadir'],
                bin_dir=self.bindir,
                pgpass=os.path.join(self.base, 'pgpass-' + name),
                authentication=dict(superuser=dict(username='postgres', password=SUPERUSER_PASSWORD),
                                    replication=dict(username='replicator', password=REPLICATION_PASSWORD),
                                    rewind=dict(username='postgres', password=SUPERUSER_PASSWORD)),
                parameters=dict(unix_socket_directories=socket_dir, logging_collector='off'),
                pg_hba=['local all all trust',
                        'host replication replicator 127.0.0.0/8 scram-sha-256',
                        'host all all 127.0.0.0/8 scram-sha-256'],
            ),
            tags=dict(nofailover=False, noloadbalance=False, clonefrom=False, nosync=False),
        )
        path = os.path.join(self.base, name + '.yml')
        with open(path, 'w') as handle:
            json.dump(config, handle, indent=2)  # JSON is YAML
        if os.geteuid() == 0:
            pw = pwd.getpwnam('postgres')
            os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(path, 0o600)
        return path

    def stop(self):
        for name in sorted(self.patronis, reverse=True):
            self.patronis[name].stop(timeout=30)
        # Patroni starts the postmaster in a session of its own: make sure none survived a killed Patroni.
        for member in self.members.values():
            pidfile = os.path.join(member['datadir'], 'postmaster.pid')
            if os.path.exists(pidfile):
                subprocess.run(as_server_user([os.path.join(self.bindir, 'pg_ctl'), '-D', member['datadir'], '-m',
                                               'immediate', '-w', '-t', '30', 'stop']),
                               capture_output=True, timeout=60, check=False)
        if self.etcd is not None:
            self.etcd.stop(timeout=15)
        self.patronis = {}
        self.etcd = None
        if self.base:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None


_CLUSTER = {}


def get_cluster(request):
    """Start the cluster once per session, whichever test module asks first; stop it when the session ends.

    A failed (or skipped) start is remembered and re-raised: the bootstrap is not retried by the next module.
    """
    if 'cluster' not in _CLUSTER:
        cluster = PatroniCluster()
        _CLUSTER['cluster'] = cluster
        atexit.register(cluster.stop)
        request.config.add_cleanup(cluster.stop)
        try:
            cluster.start()
        except BaseException as exc:  # pylint: disable=broad-except  # includes pytest's Skipped
            _CLUSTER['error'] = exc
            cluster.stop()
            raise
    if 'error' in _CLUSTER:
        raise _CLUSTER['error']
    return _CLUSTER['cluster']


@pytest.fixture(scope='session')
def patroni_cluster(request):
    return get_cluster(request)
