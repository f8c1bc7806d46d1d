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
author:
  - pgha.replication developers (@pgha)
extends_documentation_fragment:
  - pgha.replication._postgres
options:
  name:
    description:
      - Name of the slot.
      - PostgreSQL's rule applies - lower case letters, digits and underscores only, at most 63 bytes.
        Other names fail before the server is touched.
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
        the module waits up to O(wait_timeout) seconds for the slot to become inactive, then drops it.
    type: bool
    default: false
    version_added: 0.1.0
  wait_timeout:
    description:
      - Seconds to wait for a terminated process to release the slot (see O(terminate_active)).
      - Not used in check mode.
    type: int
    default: 10
    version_added: 0.1.0
attributes:
  check_mode:
    description: Can run in check mode and predict the same changes, queries and diff as a real run.
    support: full
  diff_mode:
    description: Returns the slot before and after in RV(diff).
    support: full
  action_group:
    description: Use C(group/pgha.replication.postgresql) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - pgha.replication.postgresql
notes:
  - A logical slot belongs to the database the module connects to (O(login_db)); an existing logical slot of
    another database makes the module fail with O(state=present).
  - Creating slots needs the C(REPLICATION) attribute or superuser; terminating another role's process needs
    C(pg_signal_backend) or superuser.
seealso:
  - module: pgha.replication.pg_replication_info
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
  description: The statements run, or that would run in check mode, with their parameters bound.
  returned: always
  type: list
  elements: str
  sample: ["SELECT pg_create_physical_replication_slot('standby1', true)"]
diff:
  description: The slot's managed attributes before and after.
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

import re
import time
from collections import namedtuple

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.pgha.replication.plugins.module_utils._postgres import (
    HAS_PSYCOPG2,
    PSYCOPG2_IMPORT_ERROR,
    Conflict,
    InvalidInput,
    PgHaError,
    QueryFailed,
    Unsupported,
    WaitTimeout,
    connect,
    execute,
    fetch_one,
    postgres_argument_spec,
    render,
    server_facts,
    sql,
)

SLOT_NAME_RE = re.compile(r'^[a-z0-9_]{1,63}$')
OBJECT_IN_USE = '55006'
UNDEFINED_OBJECT = '42704'

# One step of a plan. kind is 'sql' (run query with params) or 'terminate' (run it, then wait for the slot to be released).
Step = namedtuple('Step', ['kind', 'query', 'params'])

MANAGED_KEYS = ('slot_name', 'slot_type', 'plugin', 'database', 'two_phase', 'temporary')


def _sql(text):
    # Statements are fixed SQL text with %s placeholders; values always travel as parameters.
    if sql is None:
        return text
    return sql.SQL(text)


def validate_slot_name(name):
    """Raise InvalidInput unless ``name`` is a valid PostgreSQL replication slot name."""
    if name is None or not SLOT_NAME_RE.match(name):
        raise InvalidInput(
            "invalid slot name %r: use only lower case letters, digits and underscores, 1 to 63 characters" % (name,))


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
            steps.append(Step('terminate', _sql('SELECT pg_terminate_backend(%s)'), (current['active_pid'],)))
        steps.append(Step('sql', _sql('SELECT pg_drop_replication_slot(%s)'), (name,)))
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
        return [Step('sql', _sql('SELECT pg_create_physical_replication_slot(%s, %s)'),
                     (name, desired['immediately_reserve']))]

    if server.get('in_recovery') and server['version_num'] < 160000:
        raise Unsupported("logical slot '%s' cannot be created on a standby before PostgreSQL 16; create it on the primary" % name)
    if server.get('wal_level') != 'logical':
        raise Unsupported("logical slot '%s' needs wal_level=logical (the server has wal_level=%s)" % (name, server.get('wal_level')))
    plugin = desired['plugin'] or 'pgoutput'
    if desired['two_phase']:
        if server['version_num'] < 140000:
            raise Unsupported('two_phase needs PostgreSQL 14 or later')
        return [Step('sql', _sql('SELECT pg_create_logical_replication_slot(%s, %s, false, %s)'), (name, plugin, True))]
    return [Step('sql', _sql('SELECT pg_create_logical_replication_slot(%s, %s)'), (name, plugin))]


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
        if time.time() >= deadline:
            raise WaitTimeout("slot '%s' is still in use by process %s after the wait_timeout" % (name, slot['active_pid']))
        time.sleep(0.1)


def apply(conn, steps, desired, server, wait_timeout):
    """Run the planned steps; return the rendered statements actually run.

    On failure the statements that did run are attached to the exception as ``details['queries']``.
    """
    ran = []
    try:
        _apply(conn, steps, desired, server, wait_timeout, ran)
    except PgHaError as exc:
        exc.details['queries'] = ran
        raise
    return ran


def _apply(conn, steps, desired, server, wait_timeout, ran):
    deadline = time.time() + wait_timeout
    name = desired['name']
    for step in steps:
        if step.kind == 'terminate':
            ran.append(render(conn, step.query, step.params))
            execute(conn, step.query, step.params)
            _wait_released(conn, name, server, deadline)
            continue
        while True:
            try:
                execute(conn, step.query, step.params)
                ran.append(render(conn, step.query, step.params))
                break
            except QueryFailed as exc:
                if exc.pgcode == UNDEFINED_OBJECT and desired['state'] == 'absent':
                    break  # dropped concurrently: the goal is reached
                # A consumer that reconnects (pg_receivewal loops) may grab the slot again between terminate and drop.
                if exc.pgcode != OBJECT_IN_USE or not desired['terminate_active'] or time.time() >= deadline:
                    raise
                slot = read_slot(conn, name, server)
                if slot is not None and slot['active']:
                    query = _sql('SELECT pg_terminate_backend(%s)')
                    ran.append(render(conn, query, (slot['active_pid'],)))
                    execute(conn, query, (slot['active_pid'],))
                _wait_released(conn, name, server, deadline)


def run(module, conn):
    """Read, plan, apply (unless check mode), re-read. Returns the result dict."""
    params = module.params
    desired = desired_from_params(params)
    server = server_facts(conn)
    current = read_slot(conn, desired['name'], server)
    steps = plan(current, desired, server)
    if module.check_mode:
        queries = [render(conn, step.query, step.params) for step in steps]
        after = predict(current, desired, server, steps)
    else:
        queries = apply(conn, steps, desired, server, params['wait_timeout'])
        after = read_slot(conn, desired['name'], server)
    result = dict(changed=bool(steps), slot=after, queries=queries)
    if module._diff:
        result['diff'] = dict(before=diff_view(current), after=diff_view(after))
    return result


def main():
    argument_spec = postgres_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        slot_type=dict(type='str', default='physical', choices=['physical', 'logical']),
        state=dict(type='str', default='present', choices=['present', 'absent']),
        plugin=dict(type='str'),
        immediately_reserve=dict(type='bool', default=False),
        two_phase=dict(type='bool'),
        terminate_active=dict(type='bool', default=False),
        wait_timeout=dict(type='int', default=10),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)

    if not HAS_PSYCOPG2:
        module.fail_json(msg=missing_required_lib('psycopg2'), exception=PSYCOPG2_IMPORT_ERROR)

    conn = None
    try:
        validate_params(module.params)
        conn = connect(module.params)
        result = run(module, conn)
    except PgHaError as exc:
        module.fail_json(msg=exc.msg, queries=exc.details.get('queries', []))
    finally:
        if conn is not None:
            conn.close()
    module.exit_json(**result)


if __name__ == '__main__':
    main()
