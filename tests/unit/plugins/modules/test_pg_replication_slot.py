# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure unit tests of pg_replication_slot: name validation, option checks, planner, prediction. No server."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.pgha.replication.plugins.module_utils._postgres import Conflict, InvalidInput, Unsupported
from ansible_collections.pgha.replication.plugins.modules import pg_replication_slot as mod

PG15_PRIMARY = dict(version_num=150008, in_recovery=False, wal_level='logical')
PG15_STANDBY = dict(version_num=150008, in_recovery=True, wal_level='logical')
PG16_STANDBY = dict(version_num=160004, in_recovery=True, wal_level='logical')
PG13_PRIMARY = dict(version_num=130016, in_recovery=False, wal_level='logical')
REPLICA_WAL = dict(version_num=150008, in_recovery=False, wal_level='replica')


def params(**overrides):
    base = dict(name='s1', slot_type='physical', state='present', plugin=None, immediately_reserve=False,
                two_phase=None, terminate_active=False, wait_timeout=10, login_db='postgres')
    base.update(overrides)
    return base


def desired(**overrides):
    return mod.desired_from_params(params(**overrides))


def physical(**overrides):
    slot = dict(slot_name='s1', slot_type='physical', plugin=None, database=None, active=False, active_pid=None,
                two_phase=False, temporary=False)
    slot.update(overrides)
    return slot


def logical(**overrides):
    values = dict(slot_type='logical', plugin='pgoutput', database='postgres')
    values.update(overrides)
    return physical(**values)


def rendered(steps):
    """Steps as (kind, sql text, params) - the planner only emits plain SQL text, so no connection is needed."""
    return [(s.kind, s.query.as_string(None), s.params) for s in steps]


@pytest.mark.parametrize('name', ['a', 's1', 'standby_1', '_x', '0', 'a' * 63])
def test_valid_names(name):
    mod.validate_slot_name(name)


@pytest.mark.parametrize('name', [
    '', None, 'A', 'Standby', 'with space', "quo'te", 'dq"x', 'x; DROP TABLE t', 'a-b', 'a.b', 'a' * 64, u'\u00fc', 'tab\t',
    'new\nline',
])
def test_invalid_names(name):
    with pytest.raises(InvalidInput, match='invalid slot name'):
        mod.validate_slot_name(name)


@pytest.mark.parametrize('overrides, message', [
    (dict(plugin='pgoutput'), 'plugin is only valid with slot_type=logical'),
    (dict(two_phase=False), 'two_phase is only valid with slot_type=logical'),
    (dict(slot_type='logical', immediately_reserve=True), 'immediately_reserve is only valid'),
    (dict(slot_type='logical', plugin=''), 'plugin must not be empty'),
    (dict(wait_timeout=-1), 'wait_timeout'),
    (dict(name='Bad'), 'invalid slot name'),
])
def test_invalid_option_combinations(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        mod.validate_params(params(**overrides))


@pytest.mark.parametrize('overrides', [
    dict(), dict(immediately_reserve=True), dict(slot_type='logical'), dict(slot_type='logical', plugin='wal2json', two_phase=True),
    dict(state='absent', terminate_active=True),
])
def test_valid_option_combinations(overrides):
    mod.validate_params(params(**overrides))


PLAN_CASES = [
    # id, current, desired overrides, server, expected steps
    ('create physical', None, dict(), PG15_PRIMARY,
     [('sql', 'SELECT pg_create_physical_replication_slot(%s, %s)', ('s1', False))]),
    ('create physical reserved', None, dict(immediately_reserve=True), PG15_PRIMARY,
     [('sql', 'SELECT pg_create_physical_replication_slot(%s, %s)', ('s1', True))]),
    ('create physical on standby', None, dict(), PG15_STANDBY,
     [('sql', 'SELECT pg_create_physical_replication_slot(%s, %s)', ('s1', False))]),
    ('physical exists', physical(), dict(), PG15_PRIMARY, []),
    ('physical exists, reserve ignored', physical(), dict(immediately_reserve=True), PG15_PRIMARY, []),
    ('create logical default plugin', None, dict(slot_type='logical'), PG15_PRIMARY,
     [('sql', 'SELECT pg_create_logical_replication_slot(%s, %s)', ('s1', 'pgoutput'))]),
    ('create logical plugin', None, dict(slot_type='logical', plugin='test_decoding'), PG15_PRIMARY,
     [('sql', 'SELECT pg_create_logical_replication_slot(%s, %s)', ('s1', 'test_decoding'))]),
    ('create logical two_phase', None, dict(slot_type='logical', two_phase=True), PG15_PRIMARY,
     [('sql', 'SELECT pg_create_logical_replication_slot(%s, %s, false, %s)', ('s1', 'pgoutput', True))]),
    ('create logical on PG16 standby', None, dict(slot_type='logical'), PG16_STANDBY,
     [('sql', 'SELECT pg_create_logical_replication_slot(%s, %s)', ('s1', 'pgoutput'))]),
    ('logical exists', logical(), dict(slot_type='logical'), PG15_PRIMARY, []),
    ('logical exists, same plugin and two_phase', logical(), dict(slot_type='logical', plugin='pgoutput', two_phase=False),
     PG15_PRIMARY, []),
    ('logical exists, plugin unset is not managed', logical(plugin='wal2json'), dict(slot_type='logical'), PG15_PRIMARY, []),
    ('logical exists, two_phase unset is not managed', logical(two_phase=True), dict(slot_type='logical'), PG15_PRIMARY, []),
    ('absent, missing', None, dict(state='absent'), PG15_PRIMARY, []),
    ('absent, inactive', physical(), dict(state='absent'), PG15_PRIMARY,
     [('sql', 'SELECT pg_drop_replication_slot(%s)', ('s1',))]),
    ('absent drops any type', logical(database='other'), dict(state='absent'), PG15_PRIMARY,
     [('sql', 'SELECT pg_drop_replication_slot(%s)', ('s1',))]),
    ('absent, active, terminate', physical(active=True, active_pid=42), dict(state='absent', terminate_active=True), PG15_PRIMARY,
     [('terminate', 'SELECT pg_terminate_backend(%s)', (42,)), ('sql', 'SELECT pg_drop_replication_slot(%s)', ('s1',))]),
    ('absent, inactive, terminate not needed', physical(), dict(state='absent', terminate_active=True), PG15_PRIMARY,
     [('sql', 'SELECT pg_drop_replication_slot(%s)', ('s1',))]),
]


@pytest.mark.parametrize('current, overrides, server, expected', [c[1:] for c in PLAN_CASES], ids=[c[0] for c in PLAN_CASES])
def test_plan(current, overrides, server, expected):
    assert rendered(mod.plan(current, desired(**overrides), server)) == expected


CONFLICT_CASES = [
    ('physical exists, logical wanted', physical(), dict(slot_type='logical'), PG15_PRIMARY, Conflict,
     r"exists as a physical slot, not logical; to replace it run with state=absent first \(terminate_active=true"),
    ('logical exists, physical wanted', logical(), dict(), PG15_PRIMARY, Conflict, 'exists as a logical slot, not physical'),
    ('other database', logical(database='app'), dict(slot_type='logical'), PG15_PRIMARY, Conflict,
     "belongs to database 'app', not 'postgres'; set login_db=app"),
    ('other plugin', logical(), dict(slot_type='logical', plugin='wal2json'), PG15_PRIMARY, Conflict,
     "uses plugin 'pgoutput', not 'wal2json'; set plugin=pgoutput"),
    ('two_phase differs', logical(), dict(slot_type='logical', two_phase=True), PG15_PRIMARY, Conflict,
     'has two_phase=false; two_phase applies at creation only: set two_phase=false'),
    ('active, no terminate', physical(active=True, active_pid=7), dict(state='absent'), PG15_PRIMARY, Conflict,
     "in use by process 7; set terminate_active=true"),
    ('logical on PG15 standby', None, dict(slot_type='logical'), PG15_STANDBY, Unsupported, 'cannot be created on a standby'),
    ('logical with wal_level replica', None, dict(slot_type='logical'), REPLICA_WAL, Unsupported, 'needs wal_level=logical'),
    ('two_phase on PG13', None, dict(slot_type='logical', two_phase=True), PG13_PRIMARY, Unsupported, 'PostgreSQL 14'),
]


@pytest.mark.parametrize('current, overrides, server, exc, message', [c[1:] for c in CONFLICT_CASES],
                         ids=[c[0] for c in CONFLICT_CASES])
def test_plan_refuses(current, overrides, server, exc, message):
    with pytest.raises(exc, match=message):
        mod.plan(current, desired(**overrides), server)


def test_predict_create_logical_matches_diff_of_real_slot():
    want = desired(slot_type='logical', two_phase=True, login_db='app')
    steps = mod.plan(None, want, PG15_PRIMARY)
    predicted = mod.predict(None, want, PG15_PRIMARY, steps)
    real = logical(database='app', two_phase=True, restart_lsn='0/1', confirmed_flush_lsn='0/1')
    assert mod.diff_view(predicted) == mod.diff_view(real)


def test_predict_create_physical_matches_diff_of_real_slot():
    want = desired(immediately_reserve=True)
    steps = mod.plan(None, want, PG15_PRIMARY)
    assert mod.diff_view(mod.predict(None, want, PG15_PRIMARY, steps)) == mod.diff_view(physical(restart_lsn='0/1'))


def test_predict_absent_and_noop():
    current = physical()
    want = desired(state='absent')
    assert mod.predict(current, want, PG15_PRIMARY, mod.plan(current, want, PG15_PRIMARY)) is None
    assert mod.predict(current, desired(), PG15_PRIMARY, []) is current


def test_diff_view():
    assert mod.diff_view(None) == {'state': 'absent'}
    view = mod.diff_view(physical(active=True, restart_lsn='0/1'))
    assert view == dict(state='present', slot_name='s1', slot_type='physical', plugin=None, database=None, two_phase=False,
                        temporary=False)


# The module's connection options (shared module_utils, exercised here through the module's argument spec).
CONNECT_CASES = [
    ('defaults: local socket, peer auth', dict(),
     dict(user='postgres', dbname='postgres', port=5432, connect_timeout=10, sslmode='prefer', application_name='pgha.replication')),
    ('socket directory', dict(login_unix_socket='/run/pg'), dict(host='/run/pg')),
    ('host wins over socket', dict(login_host='127.0.0.1', login_unix_socket='/run/pg'), dict(host='127.0.0.1')),
    ('password and CA', dict(login_password='pw', ca_cert='/ca.pem', ssl_mode='verify-full'),
     dict(password='pw', sslrootcert='/ca.pem', sslmode='verify-full')),
]


@pytest.mark.parametrize('overrides, expected', [c[1:] for c in CONNECT_CASES], ids=[c[0] for c in CONNECT_CASES])
def test_connect_kwargs(overrides, expected):
    from ansible_collections.pgha.replication.plugins.module_utils import _postgres
    spec = _postgres.postgres_argument_spec()
    values = dict((key, option.get('default')) for key, option in spec.items())
    values.update(overrides)
    kwargs = _postgres.connect_kwargs(values)
    for key, value in expected.items():
        assert kwargs[key] == value
    if not values['login_host'] and not values['login_unix_socket']:
        assert 'host' not in kwargs  # libpq's default socket directory
    if not values['login_password']:
        assert 'password' not in kwargs
    assert spec['login_password']['no_log'] is True


def test_connection_error_never_contains_password():
    from ansible_collections.pgha.replication.plugins.module_utils import _postgres
    values = dict(login_user='u', login_password='hunter2', login_host='127.0.0.1', port=1, login_db='postgres',
                  connect_timeout=2, ssl_mode='disable', login_unix_socket='', ca_cert=None)
    with pytest.raises(_postgres.ConnectionFailed) as info:
        _postgres.connect(values)
    assert 'hunter2' not in info.value.msg and 'unable to connect' in info.value.msg
    assert _postgres.scrub('password=hunter2 x', 'hunter2') == 'password=******** x'


# --- Patroni: permanent slots and the guard against SQL slots on a Patroni-managed server ---

PATRONI_PRIMARY = dict(PG15_PRIMARY, cluster_name='pgha')
LOGICAL_DEF = {'type': 'logical', 'database': 'postgres', 'plugin': 'pgoutput'}


def patroni(slots=None, key='slots', members=('pg1', 'pg2'), scope='pgha', **config):
    if slots is not None:
        config[key] = slots
    return dict(config=config, members=list(members), scope=scope)


def pdesired(**overrides):
    return desired(**dict(dict(permanent=True, api_url='http://127.0.0.1:8008'), **overrides))


@pytest.mark.parametrize('overrides, message', [
    (dict(permanent=True), 'permanent=true needs api_url'),
    (dict(permanent=True, api_url='http://h:8008', slot_type='logical', two_phase=True), 'two_phase=true cannot be used'),
    (dict(api_url='ftp://h'), 'api_url must be an http'),
    (dict(api_url='http://h:8008', api_username='u'), 'api_username and api_password must be set together'),
])
def test_invalid_patroni_options(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        mod.validate_params(params(**overrides))


def test_valid_patroni_options():
    mod.validate_params(params(permanent=True, api_url='http://h:8008', api_username='u', api_password='p', api_timeout=10,
                               slot_type='logical', two_phase=False))


@pytest.mark.parametrize('config, key', [
    ({}, 'slots'),
    ({'slots': {}}, 'slots'),
    ({'slots': {'a': None}}, 'slots'),
    ({'permanent_slots': {'a': None}, 'slots': {'b': None}}, 'permanent_slots'),
    ({'permanent_replication_slots': {'a': None}, 'permanent_slots': {'b': None}}, 'permanent_replication_slots'),
    ({'permanent_replication_slots': {}, 'slots': {'b': None}}, 'slots'),
])
def test_slots_key(config, key):
    assert mod.slots_key(config) == key


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
    assert mod.entry_view(raw) == view


@pytest.mark.parametrize('member, slot', [('pg1', 'pg1'), ('db-1.example.com', 'db_1_example_com'), ('Node A', 'nodeu0032a')])
def test_member_slot_name(member, slot):
    assert mod.member_slot_name(member) == slot


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
    assert mod.ignored_by_patroni(config, slot) is expected


def test_guard_message_names_the_options():
    msg = mod.guard_message(desired(slot_type='logical'), 'api_url is set')
    assert 'managed by Patroni (api_url is set)' in msg and 'lost at a failover' in msg
    assert 'permanent=true' in msg and 'ignore_slots' in msg and 'patroni_guard=false' in msg
    assert 'lost at a failover' not in mod.guard_message(desired(), 'x')


def test_check_unmanaged():
    mod.check_unmanaged(desired(), None)
    mod.check_unmanaged(desired(), patroni({'other': None}))
    with pytest.raises(Conflict, match=r'permanent slot in Patroni.s configuration \(permanent_slots.s1\); set permanent=true'):
        mod.check_unmanaged(desired(state='absent'), patroni({'s1': None}, key='permanent_slots'))


def plan_view(planned):
    return dict(patch=planned.patch, steps=rendered(planned.steps), entry=planned.entry, wait_for=planned.wait_for)


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
    assert plan_view(mod.plan_permanent(current, pdesired(**overrides), PATRONI_PRIMARY, view)) == expected


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
        mod.plan_permanent(current, pdesired(**overrides), server, view)


@pytest.mark.parametrize('slot, expected', [
    (None, False), (physical(), False), (logical(), True), (logical(plugin='wal2json'), False), (logical(database='x'), False),
])
def test_slot_matches_logical(slot, expected):
    assert mod.slot_matches(slot, dict(desired(slot_type='logical'), plugin='pgoutput')) is expected


def test_predicted_permanent_slot_matches_diff_of_real_slot():
    planned = mod.plan_permanent(None, pdesired(slot_type='logical'), PATRONI_PRIMARY, patroni())
    predicted = mod.predict(None, planned.desired, PATRONI_PRIMARY, [True])
    assert mod.diff_view(predicted) == mod.diff_view(logical(confirmed_flush_lsn='0/1'))
