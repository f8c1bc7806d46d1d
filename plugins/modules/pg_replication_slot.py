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
  failover:
    description:
      - Create the logical slot as a failover slot (C(pg_create_logical_replication_slot(..., failover => true)),
        PostgreSQL 17 or later; refused on older servers before anything is changed). PostgreSQL copies such a slot
        to the standbys that run with C(sync_replication_slots = on) and C(hot_standby_feedback = on) (RV(slot.synced)
        is V(true) there), so that a subscriber continues from a standby promoted after a failover.
      - Applies at creation, where unset means V(false). When set and an existing slot differs, the module fails (a
        subscription with M(pgha.replication.pg_subscription) O(pgha.replication.pg_subscription#module:failover)
        alters its own slot).
      - On a server managed by Patroni such a slot may be created by SQL (see O(patroni_guard)) - Patroni 4.1 leaves
        failover slots to PostgreSQL.
      - Only valid with O(slot_type=logical), on the primary, and not with O(permanent=true) (a Patroni permanent slot
        is Patroni's way of keeping a slot across a failover).
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
      - A logical slot with O(failover=true) on PostgreSQL 17 or later is allowed - Patroni 4.1 leaves failover slots to
        PostgreSQL's own slot synchronisation.
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
    api_ca_path: /etc/patroni/pki/ca.crt
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
    failover:
      description:
        - Whether the slot is a failover slot, synchronised to standbys with C(sync_replication_slots) (PostgreSQL 17
          or later; V(null) before).
      type: bool
      sample: true
      version_added: 0.1.0
    synced:
      description:
        - On a standby, whether the slot is a copy synchronised from the primary by the slot sync worker; such a copy
          cannot be used until the standby is promoted, and keeps V(true) after the promotion (PostgreSQL 17 or
          later; V(null) before).
      type: bool
      sample: false
      version_added: 0.1.0
    temporary:
      description: Whether the slot is temporary.
      type: bool
      sample: false
    conflicting:
      description: Whether a logical slot was invalidated by a conflict with recovery (PostgreSQL 16 or later; V(null) before).
      type: bool
      sample: false
      version_added: 0.1.0
    failover_ready:
      description:
        - On a standby, whether this synchronised copy of a failover slot would survive a promotion - C(synced), not
          C(temporary) and not C(conflicting), PostgreSQL's own check; a promotion drops a copy that is still
          temporary. V(null) on a primary, on a slot that is not a synchronised copy, and before PostgreSQL 17.
      type: bool
      sample: null
      version_added: 0.1.0
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
      sample: {state: present, slot_name: standby1, slot_type: physical, plugin: null, database: null, two_phase: false, failover: null, temporary: false}
'''

from ansible_collections.pgha.replication.plugins.module_utils._converge import converge, lock_object
from ansible_collections.pgha.replication.plugins.module_utils._errors import InvalidInput
from ansible_collections.pgha.replication.plugins.module_utils._module import ModuleFrame
from ansible_collections.pgha.replication.plugins.module_utils._patroni import PATRONI_API, PatroniClient, validate_api_params
from ansible_collections.pgha.replication.plugins.module_utils._patroni_slots import (
    apply_permanent,
    check_guard,
    check_unmanaged,
    config_entry,
    plan_permanent,
    read_patroni,
    request_view,
)
from ansible_collections.pgha.replication.plugins.module_utils._postgres import POSTGRES, connect, fetch_one, server_facts
from ansible_collections.pgha.replication.plugins.module_utils._slots import (
    apply,
    check_failover_supported,
    plan,
    predict,
    read_slot,
)
from ansible_collections.pgha.replication.plugins.module_utils._sql import show
from ansible_collections.pgha.replication.plugins.module_utils._sql_input import validate_name


MANAGED_KEYS = ('slot_name', 'slot_type', 'plugin', 'database', 'two_phase', 'failover', 'temporary')


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
        if params.get('failover') is not None:
            raise InvalidInput('failover is only valid with slot_type=logical')
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
        if params.get('failover') is not None:
            raise InvalidInput('failover cannot be used with permanent=true: a permanent slot is kept on the replicas by '
                               'Patroni; set permanent=false and failover=true for a slot PostgreSQL synchronises itself')
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
        failover=params.get('failover'),
        terminate_active=bool(params.get('terminate_active')),
        database=params.get('login_db'),
        permanent=bool(params.get('permanent')),
        patroni_guard=params.get('patroni_guard', True) is not False,
    )


def diff_view(slot):
    """The managed attributes of a slot, as shown in the diff. Pure."""
    if slot is None:
        return {'state': 'absent'}
    view = {'state': 'present'}
    for key in MANAGED_KEYS:
        view[key] = slot.get(key)
    return view


def run(module, conn, client=None):
    """Read, plan, apply (unless check mode), re-read. Returns the result dict."""
    params = module.params
    desired = desired_from_params(params)
    server = server_facts(conn)
    check_failover_supported(desired, server)
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
        check_guard(conn, desired, patroni, server)
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
    requests = request_view(planned.patch)
    changed = bool(planned.patch or planned.steps)
    if module.check_mode:
        queries = [show(conn, step) for step in planned.steps]
        if planned.wait_for == 'present':
            after = current if current is not None else predict(None, planned.desired, server, [True])
        else:
            after = predict(current, desired, server, planned.steps) if planned.wait_for is None else None
        entry_after = planned.entry
    else:
        queries, entry_after, after = apply_permanent(conn, client, planned, server, entry_before, params['wait'],
                                                      params['wait_timeout'])
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
    failover=dict(type='bool'),
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
