# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""patroni_config against a real two-member Patroni 4 cluster. Claims are checked with an independent GET /config and
GET /cluster (plain urllib) and with SQL on each member."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import time

from .conftest import run_module
from .patroni_fixture import API_PASSWORD, API_USER, http, patroni_cluster  # noqa: F401  pylint: disable=unused-import

MODULE = 'patroni_config'
SETTLE_TIMEOUT = 60


def patch_config(cluster, body):
    """Independent PATCH /config (plain urllib), for restoring values after a test."""
    status, answer = http('PATCH', cluster.api_url + '/config', body=body, auth=(API_USER, API_PASSWORD))
    assert status == 200, (status, answer)


def wait_until(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError('timed out after %ss waiting for %s' % (timeout, what))


def test_four_steps_on_maximum_lag_on_failover(patroni_cluster):  # noqa: F811
    patroni_cluster.wait_healthy()
    original = patroni_cluster.get('/config')['maximum_lag_on_failover']
    new = original + 4096
    args = patroni_cluster.module_args(config={'maximum_lag_on_failover': new})
    try:
        # 1. check mode: reports the change, sends nothing.
        rc, res = run_module(MODULE, args, check_mode=True)
        assert rc == 0 and res['changed'] is True, res
        assert res['patch'] == {'maximum_lag_on_failover': new}
        assert res['config']['maximum_lag_on_failover'] == new
        assert res['diff'] == {'before': {'maximum_lag_on_failover': original}, 'after': {'maximum_lag_on_failover': new}}
        # Without diff mode there is no diff, as with every other module.
        rc, res = run_module(MODULE, args, check_mode=True, diff=False)
        assert rc == 0 and res['changed'] is True and 'diff' not in res, res
        time.sleep(1)  # GET /config answers from the member's cache of the DCS: give a write time to show
        for name in sorted(patroni_cluster.members):
            assert patroni_cluster.get('/config', member=name)['maximum_lag_on_failover'] == original, name

        # 2. apply.
        rc, res = run_module(MODULE, args)
        assert rc == 0 and res['changed'] is True, res
        assert res['patch'] == {'maximum_lag_on_failover': new}
        stored = patroni_cluster.get('/config')
        assert stored['maximum_lag_on_failover'] == new
        assert res['config'] == stored and res['pending_restart'] == []
        # The other member reads the same DCS (through its own cache, which follows in a moment).
        wait_until(lambda: patroni_cluster.get('/config', member='pg2')['maximum_lag_on_failover'] == new, 10,
                   'pg2 to show the new value')

        # 3. and 4. check mode, then apply again: nothing to do.
        for check_mode in (True, False):
            rc, res = run_module(MODULE, args, check_mode=check_mode)
            assert rc == 0 and res['changed'] is False and res['patch'] == {}, res
            assert res['diff']['before'] == res['diff']['after'] == {'maximum_lag_on_failover': new}
        # The same value as a string is the same value.
        rc, res = run_module(MODULE, patroni_cluster.module_args(config={'maximum_lag_on_failover': str(new)}))
        assert rc == 0 and res['changed'] is False, res
        assert patroni_cluster.get('/config')['maximum_lag_on_failover'] == new
        assert API_PASSWORD not in res['_raw']
    finally:
        patch_config(patroni_cluster, {'maximum_lag_on_failover': original})
        wait_until(lambda: patroni_cluster.get('/config')['maximum_lag_on_failover'] == original, 10,
                   'GET /config to show the restored value')


def pending_members(cluster):
    return sorted(m['name'] for m in cluster.cluster()['members'] if m.get('pending_restart'))


def setting(cluster, name, parameter):
    return cluster.pg_query(name, 'SELECT setting, pending_restart FROM pg_settings WHERE name = %s', (parameter,))[0]


def test_restart_parameter_is_reported_pending_on_every_member(patroni_cluster):  # noqa: F811
    patroni_cluster.wait_healthy()
    names = sorted(patroni_cluster.members)
    assert pending_members(patroni_cluster) == []
    stored = patroni_cluster.get('/config').get('postgresql', {}).get('parameters', {})
    had_key = 'max_connections' in stored
    running = int(setting(patroni_cluster, 'pg1', 'max_connections')[0])
    raised = running + 10
    try:
        rc, res = run_module(MODULE, patroni_cluster.module_args(
            config={'postgresql': {'parameters': {'max_connections': raised}}}))
        assert rc == 0 and res['changed'] is True, res
        assert res['patch'] == {'postgresql': {'parameters': {'max_connections': raised}}}
        assert res['pending_restart'] == names, res
        for name in names:
            assert res['pending_restart_reason'][name]['max_connections']['new_value'] == str(raised), res
        # Independently: Patroni reports the pending restart, and PostgreSQL itself does too.
        assert pending_members(patroni_cluster) == names
        for name in names:
            value, pending = setting(patroni_cluster, name, 'max_connections')
            assert int(value) == running and pending is True, name
        # Idempotent.
        rc, res = run_module(MODULE, patroni_cluster.module_args(
            config={'postgresql': {'parameters': {'max_connections': raised}}}), check_mode=True)
        assert rc == 0 and res['changed'] is False and res['pending_restart'] == names, res
    finally:
        patch_config(patroni_cluster, {'postgresql': {'parameters': {'max_connections': running if had_key else None}}})
        wait_until(lambda: pending_members(patroni_cluster) == [], SETTLE_TIMEOUT, 'pending_restart to clear')
    for name in names:
        assert setting(patroni_cluster, name, 'max_connections')[1] is False


def test_bad_timing_is_refused_before_sending(patroni_cluster):  # noqa: F811
    before = patroni_cluster.get('/config')
    bad = {'ttl': 20, 'loop_wait': 10, 'retry_timeout': 10}
    for check_mode in (True, False):
        rc, res = run_module(MODULE, patroni_cluster.module_args(config=bad), check_mode=check_mode)
        assert rc != 0 and res['failed'], res
        assert res['msg'] == ('config: invalid HA timings (ttl=20, loop_wait=10, retry_timeout=10): loop_wait + 2 * '
                              'retry_timeout (10 + 2 * 10 = 30) must not exceed ttl (20); Patroni would adjust them '
                              'silently, so nothing was sent. Change config.ttl, config.loop_wait or config.retry_timeout')
    assert patroni_cluster.get('/config') == before


def test_wrong_password_is_a_clear_401(patroni_cluster):  # noqa: F811
    before = patroni_cluster.get('/config')
    wrong = API_PASSWORD + '-wrong'
    args = patroni_cluster.module_args(config={'maximum_lag_on_failover': before['maximum_lag_on_failover'] + 1},
                                       api_password=wrong)
    rc, res = run_module(MODULE, args)
    assert rc != 0 and res['failed'], res
    assert res['msg'] == ('PATCH /config: HTTP 401, authentication failed: check api_username and api_password '
                          '(restapi.authentication in patroni.yml) (Patroni said: not authenticated)')
    assert wrong not in res['_raw'] and API_PASSWORD not in res['_raw'] and 'Traceback' not in res['_raw']
    assert patroni_cluster.get('/config') == before
