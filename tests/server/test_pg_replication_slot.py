# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_replication_slot against a real server. Every claim is checked with an independent query."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import os
import tempfile

import pytest

from .conftest import PASSWORD, PASSWORD_ROLE, background, run_four_steps, run_in_lockstep, run_module

MODULE = 'pg_replication_slot'


def slot_row(cluster, name):
    rows = cluster.query('SELECT slot_name, slot_type, plugin, database, active, active_pid, two_phase, '
                         'restart_lsn::text AS restart_lsn FROM pg_replication_slots WHERE slot_name = %s', (name,))
    return rows[0] if rows else None


def slot_count(cluster):
    return cluster.query('SELECT count(*) AS n FROM pg_replication_slots')[0]['n']


def four_steps(cluster, args, verify_changed, verify_unchanged_before):
    """The four steps (conftest.run_four_steps) of this module on ``cluster``."""
    return run_four_steps(MODULE, cluster.conn_args(**args), verify_changed, verify_unchanged_before)


def test_physical_create_and_drop_four_steps(primary):
    name = 'phys_four'
    assert slot_row(primary, name) is None
    res = four_steps(primary, dict(name=name, immediately_reserve=True),
                     verify_changed=lambda: slot_row(primary, name)['slot_type'] == 'physical' or pytest.fail('no slot'),
                     verify_unchanged_before=lambda: slot_row(primary, name) is None or pytest.fail('created in check mode'))
    row = slot_row(primary, name)
    assert row['slot_type'] == 'physical'
    assert row['restart_lsn'] is not None, 'immediately_reserve=true must reserve WAL'
    assert res['slot']['slot_name'] == name and res['slot']['restart_lsn'] == row['restart_lsn']
    assert res['queries'] == ["SELECT pg_create_physical_replication_slot('%s', true)" % name]
    assert res['diff']['before'] == {'state': 'absent'}
    assert res['diff']['after']['state'] == 'present'

    res = four_steps(primary, dict(name=name, state='absent'),
                     verify_changed=lambda: slot_row(primary, name) is None or pytest.fail('slot still exists'),
                     verify_unchanged_before=lambda: slot_row(primary, name) is not None or pytest.fail('dropped in check mode'))
    assert res['slot'] is None
    assert res['queries'] == ["SELECT pg_drop_replication_slot('%s')" % name]


def test_physical_without_reserve_has_no_restart_lsn(primary):
    name = 'phys_lazy'
    try:
        rc, res = run_module(MODULE, primary.conn_args(name=name))
        assert rc == 0 and res['changed'] is True, res
        row = slot_row(primary, name)
        assert row is not None and row['restart_lsn'] is None
    finally:
        primary.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s', (name,))


def test_logical_create_and_drop_four_steps(primary):
    name = 'logi_four'
    args = dict(name=name, slot_type='logical', login_db='otherdb')
    four_steps(primary, args,
               verify_changed=lambda: slot_row(primary, name) is not None or pytest.fail('no slot'),
               verify_unchanged_before=lambda: slot_row(primary, name) is None or pytest.fail('created in check mode'))
    row = slot_row(primary, name)
    assert (row['slot_type'], row['plugin'], row['database'], row['two_phase']) == ('logical', 'pgoutput', 'otherdb', False)

    # Same slot, asked from another database: refused, names login_db.
    rc, res = run_module(MODULE, primary.conn_args(name=name, slot_type='logical'))
    assert rc != 0 and res['failed']
    assert 'login_db' in res['msg'] and 'otherdb' in res['msg']
    # Another plugin: refused, names the options.
    rc, res = run_module(MODULE, primary.conn_args(plugin='test_decoding', **args))
    assert rc != 0 and 'plugin' in res['msg'] and 'state=absent' in res['msg']
    # two_phase differs: refused.
    rc, res = run_module(MODULE, primary.conn_args(two_phase=True, **args))
    assert rc != 0 and 'two_phase' in res['msg']
    assert slot_row(primary, name) == row

    four_steps(primary, dict(args, state='absent'),
               verify_changed=lambda: slot_row(primary, name) is None or pytest.fail('slot still exists'),
               verify_unchanged_before=lambda: slot_row(primary, name) is not None or pytest.fail('dropped in check mode'))


def test_logical_two_phase_and_plugin(primary):
    name = 'logi_2pc'
    try:
        rc, res = run_module(MODULE, primary.conn_args(name=name, slot_type='logical', plugin='test_decoding', two_phase=True))
        assert rc == 0 and res['changed'], res
        row = slot_row(primary, name)
        assert (row['plugin'], row['two_phase'], row['database']) == ('test_decoding', True, 'postgres')
        # Unset plugin / two_phase are not managed: no conflict, no change.
        rc, res = run_module(MODULE, primary.conn_args(name=name, slot_type='logical'))
        assert rc == 0 and res['changed'] is False, res
    finally:
        primary.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s', (name,))


def test_type_conflict_refused(primary):
    name = 'phys_conflict'
    primary.query('SELECT pg_create_physical_replication_slot(%s)', (name,))
    try:
        before = slot_row(primary, name)
        for check_mode in (True, False):
            rc, res = run_module(MODULE, primary.conn_args(name=name, slot_type='logical'), check_mode=check_mode)
            assert rc != 0 and res['failed'], res
            assert 'exists as a physical slot' in res['msg'] and 'state=absent' in res['msg']
        assert slot_row(primary, name) == before
    finally:
        primary.query('SELECT pg_drop_replication_slot(%s)', (name,))


@pytest.mark.parametrize('name', [
    "bad'name", 'Upper', 'with space', 'x; DROP TABLE t', 'a' * 64, '', 'x"y', 'ü', 'a-b',
])
def test_bad_names_refused_before_touching_server(primary, name):
    before = slot_count(primary)
    for check_mode in (True, False):
        rc, res = run_module(MODULE, primary.conn_args(name=name), check_mode=check_mode)
        assert rc != 0 and res['failed'], res
        assert 'invalid slot name' in res['msg']
    assert slot_count(primary) == before
    assert primary.query("SELECT to_regclass('public.t') IS NOT NULL AS present")[0]['present']


def test_longest_valid_name(primary):
    name = 'a' * 63
    try:
        rc, res = run_module(MODULE, primary.conn_args(name=name))
        assert rc == 0 and res['changed'], res
        assert slot_row(primary, name) is not None
    finally:
        primary.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s', (name,))


@pytest.mark.parametrize('extra, needle', [
    (dict(plugin='pgoutput'), 'plugin is only valid'),
    (dict(two_phase=True), 'two_phase is only valid'),
    (dict(slot_type='logical', immediately_reserve=True), 'immediately_reserve is only valid'),
])
def test_invalid_option_combinations(primary, extra, needle):
    before = slot_count(primary)
    rc, res = run_module(MODULE, primary.conn_args(name='combo', **extra))
    assert rc != 0 and needle in res['msg'], res
    assert slot_count(primary) == before


@pytest.mark.parametrize('extra', [dict(failover=True), dict(failover=False)])
def test_failover_refused_before_17(primary, extra):
    """failover (PostgreSQL 17) is refused on an older server in both modes, naming the option and the version;
    no slot is made."""
    version = primary.query("SELECT current_setting('server_version_num')::int AS v")[0]['v']
    if version >= 170000:
        pytest.skip('PostgreSQL 17 supports failover slots')
    before = slot_count(primary)
    for check_mode in (True, False):
        rc, res = run_module(MODULE, primary.conn_args(name='fo_slot', slot_type='logical', **extra), check_mode=check_mode)
        assert rc != 0 and res['failed'], res
        assert 'failover needs PostgreSQL 17 or later (the server runs %d); nothing was changed' % (version // 10000) \
            in res['msg'], res
        assert res['queries'] == [], res
    assert slot_count(primary) == before and slot_row(primary, 'fo_slot') is None


def test_failover_and_synced_returned_as_null_before_17(primary):
    version = primary.query("SELECT current_setting('server_version_num')::int AS v")[0]['v']
    if version >= 170000:
        pytest.skip('PostgreSQL 17 has the columns')
    try:
        rc, res = run_module(MODULE, primary.conn_args(name='fo_cols', slot_type='logical'))
        assert rc == 0 and res['changed'], res
        assert res['slot']['failover'] is None and res['slot']['synced'] is None, res['slot']
        assert slot_row(primary, 'fo_cols') is not None
    finally:
        primary.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s',
                      ('fo_cols',))


def test_active_slot_drop_refused_then_terminated(primary):
    name = 'phys_active'
    primary.query('SELECT pg_create_physical_replication_slot(%s, true)', (name,))
    waldir = tempfile.mkdtemp(prefix='pgha-receivewal-')
    argv = [primary.tool('pg_receivewal'), '-h', '127.0.0.1', '-p', str(primary.port), '-U', 'postgres',
            '--slot', name, '-D', waldir, '--no-password']
    try:
        with background(argv) as proc:
            row = primary.wait_for(lambda: (slot_row(primary, name) or {}).get('active') and slot_row(primary, name),
                                   what='pg_receivewal to use the slot')
            pid = row['active_pid']
            for check_mode in (True, False):
                rc, res = run_module(MODULE, primary.conn_args(name=name, state='absent'), check_mode=check_mode)
                assert rc != 0 and 'terminate_active=true' in res['msg'], res
            assert slot_row(primary, name)['active'] is True

            rc, res = run_module(MODULE, primary.conn_args(name=name, state='absent', terminate_active=True), check_mode=True)
            assert rc == 0 and res['changed'] is True
            assert res['queries'] == ['SELECT pg_terminate_backend(%d)' % pid, "SELECT pg_drop_replication_slot('%s')" % name]
            assert slot_row(primary, name)['active_pid'] == pid

            rc, res = run_module(MODULE, primary.conn_args(name=name, state='absent', terminate_active=True))
            assert rc == 0 and res['changed'] is True, res
            assert res['queries'][0] == 'SELECT pg_terminate_backend(%d)' % pid
            assert res['queries'][-1] == "SELECT pg_drop_replication_slot('%s')" % name
            assert slot_row(primary, name) is None
            assert not primary.query('SELECT 1 FROM pg_stat_activity WHERE pid = %s', (pid,))
            assert proc is not None
    finally:
        primary.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s '
                      'AND NOT active', (name,))
        for entry in os.listdir(waldir):
            os.unlink(os.path.join(waldir, entry))
        os.rmdir(waldir)


def test_password_never_shown(primary):
    name = 'phys_pw'
    args = dict(name=name, login_user=PASSWORD_ROLE, login_password=PASSWORD, login_host='127.0.0.1', port=primary.port)
    try:
        rc, res = run_module(MODULE, args)
        assert rc == 0 and res['changed'] is True, res
        assert slot_row(primary, name) is not None
        assert PASSWORD not in res['_raw']
        # A failing login: the error must not echo the password either.
        rc, res = run_module(MODULE, dict(args, login_password=PASSWORD + 'wrong'))
        assert rc != 0 and 'unable to connect' in res['msg']
        assert PASSWORD not in res['_raw']
        # A failing statement (type conflict) with password login.
        rc, res = run_module(MODULE, dict(args, slot_type='logical'))
        assert rc != 0 and PASSWORD not in res['_raw']
    finally:
        primary.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s', (name,))


def test_physical_slot_on_standby(primary, standby):
    name = 'cascade_slot'
    four_steps(standby, dict(name=name, immediately_reserve=True),
               verify_changed=lambda: slot_row(standby, name) is not None or pytest.fail('no slot on standby'),
               verify_unchanged_before=lambda: slot_row(standby, name) is None or pytest.fail('created in check mode'))
    assert slot_row(primary, name) is None, 'slots are local to the standby'
    rc, res = run_module(MODULE, standby.conn_args(name=name))
    assert res['slot']['retained_bytes'] is not None and res['slot']['retained_bytes'] >= 0
    four_steps(standby, dict(name=name, state='absent'),
               verify_changed=lambda: slot_row(standby, name) is None or pytest.fail('slot still exists'),
               verify_unchanged_before=lambda: slot_row(standby, name) is not None or pytest.fail('dropped in check mode'))


def test_logical_slot_on_pg15_standby_refused(standby):
    version = standby.query("SELECT current_setting('server_version_num')::int AS v")[0]['v']
    if version >= 160000:
        pytest.skip('logical slots can be created on PostgreSQL 16+ standbys')
    before = slot_count(standby)
    rc, res = run_module(MODULE, standby.conn_args(name='logi_standby', slot_type='logical'))
    assert rc != 0 and 'standby' in res['msg'], res
    assert slot_count(standby) == before


@pytest.mark.parametrize('slot_args', [dict(slot_type='logical', login_db='otherdb'), dict(slot_type='physical')],
                         ids=['logical', 'physical'])
def test_concurrent_identical_runs_converge(primary, slot_args):
    """Five identical runs at once (two AWX jobs, a retried play): all succeed, one slot, one run reports the change;
    the same for five drops at once. The runs go through a proxy that makes them read before any of them writes."""
    name = 'conc_%s' % slot_args['slot_type']
    module_args = primary.conn_args(name=name, **slot_args)
    try:
        for trial in range(2):
            results = run_in_lockstep(primary, MODULE, module_args, runs=5)
            assert all(rc == 0 for rc, res in results), [res.get('msg') for rc, res in results if rc != 0]
            assert [r['slot_name'] for r in primary.query(
                'SELECT slot_name FROM pg_replication_slots WHERE slot_name = %s', (name,))] == [name]
            assert sum(1 for rc, res in results if res['changed']) == 1, 'trial %d: exactly one run creates it' % trial
            row = slot_row(primary, name)
            assert row['slot_type'] == slot_args['slot_type']

            results = run_in_lockstep(primary, MODULE, dict(module_args, state='absent'), runs=5)
            assert all(rc == 0 for rc, res in results), [res.get('msg') for rc, res in results if rc != 0]
            assert slot_row(primary, name) is None
            assert sum(1 for rc, res in results if res['changed']) == 1, 'trial %d: exactly one run drops it' % trial
    finally:
        primary.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s', (name,))
