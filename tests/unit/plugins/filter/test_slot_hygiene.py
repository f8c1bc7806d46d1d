# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The slot_hygiene filter: flags, refusals with what to do instead, and a request that is idempotent."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.pgha.replication.plugins.filter.slot_hygiene import (
    FilterModule, member_slot_name, slot_hygiene, slot_names)

GIB = 1024 ** 3


def slot(name, slot_type='physical', active=False, retained=0, wal_status='reserved', temporary=False, **extra):
    row = dict(slot_name=name, slot_type=slot_type, plugin=None, database=None, active=active,
               active_pid=4242 if active else None, temporary=temporary, retained_bytes=retained,
               wal_status=wal_status, safe_wal_size=None)
    row.update(extra)
    return row


def test_flags_an_inactive_slot_over_the_threshold_only():
    slots = [slot('big', retained=6 * GIB), slot('small', retained=GIB), slot('busy', active=True, retained=9 * GIB)]
    result = slot_hygiene(slots)
    assert result['flagged'] == ['big']
    assert result['rows'][0]['flags'] == ['inactive and retains %d bytes (more than %d)' % (6 * GIB, 5 * GIB)]
    assert result['rows'][1]['flags'] == [] and result['rows'][2]['flags'] == []
    assert [row['owner'] for row in result['rows']] == [None, None, None]
    assert slot_hygiene(slots, threshold_bytes=GIB // 2)['flagged'] == ['big', 'small']


@pytest.mark.parametrize('status', ['unreserved', 'lost'])
def test_flags_wal_status_unreserved_or_lost_whatever_it_retains(status):
    result = slot_hygiene([slot('s', active=True, retained=None, wal_status=status)])
    assert result['rows'][0]['flags'] == ['wal_status %s' % status]


def test_drops_a_named_inactive_slot_and_reports_a_missing_one_as_absent():
    result = slot_hygiene([slot('stray', retained=100)], drop='stray, gone')
    assert result['drop'] == ['stray'] and result['absent'] == ['gone'] and result['refused'] == []
    # the second run: the slot is gone, nothing to drop
    again = slot_hygiene([], drop=['stray'])
    assert again['drop'] == [] and again['absent'] == ['stray']


def test_refuses_active_and_temporary_slots_saying_what_to_do():
    result = slot_hygiene([slot('busy', active=True), slot('tmp', temporary=True)], drop=['busy', 'tmp'])
    assert result['drop'] == []
    assert result['refused'] == [
        'slot busy is active (pid 4242): stop its consumer first, or drop it with pgha.replication.pg_replication_slot '
        'name=busy state=absent terminate_active=true',
        'slot tmp is temporary: it goes away when the session that made it ends']


def test_patroni_permanent_member_ignored_and_unknown_slots():
    patroni = dict(permanent={'etl': {'type': 'logical', 'database': 'app', 'plugin': 'pgoutput'}},
                   ignore_slots=[{'name': 'backup_tool', 'type': 'physical'}], members=['pg1', 'pg-2.dc'])
    slots = [slot('etl', 'logical', active=True, database='app', plugin='pgoutput'), slot('pg_2_dc', active=True), slot('backup_tool'),
             slot('stray', retained=10)]
    result = slot_hygiene(slots, drop=['etl', 'pg_2_dc', 'backup_tool', 'stray'], patroni=patroni)
    assert [row['owner'] for row in result['rows']] == ['permanent', 'member pg-2.dc', 'ignored', 'unknown']
    assert result['flagged'] == ['stray']
    assert 'Patroni' in result['rows'][3]['flags'][0] and 'ignore_slots' in result['rows'][3]['flags'][0]
    assert result['drop'] == ['backup_tool', 'stray']
    assert result['refused'] == [
        'slot etl is a Patroni permanent slot (Patroni creates it again): remove it from the configuration with '
        'pgha.replication.pg_replication_slot name=etl permanent=true state=absent',
        'slot pg_2_dc is the slot Patroni keeps for member pg-2.dc (Patroni creates it again): remove the member from '
        'the cluster instead']


def test_an_ignore_slots_entry_matches_on_every_key_it_gives():
    patroni = dict(permanent={}, ignore_slots=[{'name': 'x', 'type': 'logical'}], members=[])
    assert slot_hygiene([slot('x', 'physical')], patroni=patroni)['rows'][0]['owner'] == 'unknown'
    assert slot_hygiene([slot('x', 'logical')], patroni=patroni)['rows'][0]['owner'] == 'ignored'


def test_a_logical_failover_slot_is_left_to_postgresql_not_flagged():
    patroni = dict(permanent={}, ignore_slots=[], members=['pub1', 'pub2'])
    rows = slot_hygiene([slot('native', 'logical', failover=True), slot('plain', 'logical', failover=False)],
                        patroni=patroni)['rows']
    assert [(row['owner'], bool(row['flags'])) for row in rows] == [('failover', False), ('unknown', True)]


def test_member_slot_name_follows_patroni():
    assert member_slot_name('PG-1.example') == 'pg_1_example'
    assert member_slot_name('pg@1') == 'pgu00641'
    assert len(member_slot_name('a' * 80)) == 63


@pytest.mark.parametrize('value, expected', [('b,a, b', ['a', 'b']), (['b', 'a'], ['a', 'b']), ('', []), (None, []),
                                             ([], [])])
def test_slot_names(value, expected):
    assert slot_names(value) == expected


@pytest.mark.parametrize('args, words', [
    (('not a list',), 'the slots list of pg_replication_info'),
    (([], 'five'), 'threshold_bytes must be a number'),
    (([], -1), 'threshold_bytes must be 0 or more'),
    (([], 1, [1]), 'drop must be a list of slot names'),
    (([], 1, None, 'x'), 'patroni must be a dict'),
])
def test_bad_input(args, words):
    with pytest.raises(AnsibleFilterError, match=words):
        slot_hygiene(*args)


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {'slot_hygiene', 'slot_names'}
