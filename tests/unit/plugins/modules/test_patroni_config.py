# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure unit tests of patroni_config: value normalisation, planner, patch application, managed subset, timing checks,
pending restarts, and the settle loop (fake client and clock). No server."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import inspect
import json
import time

import pytest

from ansible_collections.pgha.replication.plugins.module_utils import _patroni
from ansible_collections.pgha.replication.plugins.module_utils._patroni import InvalidInput
from ansible_collections.pgha.replication.plugins.modules import patroni_config as mod

CURRENT = {
    'ttl': 20, 'loop_wait': 2, 'retry_timeout': 5, 'maximum_lag_on_failover': 1048576, 'synchronous_mode': True,
    'postgresql': {'use_pg_rewind': True, 'use_slots': True,
                   'parameters': {'max_connections': 100, 'wal_keep_size': '128MB', 'hot_standby': 'on',
                                  'max_wal_senders': '10'}},
    'slots': {'a': {'type': 'physical'}},
    'ignore_slots': [{'name': 'x', 'type': 'logical'}],
}

PLAN_CASES = [
    ('no-op, top level', {'ttl': 20, 'loop_wait': 2}, {}),
    ('no-op, nested', {'postgresql': {'use_pg_rewind': True, 'parameters': {'max_connections': 100}}}, {}),
    ('no-op, empty', {}, {}),
    ('top-level change', {'maximum_lag_on_failover': 2048}, {'maximum_lag_on_failover': 2048}),
    ('nested change, siblings untouched',
     {'postgresql': {'use_pg_rewind': True, 'parameters': {'max_connections': 110, 'wal_keep_size': '128MB'}}},
     {'postgresql': {'parameters': {'max_connections': 110}}}),
    ('new nested key', {'postgresql': {'parameters': {'work_mem': '8MB'}}}, {'postgresql': {'parameters': {'work_mem': '8MB'}}}),
    ('new top-level dict', {'standby_cluster': {'host': 'x', 'port': 5432}}, {'standby_cluster': {'host': 'x', 'port': 5432}}),
    ('new dict drops its nulls', {'standby_cluster': {'host': 'x', 'port': None}}, {'standby_cluster': {'host': 'x'}}),
    ('new dict of nulls only is nothing to do', {'standby_cluster': {'host': None}}, {}),
    ('remove a key with null', {'postgresql': {'parameters': {'wal_keep_size': None}}},
     {'postgresql': {'parameters': {'wal_keep_size': None}}}),
    ('remove a top-level key', {'slots': None}, {'slots': None}),
    ('removing an absent key is a no-op', {'check_timeline': None, 'postgresql': {'parameters': {'work_mem': None}}}, {}),
    ('int given as a string equals the stored int', {'ttl': '20', 'postgresql': {'parameters': {'max_connections': '100'}}}, {}),
    ('int equals the stored numeric string', {'postgresql': {'parameters': {'max_wal_senders': 10}}}, {}),
    ('a different numeric string changes', {'ttl': '30'}, {'ttl': '30'}),
    ('boolean words', {'synchronous_mode': 'on', 'postgresql': {'parameters': {'hot_standby': True}}}, {}),
    ('a bool is not the number 1', {'synchronous_mode': 1}, {'synchronous_mode': 1}),
    ('units are not normalised', {'postgresql': {'parameters': {'wal_keep_size': '131072kB'}}},
     {'postgresql': {'parameters': {'wal_keep_size': '131072kB'}}}),
    ('units compared as given', {'postgresql': {'parameters': {'wal_keep_size': '128MB'}}}, {}),
    ('list unchanged', {'ignore_slots': [{'name': 'x', 'type': 'logical'}]}, {}),
    ('list changed is replaced whole', {'ignore_slots': [{'name': 'x', 'type': 'logical'}, {'name': 'y'}]},
     {'ignore_slots': [{'name': 'x', 'type': 'logical'}, {'name': 'y'}]}),
    ('list order matters', {'ignore_slots': []}, {'ignore_slots': []}),
    ('scalar replaced by a dict', {'synchronous_mode': {'x': 1}}, {'synchronous_mode': {'x': 1}}),
    ('dict replaced by a scalar', {'slots': 'none'}, {'slots': 'none'}),
]


@pytest.mark.parametrize('desired, expected', [c[1:] for c in PLAN_CASES], ids=[c[0] for c in PLAN_CASES])
def test_plan(desired, expected):
    patch = mod.plan(CURRENT, desired)
    assert patch == expected
    # Applying the patch makes the plan a no-op: the planner converges.
    assert mod.plan(mod.apply_patch(CURRENT, patch), desired) == {}


def test_apply_patch_follows_patronis_merge():
    patch = {'ttl': 30, 'slots': None, 'postgresql': {'parameters': {'max_connections': 110, 'hot_standby': None}},
             'standby_cluster': {'host': 'x', 'port': None}}
    after = mod.apply_patch(CURRENT, patch)
    assert after['ttl'] == 30 and 'slots' not in after and after['standby_cluster'] == {'host': 'x'}
    assert after['postgresql'] == {'use_pg_rewind': True, 'use_slots': True,
                                   'parameters': {'max_connections': 110, 'wal_keep_size': '128MB', 'max_wal_senders': '10'}}
    assert CURRENT['ttl'] == 20 and 'hot_standby' in CURRENT['postgresql']['parameters']  # pure: the input is untouched


@pytest.mark.parametrize('have, want, expected', [
    (100, '100', True), ('100', 100, True), (1.5, '1.5', True), (100, 100.0, True), (True, 'on', True), ('off', False, True),
    (True, 1, False), ('8MB', 8192, False), ('8MB', '8MB', True), ('8MB', '8mb', False), (['a', '1'], ['a', 1], True),
    ('quorum', True, False), (None, 'x', False),
])
def test_same_value(have, want, expected):
    assert mod.same_value(have, want) is expected


def test_managed_subset():
    desired = {'ttl': 99, 'check_timeline': True, 'postgresql': {'parameters': {'max_connections': 1, 'work_mem': None}}}
    assert mod.managed_subset(CURRENT, desired) == {'ttl': 20, 'postgresql': {'parameters': {'max_connections': 100}}}


TIMING_OK = [
    ('untouched timings are not judged', dict(CURRENT, ttl=5), {'maximum_lag_on_failover': 1}),
    ('the fixture values', CURRENT, {'ttl': 20}),
    ('equal is fine', CURRENT, {'ttl': 20, 'loop_wait': 10, 'retry_timeout': 5}),
    ('Patroni defaults when removed', CURRENT, {'ttl': None, 'loop_wait': None, 'retry_timeout': None}),
    ('numbers as strings', CURRENT, {'ttl': '40', 'loop_wait': '10', 'retry_timeout': '10'}),
]


@pytest.mark.parametrize('current, patch', [c[1:] for c in TIMING_OK], ids=[c[0] for c in TIMING_OK])
def test_timing_ok(current, patch):
    mod.validate_timing(mod.apply_patch(current, patch), patch)


TIMING_BAD = [
    ('loop_wait + 2 * retry_timeout > ttl', CURRENT, {'loop_wait': 10, 'retry_timeout': 10},
     r'loop_wait \+ 2 \* retry_timeout \(10 \+ 2 \* 10 = 30\) must not exceed ttl \(20\)'),
    ('merged with the stored ttl', CURRENT, {'retry_timeout': 10}, r'\(2 \+ 2 \* 10 = 22\) must not exceed ttl \(20\)'),
    ('merged with the stored loop_wait', dict(CURRENT, loop_wait=12), {'ttl': 21}, r'\(12 \+ 2 \* 5 = 22\) must not exceed ttl \(21\)'),
    ('ttl below 20', CURRENT, {'ttl': 19, 'loop_wait': 1, 'retry_timeout': 3}, r'ttl \(19\) must be 20 or more'),
    ('loop_wait below 1', CURRENT, {'loop_wait': 0}, r'loop_wait \(0\) must be 1 or more'),
    ('retry_timeout below 3', CURRENT, {'retry_timeout': 2}, r'retry_timeout \(2\) must be 3 or more'),
    ('removing ttl falls back to 30, too small for the new values', CURRENT, {'ttl': None, 'loop_wait': 10, 'retry_timeout': 11},
     r'must not exceed ttl \(30\)'),
    ('not a number', CURRENT, {'ttl': 'soon'}, r"config.ttl must be a whole number of seconds, not 'soon'"),
]


@pytest.mark.parametrize('current, patch, message', [c[1:] for c in TIMING_BAD], ids=[c[0] for c in TIMING_BAD])
def test_timing_bad(current, patch, message):
    with pytest.raises(InvalidInput, match=message):
        mod.validate_timing(mod.apply_patch(current, patch), patch)


def test_timing_message_names_the_options():
    with pytest.raises(InvalidInput) as err:
        mod.validate_timing(mod.apply_patch(CURRENT, {'ttl': 20, 'loop_wait': 10, 'retry_timeout': 10}),
                            {'ttl': 20, 'loop_wait': 10, 'retry_timeout': 10})
    assert 'nothing was sent' in err.value.msg and 'config.ttl, config.loop_wait or config.retry_timeout' in err.value.msg


@pytest.mark.parametrize('overrides, message', [
    (dict(config='ttl=20'), 'config must be a dictionary'),
    (dict(wait_timeout=0), 'wait_timeout must be 1 or more'),
    (dict(api_url='pg1:8008'), 'api_url must be'),
])
def test_invalid_options(overrides, message):
    params = dict(api_url='http://pg1:8008', api_username='patroni', api_password='x', api_timeout=10, config={}, wait=True,
                  wait_timeout=30)
    params.update(overrides)
    with pytest.raises(InvalidInput, match=message):
        mod.validate_params(params)


def test_changed_parameters():
    assert mod.changed_parameters({'postgresql': {'parameters': {'b': 1, 'a': None}}}) == ['a', 'b']
    assert mod.changed_parameters({'postgresql': {'use_slots': True}}) == []
    assert mod.changed_parameters({'ttl': 30}) == []


def raw_member(name, pending=False, reason=None):
    member = {'name': name, 'role': 'replica', 'state': 'streaming', 'api_url': 'http://%s:8008/patroni' % name}
    if pending:
        member['pending_restart'] = True
    if reason:
        member['pending_restart_reason'] = reason
    return member


def test_pending_view():
    reason = {'max_connections': {'old_value': '100', 'new_value': '110'}}
    view = _patroni.normalise_cluster({'members': [raw_member('pg2', True), raw_member('pg1', True, reason), raw_member('pg3')]})
    assert mod.pending_view(view) == (['pg1', 'pg2'], {'pg1': reason})
    assert mod.pending_view(view, {'pg2': reason}) == (['pg1', 'pg2'], {'pg1': reason, 'pg2': reason})


class FakeClient(object):
    """GET /cluster answers from a script (the last answer repeats); GET '' (a member's /patroni) from ``members``."""

    def __init__(self, clusters, members=None):
        self.clusters = list(clusters)
        self.members = members or {}
        self.calls = []

    def get_json(self, path, timeout=None):
        self.calls.append(path)
        if path == '/cluster':
            return self.clusters.pop(0) if len(self.clusters) > 1 else self.clusters[0]
        raise AssertionError(path)


class FakeMember(object):
    def __init__(self, answer):
        self.answer = answer

    def get_json(self, path, timeout=None):
        return self.answer


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_settle_returns_once_every_member_reports_the_parameter():
    reason = {'max_connections': {'old_value': '100', 'new_value': '110'}}
    client = FakeClient([{'members': [raw_member('pg1'), raw_member('pg2')]},
                         {'members': [raw_member('pg1', True, reason), raw_member('pg2', True)]}])
    clock = Clock()
    cluster, reasons = mod.settle(client, lambda url: FakeMember({'pending_restart_reason': reason}), ['max_connections'],
                                  loop_wait=2, wait_timeout=30, clock=clock, sleep=clock.sleep)
    assert reasons == {'pg2': reason} and mod.pending_view(cluster, reasons)[0] == ['pg1', 'pg2']
    assert clock.now == 1000.5


def test_settle_waits_two_loops_when_no_restart_is_needed():
    client = FakeClient([{'members': [raw_member('pg1'), raw_member('pg2')]}])
    clock = Clock()
    mod.settle(client, lambda url: FakeMember({}), ['work_mem'], loop_wait=2, wait_timeout=30, clock=clock, sleep=clock.sleep)
    assert clock.now == 1005.0


def test_settle_is_bounded_by_wait_timeout():
    client = FakeClient([{'members': [raw_member('pg1')]}])
    clock = Clock()
    mod.settle(client, lambda url: FakeMember({}), ['work_mem'], loop_wait=10, wait_timeout=3, clock=clock, sleep=clock.sleep)
    assert clock.now == 1003.0


class PatchingClient(object):
    """PATCH /config answers ``stored``; GET /config answers from a script (a stale cache first); the last one repeats."""

    def __init__(self, stored, reads):
        self.stored = stored
        self.reads = list(reads)
        self.requests = []

    def request(self, method, path, body=None, timeout=None):
        self.requests.append((method, path, body))
        return 200, json.dumps(self.stored)

    def get_json(self, path, timeout=None):
        assert path == '/config'
        return self.reads.pop(0) if len(self.reads) > 1 else self.reads[0]


def test_patch_and_reread_waits_for_the_cache():
    stored = dict(CURRENT, ttl=30)
    client = PatchingClient(stored, [CURRENT, CURRENT, stored])
    clock = Clock()
    assert mod.patch_and_reread(client, {'ttl': 30}, 30, clock=clock, sleep=clock.sleep) == stored
    assert client.requests == [('PATCH', '/config', {'ttl': 30})] and client.reads == [stored]


def test_patch_and_reread_is_bounded():
    client = PatchingClient(dict(CURRENT, ttl=30), [CURRENT])
    clock = Clock()
    assert mod.patch_and_reread(client, {'ttl': 30}, 2, clock=clock, sleep=clock.sleep) == CURRENT
    assert 2 <= clock.now - 1000 < 2.2


def test_deadlines_use_a_monotonic_clock():
    # A wall clock stepped by NTP would end (or stretch) a wait: deadlines are measured on time.monotonic.
    for function in (mod.patch_and_reread, mod.settle):
        assert inspect.signature(function).parameters['clock'].default is time.monotonic
