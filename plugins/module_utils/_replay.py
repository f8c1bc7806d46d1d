# -*- coding: utf-8 -*-
# This module_utils is PRIVATE to the pgha.replication collection. It is not a public API:
# it may change or disappear without notice. Do not use it from other collections.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A standby's replay: reading its state (pg_replication_info, pg_wal_replay), and pausing or resuming it
(pg_wal_replay) - the pure planner, the prediction for check mode and the wait after a pause.

Helpers raise :class:`~._errors.PgHaError` subclasses; only the module frame turns them into ``fail_json``.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.pgha.replication.plugins.module_utils._conninfo import mask_conninfo_text
from ansible_collections.pgha.replication.plugins.module_utils._errors import Conflict, WaitTimeout
from ansible_collections.pgha.replication.plugins.module_utils._poll import poll
from ansible_collections.pgha.replication.plugins.module_utils._postgres import fetch_one, sql
from ansible_collections.pgha.replication.plugins.module_utils._sql import statement

NOT_PAUSED = 'not paused'
PAUSE_REQUESTED = 'pause requested'
PAUSED = 'paused'
# The wait event of a startup process that waits out recovery_min_apply_delay before it applies the next record.
APPLY_DELAY_WAIT = 'RecoveryApplyDelay'
# pg_get_wal_replay_pause_state() came with PostgreSQL 14; older servers only say paused or not.
PAUSE_STATE_VERSION = 140000

PAUSE = statement('SELECT pg_catalog.pg_wal_replay_pause()')
RESUME = statement('SELECT pg_catalog.pg_wal_replay_resume()')
POLL_INTERVAL = 0.2


def read_standby_state(conn, version):
    """A standby's replay state: receive/replay LSNs, last replayed transaction and how long ago, pause state,
    recovery_min_apply_delay, what its startup process waits on, and its WAL receiver (password masked)."""
    pause_state = sql.SQL('pg_get_wal_replay_pause_state()' if version >= PAUSE_STATE_VERSION else 'NULL::text')
    state = fetch_one(conn, sql.SQL(
        'SELECT pg_last_wal_receive_lsn()::text AS receive_lsn, pg_last_wal_replay_lsn()::text AS replay_lsn, '
        'pg_last_xact_replay_timestamp() AS last_replay_timestamp, '
        'extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS replay_delay_seconds, '
        'pg_is_wal_replay_paused() AS paused, {0} AS pause_state, '
        "(SELECT setting::bigint FROM pg_catalog.pg_settings WHERE name = 'recovery_min_apply_delay') AS recovery_min_apply_delay_ms, "
        "(SELECT wait_event FROM pg_catalog.pg_stat_activity WHERE backend_type = 'startup') AS startup_wait_event"
    ).format(pause_state))
    if state['last_replay_timestamp'] is not None:
        state['last_replay_timestamp'] = state['last_replay_timestamp'].isoformat()
    if state['pause_state'] is None:
        # PostgreSQL 13: pg_is_wal_replay_paused() is true as soon as a pause is requested.
        state['pause_state'] = PAUSED if state['paused'] else NOT_PAUSED
    state['paused'] = state['pause_state'] != NOT_PAUSED
    state['is_delayed'] = (state['recovery_min_apply_delay_ms'] or 0) > 0
    upstream = fetch_one(conn, 'SELECT status, sender_host, sender_port, slot_name, conninfo FROM pg_catalog.pg_stat_wal_receiver')
    if upstream is not None:
        upstream['conninfo'] = mask_conninfo_text(upstream['conninfo'])
    state['upstream'] = upstream
    return state


def check_standby(facts, name):
    """Raise Conflict unless the server is in recovery: only a standby replays WAL. Pure."""
    if not facts['in_recovery']:
        raise Conflict('%s is a primary (not in recovery): only a standby replays WAL, so there is no replay to pause '
                       'or resume; point the connection at the standby' % name)


def plan(state, desired):
    """The statements that bring replay to ``desired`` ('paused' or 'resumed') from ``state``. Pure.

    A pause already requested counts as paused: replay stops before the next record, and asking again changes nothing.
    """
    if desired == 'paused':
        return [PAUSE] if state['pause_state'] == NOT_PAUSED else []
    return [RESUME] if state['pause_state'] != NOT_PAUSED else []


def predict(state, desired, steps):
    """The state check mode reports after ``steps``. Pure."""
    if not steps:
        return dict(state)
    after = dict(state)
    if desired == 'paused':
        after['pause_state'] = PAUSED if state.get('startup_wait_event') != APPLY_DELAY_WAIT else PAUSE_REQUESTED
        after['paused'] = True
    else:
        after['pause_state'] = NOT_PAUSED
        after['paused'] = False
    return after


def pause_holds(state):
    """True when replay applies nothing more: paused, or a pause requested while the startup process waits out
    recovery_min_apply_delay - it checks for the pause again before it applies that record. Pure."""
    if state['pause_state'] == PAUSED:
        return True
    return state['pause_state'] == PAUSE_REQUESTED and state.get('startup_wait_event') == APPLY_DELAY_WAIT


def wait_for_pause(read, timeout):
    """After pg_wal_replay_pause(): poll ``read()`` until the pause holds (see pause_holds). Returns the state;
    raises WaitTimeout after ``timeout`` seconds."""
    state, done = poll(read, pause_holds, POLL_INTERVAL, timeout=timeout)
    if not done:
        raise WaitTimeout('replay was asked to pause, but after %s s its state is still %r (the startup process waits '
                          'on %s); raise wait_timeout, or check the standby\'s log' % (
                              timeout, state['pause_state'], state.get('startup_wait_event') or 'nothing'),
                          standby=state)
    return state
