# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""patroni_cluster_info against a real two-member Patroni 4 cluster. Claims are checked with an independent
GET /cluster (plain urllib) and with SQL on each member."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from .conftest import run_module
from .patroni_fixture import API_PASSWORD, DCS, SCOPE, free_port, patroni_cluster  # noqa: F401  pylint: disable=unused-import

MODULE = 'patroni_cluster_info'


def test_one_leader_one_replica_matches_independent_get(patroni_cluster):  # noqa: F811
    patroni_cluster.wait_healthy()
    for check_mode in (False, True):
        rc, res = run_module(MODULE, patroni_cluster.module_args(), check_mode=check_mode)
        assert rc == 0, res
        assert res['changed'] is False
        independent = patroni_cluster.cluster()
        by_name = dict((m['name'], m) for m in independent['members'])
        assert sorted(by_name) == [m['name'] for m in res['members']] == ['pg1', 'pg2']

        leaders = [m for m in res['members'] if m['role'] == 'leader']
        replicas = [m for m in res['members'] if m['role'] in ('replica', 'sync_standby')]
        assert len(leaders) == 1 and len(replicas) == 1, res['members']
        assert res['leader'] == leaders[0]['name'] == patroni_cluster.leader()
        for member in res['members']:
            raw = by_name[member['name']]
            for key in ('role', 'state', 'host', 'port', 'timeline', 'api_url'):
                assert member[key] == raw[key], (member['name'], key)
            assert member['host'] == patroni_cluster.members[member['name']]['host']
            assert member['port'] == patroni_cluster.members[member['name']]['pg_port']
        assert leaders[0]['state'] == 'running' and leaders[0]['lag'] == 0
        assert replicas[0]['state'] == 'streaming' and isinstance(replicas[0]['lag'], int)
        # synchronous_mode is on: Patroni made the replica the synchronous standby.
        assert res['sync_standbys'] == [replicas[0]['name']] and replicas[0]['role'] == 'sync_standby'
        assert res['timeline'] == by_name[res['leader']]['timeline'] and res['timeline'] >= 1
        assert res['scheduled_switchover'] is None and res['paused'] is False and res['scope'] == SCOPE
        config = patroni_cluster.get('/config')
        for key in ('ttl', 'loop_wait', 'retry_timeout', 'maximum_lag_on_failover', 'synchronous_mode'):
            assert res['config'][key] == config[key] == DCS[key], key

        # The server agrees: the leader is the only member out of recovery.
        assert patroni_cluster.in_recovery(res['leader']) is False
        assert patroni_cluster.in_recovery(replicas[0]['name']) is True
        assert API_PASSWORD not in res['_raw']


def test_any_member_gives_the_same_view(patroni_cluster):  # noqa: F811
    patroni_cluster.wait_healthy()
    views = []
    for name in ('pg1', 'pg2'):
        rc, res = run_module(MODULE, dict(api_url=patroni_cluster.members[name]['api_url']))  # GET needs no auth
        assert rc == 0, res
        views.append((res['leader'], res['timeline'], [(m['name'], m['role']) for m in res['members']]))
    assert views[0] == views[1]


def test_unreachable_api_fails_cleanly(patroni_cluster):  # noqa: F811
    url = 'http://127.0.3.1:%d' % free_port('127.0.3.1')
    rc, res = run_module(MODULE, dict(api_url=url, api_username='patroni', api_password=API_PASSWORD, api_timeout=3))
    assert rc != 0 and res['failed']
    assert 'cannot reach the Patroni REST API at %s (GET /cluster)' % url in res['msg']
    assert 'Traceback' not in res['_raw'] and API_PASSWORD not in res['_raw']


def test_not_a_patroni_api_fails_cleanly(patroni_cluster):  # noqa: F811
    # etcd's client URL is an HTTP server, but not Patroni's REST API: it has no /cluster.
    rc, res = run_module(MODULE, dict(api_url=patroni_cluster.etcd_url))
    assert rc != 0 and res['failed']
    assert res['msg'].startswith('GET /cluster: HTTP 404, no such endpoint: is api_url the Patroni REST API'), res
    assert 'Traceback' not in res['_raw']
