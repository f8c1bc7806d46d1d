# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure unit tests of the SQL backend of pg_replication_slot (_slots): planner, refusals, prediction. No server."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.pgha.replication.plugins.module_utils._errors import Conflict, Unsupported
from ansible_collections.pgha.replication.plugins.module_utils import _slots
from ansible_collections.pgha.replication.plugins.modules import pg_replication_slot as mod
from unit.plugins.slot_cases import (  # pylint: disable=import-error
    PG13_PRIMARY,
    PG15_PRIMARY,
    PG15_STANDBY,
    PG16_STANDBY,
    PG17_PRIMARY,
    PG17_STANDBY,
    REPLICA_WAL,
    desired,
    logical,
    physical,
    rendered,
)


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
    ('create logical failover on 17', None, dict(slot_type='logical', failover=True), PG17_PRIMARY,
     [('sql', "SELECT pg_create_logical_replication_slot(%s, %s, false, %s, %s)", ('s1', 'pgoutput', False, True))]),
    ('create logical failover and two_phase on 17', None, dict(slot_type='logical', failover=True, two_phase=True),
     PG17_PRIMARY,
     [('sql', "SELECT pg_create_logical_replication_slot(%s, %s, false, %s, %s)", ('s1', 'pgoutput', True, True))]),
    ('create logical failover=false on 17', None, dict(slot_type='logical', failover=False), PG17_PRIMARY,
     [('sql', "SELECT pg_create_logical_replication_slot(%s, %s)", ('s1', 'pgoutput'))]),
    ('logical failover exists', logical(failover=True), dict(slot_type='logical', failover=True), PG17_PRIMARY, []),
    ('logical exists, failover unset is not managed', logical(failover=True), dict(slot_type='logical'), PG17_PRIMARY, []),
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
    assert rendered(_slots.plan(current, desired(**overrides), server)) == expected


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
    ('failover differs', logical(failover=False), dict(slot_type='logical', failover=True), PG17_PRIMARY, Conflict,
     'has failover=false; failover applies at creation only .*set failover=false, or run with state=absent'),
    ('failover on a standby', None, dict(slot_type='logical', failover=True), PG17_STANDBY, Unsupported,
     'failover=true cannot be set on a standby'),
]


@pytest.mark.parametrize('server, overrides', [
    (PG15_PRIMARY, dict(slot_type='logical', failover=True)),
    (PG16_STANDBY, dict(slot_type='logical', failover=False)),
])
def test_failover_refused_before_17(server, overrides):
    with pytest.raises(Unsupported, match=r'failover needs PostgreSQL 17 or later \(the server runs 1[56]\); nothing was changed'):
        _slots.check_failover_supported(desired(**overrides), server)


def test_failover_accepted_on_17_and_ignored_when_dropping():
    _slots.check_failover_supported(desired(slot_type='logical', failover=True), PG17_PRIMARY)
    _slots.check_failover_supported(desired(slot_type='logical', failover=True, state='absent'), PG15_PRIMARY)


def test_predict_failover_slot_matches_diff_of_real_slot():
    want = desired(slot_type='logical', failover=True)
    predicted = _slots.predict(None, want, PG17_PRIMARY, _slots.plan(None, want, PG17_PRIMARY))
    assert predicted['failover'] is True and predicted['synced'] is False
    assert mod.diff_view(predicted) == mod.diff_view(logical(failover=True, synced=False))
    on_15 = _slots.predict(None, desired(slot_type='logical'), PG15_PRIMARY, [True])
    assert on_15['failover'] is None and on_15['synced'] is None


@pytest.mark.parametrize('current, overrides, server, exc, message', [c[1:] for c in CONFLICT_CASES],
                         ids=[c[0] for c in CONFLICT_CASES])
def test_plan_refuses(current, overrides, server, exc, message):
    with pytest.raises(exc, match=message):
        _slots.plan(current, desired(**overrides), server)


def test_predict_create_logical_matches_diff_of_real_slot():
    want = desired(slot_type='logical', two_phase=True, login_db='app')
    steps = _slots.plan(None, want, PG15_PRIMARY)
    predicted = _slots.predict(None, want, PG15_PRIMARY, steps)
    real = logical(database='app', two_phase=True, restart_lsn='0/1', confirmed_flush_lsn='0/1')
    assert mod.diff_view(predicted) == mod.diff_view(real)


def test_predict_create_physical_matches_diff_of_real_slot():
    want = desired(immediately_reserve=True)
    steps = _slots.plan(None, want, PG15_PRIMARY)
    assert mod.diff_view(_slots.predict(None, want, PG15_PRIMARY, steps)) == mod.diff_view(physical(restart_lsn='0/1'))


def test_predict_absent_and_noop():
    current = physical()
    want = desired(state='absent')
    assert _slots.predict(current, want, PG15_PRIMARY, _slots.plan(current, want, PG15_PRIMARY)) is None
    assert _slots.predict(current, desired(), PG15_PRIMARY, []) is current


def test_guard_message_names_the_options():
    msg = _slots.guard_message(desired(slot_type='logical'), 'api_url is set')
    assert 'managed by Patroni (api_url is set)' in msg and 'lost at a failover' in msg
    assert 'permanent=true' in msg and 'ignore_slots' in msg and 'patroni_guard=false' in msg
    assert 'lost at a failover' not in _slots.guard_message(desired(), 'x')


@pytest.mark.parametrize('slot, expected', [
    (None, False), (physical(), False), (logical(), True), (logical(plugin='wal2json'), False), (logical(database='x'), False),
])
def test_slot_matches_logical(slot, expected):
    assert _slots.slot_matches(slot, dict(desired(slot_type='logical'), plugin='pgoutput')) is expected


MIB = 1024 * 1024


@pytest.mark.parametrize('slot, expected', [
    (dict(active=False, retained_bytes=1), True),
    (dict(active=False, retained_bytes=0), False),
    (dict(active=False, retained_bytes=None), False),
    (dict(active=True, retained_bytes=10 * MIB), False),
])
def test_inactive_retaining(slot, expected):
    assert _slots.inactive_retaining(slot) is expected


@pytest.mark.parametrize('slot, in_recovery, expected', [
    # A standby's copy is ready once the slot sync worker has made it persistent and it is not invalidated.
    (dict(synced=True, temporary=False, conflicting=False), True, True),
    # A new copy stays temporary until the primary's slot has passed what the standby needs: a promotion drops it.
    (dict(synced=True, temporary=True, conflicting=False), True, False),
    (dict(synced=True, temporary=False, conflicting=True), True, False),
    # Not a copy, a primary (synced may stay true after a promotion), a server before PostgreSQL 17.
    (dict(synced=False, temporary=False, conflicting=False), True, None),
    (dict(synced=True, temporary=False, conflicting=False), False, None),
    (dict(synced=None, temporary=False, conflicting=None), True, None),
])
def test_failover_ready(slot, in_recovery, expected):
    assert _slots.failover_ready(slot, in_recovery) is expected
