# -*- coding: utf-8 -*-
# This module_utils is PRIVATE to the pgha.replication collection. It is not a public API:
# it may change or disappear without notice. Do not use it from other collections.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Replication slots: reading them (pg_replication_slot, pg_replication_info), and the SQL backend of
pg_replication_slot - its pure planner, its prediction for check mode and its apply. The Patroni-permanent
backend is ``_patroni_slots``.

Helpers raise :class:`~._errors.PgHaError` subclasses; only the module frame turns them into ``fail_json``.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import time

from ansible_collections.pgha.replication.plugins.module_utils._errors import (
    Conflict,
    QueryFailed,
    Unsupported,
    WaitTimeout,
)
from ansible_collections.pgha.replication.plugins.module_utils._poll import deadline_in, poll
from ansible_collections.pgha.replication.plugins.module_utils._postgres import fetch_all, fetch_one, sql
from ansible_collections.pgha.replication.plugins.module_utils._sql import apply as apply_statements, run_statement, show, statement

# The LSN the retained WAL of a slot is measured from: the primary's insert position, or what a standby has received
# or replayed.
CURRENT_LSN = ('CASE WHEN pg_is_in_recovery() THEN GREATEST(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) '
               'ELSE pg_current_wal_lsn() END')
# Columns of pg_replication_slots that not every supported version has, with the version that added them.
OPTIONAL_COLUMNS = (('wal_status', 130000), ('safe_wal_size', 130000), ('two_phase', 140000), ('conflicting', 160000),
                    ('failover', 170000), ('synced', 170000))


def read_slots(conn, version, name=None):
    """The replication slots of the server (only the one named ``name`` when given), ordered by name, as dicts:
    slot_name, slot_type, plugin, database, active, active_pid, temporary, wal_status, safe_wal_size, two_phase,
    conflicting, failover, synced (None where the server is too old to have them), restart_lsn, confirmed_flush_lsn (text),
    retained_bytes, inactive_retaining and failover_ready."""
    select = [sql.Identifier(c) if version >= minimum else sql.SQL('NULL AS {0}').format(sql.Identifier(c))
              for c, minimum in OPTIONAL_COLUMNS]
    where = sql.SQL('WHERE slot_name = %s' if name is not None else '')
    rows = fetch_all(conn, sql.SQL(
        'SELECT slot_name, slot_type, plugin, database, active, active_pid, temporary, {0}, '
        'restart_lsn::text AS restart_lsn, confirmed_flush_lsn::text AS confirmed_flush_lsn, '
        'pg_wal_lsn_diff({1}, restart_lsn)::bigint AS retained_bytes, pg_is_in_recovery() AS in_recovery '
        'FROM pg_catalog.pg_replication_slots {2} ORDER BY slot_name').format(
            sql.SQL(', ').join(select), sql.SQL(CURRENT_LSN), where),
        (name,) if name is not None else None)
    for row in rows:
        row['inactive_retaining'] = inactive_retaining(row)
        row['failover_ready'] = failover_ready(row, row.pop('in_recovery'))
    return rows


def inactive_retaining(slot):
    """True when a slot is not in use but keeps WAL. Pure."""
    return (not slot.get('active')) and (slot.get('retained_bytes') or 0) > 0


def failover_ready(slot, in_recovery):
    """Whether a standby's copy of a failover slot survives its promotion: synchronised, no longer temporary (the slot
    sync worker keeps a new copy temporary until the primary's slot has passed what the standby needs, and a promotion
    drops such a copy), and not invalidated - PostgreSQL 17's own check, ``synced AND NOT temporary AND NOT
    conflicting``. None where it does not apply: on a primary (where ``synced`` may stay true from its time as a
    standby), on a slot that is not a synchronised copy, or on a server before PostgreSQL 17. Pure."""
    if not in_recovery or not slot.get('synced'):
        return None
    return not slot.get('temporary') and not slot.get('conflicting')


OBJECT_IN_USE = '55006'


# Statement kinds of a plan: 'sql', or TERMINATE (run it, then wait for the slot to be released).
TERMINATE = 'terminate'


# Patroni's own connections to PostgreSQL carry these application names (patroni/postgresql/connection.py).
PATRONI_ACTIVITY_QUERY = ("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity "
                          "WHERE application_name = %s OR application_name LIKE %s) AS patroni")


POLL_INTERVAL = 0.2
RELEASE_INTERVAL = 0.1


def plan(current, desired, server):
    """Turn (current slot or None, desired, server facts) into a list of Statements. Pure.

    ``server`` needs version_num, in_recovery and wal_level. Raises Conflict, Unsupported.
    """
    name = desired['name']
    if desired['state'] == 'absent':
        if current is None:
            return []
        steps = []
        if current.get('active'):
            if not desired['terminate_active']:
                raise Conflict(
                    "slot '%s' is in use by process %s; set terminate_active=true to terminate that process and drop the slot"
                    % (name, current.get('active_pid')))
            steps.append(terminate_statement(current['active_pid']))
        steps.append(statement('SELECT pg_drop_replication_slot(%s)', params=(name,)))
        return steps

    slot_type = desired['slot_type']
    if current is not None:
        if current['slot_type'] != slot_type:
            raise Conflict(
                "slot '%s' exists as a %s slot, not %s; to replace it run with state=absent first "
                "(terminate_active=true if it is in use)" % (name, current['slot_type'], slot_type))
        if slot_type == 'logical':
            if current.get('database') != desired['database']:
                raise Conflict(
                    "logical slot '%s' belongs to database '%s', not '%s'; set login_db=%s to manage it, "
                    "or use another name" % (name, current.get('database'), desired['database'], current.get('database')))
            if desired['plugin'] is not None and current.get('plugin') != desired['plugin']:
                raise Conflict(
                    "logical slot '%s' uses plugin '%s', not '%s'; set plugin=%s to keep it, or run with state=absent "
                    "first to recreate it" % (name, current.get('plugin'), desired['plugin'], current.get('plugin')))
            if desired['two_phase'] is not None and bool(current.get('two_phase')) != desired['two_phase']:
                raise Conflict(
                    "logical slot '%s' has two_phase=%s; two_phase applies at creation only: set two_phase=%s, or run "
                    "with state=absent first to recreate it" % (
                        name, str(bool(current.get('two_phase'))).lower(), str(bool(current.get('two_phase'))).lower()))
            if desired.get('failover') is not None and bool(current.get('failover')) != desired['failover']:
                have = str(bool(current.get('failover'))).lower()
                raise Conflict(
                    "logical slot '%s' has failover=%s; failover applies at creation only (a subscription with "
                    "pgha.replication.pg_subscription failover=%s alters its own slot): set failover=%s, or run with "
                    "state=absent first to recreate it" % (name, have, str(desired['failover']).lower(), have))
        return []

    if slot_type == 'physical':
        return [statement('SELECT pg_create_physical_replication_slot(%s, %s)', params=(name, desired['immediately_reserve']))]

    if server.get('in_recovery') and server['version_num'] < 160000:
        raise Unsupported("logical slot '%s' cannot be created on a standby before PostgreSQL 16; create it on the primary" % name)
    if server.get('wal_level') != 'logical':
        raise Unsupported("logical slot '%s' needs wal_level=logical (the server has wal_level=%s)" % (name, server.get('wal_level')))
    plugin = desired['plugin'] or 'pgoutput'
    if desired['two_phase'] and server['version_num'] < 140000:
        raise Unsupported('two_phase needs PostgreSQL 14 or later')
    if desired.get('failover'):
        if server.get('in_recovery'):
            raise Unsupported("logical slot '%s': failover=true cannot be set on a standby (its slots with failover are "
                              "the primary's synchronised copies); create it on the primary" % name)
        return [statement('SELECT pg_create_logical_replication_slot(%s, %s, false, %s, %s)',
                          params=(name, plugin, bool(desired['two_phase']), True))]
    if desired['two_phase']:
        return [statement('SELECT pg_create_logical_replication_slot(%s, %s, false, %s)', params=(name, plugin, True))]
    return [statement('SELECT pg_create_logical_replication_slot(%s, %s)', params=(name, plugin))]


def check_failover_supported(desired, server):
    """Refuse failover on a server before PostgreSQL 17, before anything is read or changed. Pure; raises Unsupported."""
    if desired.get('failover') is not None and desired['state'] == 'present' and server['version_num'] < 170000:
        raise Unsupported('failover needs PostgreSQL 17 or later (the server runs %d); nothing was changed'
                          % (server['version_num'] // 10000))


def predict(current, desired, server, steps):
    """The slot dict expected after ``steps`` run (for check mode). Pure."""
    if not steps:
        return current
    if desired['state'] == 'absent':
        return None
    logical = desired['slot_type'] == 'logical'
    return dict(
        slot_name=desired['name'],
        slot_type=desired['slot_type'],
        plugin=(desired['plugin'] or 'pgoutput') if logical else None,
        database=desired['database'] if logical else None,
        active=False,
        active_pid=None,
        restart_lsn=None,
        confirmed_flush_lsn=None,
        wal_status=None,
        safe_wal_size=None,
        two_phase=bool(desired['two_phase']) if server['version_num'] >= 140000 else None,
        failover=bool(desired.get('failover')) if server['version_num'] >= 170000 else None,
        synced=False if server['version_num'] >= 170000 else None,
        conflicting=False if server['version_num'] >= 160000 else None,
        temporary=False,
        retained_bytes=None,
        failover_ready=None,
    )


def slot_matches(slot, desired):
    """Whether an existing slot is what ``desired`` (with its plugin resolved) asks for. Pure."""
    if slot is None or slot['slot_type'] != desired['slot_type']:
        return False
    if desired['slot_type'] == 'physical':
        return True
    if desired.get('failover') is not None and bool(slot.get('failover')) != desired['failover']:
        return False
    return slot.get('database') == desired['database'] and slot.get('plugin') == desired['plugin']


def guard_message(desired, evidence):
    """Why a slot may not be created by SQL on a server managed by Patroni. Pure."""
    name = desired['name']
    if desired['slot_type'] == 'logical':
        why = ('a logical slot created by SQL is not copied to the replicas and is lost at a failover, and Patroni drops '
               'a slot it does not know at its next check of the slots')
    else:
        why = ('Patroni drops a slot it does not know at its next check of the slots (after it creates any slot, a '
               'restart, a failover)')
    return ("slot '%s': this server is managed by Patroni (%s); %s. Set permanent=true with api_url (and api_username, "
            "api_password) to declare it in Patroni's configuration, or cover it with Patroni's ignore_slots and set "
            "api_url (or patroni_guard=false) to create it by SQL" % (name, evidence, why))


def patroni_managed(conn):
    """Whether a connection of Patroni shows in pg_stat_activity (visible to any role)."""
    return bool(fetch_one(conn, PATRONI_ACTIVITY_QUERY, ('Patroni', 'Patroni %'))['patroni'])


def read_slot(conn, name, server):
    """Return the slot named ``name`` as a dict (read_slots()), or None."""
    slots = read_slots(conn, server['version_num'], name)
    return slots[0] if slots else None


def wait_released(conn, name, server, deadline):
    """Wait until the slot is inactive or gone, until the monotonic time ``deadline``. Returns the slot (or None).
    Raises WaitTimeout."""
    slot, released = poll(lambda: read_slot(conn, name, server), lambda slot: slot is None or not slot['active'],
                          RELEASE_INTERVAL, deadline=deadline)
    if not released:
        raise WaitTimeout("slot '%s' is still in use by process %s after the wait_timeout" % (name, slot['active_pid']))
    return slot


def apply(conn, steps, desired, server, wait_timeout):
    """Run the planned statements (_sql.apply); return them as run. A terminate is followed by a wait for the slot
    to be released; a drop that finds the slot taken again (pg_receivewal reconnects in a loop) terminates its user
    again, until ``wait_timeout``."""
    deadline = deadline_in(wait_timeout)
    name = desired['name']

    def execute_one(conn, st, ran):
        while True:
            try:
                return run_statement(conn, st, ran)
            except QueryFailed as exc:
                if (st.kind == TERMINATE or exc.pgcode != OBJECT_IN_USE or not desired['terminate_active']
                        or time.monotonic() >= deadline):
                    raise
                slot = read_slot(conn, name, server)
                if slot is not None and slot['active']:
                    terminate = terminate_statement(slot['active_pid'])
                    ran.append(show(conn, terminate))
                    run_statement(conn, terminate, ran)
                wait_released(conn, name, server, deadline)

    def after_each(conn, st, ran):
        if st.kind == TERMINATE:
            wait_released(conn, name, server, deadline)

    return apply_statements(conn, steps, execute_one, after_each)


def terminate_statement(pid):
    return statement('SELECT pg_terminate_backend(%s)', params=(pid,), kind=TERMINATE)
