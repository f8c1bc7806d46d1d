# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_replication_slot with Patroni (permanent slots, the guard against SQL slots) against the real two-member Patroni 4
cluster of patroni_fixture. Claims are checked with an independent GET /config (plain urllib) and SQL on each member.

The fixture bootstraps with wal_level=replica; the module-scoped ``logical_cluster`` fixture switches the cluster to
wal_level=logical (PATCH /config and a restart of each member) and switches it back afterwards.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import time

import pytest

from .conftest import run_module
from .patroni_fixture import (  # noqa: F401  pylint: disable=unused-import
    API_PASSWORD,
    API_USER,
    SUPERUSER_PASSWORD,
    http,
    patroni_cluster,
)

MODULE = 'pg_replication_slot'
SLOT = 'perm_logi'
TEST_SLOTS = (SLOT, 'sql_logi', 'sql_phys', 'replica_perm')
RESTART_TIMEOUT = 45
COPY_TIMEOUT = 45  # Patroni copies a logical slot to a replica within a few HA loops (loop_wait=2 here), restarting it


def wait_until(predicate, timeout, what, tolerate=()):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            value = predicate()
        except tolerate:
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError('timed out after %ss waiting for %s' % (timeout, what))


def patch_config(cluster, body):
    status, answer = http('PATCH', cluster.api_url + '/config', body=body, auth=(API_USER, API_PASSWORD))
    assert status == 200, (status, answer)
    return answer


def restart_members(cluster, why):
    """Wait until every member reports the pending restart, restart each (POST /restart), wait for a healthy cluster."""
    wait_until(lambda: all(m.get('pending_restart') for m in cluster.cluster()['members']), RESTART_TIMEOUT,
               'every member to report a pending restart (%s)' % why)
    for name in sorted(cluster.members, key=lambda n: n == cluster.leader()):  # replicas first
        status, body = http('POST', cluster.members[name]['api_url'] + '/restart', body={}, auth=(API_USER, API_PASSWORD),
                            timeout=RESTART_TIMEOUT)
        assert status == 200, (name, status, body)
    wait_until(lambda: not any(m.get('pending_restart') for m in cluster.cluster()['members']), RESTART_TIMEOUT,
               'pending restarts to clear (%s)' % why)
    cluster.wait_healthy(timeout=RESTART_TIMEOUT)


def set_wal_level(cluster, value):
    patch_config(cluster, {'postgresql': {'parameters': {'wal_level': value}}})
    restart_members(cluster, 'wal_level=%s' % value)
    for name in cluster.members:
        assert cluster.pg_query(name, 'SHOW wal_level')[0][0] == value, name


@pytest.fixture(scope='module')
def logical_cluster(patroni_cluster):  # noqa: F811
    cluster = patroni_cluster
    cluster.wait_healthy()
    original = cluster.get('/config').get('postgresql', {}).get('parameters', {}).get('wal_level', 'replica')
    if original != 'logical':
        set_wal_level(cluster, 'logical')
    try:
        yield cluster
    finally:
        config = cluster.get('/config')
        leftovers = [n for n in TEST_SLOTS if n in (config.get('slots') or {})]
        if leftovers:
            patch_config(cluster, {'slots': dict((n, None) for n in leftovers)})
        for name in cluster.members:
            for slot in TEST_SLOTS:
                try:
                    cluster.pg_query(name, 'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots '
                                           'WHERE slot_name = %s AND NOT active', (slot,))
                except Exception:  # pylint: disable=broad-except  # best effort; a replica may refuse
                    pass
        if original != 'logical':
            set_wal_level(cluster, original)


def roles(cluster):
    leader = cluster.leader()
    assert leader is not None
    return leader, [n for n in sorted(cluster.members) if n != leader][0]


def sql_args(cluster, member, **extra):
    info = cluster.members[member]
    args = dict(login_host=info['host'], port=info['pg_port'], login_user='postgres', login_password=SUPERUSER_PASSWORD,
                login_db='postgres')
    args.update(extra)
    return args


def slot_row(cluster, member, name):
    rows = cluster.pg_query(member, 'SELECT slot_type, plugin, database, confirmed_flush_lsn::text FROM pg_replication_slots '
                                    'WHERE slot_name = %s', (name,))
    return rows[0] if rows else None


def slot_names(cluster, member):
    return sorted(r[0] for r in cluster.pg_query(member, 'SELECT slot_name FROM pg_replication_slots'))


def config_slots(cluster, member='pg1'):
    return cluster.get('/config', member=member).get('slots') or {}


def test_permanent_logical_slot_four_steps_and_removal(logical_cluster):
    cluster = logical_cluster
    leader, replica = roles(cluster)
    definition = {'type': 'logical', 'database': 'postgres', 'plugin': 'pgoutput'}
    args = cluster.module_args(**sql_args(cluster, leader, name=SLOT, slot_type='logical', permanent=True))
    assert SLOT not in config_slots(cluster) and slot_row(cluster, leader, SLOT) is None

    # 1. check mode: predicts the PATCH, sends nothing, creates nothing.
    rc, res = run_module(MODULE, args, check_mode=True)
    assert rc == 0 and res['changed'] is True, res
    assert res['requests'] == [{'method': 'PATCH', 'path': '/config', 'body': {'slots': {SLOT: definition}}}]
    assert res['queries'] == [] and res['patroni_slot'] == definition
    assert API_PASSWORD not in res['_raw']
    predicted = (res['requests'], res['diff'])
    time.sleep(1)  # GET /config answers from each member's cache of the DCS: give a stray write time to show
    for name in cluster.members:
        assert SLOT not in config_slots(cluster, name), name
        assert slot_row(cluster, name, SLOT) is None, name

    # 2. apply: declared in Patroni's configuration, created by Patroni on the leader (the module waited for it).
    rc, res = run_module(MODULE, args)
    applied = time.time()
    assert rc == 0 and res['changed'] is True, res
    assert (res['requests'], res['diff']) == predicted, 'check mode must predict the real run'
    assert res['queries'] == [], 'Patroni creates the slot, not the module'
    assert config_slots(cluster)[SLOT] == definition
    assert res['patroni_slot'] == definition
    row = slot_row(cluster, leader, SLOT)
    assert row is not None and row[:3] == ('logical', 'pgoutput', 'postgres'), row
    assert res['slot']['slot_name'] == SLOT and res['slot']['confirmed_flush_lsn'] == row[3]
    assert API_PASSWORD not in res['_raw']

    # Patroni copies the slot to the replica (restarting its PostgreSQL once) and turns hot_standby_feedback on there.
    copied = wait_until(lambda: slot_row(cluster, replica, SLOT), COPY_TIMEOUT, 'the slot to be copied to ' + replica,
                        tolerate=(Exception,))
    print('slot on the replica %.1fs after the module returned' % (time.time() - applied))
    assert copied[:3] == ('logical', 'pgoutput', 'postgres')
    assert wait_until(lambda: cluster.pg_query(replica, 'SHOW hot_standby_feedback')[0][0] == 'on', 10,
                      'hot_standby_feedback on ' + replica, tolerate=(Exception,))
    cluster.wait_healthy(timeout=RESTART_TIMEOUT)

    # 3. and 4. check mode, then apply again: nothing to do.
    for check_mode in (True, False):
        rc, res = run_module(MODULE, args, check_mode=check_mode)
        assert rc == 0 and res['changed'] is False, res
        assert res['requests'] == [] and res['queries'] == []
        assert res['diff']['before'] == res['diff']['after']
        assert res['patroni_slot'] == definition
    assert config_slots(cluster)[SLOT] == definition

    # Conflicts name the option; nothing is sent.
    rc, res = run_module(MODULE, dict(args, plugin='test_decoding'))
    assert rc != 0 and 'set plugin=pgoutput' in res['msg'] and res['requests'] == [], res
    rc, res = run_module(MODULE, dict(args, slot_type='physical'))
    assert rc != 0 and 'set slot_type=logical' in res['msg'], res
    rc, res = run_module(MODULE, dict(args, permanent=False))
    assert rc != 0 and 'set permanent=true' in res['msg'], res
    rc, res = run_module(MODULE, cluster.module_args(**sql_args(cluster, replica, name=SLOT, slot_type='logical',
                                                                permanent=True)))
    assert rc != 0 and 'replica' in res['msg'] and 'leader' in res['msg'], res
    assert config_slots(cluster)[SLOT] == definition

    # state=absent, four steps: removed from the configuration, dropped by Patroni on the leader and on the replica.
    absent = dict(args, state='absent')
    rc, res = run_module(MODULE, absent, check_mode=True)
    assert rc == 0 and res['changed'] is True, res
    assert res['requests'] == [{'method': 'PATCH', 'path': '/config', 'body': {'slots': {SLOT: None}}}]
    predicted = (res['requests'], res['diff'])
    time.sleep(1)
    assert config_slots(cluster)[SLOT] == definition and slot_row(cluster, leader, SLOT) is not None

    rc, res = run_module(MODULE, absent)
    assert rc == 0 and res['changed'] is True, res
    assert (res['requests'], res['diff']) == predicted
    assert res['slot'] is None and res['patroni_slot'] is None and res['queries'] == []
    assert SLOT not in config_slots(cluster)
    assert slot_row(cluster, leader, SLOT) is None
    wait_until(lambda: slot_row(cluster, replica, SLOT) is None, COPY_TIMEOUT, 'Patroni to drop the copy on ' + replica,
               tolerate=(Exception,))
    for check_mode in (True, False):
        rc, res = run_module(MODULE, absent, check_mode=check_mode)
        assert rc == 0 and res['changed'] is False and res['requests'] == [] and res['queries'] == [], res
    assert API_PASSWORD not in res['_raw']


@pytest.mark.parametrize('slot_type, name', [('logical', 'sql_logi'), ('physical', 'sql_phys')])
def test_sql_slot_refused_on_patroni_leader(logical_cluster, slot_type, name):
    cluster = logical_cluster
    leader, replica = roles(cluster)
    before = dict((m, slot_names(cluster, m)) for m in cluster.members)
    config_before = cluster.get('/config')
    # Detected from Patroni's connections in pg_stat_activity, without api_url; and with api_url.
    for args in (sql_args(cluster, leader, name=name, slot_type=slot_type),
                 cluster.module_args(**sql_args(cluster, leader, name=name, slot_type=slot_type))):
        for check_mode in (True, False):
            rc, res = run_module(MODULE, args, check_mode=check_mode)
            assert rc != 0 and res['failed'], res
            assert 'managed by Patroni' in res['msg'] and 'permanent=true' in res['msg'], res
            assert res['queries'] == [] and res['requests'] == []
            assert API_PASSWORD not in res['_raw']
    if slot_type == 'logical':
        assert 'lost at a failover' in res['msg']
    assert dict((m, slot_names(cluster, m)) for m in cluster.members) == before
    assert cluster.get('/config') == config_before


def test_wrong_api_password_changes_nothing(logical_cluster):
    cluster = logical_cluster
    leader, dummy = roles(cluster)
    wrong = API_PASSWORD + '-wrong'
    args = cluster.module_args(**sql_args(cluster, leader, name='replica_perm', slot_type='logical', permanent=True,
                                          api_password=wrong))
    rc, res = run_module(MODULE, args)
    assert rc != 0 and 'HTTP 401' in res['msg'] and res['requests'] == [], res
    assert wrong not in res['_raw'] and API_PASSWORD not in res['_raw'] and 'Traceback' not in res['_raw']
    assert 'replica_perm' not in config_slots(cluster) and slot_row(cluster, leader, 'replica_perm') is None
