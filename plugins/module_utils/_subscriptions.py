# -*- coding: utf-8 -*-
# This module_utils is PRIVATE to the pgha.replication collection. It is not a public API:
# it may change or disappear without notice. Do not use it from other collections.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Subscriptions on the server, for pg_subscription: a subscription read from the catalog (its stored connection
string parsed), its tables, worker and statistics; what the publisher holds, read there with the subscription's own
connection; the wait for the tables to be ready; and the session settings that keep a statement carrying a password
out of pg_stat_activity and the server log (``hidden``, apply()'s execute_one).

Helpers raise :class:`~._errors.PgHaError` subclasses; only the module frame turns them into ``fail_json``. No
message produced here contains a password.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.pgha.replication.plugins.module_utils._conninfo import build_conninfo, parse_conninfo
from ansible_collections.pgha.replication.plugins.module_utils._errors import ConnectionFailed, Unsupported, WaitTimeout, mask
from ansible_collections.pgha.replication.plugins.module_utils._poll import poll
from ansible_collections.pgha.replication.plugins.module_utils._postgres import execute, fetch_all, fetch_one, psycopg2, sql
from ansible_collections.pgha.replication.plugins.module_utils._sql import run_statement

# Seconds between two reads of the subscription's tables while waiting for them to be ready.
READY_INTERVAL = 0.5


TABLE_STATES = {'i': 'initialize', 'd': 'data copy', 'f': 'finished table copy', 's': 'synchronized', 'r': 'ready'}


TWO_PHASE_STATES = {'d': 'disabled', 'p': 'pending', 'e': 'enabled'}


def read_subscription(conn, name, server):
    """The subscription named ``name`` in the current database (internal form, conninfo in clear), or None."""
    version = server['version_num']
    optional = [('subbinary', 'binary', 140000), ('substream::text', 'streaming', 140000),
                ('subtwophasestate::text', 'two_phase_state', 150000), ('subdisableonerr', 'disable_on_error', 150000),
                ('subskiplsn::text', 'skip_lsn', 150000), ('suborigin', 'origin', 160000),
                ('subfailover', 'failover', 170000)]
    select = sql.SQL(', ').join(sql.SQL('{0} AS {1}').format(sql.SQL(column if version >= minimum else 'NULL'),
                                                             sql.Identifier(alias)) for column, alias, minimum in optional)
    row = fetch_one(conn, sql.SQL(
        'SELECT s.oid, s.subname AS name, pg_catalog.pg_get_userbyid(s.subowner) AS owner, s.subenabled AS enabled, '
        's.subpublications AS publications, s.subconninfo AS conninfo, s.subslotname AS slot_name, '
        's.subsynccommit AS synchronous_commit, {0} FROM pg_catalog.pg_subscription s '
        'JOIN pg_catalog.pg_database d ON d.oid = s.subdbid '
        'WHERE d.datname = pg_catalog.current_database() AND s.subname = %s').format(select), (name,))
    if row is None:
        return None
    row['conninfo'] = parse_conninfo(row['conninfo'])
    row['publications'] = list(row['publications'] or [])
    stream = row.get('streaming')
    row['streaming'] = {'t': 'on', 'true': 'on', 'f': 'off', 'false': 'off', 'p': 'parallel'}.get(stream, stream)
    state = row.get('two_phase_state')
    row['two_phase_state'] = TWO_PHASE_STATES.get(state, state)
    row['two_phase'] = None if state is None else state != 'd'
    if row.get('skip_lsn') == '0/0':
        row['skip_lsn'] = None
    return row


def read_tables(conn, oid):
    if oid is None:
        return []
    rows = fetch_all(conn, sql.SQL(
        'SELECT n.nspname || %s || c.relname AS name, r.srsubstate::text AS state, r.srsublsn::text AS lsn '
        'FROM pg_catalog.pg_subscription_rel r JOIN pg_catalog.pg_class c ON c.oid = r.srrelid '
        'JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE r.srsubid = %s ORDER BY 1'), ('.', oid))
    for row in rows:
        row['state_name'] = TABLE_STATES.get(row['state'], row['state'])
    return rows


def read_worker(conn, oid):
    if oid is None:
        return None
    return fetch_one(conn, sql.SQL(
        'SELECT pid, received_lsn::text AS received_lsn, latest_end_lsn::text AS latest_end_lsn, '
        "to_char(last_msg_receipt_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"') AS last_msg_receipt_time "
        'FROM pg_catalog.pg_stat_subscription WHERE subid = %s AND relid IS NULL AND pid IS NOT NULL ORDER BY pid LIMIT 1'), (oid,))


def read_stats(conn, oid, server):
    if oid is None or server['version_num'] < 150000:
        return None
    return fetch_one(conn, sql.SQL(
        'SELECT apply_error_count, sync_error_count, stats_reset::text AS stats_reset '
        'FROM pg_catalog.pg_stat_subscription_stats WHERE subid = %s'), (oid,))


def read_origin_lsn(conn, oid):
    row = fetch_one(conn, sql.SQL('SELECT remote_lsn::text AS lsn FROM pg_catalog.pg_replication_origin_status '
                                  'WHERE external_id = %s'), ('pg_%s' % oid,))
    return row['lsn'] if row else None


def read_publisher(conninfo_pairs, publications, slot_name, connect_timeout, secrets):
    """What the subscription will find on the publisher, read there (read-only), with the subscription's connection.

    Returns a dict: ``tables`` (set of 'schema.table' published for ``publications``), ``missing`` (publications that
    do not exist), ``slot`` (the slot ``slot_name``: {active} or None), ``replication`` (whether the role may open the
    replication connection a subscription uses), ``user`` and ``database``. Raises ConnectionFailed, never with the
    password. The connection is made from the host the module runs on, normally the subscriber.
    """
    keys = set(key for key, _value in conninfo_pairs)
    kwargs = {}
    if 'connect_timeout' not in keys:
        kwargs['connect_timeout'] = connect_timeout
    if 'application_name' not in keys:
        kwargs['application_name'] = 'pgha.replication'
    try:
        conn = psycopg2.connect(build_conninfo(conninfo_pairs), **kwargs)
    except psycopg2.Error as exc:
        raise ConnectionFailed(mask('could not connect to the publisher with the subscription\'s connection '
                                    '(checked before any change; nothing was changed): %s' % str(exc).strip(), secrets))
    try:
        conn.set_session(readonly=True, autocommit=True)
        rows = fetch_all(conn, 'SELECT DISTINCT schemaname || %s || tablename AS name FROM pg_catalog.pg_publication_tables '
                               'WHERE pubname = ANY(%s)', ('.', list(publications)))
        found = set(row['pubname'] for row in fetch_all(
            conn, 'SELECT pubname::text AS pubname FROM pg_catalog.pg_publication WHERE pubname = ANY(%s)',
            (list(publications),)))
        facts = fetch_one(conn, 'SELECT current_user::text AS user, pg_catalog.current_database()::text AS database, '
                                '(r.rolreplication OR r.rolsuper) AS replication FROM pg_catalog.pg_roles r '
                                'WHERE r.rolname = current_user')
        facts['slot'] = fetch_one(conn, 'SELECT active FROM pg_catalog.pg_replication_slots WHERE slot_name = %s',
                                  (slot_name,)) if slot_name else None
    finally:
        conn.close()
    facts['tables'] = set(row['name'] for row in rows)
    facts['missing'] = [pub for pub in publications if pub not in found]
    return facts


def wait_ready(conn, oid, timeout):
    """Wait until every table of the subscription is ready. Returns the tables; raises WaitTimeout."""
    tables, ready = poll(lambda: read_tables(conn, oid), lambda tables: all(t['state'] == 'r' for t in tables),
                         READY_INTERVAL, timeout=timeout)
    if not ready:
        pending = ', '.join('%s: %s (%s)' % (t['name'], t['state'], t['state_name']) for t in tables if t['state'] != 'r')
        raise WaitTimeout('tables not ready after wait_timeout=%ss: %s' % (timeout, pending), tables=tables)
    return tables


# Settings that keep a statement out of pg_stat_activity and the server log, with the server version that has them.
# All are superuser settings (PostgreSQL 15: or GRANT SET ON PARAMETER).
HIDING_SETTINGS = (('track_activities', 'off', 0), ('log_statement', 'none', 0), ('log_min_error_statement', 'panic', 0),
                   ('log_min_duration_statement', '-1', 0), ('log_min_duration_sample', '-1', 130000),
                   ('log_transaction_sample_rate', '0', 120000))


def hiding_settings(conn, server):
    """The (setting, value) pairs to set for this server before a statement that carries a password.

    pg_stat_statements, when loaded, would keep the statement text too: its track_utility is turned off as well.
    """
    pairs = [(name, value) for name, value, minimum in HIDING_SETTINGS if server['version_num'] >= minimum]
    if fetch_one(conn, "SELECT current_setting('pg_stat_statements.track_utility', true) AS v")['v'] is not None:
        pairs.append(('pg_stat_statements.track_utility', 'off'))
    return pairs


def check_may_hide(conn, server, settings):
    """Raise Unsupported unless this role may change every one of ``settings``: the password must not be shown."""
    row = fetch_one(conn, 'SELECT current_user::text AS u, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user')
    if row['rolsuper']:
        return
    refused = [name for name, _value in settings]
    if server['version_num'] >= 150000:
        refused = [name for name in refused if not fetch_one(
            conn, "SELECT pg_catalog.has_parameter_privilege(%s, 'SET') AS ok", (name,))['ok']]
    if refused:
        raise Unsupported(
            'the statement that carries connection.password is run with activity tracking and statement logging off, '
            'so that no other session and no server log sees the password; role %s may not change %s (superuser, or '
            'on PostgreSQL 15 GRANT SET ON PARAMETER, is needed); nothing was changed' % (row['u'], ', '.join(refused)))


def hidden(settings):
    """apply()'s execute_one for a plan whose statements may carry a password: those run with ``settings`` set for
    the session (not a transaction: CREATE SUBSCRIPTION cannot run in one when it creates the slot), reset right
    after."""
    def execute_one(conn, st, ran):
        if not st.carries_secret:
            return run_statement(conn, st, ran)
        for name, value in settings:
            execute(conn, sql.SQL('SET {0} = %s').format(sql.Identifier(*name.split('.'))), (value,))
        try:
            run_statement(conn, st, ran)
        finally:
            for name, _value in settings:
                execute(conn, sql.SQL('RESET {0}').format(sql.Identifier(*name.split('.'))))
    return execute_one
