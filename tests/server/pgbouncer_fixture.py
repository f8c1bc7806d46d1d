# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real, throw-away PgBouncer in front of the ``primary`` fixture of conftest.py.

It runs in the foreground as a child process (as the postgres OS user when we are root), with its
configuration, unix socket, log and pid file in a temporary directory; it listens on 127.0.0.1 on a free
port, trusts its clients (test only) and lets ``postgres`` use the admin console. Import the ``pgbouncer``
fixture into a test module to use it.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from .conftest import as_server_user, free_port, psycopg2

PGBOUNCER_CANDIDATES = ('/usr/sbin/pgbouncer', '/usr/bin/pgbouncer')
START_TIMEOUT = 30
STOP_TIMEOUT = 15

INI_TEMPLATE = u"""\
;; pgbouncer.ini for the pgbouncer_pool tests - written by tests/server/pgbouncer_fixture.py
[databases]
; examples, commented out:
; foodb = host=localhost dbname=bazdb
keep = host=127.0.0.1 port=%(pg_port)d dbname=postgres

[users]

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %(port)d
unix_socket_dir = %(base)s
auth_type = trust
auth_file = %(base)s/userlist.txt
admin_users = postgres
pool_mode = session
default_pool_size = 20
logfile = %(base)s/pgbouncer.log
pidfile = %(base)s/pgbouncer.pid
server_check_delay = 0
"""


def find_pgbouncer():
    for candidate in PGBOUNCER_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which('pgbouncer')


class Bouncer(object):
    """One running PgBouncer."""

    def __init__(self, binary, base, port, primary):
        self.binary = binary
        self.base = base
        self.port = port
        self.primary = primary
        self.ini = os.path.join(base, 'pgbouncer.ini')
        self.log = os.path.join(base, 'pgbouncer.log')
        self.pidfile = os.path.join(base, 'pgbouncer.pid')
        self.proc = None

    def write_config(self):
        with open(self.ini, 'w') as handle:
            handle.write(INI_TEMPLATE % dict(pg_port=self.primary.port, port=self.port, base=self.base))
        with open(os.path.join(self.base, 'userlist.txt'), 'w') as handle:
            handle.write('"postgres" ""\n"monitor" ""\n')
        if os.geteuid() == 0:
            pw = pwd.getpwnam('postgres')
            for path in (self.base, self.ini, os.path.join(self.base, 'userlist.txt')):
                os.chown(path, pw.pw_uid, pw.pw_gid)
            os.chmod(self.ini, 0o640)

    def start(self):
        self.proc = subprocess.Popen(as_server_user([self.binary, self.ini]), stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        deadline = time.time() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                output = self.proc.stdout.read().decode('utf-8', 'replace') if self.proc.stdout else ''
                raise RuntimeError('pgbouncer exited with %s: %s' % (self.proc.returncode, output))
            try:
                self.admin('SHOW VERSION')
                return
            except psycopg2.Error:
                if time.time() >= deadline:
                    raise RuntimeError('pgbouncer did not accept connections within %ss' % START_TIMEOUT)
                time.sleep(0.2)

    def stop(self):
        if self.proc is None:
            return
        # runuser forwards the signal to pgbouncer; SIGTERM is PgBouncer's immediate shutdown.
        pid = None
        try:
            with open(self.pidfile) as handle:
                pid = int(handle.read().strip())
        except (IOError, OSError, ValueError):
            pass
        for target in (pid, self.proc.pid):
            if target:
                try:
                    os.kill(target, signal.SIGTERM)
                except OSError:
                    pass
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            self.proc.wait(timeout=STOP_TIMEOUT)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def admin(self, command):
        """An admin console command through a fresh connection of our own; rows as dicts."""
        conn = psycopg2.connect(host=self.base, port=self.port, user='postgres', dbname='pgbouncer', connect_timeout=5)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(command)
                if cur.description is None:
                    return []
                names = [c[0] for c in cur.description]
                return [dict(zip(names, r)) for r in cur.fetchall()]
        finally:
            conn.close()

    def databases(self):
        """SHOW DATABASES by name."""
        return dict((r['name'], r) for r in self.admin('SHOW DATABASES'))

    def connect_through(self, dbname, user='postgres'):
        conn = psycopg2.connect(host='127.0.0.1', port=self.port, user=user, dbname=dbname, connect_timeout=5)
        conn.autocommit = True
        return conn

    def select_one(self, dbname):
        """Run SELECT 1 through PgBouncer on alias ``dbname``; return (result, current_database, current_user)."""
        conn = self.connect_through(dbname)
        try:
            with conn.cursor() as cur:
                cur.execute('SELECT 1, current_database(), current_user')
                return cur.fetchone()
        finally:
            conn.close()

    def read_ini(self):
        with open(self.ini, 'rb') as handle:
            return handle.read()

    def conn_args(self, **extra):
        """Module options to reach this PgBouncer's admin console and edit its file."""
        args = dict(login_unix_socket=self.base, login_port=self.port, login_user='postgres', config_file=self.ini)
        args.update(extra)
        return args


@pytest.fixture(scope='module')
def pgbouncer(primary):
    binary = find_pgbouncer()
    if binary is None:
        pytest.skip('pgbouncer is not installed (scripts/host-deps.sh installs it)')
    base = tempfile.mkdtemp(prefix='pgha-pgbouncer-')
    bouncer = Bouncer(binary, base, free_port(), primary)
    try:
        bouncer.write_config()
        bouncer.start()
        yield bouncer
    finally:
        bouncer.stop()
        shutil.rmtree(base, ignore_errors=True)
