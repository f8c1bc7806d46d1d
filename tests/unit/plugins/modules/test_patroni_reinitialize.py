# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure unit tests of patroni_reinitialize: option checks, the health verdict, the planner's refusals, the member's
REST API root and the completion test. No server (the ha scenario rebuilds a real replica)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.pgha.replication.plugins.module_utils import _patroni
from ansible_collections.pgha.replication.plugins.module_utils._patroni import Conflict, InvalidInput
from ansible_collections.pgha.replication.plugins.modules import patroni_reinitialize as mod


def raw_member(name, role='replica', state='streaming', lag=0, timeline=3):
    member = {'name': name, 'role': role, 'state': state, 'api_url': 'https://%s:8008/patroni' % name, 'host': name,
              'port': 5432, 'timeline': timeline}
    if role != 'leader':
        member.update(lag=lag, lsn='0/5000000' if lag != 'unknown' else 'unknown')
    return member


def cluster(*members, **config):
    if not members:
        members = (raw_member('pg1', 'leader', 'running'), raw_member('pg2', 'sync_standby'), raw_member('pg3'))
    return _patroni.normalise_cluster({'members': list(members)}, dict(dict(maximum_lag_on_failover=1048576), **config))


def desired(member='pg3', force=False):
    return dict(member=member, force=force, wait=True, wait_timeout=600)


@pytest.mark.parametrize('overrides, message', [
    (dict(member='  '), 'member must name a replica'),
    (dict(wait_timeout=0), 'wait_timeout must be 1 or more'),
])
def test_invalid_options(overrides, message):
    params = dict(api_url='https://pg1:8008', api_username='patroni', api_password='x', api_timeout=10, member='pg3',
                  force=False, wait=True, wait_timeout=600)
    params.update(overrides)
    with pytest.raises(InvalidInput, match=message):
        mod.validate_params(params)


@pytest.mark.parametrize('view, name, force, expected', [
    (cluster(), 'pg3', False, (False, 'pg3 streams on timeline 3, 0 bytes behind')),
    (cluster(), 'pg3', True, (True, 'force')),
    (cluster(), 'pg2', False, (False, 'pg2 streams on timeline 3, 0 bytes behind')),
    (cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg3', state='start failed')), 'pg3', False,
     (True, "pg3 is in state 'start failed'")),
    (cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg3', state='stopped')), 'pg3', False,
     (True, "pg3 is in state 'stopped'")),
    (cluster(raw_member('pg1', 'leader', 'running', timeline=4), raw_member('pg3')), 'pg3', False,
     (True, 'pg3 is on timeline 3, the leader on 4')),
    (cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg3', lag='unknown')), 'pg3', False,
     (True, 'pg3 has an unknown replication lag')),
    (cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg3', lag=2000000)), 'pg3', False,
     (True, 'pg3 lags 2000000 bytes, more than maximum_lag_on_failover (1048576 bytes)')),
    (cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg3', lag=4096)), 'pg3', False,
     (False, 'pg3 streams on timeline 3, 4096 bytes behind')),
])
def test_plan(view, name, force, expected):
    assert mod.plan(view, desired(name, force)) == expected


@pytest.mark.parametrize('view, name, message', [
    (cluster(), 'pg1', "member 'pg1' is the leader: it cannot be rebuilt from itself; switch over first"),
    (cluster(), 'pg9', "member 'pg9' is not in the cluster (members: pg1, pg2, pg3)"),
    (cluster(raw_member('pg2', state='stopped'), raw_member('pg3')), 'pg3',
     "the cluster has no leader to rebuild 'pg3' from (members: pg2, pg3)"),
    (cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg3', 'standby_leader')), 'pg3',
     "member 'pg3' is the leader"),
])
def test_refusals(view, name, message):
    with pytest.raises(Conflict) as info:
        mod.plan(view, desired(name, force=True))
    assert message in info.value.msg


@pytest.mark.parametrize('api_url, base', [
    ('https://127.0.1.3:8008/patroni', 'https://127.0.1.3:8008'),
    ('https://127.0.1.3:8008/patroni/', 'https://127.0.1.3:8008'),
    ('https://127.0.1.3:8008', 'https://127.0.1.3:8008'),
])
def test_member_base(api_url, base):
    assert _patroni.member_base(api_url) == base


@pytest.mark.parametrize('status, expected', [
    (dict(state='running', role='replica', postmaster_start_time='B', replication_state='streaming'), True),
    (dict(state='running', role='replica', postmaster_start_time='A', replication_state='streaming'), False),
    (dict(state='running', role='replica', postmaster_start_time='B', replication_state='in archive recovery'), False),
    (dict(state='creating replica', role='uninitialized', postmaster_start_time=None), False),
    (dict(state='running', role='primary', postmaster_start_time='B'), False),
    (None, False),
])
def test_rebuilt(status, expected):
    assert mod.rebuilt(status, 'A') is expected
