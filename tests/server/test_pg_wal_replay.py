# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_wal_replay against a real standby (and a delayed one), checked with independent queries."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import contextlib
import time

from .conftest import run_four_steps, run_module

MODULE = 'pg_wal_replay'


def pause_state(cluster):
    return cluster.query('SELECT pg_get_wal_replay_pause_state() AS s')[0]['s']


@contextlib.contextmanager
def apply_delay(standby, delay):
    """recovery_min_apply_delay on the shared standby for the block; always reset (and replay resumed) afterwards."""
    standby.query("ALTER SYSTEM SET recovery_min_apply_delay = '%s'" % delay)
    standby.query('SELECT pg_reload_conf()')
    standby.wait_for(lambda: standby.query("SELECT current_setting('recovery_min_apply_delay') = %s AS ok", (delay,))[0]['ok'],
                     what='the new apply delay')
    try:
        yield
    finally:
        standby.query('ALTER SYSTEM RESET recovery_min_apply_delay')
        standby.query('SELECT pg_reload_conf()')
        standby.query('SELECT pg_wal_replay_resume()')


def expect_state(cluster, wanted):
    def check():
        assert pause_state(cluster) == wanted
    return check


def test_pause_and_resume_four_steps(primary, standby):
    try:
        res = run_four_steps(MODULE, standby.conn_args(state='paused'), verify_changed=expect_state(standby, 'paused'),
                             verify_unchanged_before=expect_state(standby, 'not paused'),
                             check_queries=['SELECT pg_catalog.pg_wal_replay_pause()'])
        assert pause_state(standby) == 'paused'
        assert res['standby']['pause_state'] == 'paused' and res['standby']['paused'] is True
        assert res['standby']['startup_wait_event'] == 'RecoveryPause'
        assert res['diff'] == {'before': {'paused': False}, 'after': {'paused': True}}
        # Paused, the standby still receives WAL but applies none of it.
        primary.query('CREATE TABLE replay_paused_probe (i int)')
        lsn = primary.query('SELECT pg_current_wal_insert_lsn()::text AS lsn')[0]['lsn']
        standby.wait_for(lambda: standby.query('SELECT pg_last_wal_receive_lsn() >= %s::pg_lsn AS ok', (lsn,))[0]['ok'],
                         what='the standby to receive the WAL')
        time.sleep(1)
        assert standby.query("SELECT to_regclass('replay_paused_probe') IS NULL AS missing")[0]['missing']

        res = run_four_steps(MODULE, standby.conn_args(state='resumed'), verify_changed=expect_state(standby, 'not paused'),
                             verify_unchanged_before=expect_state(standby, 'paused'),
                             check_queries=['SELECT pg_catalog.pg_wal_replay_resume()'])
        assert res['standby']['pause_state'] == 'not paused'
        standby.wait_for(lambda: standby.query("SELECT to_regclass('replay_paused_probe') IS NOT NULL AS ok")[0]['ok'],
                         what='replay of the table after resume')
    finally:
        standby.query('SELECT pg_wal_replay_resume()')
        primary.query('DROP TABLE IF EXISTS replay_paused_probe')


def test_check_mode_leaves_replay_running(standby):
    rc, res = run_module(MODULE, standby.conn_args(state='paused'), check_mode=True)
    assert rc == 0 and res['changed'] is True, res
    assert res['standby']['pause_state'] == 'paused'
    assert pause_state(standby) == 'not paused'


def test_a_primary_is_refused(primary):
    rc, res = run_module(MODULE, primary.conn_args(state='paused'))
    assert rc != 0
    assert 'is a primary (not in recovery)' in res['msg'] and 'point the connection at the standby' in res['msg'], res
    assert res['queries'] == []
    assert primary.query('SELECT pg_is_in_recovery() AS r')[0]['r'] is False


def test_bad_wait_timeout_is_refused_before_connecting(standby):
    rc, res = run_module(MODULE, standby.conn_args(state='paused', wait_timeout=-1))
    assert rc != 0 and res['msg'] == 'wait_timeout must be 0 or more', res
    assert pause_state(standby) == 'not paused'


def test_a_delayed_standby_pauses_before_the_record_it_waits_for(primary, standby):
    """While the startup process waits out recovery_min_apply_delay, the pause stays 'pause requested' until the delay
    has passed; the module does not wait the delay out, and the record it waited for is never applied while paused."""
    with apply_delay(standby, '1min'):
        try:
            primary.query('CREATE TABLE replay_delayed_probe (i int)')
            lsn = primary.query('SELECT pg_current_wal_insert_lsn()::text AS lsn')[0]['lsn']
            standby.wait_for(lambda: standby.query("SELECT wait_event FROM pg_stat_activity WHERE backend_type = 'startup'")[0]
                             ['wait_event'] == 'RecoveryApplyDelay', what='the startup process to wait out the delay')
            standby.wait_for(lambda: standby.query('SELECT pg_last_wal_receive_lsn() >= %s::pg_lsn AS ok', (lsn,))[0]['ok'],
                             what='the standby to receive the WAL')
            started = time.monotonic()
            rc, res = run_module(MODULE, standby.conn_args(state='paused', wait_timeout=20))
            assert rc == 0 and res['changed'] is True, res
            assert time.monotonic() - started < 20
            assert res['standby']['pause_state'] == 'pause requested', res
            assert res['standby']['startup_wait_event'] == 'RecoveryApplyDelay'
            assert res['standby']['is_delayed'] is True and res['standby']['recovery_min_apply_delay_ms'] == 60000
            # A pause requested counts as paused: a second run changes nothing.
            rc, res = run_module(MODULE, standby.conn_args(state='paused'))
            assert rc == 0 and res['changed'] is False and res['queries'] == [], res
            # The delay drops to 1 s: the startup process stops waiting, finds the pause and applies nothing.
            standby.query("ALTER SYSTEM SET recovery_min_apply_delay = '1s'")
            standby.query('SELECT pg_reload_conf()')
            standby.wait_for(lambda: pause_state(standby) == 'paused', what='the pause to take effect after the delay')
            assert standby.query("SELECT to_regclass('replay_delayed_probe') IS NULL AS missing")[0]['missing']
            rc, res = run_module(MODULE, standby.conn_args(state='resumed'))
            assert rc == 0 and res['changed'] is True, res
            standby.wait_for(lambda: standby.query("SELECT to_regclass('replay_delayed_probe') IS NOT NULL AS ok")[0]['ok'],
                             what='replay of the table after resume')
        finally:
            primary.query('DROP TABLE IF EXISTS replay_delayed_probe')
