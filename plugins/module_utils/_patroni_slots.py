# -*- coding: utf-8 -*-
# This module_utils is PRIVATE to the pgha.replication collection. It is not a public API:
# it may change or disappear without notice. Do not use it from other collections.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Patroni-permanent backend of pg_replication_slot: a slot declared in the ``slots`` key of Patroni's dynamic
configuration (PATCH /config), which Patroni creates on the leader and keeps on the replicas. Pure helpers read a
configuration as Patroni does; plan_permanent() plans, send_patch() and wait_for_slot() apply.

Helpers raise :class:`~._errors.PgHaError` subclasses; only the module frame turns them into ``fail_json``.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import re
import time
from collections import namedtuple

from ansible_collections.pgha.replication.plugins.module_utils._errors import Conflict, PgHaError, Unsupported, WaitTimeout
from ansible_collections.pgha.replication.plugins.module_utils._patroni import PatroniApiError, patch_config, read_config
from ansible_collections.pgha.replication.plugins.module_utils._poll import deadline_in, poll
from ansible_collections.pgha.replication.plugins.module_utils._slots import (
    POLL_INTERVAL,
    apply,
    guard_message,
    patroni_managed,
    plan,
    read_slot,
    slot_matches,
    terminate_statement,
)
from ansible_collections.pgha.replication.plugins.module_utils._sql import run_statement, show

# Patroni reads its permanent slots from the first non-empty of these keys (patroni/global_config.py).
SLOTS_KEYS = ('permanent_replication_slots', 'permanent_slots', 'slots')


def slots_key(config):
    """The key of the dynamic configuration Patroni reads permanent slots from: the first non-empty one. Pure."""
    for key in SLOTS_KEYS:
        if (config or {}).get(key):
            return key
    return 'slots'


def config_entry(config, name):
    """(found, raw entry) of slot ``name`` in a dynamic configuration. Pure."""
    slots = (config or {}).get(slots_key(config))
    if not isinstance(slots, dict) or name not in slots:
        return False, None
    return True, slots[name]


def entry_view(value):
    """A permanent slot entry read as Patroni does: {type, database, plugin}. An empty entry is physical. Pure."""
    if not value:
        return dict(type='physical', database=None, plugin=None)
    if not isinstance(value, dict):
        return dict(type=None, database=None, plugin=None)
    slot_type = value.get('type') or ('logical' if value.get('database') and value.get('plugin') else 'physical')
    if slot_type == 'physical':
        return dict(type='physical', database=None, plugin=None)
    return dict(type=slot_type, database=value.get('database'), plugin=value.get('plugin'))


def slot_definition(desired, plugin=None):
    """The entry written into Patroni's configuration for the desired slot. Pure."""
    if desired['slot_type'] == 'physical':
        return {'type': 'physical'}
    return {'type': 'logical', 'database': desired['database'], 'plugin': plugin or desired['plugin'] or 'pgoutput'}


def member_slot_name(member_name):
    """The physical slot name Patroni uses for a member (patroni.dcs.slot_name_from_member_name). Pure."""
    def replace_char(match):
        char = match.group(0)
        return '_' if char in '-.' else 'u%04d' % ord(char)
    return re.sub('[^a-z0-9_]', replace_char, (member_name or '').lower())[0:63]


def ignored_by_patroni(config, slot):
    """Whether an entry of Patroni's ``ignore_slots`` covers ``slot`` ({name, type, database, plugin}). Pure."""
    for matcher in (config or {}).get('ignore_slots') or []:
        if not isinstance(matcher, dict):
            continue
        if matcher.get('name') is not None and matcher['name'] != slot['name']:
            continue
        if all(not matcher.get(attr) or matcher[attr] == slot.get(attr) for attr in ('database', 'plugin', 'type')):
            return True
    return False


def check_unmanaged(desired, patroni):
    """With permanent=false and Patroni's configuration read: refuse a slot that is declared there. Pure."""
    if patroni is None:
        return
    found, dummy = config_entry(patroni['config'], desired['name'])
    if found:
        raise Conflict("slot '%s' is a permanent slot in Patroni's configuration (%s.%s); set permanent=true to manage it "
                       "(state=absent with permanent=true removes it)"
                       % (desired['name'], slots_key(patroni['config']), desired['name']))


def check_patroni_server(desired, server, patroni):
    """The checks of permanent=true on the server and Patroni's configuration. Pure; raises Unsupported, Conflict."""
    name = desired['name']
    if server.get('in_recovery'):
        raise Unsupported(
            "permanent=true: the SQL connection must point at the Patroni leader, and this server is a replica (Patroni "
            "keeps the copies of permanent slots on replicas itself); set login_host/port to the leader, or run the "
            "task on the leader only")
    scope, cluster_name = patroni.get('scope'), server.get('cluster_name')
    if scope and cluster_name and scope != cluster_name:
        raise Conflict("api_url belongs to the Patroni cluster '%s' but the SQL connection reaches a server with "
                       "cluster_name '%s'; point api_url and login_host/port at the same cluster" % (scope, cluster_name))
    if desired['state'] == 'absent':
        return
    config = patroni['config']
    postgresql = config.get('postgresql') if isinstance(config.get('postgresql'), dict) else {}
    if postgresql.get('use_slots') is False or str(postgresql.get('use_slots')).lower() in ('off', 'false', 'no'):
        raise Unsupported("Patroni ignores permanent slots because postgresql.use_slots is false in its dynamic "
                          "configuration; set it to true (pgha.replication.patroni_config)")
    for member in patroni.get('members') or []:
        if member_slot_name(member) == name:
            raise Conflict("slot name '%s' is the name of the slot Patroni keeps for member '%s'; set name to another "
                           "name" % (name, member))
    if desired['slot_type'] == 'logical':
        if server['version_num'] < 110000:
            raise Unsupported("permanent logical slot '%s' needs PostgreSQL 11 or later" % name)
        if config.get('standby_cluster'):
            raise Unsupported("permanent logical slot '%s': Patroni keeps only physical permanent slots in a standby "
                              "cluster" % name)
        if server.get('wal_level') != 'logical':
            raise Unsupported("permanent logical slot '%s' needs wal_level=logical (the leader has wal_level=%s); set "
                              "postgresql.parameters.wal_level: logical in Patroni's configuration "
                              "(pgha.replication.patroni_config) and restart the members"
                              % (name, server.get('wal_level')))


# The result of plan_permanent(): patch is the PATCH /config body or None; steps are SQL steps (terminate, or the drop
# of a slot missing from the configuration); entry is the configuration entry after (None when removed); wait_for is
# 'present', 'absent' or None; desired is the desired state with the plugin Patroni will use.
PermanentPlan = namedtuple('PermanentPlan', ['patch', 'steps', 'entry', 'wait_for', 'desired'])


def plan_permanent(current, desired, server, patroni):
    """Plan permanent=true: (current slot on the leader or None, desired, server facts, Patroni view) -> PermanentPlan.

    ``patroni`` holds ``config`` (GET /config), ``scope`` and ``members`` (names, from GET /cluster). Pure; raises
    Conflict, Unsupported.
    """
    check_patroni_server(desired, server, patroni)
    name = desired['name']
    config = patroni['config']
    key = slots_key(config)
    found, raw = config_entry(config, name)

    if desired['state'] == 'absent':
        if not found:
            return PermanentPlan(None, plan(current, desired, server), None, None, desired)
        if current is not None and ignored_by_patroni(config, dict(
                name=name, type=current['slot_type'], database=current.get('database'), plugin=current.get('plugin'))):
            # Patroni leaves a slot that ignore_slots covers alone, even when it is no longer permanent: drop it by SQL.
            return PermanentPlan({key: {name: None}}, plan(current, desired, server), None, None, desired)
        steps = []
        if current is not None and current.get('active'):
            if not desired['terminate_active']:
                raise Conflict(
                    "slot '%s' is in use by process %s, and Patroni drops only an unused slot; set terminate_active=true "
                    "to terminate that process" % (name, current.get('active_pid')))
            steps.append(terminate_statement(current['active_pid']))
        return PermanentPlan({key: {name: None}}, steps, None, 'absent', desired)

    plugin = desired['plugin']
    if found:
        entry = entry_view(raw)
        if entry['type'] != desired['slot_type']:
            raise Conflict(
                "slot '%s' is a permanent %s slot in Patroni's configuration (%s.%s = %s), not %s; set slot_type=%s to "
                "keep it, or run with state=absent first to replace it"
                % (name, entry['type'], key, name, json.dumps(raw, sort_keys=True), desired['slot_type'], entry['type']))
        if entry['type'] == 'logical':
            if entry['database'] != desired['database']:
                raise Conflict(
                    "permanent logical slot '%s' is declared for database '%s' in Patroni's configuration, not '%s'; set "
                    "login_db=%s to manage it, or run with state=absent first to replace it"
                    % (name, entry['database'], desired['database'], entry['database']))
            if plugin is not None and entry['plugin'] != plugin:
                raise Conflict(
                    "permanent logical slot '%s' uses plugin '%s' in Patroni's configuration, not '%s'; set plugin=%s to "
                    "keep it, or run with state=absent first to recreate it" % (name, entry['plugin'], plugin, entry['plugin']))
            plugin = entry['plugin']
    effective = dict(desired, plugin=(plugin or 'pgoutput') if desired['slot_type'] == 'logical' else None)
    if current is not None:
        # Patroni adopts an existing slot whose type, database and plugin match; it drops and recreates any other.
        plan(current, effective, server)
    patch = None if found else {key: {name: slot_definition(effective)}}
    return PermanentPlan(patch, [], raw if found else slot_definition(effective), 'present', effective)


def read_patroni(client):
    """GET /config and GET /cluster: {config, scope, members}."""
    config = read_config(client)
    cluster = client.get_json('/cluster')
    if not isinstance(cluster, dict):
        raise PatroniApiError('GET /cluster: the answer is not a Patroni cluster description')
    members = [m.get('name') for m in cluster.get('members') or [] if isinstance(m, dict) and m.get('name')]
    return dict(config=config, scope=cluster.get('scope'), members=members)


def send_patch(client, patch, deadline):
    """PATCH /config; return the configuration Patroni stored (or, when its answer is not one, the configuration read
    after), once the member's cache of the DCS shows it too or the monotonic time ``deadline`` has passed."""
    stored, seen = patch_config(client, patch, max(0, deadline - time.monotonic()))
    return stored if isinstance(stored, dict) else seen


def wait_for_slot(conn, desired, server, wait_for, deadline, ran):
    """Poll the slot until Patroni has created it (wait_for='present') or dropped it ('absent'); return it.

    With state=absent and terminate_active=true, a consumer that takes the slot again is terminated again (appended to
    ``ran``). Raises WaitTimeout.
    """
    name = desired['name']

    def read():
        slot = read_slot(conn, name, server)
        if wait_for == 'absent' and slot is not None and slot['active'] and desired['terminate_active']:
            terminate = terminate_statement(slot['active_pid'])
            ran.append(show(conn, terminate))
            run_statement(conn, terminate, ran)
        return slot

    def reached(slot):
        return slot_matches(slot, desired) if wait_for == 'present' else slot is None

    slot, done = poll(read, reached, POLL_INTERVAL, deadline=deadline)
    if done:
        return slot
    if wait_for == 'present':
        raise WaitTimeout(
            "slot '%s' is declared in Patroni's configuration but did not appear on this server within "
            "wait_timeout; Patroni creates it on the leader in its next HA loop (loop_wait): raise wait_timeout, "
            "or look for the reason in the leader's Patroni log (max_replication_slots, the plugin)" % name)
    raise WaitTimeout("slot '%s' is removed from Patroni's configuration but still exists on this server after "
                      "wait_timeout; Patroni drops it in its next HA loop when it is not in use%s" % (
                          name, '' if desired['terminate_active'] else ' (terminate_active=true terminates its user)'))


def check_guard(conn, desired, patroni, server):
    """With permanent=false and patroni_guard=true: refuse to create by SQL a slot that Patroni would drop, when the
    server is managed by Patroni (api_url is set: ``patroni`` is its view; or a connection of Patroni shows) and the
    slot is not covered by Patroni's ignore_slots. A logical slot with failover=true on PostgreSQL 17 or later is
    allowed: Patroni 4.1 leaves such slots to PostgreSQL's own synchronisation (its slot queries read only
    ``NOT failover`` slots), and they survive a failover to a standby with sync_replication_slots. Raises Conflict."""
    if desired['slot_type'] == 'logical' and desired.get('failover') and server['version_num'] >= 170000:
        return
    evidence = 'api_url is set' if patroni is not None else None
    if evidence is None and patroni_managed(conn):
        evidence = 'a connection of Patroni shows in pg_stat_activity'
    logical = desired['slot_type'] == 'logical'
    slot = dict(name=desired['name'], type=desired['slot_type'], database=desired['database'] if logical else None,
                plugin=(desired['plugin'] or 'pgoutput') if logical else None)
    if evidence and not (patroni is not None and ignored_by_patroni(patroni['config'], slot)):
        raise Conflict(guard_message(desired, evidence))


def apply_permanent(conn, client, planned, server, entry_before, wait, wait_timeout):
    """Carry out a PermanentPlan: PATCH /config, the SQL statements (terminate, or the drop of a slot missing from the
    configuration), then wait (``wait``) until Patroni has created or dropped the slot on this server, each wait
    bounded by ``wait_timeout``. Returns (queries, the configuration entry after, the slot after).

    On failure the exception carries the statements and the requests that were sent (``queries``, ``requests``).
    """
    desired = planned.desired
    deadline = deadline_in(wait_timeout)
    queries, sent = [], []
    try:
        entry_after = entry_before
        if planned.patch:
            stored = send_patch(client, planned.patch, deadline)
            sent = request_view(planned.patch)
            entry_after = config_entry(stored, desired['name'])[1]
        queries = apply(conn, planned.steps, desired, server, wait_timeout)
        if planned.wait_for and wait:
            after = wait_for_slot(conn, desired, server, planned.wait_for, deadline, queries)
        else:
            after = read_slot(conn, desired['name'], server)
    except PgHaError as exc:
        exc.details['queries'] = queries + exc.details.get('queries', [])
        exc.details['requests'] = sent
        raise
    return queries, entry_after, after


def request_view(patch):
    """The PATCH as RV(requests) shows it. Pure."""
    return [dict(method='PATCH', path='/config', body=patch)] if patch else []
