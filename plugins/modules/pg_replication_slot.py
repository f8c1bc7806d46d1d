#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_replication_slot
short_description: Create or drop PostgreSQL physical and logical replication slots
version_added: 0.1.0
description:
  - Create or drop a physical or logical replication slot, idempotently.
  - An existing slot that does not match the request (other type, other output plugin, other
    O(two_phase), other database) is never replaced silently; the module fails and names the
    option that resolves the conflict.
  - Physical slots can be created on a standby (cascading replication). Logical slots cannot be
    created on a standby before PostgreSQL 16.
  - On a cluster managed by Patroni, O(permanent=true) declares the slot in Patroni's dynamic configuration
    (C(slots)) through the REST API instead of creating it by SQL; Patroni then creates it on the leader and keeps it
    on the replicas, so that it survives a failover. Creating a slot by SQL on a server managed by Patroni is refused
    (see O(patroni_guard)).
author:
  - pgha.replication developers (@pgha)
extends_documentation_fragment:
  - pgha.replication._attributes
  - pgha.replication._attributes.postgresql_group
  - pgha.replication._postgres
  - pgha.replication._patroni
options:
  name:
    description:
      - Name of the slot.
      - PostgreSQL's rule for slot names, which is the rule of every name option of the collection's SQL modules -
        lower case letters (a-z), digits and underscores, 1 to 63 bytes. Other names fail before the server is touched.
    type: str
    required: true
    version_added: 0.1.0
  slot_type:
    description:
      - Type of the slot.
      - Ignored with O(state=absent), which drops the slot named O(name) whatever its type.
    type: str
    choices: [physical, logical]
    default: physical
    version_added: 0.1.0
  state:
    description:
      - V(present) creates the slot if it does not exist.
      - V(absent) drops it if it exists.
    type: str
    choices: [present, absent]
    default: present
    version_added: 0.1.0
  plugin:
    description:
      - Output plugin of a logical slot. Only valid with O(slot_type=logical).
      - When the slot is created and O(plugin) is not set, V(pgoutput) is used.
      - When set and an existing slot uses another plugin, the module fails.
    type: str
    version_added: 0.1.0
  immediately_reserve:
    description:
      - Reserve WAL for a physical slot as soon as it is created, rather than when a client first connects.
      - Applies at creation only; an existing slot is not changed. Only valid with O(slot_type=physical).
    type: bool
    default: false
    version_added: 0.1.0
  two_phase:
    description:
      - Enable decoding of prepared transactions for a logical slot (PostgreSQL 14 or later).
      - Applies at creation, where unset means V(false). When set and an existing slot differs, the module fails.
      - Only valid with O(slot_type=logical).
    type: bool
    version_added: 0.1.0
  terminate_active:
    description:
      - With O(state=absent), a slot in use by a walsender or backend cannot be dropped; by default the module fails.
      - When V(true), the process using the slot (C(active_pid)) is terminated with C(pg_terminate_backend()),
        the module waits up to O(wait_timeout) seconds for the slot to become inactive, then drops it
        (with O(permanent=true), Patroni drops it).
    type: bool
    default: false
    version_added: 0.1.0
  permanent:
    description:
      - 'V(true) manages the slot as a permanent slot of a Patroni cluster - an entry of the C(slots) key of Patroni''s
        dynamic configuration, C({type: physical}) or C({type: logical, database: <login_db>, plugin: <plugin>}), added
        or removed with a minimal C(PATCH /config) through O(api_url). Nothing is sent when the entry is already right.'
      - Patroni creates the slot on the leader, publishes the position of a logical slot in the DCS, copies a logical
        slot to each replica that may become leader (the replica's PostgreSQL is restarted once to load it) and keeps
        it advanced there, with C(hot_standby_feedback) enabled. A slot created by SQL gets none of this.
      - Needs O(api_url), and the SQL connection pointed at the leader - the module fails on a replica, where Patroni
        maintains the copies itself. The module then waits (O(wait)) until the slot exists on the leader, or is gone
        with O(state=absent).
      - A slot of the same name that already exists on the leader is adopted by Patroni, keeping its position, when its
        type, database and plugin match; otherwise Patroni would drop it and create a new one, so the module fails and
        names the option to change.
      - O(state=absent) removes the entry from the configuration (Patroni then drops the slot on every member), and
        drops by SQL a slot of that name that is not in the configuration.
      - O(two_phase=true) is refused (Patroni creates slots without it). Patroni always reserves WAL for a permanent
        physical slot at creation, whatever O(immediately_reserve).
      - Permanent logical slots need PostgreSQL 11 or later and C(wal_level=logical); Patroni does not set
        C(wal_level) itself.
    type: bool
    default: false
    version_added: 0.1.0
  patroni_guard:
    description:
      - With O(permanent=false), refuse to create a slot by SQL on a server managed by Patroni - Patroni drops a slot
        it does not know at its next check of the slots (after it creates any slot, a restart, a failover), and a
        logical slot made by SQL is never copied to the replicas, so it is lost at a failover.
      - The server is taken as managed by Patroni when O(api_url) is set, or when a connection of Patroni
        (application name C(Patroni heartbeat), C(Patroni restapi)...) shows in C(pg_stat_activity).
      - With O(api_url), a slot that Patroni's C(ignore_slots) covers is allowed - Patroni leaves it alone.
      - Set to V(false) to create such a slot anyway, for example one that C(ignore_slots) covers when O(api_url) is
        not given.
    type: bool
    default: true
    version_added: 0.1.0
  api_url:
    description:
      - Base URL of the REST API of any member of the Patroni cluster, for example V(http://127.0.0.1:8008).
      - Required with O(permanent=true). With O(permanent=false) it is optional; when set, a slot declared in Patroni's
        configuration is refused (it needs O(permanent=true)) and C(ignore_slots) is honoured (see O(patroni_guard)).
      - Not to be confused with the SQL connection (O(login_host), O(port)); O(api_timeout) applies to the REST API,
        O(connect_timeout) to PostgreSQL.
    type: str
    required: false
    version_added: 0.1.0
  wait:
    description:
      - With O(permanent=true), after a change of the configuration, wait until Patroni has created the slot on the
        leader (or dropped it with O(state=absent)); Patroni applies a change in its next HA loop (C(loop_wait)).
        The copies on the replicas follow later and are not waited for.
      - Not used in check mode.
    type: bool
    default: true
    version_added: 0.1.0
  wait_timeout:
    description:
      - Upper bound, in seconds, of each wait - for a terminated process to release the slot (see O(terminate_active)),
        and for Patroni to create or drop a permanent slot (see O(wait)). The module fails when it is reached.
      - Not used in check mode.
    type: int
    default: 30
    version_added: 0.1.0
attributes:
  diff_mode:
    description: Returns the slot before and after in RV(diff).
notes:
  - A logical slot belongs to the database the module connects to (O(login_db)); an existing logical slot of
    another database makes the module fail with O(state=present).
  - Creating slots needs the C(REPLICATION) attribute or superuser; terminating another role's process needs
    C(pg_signal_backend) or superuser.
  - With O(permanent=true) the module needs both the SQL connection (to the leader) and the REST API;
    C(PATCH /config) needs O(api_username) and O(api_password) when Patroni has C(restapi.authentication).
  - Patroni reads its permanent slots from the first non-empty of C(permanent_replication_slots), C(permanent_slots)
    and C(slots); the module changes that key (C(slots) when none is set).
  - Each replica that receives a new permanent logical slot restarts its PostgreSQL once to load the copy.
  - Concurrent identical runs (O(permanent=false)) converge. In apply mode a run takes an advisory lock on the slot's
    name (in the database of O(login_db)) before reading the slot, so a second run waits and finds what the first one
    made. When the slot is created or dropped by someone else between the read and the change (C(already exists),
    C(does not exist)), the module reads it again - no change when it is now as asked, otherwise a failure saying it
    was changed concurrently.
seealso:
  - module: pgha.replication.pg_replication_info
  - module: pgha.replication.patroni_config
  - name: Patroni permanent replication slots
    description: The C(slots) and C(ignore_slots) keys of Patroni's dynamic configuration.
    link: https://patroni.readthedocs.io/en/latest/dynamic_configuration.html
  - name: Replication slots
    description: PostgreSQL documentation on replication slots.
    link: https://www.postgresql.org/docs/current/warm-standby.html#STREAMING-REPLICATION-SLOTS
'''

EXAMPLES = r'''
- name: Create a physical slot for a standby
  pgha.replication.pg_replication_slot:
    name: standby1
    immediately_reserve: true
  become: true
  become_user: postgres

- name: Create a logical slot for a subscriber in database app
  pgha.replication.pg_replication_slot:
    name: app_sub
    slot_type: logical
    plugin: pgoutput
    login_db: app
  become: true
  become_user: postgres

- name: Keep a logical slot on every member of a Patroni cluster (run against the leader)
  pgha.replication.pg_replication_slot:
    name: app_sub
    slot_type: logical
    plugin: pgoutput
    login_db: app
    permanent: true
    api_url: https://10.0.0.1:8008
    api_username: patroni
    api_password: "{{ patroni_api_password }}"
    ca_path: /etc/patroni/pki/ca.crt
  become: true
  become_user: postgres
  when: is_leader

- name: Remove it from Patroni's configuration (Patroni drops it on every member)
  pgha.replication.pg_replication_slot:
    name: app_sub
    state: absent
    permanent: true
    api_url: https://10.0.0.1:8008
    api_username: patroni
    api_password: "{{ patroni_api_password }}"
  become: true
  become_user: postgres
  when: is_leader

- name: Drop a slot, disconnecting its consumer if needed
  pgha.replication.pg_replication_slot:
    name: old_standby
    state: absent
    terminate_active: true
  become: true
  become_user: postgres
'''

RETURN = r'''
slot:
  description:
    - The slot after the run (predicted in check mode), or V(null) when it does not exist.
    - Columns the server does not have (for example RV(slot.two_phase) before PostgreSQL 14) are V(null).
  returned: always
  type: dict
  contains:
    slot_name:
      description: Name of the slot.
      type: str
      sample: standby1
    slot_type:
      description: V(physical) or V(logical).
      type: str
      sample: physical
    plugin:
      description: Output plugin of a logical slot; V(null) for physical slots.
      type: str
      sample: pgoutput
    database:
      description: Database of a logical slot; V(null) for physical slots.
      type: str
      sample: app
    active:
      description: Whether a process is using the slot.
      type: bool
      sample: false
    active_pid:
      description: PID of the process using the slot.
      type: int
      sample: 4242
    restart_lsn:
      description: Oldest WAL location still needed by the consumer; V(null) until WAL is reserved.
      type: str
      sample: 0/3000148
    confirmed_flush_lsn:
      description: Location up to which a logical slot's consumer has confirmed receiving data.
      type: str
      sample: 0/3000180
    wal_status:
      description: Availability of the WAL the slot needs (PostgreSQL 13 or later).
      type: str
      sample: reserved
    safe_wal_size:
      description: Bytes that can still be written before the slot risks losing WAL (PostgreSQL 13 or later).
      type: int
      sample: null
    two_phase:
      description: Whether prepared transactions are decoded (PostgreSQL 14 or later).
      type: bool
      sample: false
    temporary:
      description: Whether the slot is temporary.
      type: bool
      sample: false
    retained_bytes:
      description:
        - WAL bytes kept by the slot - from RV(slot.restart_lsn) to the current WAL location
          (on a standby, the latest received or replayed location).
      type: int
      sample: 16777216
queries:
  description:
    - The statements run, or that would run in check mode, with their parameters bound.
    - With O(permanent=true) Patroni creates and drops the slot, so this is empty unless a process is terminated or a
      slot missing from Patroni's configuration is dropped.
  returned: always
  type: list
  elements: str
  sample: ["SELECT pg_create_physical_replication_slot('standby1', true)"]
patroni_slot:
  description:
    - The slot's entry in Patroni's dynamic configuration after the run (predicted in check mode), as stored;
      V(null) when there is none or O(api_url) is not set.
  returned: always
  type: dict
  sample: {type: logical, database: app, plugin: pgoutput}
requests:
  description:
    - The REST API requests that changed Patroni's configuration, or that would in check mode, each with C(method),
      C(path) and C(body). Never contains credentials.
  returned: always
  type: list
  elements: dict
  sample: [{method: PATCH, path: /config, body: {slots: {app_sub: {type: logical, database: app, plugin: pgoutput}}}}]
diff:
  description:
    - The slot's managed attributes before and after.
    - When O(api_url) is set, C(patroni_slot) holds the entry in Patroni's configuration.
  returned: when diff mode is enabled
  type: dict
  contains:
    before:
      description: Attributes before the run.
      type: dict
      sample: {state: absent}
    after:
      description: Attributes after the run.
      type: dict
      sample: {state: present, slot_name: standby1, slot_type: physical, plugin: null, database: null, two_phase: false, temporary: false}
'''

import json
import re
import time
from collections import namedtuple

from ansible_collections.pgha.replication.plugins.module_utils._converge import converge, lock_object
from ansible_collections.pgha.replication.plugins.module_utils._module import ModuleFrame
from ansible_collections.pgha.replication.plugins.module_utils._patroni import (
    PATRONI_API,
    PatroniApiError,
    PatroniClient,
    validate_api_params,
)
from ansible_collections.pgha.replication.plugins.module_utils._postgres import (
    Conflict,
    POSTGRES,
    InvalidInput,
    PgHaError,
    QueryFailed,
    Unsupported,
    WaitTimeout,
    connect,
    fetch_one,
    server_facts,
    sql,
)
from ansible_collections.pgha.replication.plugins.module_utils._sql import apply as apply_statements, run_statement, show, statement
from ansible_collections.pgha.replication.plugins.module_utils._sql_input import validate_name

OBJECT_IN_USE = '55006'

# Statement kinds of a plan: 'sql', or TERMINATE (run it, then wait for the slot to be released).
TERMINATE = 'terminate'

MANAGED_KEYS = ('slot_name', 'slot_type', 'plugin', 'database', 'two_phase', 'temporary')

# Patroni reads its permanent slots from the first non-empty of these keys (patroni/global_config.py).
SLOTS_KEYS = ('permanent_replication_slots', 'permanent_slots', 'slots')
# Patroni's own connections to PostgreSQL carry these application names (patroni/postgresql/connection.py).
PATRONI_ACTIVITY_QUERY = ("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity "
                          "WHERE application_name = %s OR application_name LIKE %s) AS patroni")
POLL_INTERVAL = 0.2


def validate_slot_name(name):
    """Raise InvalidInput unless ``name`` is a valid PostgreSQL replication slot name (the collection's name rule)."""
    validate_name(name, 'name', 'slot name')


def validate_params(params):
    """Check option combinations that the argument spec cannot express. Pure; raises InvalidInput."""
    validate_slot_name(params['name'])
    if params['slot_type'] == 'physical':
        if params.get('plugin') is not None:
            raise InvalidInput('plugin is only valid with slot_type=logical')
        if params.get('two_phase') is not None:
            raise InvalidInput('two_phase is only valid with slot_type=logical')
    else:
        if params.get('immediately_reserve'):
            raise InvalidInput('immediately_reserve is only valid with slot_type=physical (logical slots always reserve WAL)')
        if params.get('plugin') is not None and not params['plugin']:
            raise InvalidInput('plugin must not be empty')
    if params.get('wait_timeout') is not None and params['wait_timeout'] < 0:
        raise InvalidInput('wait_timeout must be 0 or more')
    if params.get('permanent'):
        if not params.get('api_url'):
            raise InvalidInput('permanent=true needs api_url, the URL of the Patroni REST API of a member of the cluster '
                               '(for example http://127.0.0.1:8008), with api_username and api_password')
        if params.get('two_phase'):
            raise InvalidInput('two_phase=true cannot be used with permanent=true: Patroni creates permanent slots without '
                               'two-phase decoding')
    if params.get('api_url'):
        validate_api_params(params)


def desired_from_params(params):
    """Build the desired-state dict the planner works from."""
    return dict(
        name=params['name'],
        state=params['state'],
        slot_type=params['slot_type'],
        plugin=params.get('plugin'),
        immediately_reserve=bool(params.get('immediately_reserve')),
        two_phase=params.get('two_phase'),
        terminate_active=bool(params.get('terminate_active')),
        database=params.get('login_db'),
        permanent=bool(params.get('permanent')),
        patroni_guard=params.get('patroni_guard', True) is not False,
    )


def plan(current, desired, server):
    """Turn (current slot or None, desired, server facts) into a list of Steps. Pure.

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
        return []

    if slot_type == 'physical':
        return [statement('SELECT pg_create_physical_replication_slot(%s, %s)', params=(name, desired['immediately_reserve']))]

    if server.get('in_recovery') and server['version_num'] < 160000:
        raise Unsupported("logical slot '%s' cannot be created on a standby before PostgreSQL 16; create it on the primary" % name)
    if server.get('wal_level') != 'logical':
        raise Unsupported("logical slot '%s' needs wal_level=logical (the server has wal_level=%s)" % (name, server.get('wal_level')))
    plugin = desired['plugin'] or 'pgoutput'
    if desired['two_phase']:
        if server['version_num'] < 140000:
            raise Unsupported('two_phase needs PostgreSQL 14 or later')
        return [statement('SELECT pg_create_logical_replication_slot(%s, %s, false, %s)', params=(name, plugin, True))]
    return [statement('SELECT pg_create_logical_replication_slot(%s, %s)', params=(name, plugin))]


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
        temporary=False,
        retained_bytes=None,
    )


def diff_view(slot):
    """The managed attributes of a slot, as shown in the diff. Pure."""
    if slot is None:
        return {'state': 'absent'}
    view = {'state': 'present'}
    for key in MANAGED_KEYS:
        view[key] = slot.get(key)
    return view


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


def slot_matches(slot, desired):
    """Whether an existing slot is what ``desired`` (with its plugin resolved) asks for. Pure."""
    if slot is None or slot['slot_type'] != desired['slot_type']:
        return False
    if desired['slot_type'] == 'physical':
        return True
    return slot.get('database') == desired['database'] and slot.get('plugin') == desired['plugin']


def read_patroni(client):
    """GET /config and GET /cluster: {config, scope, members}."""
    config = client.get_json('/config')
    if not isinstance(config, dict):
        raise PatroniApiError('GET /config: the answer is not a Patroni dynamic configuration')
    cluster = client.get_json('/cluster')
    if not isinstance(cluster, dict):
        raise PatroniApiError('GET /cluster: the answer is not a Patroni cluster description')
    members = [m.get('name') for m in cluster.get('members') or [] if isinstance(m, dict) and m.get('name')]
    return dict(config=config, scope=cluster.get('scope'), members=members)


def patroni_managed(conn):
    """Whether a connection of Patroni shows in pg_stat_activity (visible to any role)."""
    return bool(fetch_one(conn, PATRONI_ACTIVITY_QUERY, ('Patroni', 'Patroni %'))['patroni'])


def send_patch(client, patch, deadline):
    """PATCH /config; return the configuration Patroni stored. Then re-read GET /config until the member's cache of the
    DCS shows it too (so that the next run reads what was written), until ``deadline`` at most."""
    dummy, text = client.request('PATCH', '/config', body=patch)
    try:
        stored = json.loads(text)
    except ValueError:
        stored = None
    while True:
        seen = client.get_json('/config')
        if not isinstance(stored, dict):
            return seen if isinstance(seen, dict) else {}
        if seen == stored or time.monotonic() >= deadline:
            return stored
        time.sleep(POLL_INTERVAL / 2)


def wait_for_slot(conn, desired, server, wait_for, deadline, ran):
    """Poll the slot until Patroni has created it (wait_for='present') or dropped it ('absent'); return it.

    With state=absent and terminate_active=true, a consumer that takes the slot again is terminated again (appended to
    ``ran``). Raises WaitTimeout.
    """
    name = desired['name']
    while True:
        slot = read_slot(conn, name, server)
        if wait_for == 'present' and slot_matches(slot, desired):
            return slot
        if wait_for == 'absent':
            if slot is None:
                return None
            if slot['active'] and desired['terminate_active']:
                terminate = terminate_statement(slot['active_pid'])
                ran.append(show(conn, terminate))
                run_statement(conn, terminate, ran)
        if time.monotonic() >= deadline:
            if wait_for == 'present':
                raise WaitTimeout(
                    "slot '%s' is declared in Patroni's configuration but did not appear on this server within "
                    "wait_timeout; Patroni creates it on the leader in its next HA loop (loop_wait): raise wait_timeout, "
                    "or look for the reason in the leader's Patroni log (max_replication_slots, the plugin)" % name)
            raise WaitTimeout("slot '%s' is removed from Patroni's configuration but still exists on this server after "
                              "wait_timeout; Patroni drops it in its next HA loop when it is not in use%s" % (
                                  name, '' if desired['terminate_active'] else ' (terminate_active=true terminates its user)'))
        time.sleep(POLL_INTERVAL)


def read_slot(conn, name, server):
    """Return the slot named ``name`` as a dict, or None."""
    version = server['version_num']
    columns = ['slot_name', 'slot_type', 'plugin', 'database', 'active', 'active_pid', 'temporary']
    optional = [('wal_status', 130000), ('safe_wal_size', 130000), ('two_phase', 140000)]
    select = [sql.Identifier(c) for c in columns]
    select += [sql.SQL('restart_lsn::text AS restart_lsn'), sql.SQL('confirmed_flush_lsn::text AS confirmed_flush_lsn')]
    select += [sql.Identifier(c) if version >= minimum else sql.SQL('NULL AS {0}').format(sql.Identifier(c)) for c, minimum in optional]
    query = sql.SQL(
        'SELECT {0}, pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() '
        'THEN GREATEST(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) ELSE pg_current_wal_lsn() END, '
        'restart_lsn)::bigint AS retained_bytes FROM pg_catalog.pg_replication_slots WHERE slot_name = %s'
    ).format(sql.SQL(', ').join(select))
    return fetch_one(conn, query, (name,))


def _wait_released(conn, name, server, deadline):
    """Wait until the slot is inactive or gone. Returns the slot (or None). Raises WaitTimeout."""
    while True:
        slot = read_slot(conn, name, server)
        if slot is None or not slot['active']:
            return slot
        if time.monotonic() >= deadline:
            raise WaitTimeout("slot '%s' is still in use by process %s after the wait_timeout" % (name, slot['active_pid']))
        time.sleep(0.1)


def apply(conn, steps, desired, server, wait_timeout):
    """Run the planned statements (_sql.apply); return them as run. A terminate is followed by a wait for the slot
    to be released; a drop that finds the slot taken again (pg_receivewal reconnects in a loop) terminates its user
    again, until ``wait_timeout``."""
    deadline = time.monotonic() + wait_timeout
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
                _wait_released(conn, name, server, deadline)

    def after_each(conn, st, ran):
        if st.kind == TERMINATE:
            _wait_released(conn, name, server, deadline)

    return apply_statements(conn, steps, execute_one, after_each)


def terminate_statement(pid):
    return statement('SELECT pg_terminate_backend(%s)', params=(pid,), kind=TERMINATE)


def _request_view(patch):
    return [dict(method='PATCH', path='/config', body=patch)] if patch else []


def run(module, conn, client=None):
    """Read, plan, apply (unless check mode), re-read. Returns the result dict."""
    params = module.params
    desired = desired_from_params(params)
    server = server_facts(conn)
    current = read_slot(conn, desired['name'], server)
    patroni = read_patroni(client) if client is not None else None
    if desired['permanent']:
        server['cluster_name'] = fetch_one(conn, "SELECT current_setting('cluster_name') AS name")['name']
        return run_permanent(module, conn, client, desired, server, current, patroni)

    check_unmanaged(desired, patroni)
    if not module.check_mode:
        # Serialise concurrent runs on this slot, then read it again: the second run finds what the first one made.
        lock_object(conn, 'slot', desired['name'])
        current = read_slot(conn, desired['name'], server)
    steps = plan(current, desired, server)
    if steps and desired['state'] == 'present' and desired['patroni_guard']:
        evidence = 'api_url is set' if client is not None else None
        if evidence is None and patroni_managed(conn):
            evidence = 'a connection of Patroni shows in pg_stat_activity'
        slot = dict(name=desired['name'], type=desired['slot_type'],
                    database=desired['database'] if desired['slot_type'] == 'logical' else None,
                    plugin=(desired['plugin'] or 'pgoutput') if desired['slot_type'] == 'logical' else None)
        if evidence and not (patroni is not None and ignored_by_patroni(patroni['config'], slot)):
            raise Conflict(guard_message(desired, evidence))
    if module.check_mode:
        queries = [show(conn, step) for step in steps]
        after = predict(current, desired, server, steps)
    else:
        queries, raced = converge(lambda: apply(conn, steps, desired, server, params['wait_timeout']),
                                  lambda: read_slot(conn, desired['name'], server),
                                  lambda slot: not plan(slot, desired, server), "slot '%s'" % desired['name'])
        if raced:
            steps = queries  # made (or dropped) by someone else as asked: only what ran before (a terminate) changed
        after = read_slot(conn, desired['name'], server)
    entry = config_entry(patroni['config'], desired['name'])[1] if patroni is not None else None
    result = dict(changed=bool(steps), slot=after, patroni_slot=entry, queries=queries, requests=[])
    if module._diff:
        before_view, after_view = diff_view(current), diff_view(after)
        if patroni is not None:
            before_view['patroni_slot'] = after_view['patroni_slot'] = entry
        result['diff'] = dict(before=before_view, after=after_view)
    return result


def run_permanent(module, conn, client, desired, server, current, patroni):
    """permanent=true: declare (or remove) the slot in Patroni's configuration, then wait for Patroni on the leader."""
    params = module.params
    planned = plan_permanent(current, desired, server, patroni)
    entry_before = config_entry(patroni['config'], desired['name'])[1]
    requests = _request_view(planned.patch)
    changed = bool(planned.patch or planned.steps)
    if module.check_mode:
        queries = [show(conn, step) for step in planned.steps]
        if planned.wait_for == 'present':
            after = current if current is not None else predict(None, planned.desired, server, [True])
        else:
            after = predict(current, desired, server, planned.steps) if planned.wait_for is None else None
        entry_after = planned.entry
    else:
        deadline = time.monotonic() + params['wait_timeout']
        queries, sent = [], []
        try:
            entry_after = entry_before
            if planned.patch:
                stored = send_patch(client, planned.patch, deadline)
                sent = requests
                entry_after = config_entry(stored, desired['name'])[1]
            queries = apply(conn, planned.steps, desired, server, params['wait_timeout'])
            if planned.wait_for and params['wait']:
                after = wait_for_slot(conn, planned.desired, server, planned.wait_for, deadline, queries)
            else:
                after = read_slot(conn, desired['name'], server)
        except PgHaError as exc:
            exc.details['queries'] = queries + exc.details.get('queries', [])
            exc.details['requests'] = sent
            raise
    result = dict(changed=changed, slot=after, patroni_slot=entry_after, queries=queries, requests=requests)
    if module._diff:
        before_view, after_view = diff_view(current), diff_view(after)
        before_view['patroni_slot'], after_view['patroni_slot'] = entry_before, entry_after
        result['diff'] = dict(before=before_view, after=after_view)
    return result


ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    slot_type=dict(type='str', default='physical', choices=['physical', 'logical']),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    plugin=dict(type='str'),
    immediately_reserve=dict(type='bool', default=False),
    two_phase=dict(type='bool'),
    terminate_active=dict(type='bool', default=False),
    permanent=dict(type='bool', default=False),
    patroni_guard=dict(type='bool', default=True),
    wait=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=30),
)


def main():
    frame = ModuleFrame(ARGUMENT_SPEC, groups=[POSTGRES, PATRONI_API.optional(when='api_url')], validate=validate_params,
                        report=dict(queries=[], requests=[]))
    client = PatroniClient(frame.module.params) if frame.module.params['api_url'] else None
    frame.run(lambda module: run(module, frame.closing(connect(module.params)), client))


if __name__ == '__main__':
    main()
