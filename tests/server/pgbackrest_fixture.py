# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real pgBackRest stanza with two backups, for the pgbackrest_info server tests.

Its own throw-away PostgreSQL (conftest's ``Cluster``) archives WAL with ``pgbackrest archive-push`` into a posix
repository in a temporary directory, encrypted (aes-256-cbc, passphrase ``PASSPHRASE``) and compressed with zst.
The fixture runs ``stanza-create``, a full backup and an incremental backup, as the postgres OS user when we are
root: pgBackRest 2.45 does not refuse root, but files it writes as root (backup.info, logs) are unreadable or
unwritable for the postgres user afterwards, which breaks every later command.
Import the ``pgbackrest_stanza`` fixture into a test module to use it.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import pwd
import shutil
import stat
import tempfile

import pytest

from .conftest import Cluster, as_server_user, free_port, run_checked

PGBACKREST_CANDIDATES = ('/usr/bin/pgbackrest', '/usr/local/bin/pgbackrest')
PASSPHRASE = 'pgBackRest-Cipher-Passphrase-3f1c9a77e2'
STANZA = 'test'

CONFIG_TEMPLATE = u"""\
# pgbackrest.conf for the pgbackrest_info tests - written by tests/server/pgbackrest_fixture.py
[global]
repo1-path=%(base)s/repo
repo1-cipher-type=aes-256-cbc
repo1-cipher-pass=%(passphrase)s
repo1-retention-full=2
compress-type=zst
log-path=%(base)s/log
lock-path=%(base)s/lock
spool-path=%(base)s/spool
log-level-console=warn
log-level-file=info
start-fast=y
archive-timeout=30

[%(stanza)s]
pg1-path=%(datadir)s
pg1-port=%(port)d
pg1-socket-path=%(base)s
pg1-user=postgres
"""

# Runs pgBackRest as the postgres OS user: what `become_user: postgres` does in a playbook. The module itself runs
# as root in these tests (the test venv is not readable by postgres), so it gets this wrapper as its `binary`.
WRAPPER_TEMPLATE = u"""\
#!/bin/sh
exec runuser -u postgres -- %(binary)s "$@"
"""


def find_pgbackrest():
    for candidate in PGBACKREST_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return shutil.which('pgbackrest')


class Stanza(object):
    """A stanza of a running cluster, its configuration and its repository."""

    def __init__(self, binary, base, cluster):
        self.binary = binary
        self.base = base
        self.cluster = cluster
        self.name = STANZA
        self.config = os.path.join(base, 'pgbackrest.conf')
        self.repo = os.path.join(base, 'repo')
        self.passphrase = PASSPHRASE
        self.wrapper = os.path.join(base, 'pgbackrest-as-postgres')

    def write_config(self):
        with open(self.config, 'w') as handle:
            handle.write(CONFIG_TEMPLATE % dict(base=self.base, passphrase=self.passphrase, stanza=self.name,
                                                datadir=self.cluster.datadir, port=self.cluster.port))
        os.chmod(self.config, stat.S_IRUSR | stat.S_IWUSR)
        for directory in ('log', 'lock', 'spool'):
            os.mkdir(os.path.join(self.base, directory))
        if os.geteuid() == 0:
            pw = pwd.getpwnam('postgres')
            for path in (self.config, os.path.join(self.base, 'log'), os.path.join(self.base, 'lock'),
                         os.path.join(self.base, 'spool')):
                os.chown(path, pw.pw_uid, pw.pw_gid)
            with open(self.wrapper, 'w') as handle:
                handle.write(WRAPPER_TEMPLATE % dict(binary=self.binary))
            os.chmod(self.wrapper, stat.S_IRWXU)

    @property
    def module_binary(self):
        """The `binary` option for the module: pgBackRest as the postgres OS user."""
        return self.wrapper if os.geteuid() == 0 else self.binary

    def archive_command(self):
        return "%s --config=%s --stanza=%s archive-push %%p" % (self.binary, self.config, self.name)

    def run(self, *args, **kwargs):
        """Run a pgBackRest command for the stanza as the server user; return its stdout."""
        argv = as_server_user([self.binary, '--config=%s' % self.config, '--stanza=%s' % self.name] + list(args))
        return run_checked(argv, timeout=kwargs.get('timeout', 120)).stdout

    def module_args(self, **extra):
        args = dict(config=self.config, stanza=self.name, binary=self.module_binary)
        args.update(extra)
        return args


@pytest.fixture(scope='module')
def pgbackrest_binary():
    binary = find_pgbackrest()
    if binary is None:
        pytest.skip('pgBackRest is not installed; install the pgbackrest package to run the pgbackrest_info tests')
    return binary


@pytest.fixture(scope='module')
def pgbackrest_stanza(pg_bindir, pgbackrest_binary):
    """A running PostgreSQL archiving into an encrypted pgBackRest repository that holds a full and an incr backup."""
    base = tempfile.mkdtemp(prefix='pgha-pgbackrest-')
    if os.geteuid() == 0:
        pw = pwd.getpwnam('postgres')
        os.chown(base, pw.pw_uid, pw.pw_gid)
    cluster = Cluster(pg_bindir, base, 'pg', free_port())
    stanza = Stanza(pgbackrest_binary, base, cluster)
    try:
        run_checked(as_server_user([cluster.tool('initdb'), '-D', cluster.datadir, '-U', 'postgres', '--auth=trust',
                                    '-E', 'UTF8', '--locale=C']))
        stanza.write_config()
        cluster.configure("archive_mode = on\narchive_command = '%s'\nmax_wal_size = 64MB\n"
                          % stanza.archive_command())
        cluster.start()
        stanza.run('stanza-create')
        stanza.run('--type=full', 'backup')
        cluster.query('CREATE TABLE t AS SELECT generate_series(1, 10000) AS i')
        stanza.run('--type=incr', 'backup')
        yield stanza
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
