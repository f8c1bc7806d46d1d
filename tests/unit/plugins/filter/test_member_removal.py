# -*- coding: utf-8 -*-
# Copyright: pgha.replication contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The member_removal filter: the refusals (leader, no leader, synchronous settings), absent members, slot names."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.pgha.replication.plugins.filter.member_removal import FilterModule, member_removal


def cluster(roles=(('pg1', 'leader'), ('pg2', 'sync_standby'), ('pg3', 'replica')), **config):
    members = [dict(name=name, role=role, state='running' if role == 'leader' else 'streaming') for name, role in roles]
    leader = next((name for name, role in roles if role == 'leader'), None)
    return dict(members=members, leader=leader, config=dict(dict(synchronous_mode=True, synchronous_node_count=1),
                                                            **config))


def test_a_replica_may_leave_a_three_member_cluster():
    assert member_removal(cluster(), 'pg3') == dict(member='pg3', present=True, slot='pg3', leader='pg1',
                                                    remaining=['pg1', 'pg2'], problems=[])


def test_an_absent_member_is_no_problem():
    result = member_removal(cluster((('pg1', 'leader'), ('pg2', 'sync_standby'))), 'pg3')
    assert (result['present'], result['problems'], result['remaining']) == (False, [], ['pg1', 'pg2'])


def test_the_leader_is_refused():
    problems = member_removal(cluster(), 'pg1')['problems']
    assert problems == ['pg1 is the leader: switch over first (pgha.replication.switchover -e switchover_leader=<one of '
                        'pg2, pg3>), then remove it']


@pytest.mark.parametrize('config, roles, expected', [
    (dict(), (('pg1', 'leader'), ('pg2', 'sync_standby')),
     'removing pg2 leaves 1 member(s) (pg1) and synchronous_mode=on with synchronous_node_count=1 needs 2'),
    (dict(synchronous_mode='quorum', synchronous_node_count=2), None,
     'removing pg2 leaves 2 member(s) (pg1, pg3) and synchronous_mode=quorum with synchronous_node_count=2 needs 3'),
    (dict(synchronous_mode_strict=True), (('pg1', 'leader'), ('pg2', 'sync_standby')),
     'synchronous_mode=on with synchronous_node_count=1 (strict) needs 2'),
])
def test_synchronous_settings_that_the_rest_cannot_meet_are_refused(config, roles, expected):
    view = cluster(roles, **config) if roles else cluster(**config)
    problems = member_removal(view, 'pg2')['problems']
    assert len(problems) == 1 and expected in problems[0], problems
    assert 'lower synchronous_node_count (patroni_synchronous_node_count)' in problems[0]


def test_without_synchronous_mode_two_members_may_become_one():
    view = cluster((('pg1', 'leader'), ('pg2', 'replica')), synchronous_mode=False)
    assert member_removal(view, 'pg2')['problems'] == []


def test_a_cluster_without_a_leader_is_refused():
    view = cluster((('pg1', 'replica'), ('pg2', 'replica'), ('pg3', 'replica')))
    assert member_removal(view, 'pg3')['problems'][0].startswith('the cluster has no leader')


def test_a_member_that_is_away_is_refused():
    view = cluster()
    view['members'][1]['state'] = 'stopped'
    problems = member_removal(view, 'pg3')['problems']
    assert problems == ["not running: pg2 (stopped) - wait until every other member runs: the slot of pg3 is dropped "
                        "with Patroni's member_slots_ttl at 0 for a moment, which drops the slot of a member that is "
                        "away too"]


def test_the_slot_is_named_as_patroni_names_it():
    view = cluster((('pg1', 'leader'), ('PG-4.dc1', 'replica'), ('pg2', 'replica')), synchronous_mode=False)
    assert member_removal(view, 'PG-4.dc1')['slot'] == 'pg_4_dc1'


@pytest.mark.parametrize('value, member, message', [
    (None, 'pg3', 'the result of pgha.replication.patroni_cluster_info'),
    (dict(members='x'), 'pg3', 'the result of pgha.replication.patroni_cluster_info'),
    (cluster(), '', 'name the member to remove'),
])
def test_bad_input(value, member, message):
    with pytest.raises(AnsibleFilterError, match=message):
        member_removal(value, member)


def test_the_filter_is_registered():
    assert FilterModule().filters()['member_removal'] is member_removal
