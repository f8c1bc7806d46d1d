# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pgbouncer_pool against a real PgBouncer in front of the real PostgreSQL of conftest.py.

Every claim is checked independently: the file's bytes, SHOW DATABASES through our own admin
connection, and a query through PgBouncer.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import stat

import pytest

from .conftest import PASSWORD, PASSWORD_ROLE, run_four_steps, run_module
from .pgbouncer_fixture import pgbouncer  # noqa: F401  pylint: disable=unused-import  # the fixture

MODULE = 'pgbouncer_pool'


def ini_lines(bouncer, name):
    """The [databases] lines of ``name`` in the file, read independently of the module."""
    found = []
    section = None
    for line in bouncer.read_ini().decode('utf-8').splitlines():
        stripped = line.strip()
        if stripped.startswith('['):
            section = stripped
        elif section == '[databases]' and stripped.split('=')[0].strip() == name:
            found.append(stripped)
    return found


def four_steps(bouncer, args, verify_changed, verify_unchanged_before):
    """The four steps (conftest.run_four_steps): check mode leaves the file as it was byte for byte and would only
    RELOAD; after the real run the file stays the same through the last two steps."""
    before_bytes = bouncer.read_ini()
    after = {}

    def unchanged_before():
        assert bouncer.read_ini() == before_bytes, 'check mode must not write the file'
        verify_unchanged_before()

    def changed():
        verify_changed()
        now = bouncer.read_ini()
        assert after.setdefault('bytes', now) == now

    return run_four_steps(MODULE, bouncer.conn_args(**args), changed, unchanged_before,
                          compare=('queries', 'diff', 'entry'), check_queries=['RELOAD'])


def test_present_and_absent_four_steps(pgbouncer, primary):
    bouncer = pgbouncer
    name = 'app1'
    original = bouncer.read_ini()
    mode_before = stat.S_IMODE(os.stat(bouncer.ini).st_mode)
    owner_before = (os.stat(bouncer.ini).st_uid, os.stat(bouncer.ini).st_gid)
    args = dict(name=name, host='127.0.0.1', port=primary.port, dbname='otherdb', pool_mode='transaction', pool_size=5,
                reserve_pool=1, max_db_connections=10, connect_query="SELECT 'x y'", timezone='UTC')

    def present():
        assert ini_lines(bouncer, name) == [
            "app1 = dbname=otherdb host=127.0.0.1 port=%d pool_mode=transaction pool_size=5 reserve_pool=1 "
            "max_db_connections=10 connect_query='SELECT ''x y''' timezone=UTC" % primary.port]
        row = bouncer.databases().get(name)
        assert row is not None, 'PgBouncer does not run the database'
        assert (row['host'], row['port'], row['database'], row['pool_mode'], row['pool_size'], row['reserve_pool'],
                row['max_connections'], row['force_user']) == ('127.0.0.1', primary.port, 'otherdb', 'transaction', 5, 1, 10, None)
        assert bouncer.select_one(name) == (1, 'otherdb', 'postgres')

    def missing():
        assert ini_lines(bouncer, name) == []
        assert name not in bouncer.databases()

    res = four_steps(bouncer, args, verify_changed=present, verify_unchanged_before=missing)
    assert res['diff'] == {'before': '', 'after': ini_lines(bouncer, name)[0]}
    assert res['database']['name'] == name and res['database']['pool_size'] == 5
    assert res['restart_required'] is False and res['restart_reason'] is None
    # Only our line was added; every other byte is where it was.
    assert bouncer.read_ini().replace((ini_lines(bouncer, name)[0] + '\n').encode(), b'', 1) == original
    assert stat.S_IMODE(os.stat(bouncer.ini).st_mode) == mode_before
    assert (os.stat(bouncer.ini).st_uid, os.stat(bouncer.ini).st_gid) == owner_before
    assert not [f for f in os.listdir(bouncer.base) if f.endswith('.tmp')]

    res = four_steps(bouncer, dict(name=name, state='absent'), verify_changed=missing, verify_unchanged_before=present)
    assert res['database'] is None and res['entry'] == ''
    assert res['diff']['after'] == ''
    assert bouncer.read_ini() == original
    assert bouncer.select_one('keep') == (1, 'postgres', 'postgres'), 'the other entry must still work'


def test_change_is_applied_on_reload(pgbouncer, primary):
    bouncer = pgbouncer
    name = 'app2'
    base = dict(name=name, host='127.0.0.1', port=primary.port, dbname='postgres')
    try:
        rc, res = run_module(MODULE, bouncer.conn_args(pool_size=3, **base))
        assert rc == 0 and res['changed'], res
        # A client holding a server connection while the entry changes (session pool mode).
        held = bouncer.connect_through(name)
        try:
            with held.cursor() as cur:
                cur.execute('SELECT 1')
            rc, res = run_module(MODULE, bouncer.conn_args(pool_size=4, pool_mode='session', min_pool_size=0,
                                                           **dict(base, host=primary.socket_dir)))
            assert rc == 0 and res['changed'] and res['queries'] == ['RELOAD'], res
            assert res['restart_required'] is False
            row = bouncer.databases()[name]
            assert (row['host'], row['pool_size'], row['pool_mode']) == (primary.socket_dir, 4, 'session')
            assert res['database'] == row
            # The held server connection is kept until released (close_needed), the client still works.
            with held.cursor() as cur:
                cur.execute('SELECT 2')
                assert cur.fetchone() == (2,)
            servers = [s for s in bouncer.admin('SHOW SERVERS') if s['database'] == name]
            assert servers and all(s['close_needed'] == 1 for s in servers if s['addr'] == '127.0.0.1')
        finally:
            held.close()
        assert bouncer.select_one(name) == (1, 'postgres', 'postgres')
    finally:
        run_module(MODULE, bouncer.conn_args(name=name, state='absent'))
    assert name not in bouncer.databases()


def test_forced_user_removal_needs_restart(pgbouncer, primary):
    bouncer = pgbouncer
    name = 'forced'
    base = dict(name=name, host='127.0.0.1', port=primary.port, dbname='postgres')
    try:
        rc, res = run_module(MODULE, bouncer.conn_args(user='monitor', **base))
        assert rc == 0 and res['changed'] and res['restart_required'] is False, res
        assert bouncer.databases()[name]['force_user'] == 'monitor'
        assert bouncer.select_one(name)[2] == 'monitor'

        # Predicted in check mode, then measured: PgBouncer 1.18 keeps the forced user on reload.
        rc, res = run_module(MODULE, bouncer.conn_args(**base), check_mode=True)
        assert rc == 0 and res['changed'] and res['restart_required'] is True, res
        rc, res = run_module(MODULE, bouncer.conn_args(**base))
        assert rc == 0 and res['changed'] and res['queries'] == ['RELOAD'], res
        assert res['restart_required'] is True
        assert 'restart' in res['restart_reason'] and 'monitor' in res['restart_reason']
        assert ini_lines(bouncer, name) == ['forced = dbname=postgres host=127.0.0.1 port=%d' % primary.port]
        assert bouncer.databases()[name]['force_user'] == 'monitor'
        assert bouncer.select_one(name)[2] == 'monitor'
        # Nothing a reload can fix: no RELOAD loop, but the restart is still reported.
        rc, res = run_module(MODULE, bouncer.conn_args(**base))
        assert rc == 0 and res['changed'] is False and res['queries'] == [] and res['restart_required'] is True, res
    finally:
        run_module(MODULE, bouncer.conn_args(name=name, state='absent'))
    assert name not in bouncer.databases()


def test_password_never_shown(pgbouncer, primary):
    bouncer = pgbouncer
    name = 'secret'
    secret = "p w'd-S3cret-xyzzy-42"
    primary.query("ALTER ROLE %s PASSWORD %%s" % PASSWORD_ROLE, (secret,))
    args = dict(name=name, host='127.0.0.1', port=primary.port, dbname='postgres', user=PASSWORD_ROLE, password=secret)
    outputs = []
    try:
        for check_mode in (True, False, False):
            rc, res = run_module(MODULE, bouncer.conn_args(**args), check_mode=check_mode)
            assert rc == 0, res
            outputs.append(res['_raw'])
        assert 'password=********' in res['entry'] and 'password=********' in res['diff']['after']
        # The password reached the file, quoted, and works (the role uses scram-sha-256).
        assert ini_lines(bouncer, name) == [
            "secret = dbname=postgres host=127.0.0.1 port=%d user=%s password='p w''d-S3cret-xyzzy-42'"
            % (primary.port, PASSWORD_ROLE)]
        assert bouncer.select_one(name) == (1, 'postgres', PASSWORD_ROLE)

        # Another password: the old one, not known to Ansible, must not show either (diff before).
        rc, res = run_module(MODULE, bouncer.conn_args(**dict(args, password='other-Pa55-zzz')), check_mode=True)
        assert rc == 0 and res['changed'] and 'password=********' in res['diff']['before'], res
        outputs.append(res['_raw'])
        # A bad value next to the password: the error does not show it.
        rc, res = run_module(MODULE, bouncer.conn_args(**dict(args, host='a\nb')))
        assert rc != 0 and 'control character' in res['msg'], res
        outputs.append(res['_raw'])
        rc, res = run_module(MODULE, bouncer.conn_args(name=name, state='absent'))
        assert rc == 0 and res['changed'] and 'password=********' in res['diff']['before'], res
        outputs.append(res['_raw'])
        for raw in outputs:
            assert secret not in raw and "p w''d" not in raw and 'xyzzy-42' not in raw
    finally:
        primary.query("ALTER ROLE %s PASSWORD %%s" % PASSWORD_ROLE, (PASSWORD,))
        run_module(MODULE, bouncer.conn_args(name=name, state='absent'))
    assert ini_lines(bouncer, name) == []


def test_pause_and_resume(pgbouncer):
    bouncer = pgbouncer
    name = 'keep'

    def paused():
        return bouncer.databases()[name]['paused']

    assert paused() == 0
    for state, command, before, after in (('paused', 'PAUSE keep', 0, 1), ('resumed', 'RESUME keep', 1, 0)):
        file_bytes = bouncer.read_ini()
        rc, res = run_module(MODULE, bouncer.conn_args(name=name, state=state), check_mode=True)
        assert rc == 0 and res['changed'] is True and res['queries'] == [command], res
        assert paused() == before
        rc, res = run_module(MODULE, bouncer.conn_args(name=name, state=state))
        assert rc == 0 and res['changed'] is True and res['queries'] == [command], res
        assert paused() == after and res['database']['paused'] == after
        for check_mode in (True, False):
            rc, res = run_module(MODULE, bouncer.conn_args(name=name, state=state), check_mode=check_mode)
            assert rc == 0 and res['changed'] is False and res['queries'] == [], res
        assert paused() == after
        assert bouncer.read_ini() == file_bytes, 'pause/resume must not touch the file'
    assert bouncer.select_one(name)[0] == 1


def test_pause_unknown_database_fails(pgbouncer):
    rc, res = run_module(MODULE, pgbouncer.conn_args(name='nosuchdb', state='paused'))
    assert rc != 0 and 'state=present' in res['msg'], res


def test_pause_timeout_resumes(pgbouncer):
    bouncer = pgbouncer
    held = bouncer.connect_through('keep')
    try:
        with held.cursor() as cur:
            cur.execute('SELECT 1')  # session pool mode: the client now holds a server connection
        rc, res = run_module(MODULE, bouncer.conn_args(name='keep', state='paused', wait_timeout=2))
        assert rc != 0 and 'did not complete within wait_timeout=2s' in res['msg'], res
        assert res['queries'] == ['PAUSE keep', 'RESUME keep']
        assert bouncer.databases()['keep']['paused'] == 0
        with held.cursor() as cur:
            cur.execute('SELECT 3')
            assert cur.fetchone() == (3,)
    finally:
        held.close()


def test_reload_false_then_pending_change_is_reloaded(pgbouncer, primary):
    bouncer = pgbouncer
    name = 'later'
    args = dict(name=name, host='127.0.0.1', port=primary.port, dbname='postgres')
    try:
        rc, res = run_module(MODULE, bouncer.conn_args(reload=False, **args))
        assert rc == 0 and res['changed'] and res['queries'] == [] and res['database'] is None, res
        assert len(ini_lines(bouncer, name)) == 1
        assert name not in bouncer.databases()
        # The file is right but PgBouncer does not run it yet: reloading is the change.
        rc, res = run_module(MODULE, bouncer.conn_args(**args), check_mode=True)
        assert rc == 0 and res['changed'] and res['queries'] == ['RELOAD'] and res['diff']['before'] == res['diff']['after'], res
        assert name not in bouncer.databases()
        rc, res = run_module(MODULE, bouncer.conn_args(**args))
        assert rc == 0 and res['changed'] and res['queries'] == ['RELOAD'], res
        assert bouncer.databases()[name]['port'] == primary.port
        rc, res = run_module(MODULE, bouncer.conn_args(**args))
        assert rc == 0 and res['changed'] is False, res
    finally:
        run_module(MODULE, bouncer.conn_args(name=name, state='absent'))


def test_reload_rejected_by_pgbouncer_fails_clearly(pgbouncer, primary):
    bouncer = pgbouncer
    original = bouncer.read_ini()
    # A line PgBouncer refuses (unknown parameter) stops its loading; the entry after it is never loaded.
    broken = original.replace(b'keep = host=', b'broken = bogus=1\nkeep = host=', 1)
    with open(bouncer.ini, 'wb') as handle:
        handle.write(broken)
    try:
        rc, res = run_module(MODULE, bouncer.conn_args(name='afterbroken', host='127.0.0.1', port=primary.port))
        assert rc != 0 and 'after RELOAD' in res['msg'] and 'afterbroken' in res['msg'], res
        assert 'written to' in res['msg'] and res['queries'] == ['RELOAD']
        assert 'afterbroken' not in bouncer.databases()
    finally:
        with open(bouncer.ini, 'wb') as handle:
            handle.write(original)
        bouncer.admin('RELOAD')
    assert 'keep' in bouncer.databases()


@pytest.mark.parametrize('args, needle', [
    (dict(name='with space'), 'invalid name'),
    (dict(name="quo'te"), 'invalid name'),
    (dict(name='dq"x'), 'invalid name'),
    (dict(name='new\nline'), 'invalid name'),
    (dict(name='pgbouncer'), 'reserved'),
    (dict(name='bad', pool_mode='invalid'), 'pool_mode'),
    (dict(name='bad', pool_size=-1), 'pool_size must be 0 or more'),
    (dict(name='bad', min_pool_size=-2), 'min_pool_size must be 0 or more'),
    (dict(name='bad', reserve_pool=-1), 'reserve_pool must be 0 or more'),
    (dict(name='bad', max_db_connections=-1), 'max_db_connections must be 0 or more'),
    (dict(name='bad', connect_query='SELECT 1\n[pgbouncer]'), 'control character'),
    (dict(name='bad', dbname=''), 'must not be empty'),
    (dict(name='keep', state='absent', host='x'), 'only valid with state=present'),
])
def test_bad_input_changes_nothing(pgbouncer, args, needle):
    bouncer = pgbouncer
    before = bouncer.read_ini()
    databases = bouncer.databases()
    for check_mode in (True, False):
        rc, res = run_module(MODULE, bouncer.conn_args(**args), check_mode=check_mode)
        assert rc != 0 and res['failed'], res
        assert needle in res['msg'], res
    assert bouncer.read_ini() == before
    assert set(bouncer.databases()) == set(databases)


def test_unreachable_pgbouncer_fails_before_writing(pgbouncer, primary):
    bouncer = pgbouncer
    before = bouncer.read_ini()
    args = bouncer.conn_args(name='unreach', host='127.0.0.1', port=primary.port, login_port=1, connect_timeout=3)
    rc, res = run_module(MODULE, args)
    assert rc != 0 and 'unable to connect to the pgbouncer admin console' in res['msg'], res
    assert bouncer.read_ini() == before


def test_wrong_admin_password_not_shown(pgbouncer):
    bouncer = pgbouncer
    secret = 'Admin-Secret-qwerty-987'
    args = dict(login_host='127.0.0.1', login_port=bouncer.port, login_user='nosuchuser', login_password=secret,
                name='keep', state='paused', config_file=bouncer.ini)
    rc, res = run_module(MODULE, args)
    assert rc != 0 and 'admin console' in res['msg'], res
    assert secret not in res['_raw']


def test_missing_config_file(pgbouncer):
    rc, res = run_module(MODULE, pgbouncer.conn_args(name='x1', host='h', config_file=pgbouncer.ini + '.missing'))
    assert rc != 0 and 'does not exist' in res['msg'], res
    assert not os.path.exists(pgbouncer.ini + '.missing')
