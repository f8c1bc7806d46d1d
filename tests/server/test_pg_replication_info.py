# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_replication_info against a real primary and standby, checked with independent queries."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import shutil
import tempfile

from .conftest import MONITOR_ROLE, PASSWORD, PASSWORD_ROLE, background, run_module

MODULE = 'pg_replication_info'


def by_name(items, key, value):
    matches = [item for item in items if item[key] == value]
    assert len(matches) == 1, (value, items)
    return matches[0]


def generate_wal(cluster):
    cluster.query('INSERT INTO t SELECT generate_series(1, 5000)')
    cluster.query('SELECT pg_switch_wal()')
    cluster.query('INSERT INTO t SELECT generate_series(1, 5000)')


def test_primary_facts_and_inactive_retaining_slot(primary):
    name = 'info_reserved'
    primary.query('SELECT pg_create_physical_replication_slot(%s, true)', (name,))
    primary.query('SELECT pg_create_physical_replication_slot(%s)', ('info_lazy',))
    try:
        generate_wal(primary)
        for check_mode in (False, True):
            rc, res = run_module(MODULE, primary.conn_args(), check_mode=check_mode)
            assert rc == 0, res
            assert res['changed'] is False
            assert res['role'] == 'primary' and res['standby'] is None
            control = primary.query('SELECT system_identifier::text AS s FROM pg_control_system()')[0]
            assert res['system_identifier'] == control['s']
            assert res['server_version_num'] == primary.query("SELECT current_setting('server_version_num')::int AS v")[0]['v']
            assert res['timeline'] == 1
            assert res['synchronous_commit'] == 'on' and res['synchronous_standby_names'] == ''

            slot = by_name(res['slots'], 'slot_name', name)
            live = primary.query('SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained, '
                                 'restart_lsn::text AS restart_lsn, active FROM pg_replication_slots WHERE slot_name = %s',
                                 (name,))[0]
            assert slot['restart_lsn'] == live['restart_lsn']
            assert live['retained'] > 0 and 0 < slot['retained_bytes'] <= live['retained']
            assert slot['active'] is False and slot['inactive_retaining'] is True
            assert slot['wal_status'] == 'reserved'

            lazy = by_name(res['slots'], 'slot_name', 'info_lazy')
            assert lazy['restart_lsn'] is None and lazy['retained_bytes'] is None
            assert lazy['inactive_retaining'] is False
    finally:
        primary.query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                      "WHERE slot_name IN ('info_reserved', 'info_lazy')")


def test_pg_receivewal_client_listed_as_standby(primary):
    name = 'info_receivewal'
    primary.query('SELECT pg_create_physical_replication_slot(%s, true)', (name,))
    waldir = tempfile.mkdtemp(prefix='pgha-receivewal-')
    argv = [primary.tool('pg_receivewal'), '-h', '127.0.0.1', '-p', str(primary.port), '-U', 'postgres',
            '--slot', name, '-D', waldir, '--no-password', '--status-interval=1', '--synchronous']
    try:
        with background(argv):
            target = primary.query('SELECT pg_current_wal_lsn()::text AS lsn')[0]['lsn']
            primary.wait_for(lambda: primary.query("SELECT 1 FROM pg_stat_replication WHERE application_name = 'pg_receivewal' "
                                                   "AND state = 'streaming' AND flush_lsn >= %s::pg_lsn", (target,)),
                             what='pg_receivewal to stream and flush')
            rc, res = run_module(MODULE, primary.conn_args())
            assert rc == 0, res
            live = primary.query("SELECT pid FROM pg_stat_replication WHERE application_name = 'pg_receivewal'")[0]
            client = by_name(res['standbys'], 'application_name', 'pg_receivewal')
            assert client['pid'] == live['pid']
            assert client['client_addr'] == '127.0.0.1'
            assert client['state'] == 'streaming' and client['sync_state'] == 'async'
            assert client['sent_lag_bytes'] is not None and client['sent_lag_bytes'] >= 0
            assert client['replay_lsn'] is None  # pg_receivewal does not replay
            assert client['diagnosis'] == 'healthy', (client['reason'], client)
            assert client['ssl'] in (True, False)
            slot = by_name(res['slots'], 'slot_name', name)
            assert slot['active'] is True and slot['inactive_retaining'] is False
    finally:
        primary.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s '
                      'AND NOT active', (name,))
        shutil.rmtree(waldir, ignore_errors=True)


def test_monitor_role_without_superuser(primary, standby):
    for cluster in (primary, standby):
        rc, res = run_module(MODULE, cluster.conn_args(login_user=MONITOR_ROLE))
        assert rc == 0, res
        assert not primary.query('SELECT 1 FROM pg_roles WHERE rolname = %s AND (rolsuper OR rolreplication)', (MONITOR_ROLE,))
    live = primary.query("SELECT pid FROM pg_stat_replication WHERE application_name = 'test_standby'")[0]
    rc, res = run_module(MODULE, primary.conn_args(login_user=MONITOR_ROLE))
    assert by_name(res['standbys'], 'application_name', 'test_standby')['pid'] == live['pid']


def test_primary_sees_real_standby(primary, standby):
    generate_wal(primary)
    target = primary.query('SELECT pg_current_wal_lsn()::text AS lsn')[0]['lsn']
    primary.wait_for(lambda: primary.query("SELECT 1 FROM pg_stat_replication WHERE application_name = 'test_standby' "
                                           "AND replay_lsn >= %s::pg_lsn", (target,)), what='the standby to replay')
    rc, res = run_module(MODULE, primary.conn_args())
    assert rc == 0, res
    row = by_name(res['standbys'], 'application_name', 'test_standby')
    assert row['state'] == 'streaming'
    assert row['replay_lsn'] is not None
    assert row['diagnosis'] == 'healthy', row
    slot = by_name(res['slots'], 'slot_name', 'test_standby')
    assert slot['active'] is True and slot['inactive_retaining'] is False


def test_standby_facts(primary, standby):
    rc, res = run_module(MODULE, standby.conn_args())
    assert rc == 0, res
    assert res['role'] == 'standby'
    assert res['system_identifier'] == primary.query('SELECT system_identifier::text AS s FROM pg_control_system()')[0]['s']
    info = res['standby']
    live = standby.query('SELECT pg_last_wal_receive_lsn() IS NOT NULL AS has_receive, pg_is_wal_replay_paused() AS paused')[0]
    assert live['has_receive'] and info['receive_lsn'] is not None and info['replay_lsn'] is not None
    assert info['paused'] is live['paused'] is False
    assert info['is_delayed'] is False and info['recovery_min_apply_delay_ms'] == 0
    upstream = info['upstream']
    assert upstream['status'] == 'streaming'
    assert upstream['sender_host'] == '127.0.0.1' and upstream['sender_port'] == primary.port
    assert upstream['slot_name'] == 'test_standby'
    assert 'password=' not in (upstream['conninfo'] or '') or 'password=********' in upstream['conninfo']


def test_standby_paused_replay_reported(standby):
    standby.query('SELECT pg_wal_replay_pause()')
    try:
        standby.wait_for(lambda: standby.query('SELECT pg_is_wal_replay_paused() AS p')[0]['p'], what='replay to pause')
        rc, res = run_module(MODULE, standby.conn_args())
        assert rc == 0 and res['standby']['paused'] is True, res
    finally:
        standby.query('SELECT pg_wal_replay_resume()')


def test_cascading_standby_lists_its_receivewal_client(standby):
    name = 'info_cascade'
    standby.query('SELECT pg_create_physical_replication_slot(%s, true)', (name,))
    waldir = tempfile.mkdtemp(prefix='pgha-receivewal-')
    argv = [standby.tool('pg_receivewal'), '-h', '127.0.0.1', '-p', str(standby.port), '-U', 'postgres',
            '--slot', name, '-D', waldir, '--no-password']
    try:
        with background(argv):
            standby.wait_for(lambda: standby.query("SELECT 1 FROM pg_stat_replication WHERE application_name = 'pg_receivewal'"),
                             what='pg_receivewal to connect to the standby')
            rc, res = run_module(MODULE, standby.conn_args())
            assert rc == 0, res
            assert res['role'] == 'standby'
            client = by_name(res['standbys'], 'application_name', 'pg_receivewal')
            assert client['sent_lag_bytes'] is not None
    finally:
        standby.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s '
                      'AND NOT active', (name,))
        shutil.rmtree(waldir, ignore_errors=True)


def test_password_never_shown(primary):
    args = primary.conn_args(login_user=PASSWORD_ROLE, login_password=PASSWORD, login_host='127.0.0.1')
    rc, res = run_module(MODULE, args)
    assert rc == 0, res
    assert PASSWORD not in res['_raw']
    rc, res = run_module(MODULE, dict(args, login_password='wrong-' + PASSWORD))
    assert rc != 0 and PASSWORD not in res['_raw']


def test_invalid_threshold(primary):
    rc, res = run_module(MODULE, primary.conn_args(lag_threshold_seconds=-1))
    assert rc != 0 and 'lag_threshold_seconds' in res['msg']
