# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of patroni_restart: option checks, the planner and its refusals, the pending reasons, the request it
sends and the completion test. The REST API is a recording fake here; the ha scenario restarts real members."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

import pytest

from ansible_collections.pgha.replication.plugins.module_utils import _patroni
from ansible_collections.pgha.replication.plugins.module_utils._patroni import Conflict, InvalidInput, PatroniApiError
from ansible_collections.pgha.replication.plugins.modules import patroni_restart as mod


def raw_member(name, role='replica', state='streaming', pending=False, reason=None):
    member = {'name': name, 'role': role, 'state': state, 'api_url': 'https://%s:8008/patroni' % name, 'host': name,
              'port': 5432, 'timeline': 3}
    if role != 'leader':
        member.update(lag=0, lsn='0/5000000')
    if pending:
        member['pending_restart'] = True
    if reason:
        member['pending_restart_reason'] = reason
    return member


def cluster(*members, **extra):
    if not members:
        members = (raw_member('pg1', 'leader', 'running', pending=True), raw_member('pg2', 'sync_standby', pending=True),
                   raw_member('pg3', pending=True))
    return _patroni.normalise_cluster(dict({'members': list(members)}, **extra), {})


def desired(member='pg3', pending_only=True, allow_leader=False):
    return dict(member=member, pending_only=pending_only, allow_leader=allow_leader, wait=True, wait_timeout=300)


@pytest.mark.parametrize('overrides, message', [
    (dict(member=' '), 'member must name a member of the cluster'),
    (dict(wait_timeout=0), 'wait_timeout must be 1 or more'),
    (dict(api_url='pg1:8008'), 'api_url must be an http:// or https:// URL'),
])
def test_invalid_options(overrides, message):
    params = dict(api_url='https://pg1:8008', api_username='patroni', api_password='x', api_timeout=10, member='pg3',
                  pending_only=True, allow_leader=False, wait=True, wait_timeout=300)
    params.update(overrides)
    with pytest.raises(InvalidInput, match=message):
        mod.validate_params(params)


@pytest.mark.parametrize('view, wanted, expected', [
    (cluster(), desired('pg3'), (True, 'pg3 has a pending restart')),
    (cluster(), desired('pg2'), (True, 'pg2 has a pending restart')),
    (cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg3')), desired('pg3'),
     (False, 'pg3 has no pending restart')),
    # Nothing pending on the leader: nothing to refuse either, the run changes nothing.
    (cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg3')), desired('pg1'),
     (False, 'pg1 has no pending restart')),
    (cluster(), desired('pg1', allow_leader=True), (True, 'pg1 has a pending restart')),
    (cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg3')), desired('pg3', pending_only=False),
     (True, 'pending_only=false')),
    (cluster(raw_member('pg1', 'leader', 'running'),
             raw_member('pg3', pending=True, reason={'wal_buffers': {'old_value': '-1', 'new_value': '1MB'},
                                                     'max_connections': {'old_value': '100', 'new_value': '200'}})),
     desired('pg3'), (True, 'pg3 has a pending restart (max_connections: 100 -> 200, wal_buffers: -1 -> 1MB)')),
])
def test_plan(view, wanted, expected):
    assert mod.plan(view, wanted) == expected


@pytest.mark.parametrize('view, wanted, message', [
    (cluster(), desired('pg1'), "member 'pg1' is the leader: restarting it leaves the cluster without a writable "
                                "server while PostgreSQL starts; switch over first"),
    (cluster(), desired('pg1', pending_only=False), "member 'pg1' is the leader"),
    (cluster(), desired('pg9'), "member 'pg9' is not in the cluster (members: pg1, pg2, pg3)"),
    (cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg3', state='stopped', pending=True)), desired('pg3'),
     "member 'pg3' is in state 'stopped': a restart needs a running PostgreSQL"),
    (cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg3', pending=True), pause=True), desired('pg3'),
     'the cluster is paused (maintenance mode): resume it first'),
])
def test_refusals(view, wanted, message):
    with pytest.raises(Conflict) as info:
        mod.plan(view, wanted)
    assert message in info.value.msg


@pytest.mark.parametrize('status, expected', [
    (dict(state='running', role='replica', postmaster_start_time='B', replication_state='streaming'), True),
    (dict(state='running', role='replica', postmaster_start_time='B'), True),
    (dict(state='running', role='primary', postmaster_start_time='B'), True),
    (dict(state='running', role='replica', postmaster_start_time='A', replication_state='streaming'), False),
    (dict(state='running', role='replica', postmaster_start_time='B', replication_state='in archive recovery'), False),
    (dict(state='running', role='replica', postmaster_start_time='B', pending_restart=True), False),
    (dict(state='restarting', role='replica', postmaster_start_time='A'), False),
    (None, False),
])
def test_restarted(status, expected):
    assert mod.restarted(status, 'A') is expected


class Recorder(object):
    """A REST API of one member: records each request, answers with ``answer``."""

    def __init__(self, answer=(200, 'restarted successfully'), error=None):
        self.requests = []
        self.answer = answer
        self.error = error

    def for_member(self, api_url):
        recorder = self

        class Member(object):
            def request(self, method, path, body=None, timeout=None):
                recorder.requests.append((api_url, method, path, json.dumps(body, sort_keys=True), timeout))
                if recorder.error:
                    raise recorder.error
                return recorder.answer
        return Member()


def test_request_goes_to_the_member_with_restart_pending_and_the_timeout():
    client = Recorder()
    member = _patroni.member_by_name(cluster(), 'pg3')
    mod.request_restart(client, member, desired('pg3'))
    assert client.requests == [('https://pg3:8008', 'POST', '/restart', '{"restart_pending": true, "timeout": 300}', 310)]
    client = Recorder()
    mod.request_restart(client, member, desired('pg3', pending_only=False))
    assert client.requests[0][3] == '{"timeout": 300}'


def test_a_refused_restart_says_what_patroni_said():
    client = Recorder(error=PatroniApiError('POST /restart: HTTP 503, Patroni could not complete the request '
                                            '(Patroni said: restart failed)', status=503))
    with pytest.raises(mod.RestartFailed, match="Patroni refused or failed to restart 'pg3': POST /restart: HTTP 503"):
        mod.request_restart(client, _patroni.member_by_name(cluster(), 'pg3'), desired('pg3'))


def test_a_member_without_api_url_is_not_asked():
    member = dict(_patroni.member_by_name(cluster(), 'pg3'), api_url=None)
    with pytest.raises(mod.RestartFailed, match="member 'pg3' has no api_url"):
        mod.request_restart(Recorder(), member, desired('pg3'))


def test_return_documentation_names_every_result_key():
    import yaml
    documented = set(yaml.safe_load(mod.RETURN))
    produced = {'action', 'reason', 'member', 'postmaster_start_time', 'seconds', 'diff'}
    assert documented == produced
