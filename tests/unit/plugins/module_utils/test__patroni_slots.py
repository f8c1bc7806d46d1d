# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure unit tests of the Patroni-permanent backend of pg_replication_slot (_patroni_slots): Patroni's configuration
read as Patroni does, the guard, the permanent planner. No server."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.pgha.replication.plugins.module_utils._errors import Conflict, Unsupported
from ansible_collections.pgha.replication.plugins.module_utils import _patroni_slots
from ansible_collections.pgha.replication.plugins.module_utils import _slots
from ansible_collections.pgha.replication.plugins.modules import pg_replication_slot as mod
from unit.plugins.slot_cases import (  # pylint: disable=import-error
    LOGICAL_DEF,
    PATRONI_PRIMARY,
    PG15_PRIMARY,
    PG17_PRIMARY,
    desired,
    logical,
    patroni,
    pdesired,
    physical,
    plan_view,
)


@pytest.mark.parametrize('config, key', [
    ({}, 'slots'),
    ({'slots': {}}, 'slots'),
    ({'slots': {'a': None}}, 'slots'),
    ({'permanent_slots': {'a': None}, 'slots': {'b': None}}, 'permanent_slots'),
    ({'permanent_replication_slots': {'a': None}, 'permanent_slots': {'b': None}}, 'permanent_replication_slots'),
    ({'permanent_replication_slots': {}, 'slots': {'b': None}}, 'slots'),
])
def test_slots_key(config, key):
    assert _patroni_slots.slots_key(config) == key


@pytest.mark.parametrize('raw, view', [
    (None, dict(type='physical', database=None, plugin=None)),
    ({}, dict(type='physical', database=None, plugin=None)),
    ({'type': 'physical'}, dict(type='physical', database=None, plugin=None)),
    ({'database': 'db', 'plugin': 'pgoutput'}, dict(type='logical', database='db', plugin='pgoutput')),
    ({'type': 'logical', 'database': 'db', 'plugin': 'wal2json'}, dict(type='logical', database='db', plugin='wal2json')),
    ({'database': 'db'}, dict(type='physical', database=None, plugin=None)),
    ('junk', dict(type=None, database=None, plugin=None)),
])
def test_entry_view(raw, view):
    assert _patroni_slots.entry_view(raw) == view


@pytest.mark.parametrize('member, slot', [('pg1', 'pg1'), ('db-1.example.com', 'db_1_example_com'), ('Node A', 'nodeu0032a')])
def test_member_slot_name(member, slot):
    assert _patroni_slots.member_slot_name(member) == slot


IGNORE_CASES = [
    ('no ignore_slots', {}, False),
    ('by name', {'ignore_slots': [{'name': 's1'}]}, True),
    ('other name', {'ignore_slots': [{'name': 's2'}]}, False),
    ('by type', {'ignore_slots': [{'type': 'logical'}]}, True),
    ('by other type', {'ignore_slots': [{'type': 'physical'}]}, False),
    ('by database and plugin', {'ignore_slots': [{'database': 'postgres', 'plugin': 'pgoutput'}]}, True),
    ('by other plugin', {'ignore_slots': [{'name': 's1', 'plugin': 'wal2json'}]}, False),
    ('junk entry skipped', {'ignore_slots': ['s1', {'name': 's1'}]}, True),
]


@pytest.mark.parametrize('config, expected', [c[1:] for c in IGNORE_CASES], ids=[c[0] for c in IGNORE_CASES])
def test_ignored_by_patroni(config, expected):
    slot = dict(name='s1', type='logical', database='postgres', plugin='pgoutput')
    assert _patroni_slots.ignored_by_patroni(config, slot) is expected


def test_check_unmanaged():
    _patroni_slots.check_unmanaged(desired(), None)
    _patroni_slots.check_unmanaged(desired(), patroni({'other': None}))
    with pytest.raises(Conflict, match=r'permanent slot in Patroni.s configuration \(permanent_slots.s1\); set permanent=true'):
        _patroni_slots.check_unmanaged(desired(state='absent'), patroni({'s1': None}, key='permanent_slots'))


PERMANENT_CASES = [
    # id, current, desired overrides, patroni view, expected
    ('declare logical', None, dict(slot_type='logical'), patroni(),
     dict(patch={'slots': {'s1': LOGICAL_DEF}}, steps=[], entry=LOGICAL_DEF, wait_for='present')),
    ('declare logical, plugin and database', None, dict(slot_type='logical', plugin='wal2json', login_db='app'), patroni(),
     dict(patch={'slots': {'s1': {'type': 'logical', 'database': 'app', 'plugin': 'wal2json'}}}, steps=[],
          entry={'type': 'logical', 'database': 'app', 'plugin': 'wal2json'}, wait_for='present')),
    ('declare physical', None, dict(), patroni(),
     dict(patch={'slots': {'s1': {'type': 'physical'}}}, steps=[], entry={'type': 'physical'}, wait_for='present')),
    ('declared, slot missing: wait only', None, dict(slot_type='logical'), patroni({'s1': LOGICAL_DEF}),
     dict(patch=None, steps=[], entry=LOGICAL_DEF, wait_for='present')),
    ('declared and present', logical(), dict(slot_type='logical'), patroni({'s1': LOGICAL_DEF}),
     dict(patch=None, steps=[], entry=LOGICAL_DEF, wait_for='present')),
    ('declared without type, plugin unset is not managed', logical(plugin='wal2json'), dict(slot_type='logical'),
     patroni({'s1': {'database': 'postgres', 'plugin': 'wal2json'}}),
     dict(patch=None, steps=[], entry={'database': 'postgres', 'plugin': 'wal2json'}, wait_for='present')),
    ('declared as null is physical', physical(), dict(), patroni({'s1': None}),
     dict(patch=None, steps=[], entry=None, wait_for='present')),
    ('other key in use', None, dict(), patroni({'x': None}, key='permanent_slots'),
     dict(patch={'permanent_slots': {'s1': {'type': 'physical'}}}, steps=[], entry={'type': 'physical'}, wait_for='present')),
    ('adopt a matching SQL slot', logical(), dict(slot_type='logical'), patroni(),
     dict(patch={'slots': {'s1': LOGICAL_DEF}}, steps=[], entry=LOGICAL_DEF, wait_for='present')),
    ('remove', logical(), dict(state='absent'), patroni({'s1': LOGICAL_DEF}),
     dict(patch={'slots': {'s1': None}}, steps=[], entry=None, wait_for='absent')),
    ('remove, declared, slot already gone', None, dict(state='absent'), patroni({'s1': LOGICAL_DEF}),
     dict(patch={'slots': {'s1': None}}, steps=[], entry=None, wait_for='absent')),
    ('remove an active slot, terminate', logical(active=True, active_pid=42), dict(state='absent', terminate_active=True),
     patroni({'s1': LOGICAL_DEF}),
     dict(patch={'slots': {'s1': None}}, steps=[('terminate', 'SELECT pg_terminate_backend(%s)', (42,))], entry=None,
          wait_for='absent')),
    ('remove a slot ignore_slots covers: drop by SQL', logical(), dict(state='absent'),
     patroni({'s1': LOGICAL_DEF}, ignore_slots=[{'name': 's1'}]),
     dict(patch={'slots': {'s1': None}}, steps=[('sql', 'SELECT pg_drop_replication_slot(%s)', ('s1',))], entry=None,
          wait_for=None)),
    ('absent, not declared: SQL drop', physical(), dict(state='absent'), patroni(),
     dict(patch=None, steps=[('sql', 'SELECT pg_drop_replication_slot(%s)', ('s1',))], entry=None, wait_for=None)),
    ('absent, nothing at all', None, dict(state='absent'), patroni(),
     dict(patch=None, steps=[], entry=None, wait_for=None)),
]


@pytest.mark.parametrize('current, overrides, view, expected', [c[1:] for c in PERMANENT_CASES],
                         ids=[c[0] for c in PERMANENT_CASES])
def test_plan_permanent(current, overrides, view, expected):
    assert plan_view(_patroni_slots.plan_permanent(current, pdesired(**overrides), PATRONI_PRIMARY, view)) == expected


PERMANENT_REFUSED = [
    ('on a replica', None, dict(), dict(PATRONI_PRIMARY, in_recovery=True), patroni(), Unsupported,
     'must point at the Patroni leader, and this server is a replica'),
    ('absent on a replica', None, dict(state='absent'), dict(PATRONI_PRIMARY, in_recovery=True), patroni(), Unsupported,
     'replica'),
    ('other cluster', None, dict(), PATRONI_PRIMARY, patroni(scope='other'), Conflict,
     "api_url belongs to the Patroni cluster 'other' but .* cluster_name 'pgha'"),
    ('use_slots off', None, dict(), PATRONI_PRIMARY, patroni(postgresql={'use_slots': False}), Unsupported,
     'postgresql.use_slots is false'),
    ('member slot name', None, dict(name='pg2'), PATRONI_PRIMARY, patroni(), Conflict,
     "slot Patroni keeps for member 'pg2'; set name"),
    ('wal_level replica', None, dict(slot_type='logical'), dict(PATRONI_PRIMARY, wal_level='replica'), patroni(), Unsupported,
     'needs wal_level=logical .*patroni_config'),
    ('PostgreSQL 10', None, dict(slot_type='logical'), dict(PATRONI_PRIMARY, version_num=100023), patroni(), Unsupported,
     'PostgreSQL 11'),
    ('standby cluster', None, dict(slot_type='logical'), PATRONI_PRIMARY, patroni(standby_cluster={'host': 'x'}),
     Unsupported, 'standby cluster'),
    ('declared physical, logical wanted', None, dict(slot_type='logical'), PATRONI_PRIMARY, patroni({'s1': None}),
     Conflict, 'is a permanent physical slot .*set slot_type=physical'),
    ('declared for another database', None, dict(slot_type='logical'), PATRONI_PRIMARY,
     patroni({'s1': dict(LOGICAL_DEF, database='app')}), Conflict, "database 'app' .*set login_db=app"),
    ('declared with another plugin', None, dict(slot_type='logical', plugin='wal2json'), PATRONI_PRIMARY,
     patroni({'s1': LOGICAL_DEF}), Conflict, "uses plugin 'pgoutput' in Patroni's configuration, not 'wal2json'; set plugin=pgoutput"),
    ('existing SQL slot of another plugin', logical(plugin='wal2json'), dict(slot_type='logical', plugin='pgoutput'),
     PATRONI_PRIMARY, patroni(), Conflict, "uses plugin 'wal2json', not 'pgoutput'; set plugin=wal2json"),
    ('existing SQL slot of another type', physical(), dict(slot_type='logical'), PATRONI_PRIMARY, patroni(), Conflict,
     'exists as a physical slot, not logical'),
    ('existing SQL slot of another database', logical(database='app'), dict(slot_type='logical'), PATRONI_PRIMARY,
     patroni(), Conflict, 'set login_db=app'),
    ('remove an active slot without terminate', logical(active=True, active_pid=7), dict(state='absent'), PATRONI_PRIMARY,
     patroni({'s1': LOGICAL_DEF}), Conflict, 'in use by process 7, and Patroni drops only an unused slot; set terminate_active=true'),
]


@pytest.mark.parametrize('current, overrides, server, view, exc, message', [c[1:] for c in PERMANENT_REFUSED],
                         ids=[c[0] for c in PERMANENT_REFUSED])
def test_plan_permanent_refuses(current, overrides, server, view, exc, message):
    with pytest.raises(exc, match=message):
        _patroni_slots.plan_permanent(current, pdesired(**overrides), server, view)


def test_predicted_permanent_slot_matches_diff_of_real_slot():
    planned = _patroni_slots.plan_permanent(None, pdesired(slot_type='logical'), PATRONI_PRIMARY, patroni())
    predicted = _slots.predict(None, planned.desired, PATRONI_PRIMARY, [True])
    assert mod.diff_view(predicted) == mod.diff_view(logical(confirmed_flush_lsn='0/1'))


@pytest.mark.parametrize('overrides, server, refused', [
    (dict(slot_type='logical'), PG17_PRIMARY, True),
    (dict(slot_type='logical', failover=False), PG17_PRIMARY, True),
    (dict(slot_type='logical', failover=True), PG17_PRIMARY, False),
    (dict(), PG17_PRIMARY, True),
    (dict(slot_type='logical', failover=True), PG15_PRIMARY, True),
])
def test_guard_lets_a_failover_slot_through_on_17(overrides, server, refused):
    """Patroni 4.1 leaves failover slots (PostgreSQL 17) alone; any other slot made by SQL it would drop."""
    if refused:
        with pytest.raises(Conflict, match='managed by Patroni .api_url is set'):
            _patroni_slots.check_guard(None, desired(**overrides), patroni(), server)
    else:
        _patroni_slots.check_guard(None, desired(**overrides), patroni(), server)
