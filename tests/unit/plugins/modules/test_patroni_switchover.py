# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure unit tests of patroni_switchover: option checks, candidate pre-checks, planner, prediction, completion,
Patroni's answers, and the wait loop (with a fake client and clock). No server."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import json

import pytest

from ansible_collections.pgha.replication.plugins.module_utils import _patroni
from ansible_collections.pgha.replication.plugins.module_utils._patroni import (
    Conflict,
    ConnectionFailed,
    InvalidInput,
    PatroniApiError,
    Unsupported,
    WaitTimeout,
)
from ansible_collections.pgha.replication.plugins.modules import patroni_switchover as mod

UTC = datetime.timezone.utc
NOW = datetime.datetime(2030, 1, 1, tzinfo=UTC)
SECRET = 'Hunter2-api-secret'


def raw_member(name, role='replica', state='streaming', lag=0, timeline=2, tags=None):
    member = {'name': name, 'role': role, 'state': state, 'api_url': 'http://%s:8008/patroni' % name, 'host': name,
              'port': 5432, 'timeline': timeline}
    if role != 'leader':
        member.update(lag=lag, receive_lag=lag, replay_lag=lag, lsn='0/5000000' if lag != 'unknown' else 'unknown')
    if tags:
        member['tags'] = tags
    return member


def cluster(*members, **extra):
    """A normalised cluster: pg1 leads by default, pg2 is the sync standby, pg3 an async replica."""
    config = dict(ttl=20, loop_wait=2, retry_timeout=5, maximum_lag_on_failover=1048576, synchronous_mode=True)
    config.update(extra.pop('config', {}))
    if not members:
        members = (raw_member('pg1', 'leader', 'running'), raw_member('pg2', 'sync_standby'), raw_member('pg3'))
    raw = {'members': list(members), 'scope': 'main'}
    raw.update(extra)
    return _patroni.normalise_cluster(raw, config)


def params(**overrides):
    base = dict(api_url='http://pg1:8008', api_username='patroni', api_password=SECRET, api_timeout=10, leader='pg2',
                candidate_any=False, scheduled_at=None, wait=True, wait_timeout=120)
    base.update(overrides)
    return base


def desired(**overrides):
    return mod.validate_params(params(**overrides))


# --- options ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('overrides, message', [
    (dict(leader=None), 'set leader to the member that should lead, or candidate_any=true'),
    (dict(candidate_any=True), 'leader and candidate_any=true are mutually exclusive'),
    (dict(leader='  '), 'leader must not be empty'),
    (dict(wait_timeout=0), 'wait_timeout must be 1 or more'),
    (dict(scheduled_at='2030-01-31 02:00'), 'not an ISO 8601 date and time with a time zone'),
    (dict(scheduled_at='next tuesday'), 'not an ISO 8601'),
    (dict(api_url='pg1:8008'), 'api_url must be'),
])
def test_invalid_options(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        mod.validate_params(params(**overrides))


def test_valid_options():
    assert desired() == dict(leader='pg2', candidate_any=False, scheduled_at=None, wait=True, wait_timeout=120)
    want = desired(leader=None, candidate_any=True, scheduled_at='2030-01-31T03:00:00+01:00', wait=False)
    assert want['scheduled_at'] == datetime.datetime(2030, 1, 31, 2, 0, tzinfo=UTC) and want['candidate_any']


# --- candidate pre-checks --------------------------------------------------------------------------------------
PRECHECK_CASES = [
    ('healthy sync standby', cluster(), 'pg2', []),
    ('async replica in synchronous mode', cluster(), 'pg3',
     ["synchronous_mode is on and member 'pg3' is not a synchronous standby (sync standbys: pg2)"]),
    ('async replica without synchronous mode', cluster(config=dict(synchronous_mode=False)), 'pg3', []),
    ('quorum standby in quorum mode', cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg2', 'quorum_standby'),
                                              raw_member('pg3', 'quorum_standby'), config=dict(synchronous_mode='quorum')),
     'pg3', []),
    ('replica outside the quorum in quorum mode', cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg2', 'quorum_standby'),
                                                          raw_member('pg3'), config=dict(synchronous_mode='quorum')),
     'pg3', ["synchronous_mode is quorum and member 'pg3' is not a quorum standby (quorum standbys: pg2)"]),
    ('nofailover tag', cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg2', 'sync_standby', tags={'nofailover': True})),
     'pg2', ["member 'pg2' has the nofailover tag and can never be promoted"]),
    ('nofailover tag as a string', cluster(raw_member('pg1', 'leader', 'running'),
                                           raw_member('pg2', 'sync_standby', tags={'nofailover': 'true'})),
     'pg2', ['nofailover']),
    ('nofailover false is fine', cluster(raw_member('pg1', 'leader', 'running'),
                                         raw_member('pg2', 'sync_standby', tags={'nofailover': False})), 'pg2', []),
    ('lag above maximum_lag_on_failover', cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg2', 'sync_standby', lag=2000000)),
     'pg2', ["member 'pg2' lags 2000000 bytes, more than maximum_lag_on_failover (1048576 bytes)"]),
    ('lag equal to the maximum is fine', cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg2', 'sync_standby', lag=4096),
                                                 config=dict(maximum_lag_on_failover=4096)), 'pg2', []),
    ('unknown lag', cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg2', 'sync_standby', lag='unknown')),
     'pg2', ["member 'pg2' has an unknown replication lag"]),
    ('stopped', cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg2', 'sync_standby', state='stopped')),
     'pg2', ["member 'pg2' is in state 'stopped', not running or streaming"]),
    ('running replica (Patroni < 3.0.4 state) is fine', cluster(raw_member('pg1', 'leader', 'running'),
                                                                raw_member('pg2', 'sync_standby', state='running')), 'pg2', []),
    ('standby leader is not a replica', cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg2', 'standby_leader')),
     'pg2', ["member 'pg2' has role 'standby_leader', not replica, sync_standby or quorum_standby",
             "synchronous_mode is on and member 'pg2' is not a synchronous standby (sync standbys: none)"]),
    ('check_timeline, other timeline', cluster(raw_member('pg1', 'leader', 'running', timeline=3), raw_member('pg2', 'sync_standby'),
                                               config=dict(check_timeline=True)),
     'pg2', ["check_timeline is on and member 'pg2' is on timeline 2, not the leader's 3"]),
    ('not a member', cluster(), 'pg9', ["member 'pg9' is not in the cluster (members: pg1, pg2, pg3)"]),
    ('several problems at once', cluster(raw_member('pg1', 'leader', 'running'),
                                         raw_member('pg2', state='starting', lag='unknown', tags={'nofailover': True})),
     'pg2', ["is in state 'starting'", 'nofailover', 'unknown replication lag', 'not a synchronous standby']),
]


@pytest.mark.parametrize('view, name, expected', [c[1:] for c in PRECHECK_CASES], ids=[c[0] for c in PRECHECK_CASES])
def test_candidate_problems(view, name, expected):
    problems = mod.candidate_problems(view, name)
    assert len(problems) == len(expected), problems
    for problem, needle in zip(problems, expected):
        assert needle in problem


# --- planner ---------------------------------------------------------------------------------------------------
PLAN_CASES = [
    ('already leads', cluster(), dict(leader='pg1'), None),
    ('switch to the sync standby', cluster(), dict(), {'from': 'pg1', 'to': 'pg2', 'scheduled_at': None}),
    ('candidate_any picks the sync standby', cluster(), dict(leader=None, candidate_any=True),
     {'from': 'pg1', 'to': 'pg2', 'scheduled_at': None}),
    ('candidate_any picks the least lag without sync mode',
     cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg2', lag=500), raw_member('pg3', lag=10),
             config=dict(synchronous_mode=False)),
     dict(leader=None, candidate_any=True), {'from': 'pg1', 'to': 'pg3', 'scheduled_at': None}),
    ('candidate_any skips nofailover',
     cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg2', tags={'nofailover': True}), raw_member('pg3', lag=10),
             config=dict(synchronous_mode=False)),
     dict(leader=None, candidate_any=True), {'from': 'pg1', 'to': 'pg3', 'scheduled_at': None}),
    ('scheduled', cluster(), dict(scheduled_at='2030-01-31T02:00:00Z'),
     {'from': 'pg1', 'to': 'pg2', 'scheduled_at': '2030-01-31T02:00:00+00:00'}),
    ('same schedule already there',
     cluster(scheduled_switchover={'at': '2030-01-31T03:00:00+01:00', 'from': 'pg1', 'to': 'pg2'}),
     dict(scheduled_at='2030-01-31T02:00:00Z'), None),
    ('already leads, a schedule is not needed', cluster(), dict(leader='pg1', scheduled_at='2030-01-31T02:00:00Z'), None),
]


@pytest.mark.parametrize('view, overrides, expected', [c[1:] for c in PLAN_CASES], ids=[c[0] for c in PLAN_CASES])
def test_plan(view, overrides, expected):
    assert mod.plan(view, desired(**overrides), now=NOW) == expected


REFUSE_CASES = [
    ('unknown member', cluster(), dict(leader='pg9'), InvalidInput,
     r"leader 'pg9' is not a member of the cluster \(members: pg1, pg2, pg3\)"),
    ('nofailover candidate', cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg2', 'sync_standby', tags={'nofailover': True})),
     dict(), mod.PrecheckFailed, "cannot switch over from pg1 to pg2: member 'pg2' has the nofailover tag"),
    ('async candidate in sync mode', cluster(), dict(leader='pg3'), mod.PrecheckFailed,
     "cannot switch over from pg1 to pg3: synchronous_mode is on and member 'pg3' is not a synchronous standby"),
    ('lagging candidate', cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg2', 'sync_standby', lag=1048577)),
     dict(), mod.PrecheckFailed, 'lags 1048577 bytes, more than maximum_lag_on_failover'),
    ('no leader', cluster(raw_member('pg1', 'replica', 'stopped'), raw_member('pg2', 'replica')), dict(), Unsupported,
     'the cluster has no running leader'),
    ('leader not running', cluster(raw_member('pg1', 'leader', 'stopping'), raw_member('pg2', 'sync_standby')), dict(), Unsupported,
     r'the cluster has no running leader \(leader: pg1\)'),
    ('schedule in the past', cluster(), dict(scheduled_at='2029-12-31T23:59:59Z'), InvalidInput, 'is in the past'),
    ('schedule while paused', cluster(pause=True), dict(scheduled_at='2030-01-31T02:00:00Z'), Unsupported,
     'the cluster is paused'),
    ('another switchover scheduled', cluster(scheduled_switchover={'at': '2030-02-01T00:00:00+00:00', 'from': 'pg1', 'to': 'pg3'}),
     dict(), Conflict, r'a switchover from pg1 to pg3 is already scheduled at 2030-02-01T00:00:00\+00:00; cancel it first'),
    ('candidate_any without any fit member',
     cluster(raw_member('pg1', 'leader', 'running'), raw_member('pg2', 'sync_standby', tags={'nofailover': True})),
     dict(leader=None, candidate_any=True), mod.PrecheckFailed, 'candidate_any=true: no member can take over from pg1: .*nofailover'),
    ('candidate_any alone', cluster(raw_member('pg1', 'leader', 'running')), dict(leader=None, candidate_any=True),
     mod.PrecheckFailed, 'the cluster has no other member'),
]


@pytest.mark.parametrize('view, overrides, exc, message', [c[1:] for c in REFUSE_CASES], ids=[c[0] for c in REFUSE_CASES])
def test_plan_refuses(view, overrides, exc, message):
    with pytest.raises(exc, match=message):
        mod.plan(view, desired(**overrides), now=NOW)


def test_predict_swaps_roles_and_bumps_the_timeline():
    view = cluster()
    after = mod.predict(view, {'from': 'pg1', 'to': 'pg2', 'scheduled_at': None})
    roles = dict((m['name'], (m['role'], m['state'], m['timeline'])) for m in after['members'])
    assert after['leader'] == 'pg2' and after['timeline'] == 3
    assert roles == {'pg1': ('sync_standby', 'streaming', 3), 'pg2': ('leader', 'running', 3), 'pg3': ('replica', 'streaming', 2)}
    assert mod.predict(view, None) == mod.summary(view)
    assert mod.predict(view, {'from': 'pg1', 'to': 'pg2', 'scheduled_at': '2030-01-31T02:00:00+00:00'}) == mod.summary(view)


COMPLETED_CASES = [
    ('done, old leader streaming', (raw_member('pg1', 'sync_standby', timeline=3), raw_member('pg2', 'leader', 'running', timeline=3)),
     True),
    ('done, old leader running on the new timeline', (raw_member('pg1', 'replica', 'running', timeline=3),
                                                      raw_member('pg2', 'leader', 'running', timeline=3)), True),
    ('old leader running on the old timeline', (raw_member('pg1', 'replica', 'running', timeline=2),
                                                raw_member('pg2', 'leader', 'running', timeline=3)), False),
    ('old leader still stopping', (raw_member('pg1', 'replica', 'stopping', timeline=2),
                                   raw_member('pg2', 'leader', 'running', timeline=3)), False),
    ('new leader not running yet', (raw_member('pg1', 'sync_standby'), raw_member('pg2', 'leader', 'starting')), False),
    ('old leader still leads', (raw_member('pg1', 'leader', 'running'), raw_member('pg2', 'sync_standby')), False),
    ('no leader', (raw_member('pg1', 'replica', 'stopped'), raw_member('pg2', 'replica', 'running')), False),
    ('old leader gone', (raw_member('pg2', 'leader', 'running', timeline=3),), False),
]


@pytest.mark.parametrize('members, expected', [c[1:] for c in COMPLETED_CASES], ids=[c[0] for c in COMPLETED_CASES])
def test_completed(members, expected):
    assert mod.completed(cluster(*members), 'pg1', 'pg2') is expected


# --- Patroni's answers ------------------------------------------------------------------------------------------
NOW_SWITCH = {'from': 'pg1', 'to': 'pg2', 'scheduled_at': None}
LATER_SWITCH = {'from': 'pg1', 'to': 'pg2', 'scheduled_at': '2030-01-31T02:00:00+00:00'}


@pytest.mark.parametrize('status, text, switchover, expected', [
    (200, 'Successfully switched over to "pg2"', NOW_SWITCH, 'done'),
    (503, 'Switchover status unknown', NOW_SWITCH, 'unknown'),
    (202, 'Switchover scheduled', LATER_SWITCH, 'scheduled'),
])
def test_post_outcome(status, text, switchover, expected):
    assert mod.post_outcome(status, text, switchover) == expected


@pytest.mark.parametrize('status, text, switchover, message', [
    (200, 'Switched over to "pg3" instead of "pg2"', NOW_SWITCH, 'Patroni promoted another member'),
    (200, 'Successfully switched over to "pg2"', LATER_SWITCH, 'unexpected answer HTTP 200'),
    (202, 'Switchover scheduled', NOW_SWITCH, 'unexpected answer HTTP 202'),
])
def test_post_outcome_refuses(status, text, switchover, message):
    with pytest.raises(mod.SwitchoverFailed, match=message):
        mod.post_outcome(status, text, switchover)


class FakeClient(object):
    """Answers POST /switchover from ``post`` (a (status, text) pair or an exception) and GET /cluster from a script."""

    def __init__(self, post=(200, 'Successfully switched over to "pg2"'), clusters=()):
        self.post = post
        self.clusters = list(clusters)
        self.requests = []

    def request(self, method, path, body=None, timeout=None):
        self.requests.append((method, path, body, timeout))
        if isinstance(self.post, Exception):
            raise self.post
        return self.post

    def get_json(self, path, timeout=None):
        assert path == '/cluster'
        answer = self.clusters.pop(0) if len(self.clusters) > 1 else self.clusters[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.mark.parametrize('status, text, message', [
    (412, 'candidate name does not match with sync_standby',
     'switchover from pg1 to pg2 failed: POST /switchover: HTTP 412, Patroni refused the request, a precondition does not '
     'hold (Patroni said: candidate name does not match with sync_standby)'),
    (503, 'Switchover failed', 'HTTP 503, Patroni could not complete the request (Patroni said: Switchover failed)'),
    (503, 'failed to write failover key into DCS', 'Patroni said: failed to write failover key into DCS'),
    (401, 'not authenticated', 'HTTP 401, authentication failed: check api_username and api_password'),
    (403, 'Access is denied', 'HTTP 403, access denied'),
    (422, 'Cannot schedule switchover in the past', 'HTTP 422, Patroni rejected the request as invalid'),
    (500, 'oops', 'HTTP 500, Patroni failed to handle the request (Patroni said: oops)'),
])
def test_request_switchover_maps_errors(status, text, message):
    error = PatroniApiError(_patroni.status_message(status, text, 'POST', '/switchover'), status=status, body=text)
    with pytest.raises(mod.SwitchoverFailed) as info:
        mod.request_switchover(FakeClient(post=error), NOW_SWITCH, 30)
    assert message in info.value.msg


def test_request_switchover_body_and_unknown_status():
    client = FakeClient()
    assert mod.request_switchover(client, LATER_SWITCH, 30) == (200, 'Successfully switched over to "pg2"')
    assert client.requests == [('POST', '/switchover', {'leader': 'pg1', 'candidate': 'pg2',
                                                        'scheduled_at': '2030-01-31T02:00:00+00:00'}, 30)]
    unknown = PatroniApiError('x', status=503, body='Switchover status unknown')
    assert mod.request_switchover(FakeClient(post=unknown), NOW_SWITCH, 30) == (503, 'Switchover status unknown')


def test_post_timeout_covers_patronis_polling():
    assert mod.post_timeout(dict(api_timeout=10), cluster()) == 30
    assert mod.post_timeout(dict(api_timeout=10), cluster(config=dict(loop_wait=30))) == 70
    assert mod.post_timeout(dict(api_timeout=90), cluster()) == 90


# --- the wait loop ----------------------------------------------------------------------------------------------
class FakeClock(object):
    def __init__(self):
        self.now = 1000.0

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def raw(*members):
    return {'members': list(members)}


BEFORE = raw(raw_member('pg1', 'leader', 'running'), raw_member('pg2', 'sync_standby'))
NO_LEADER = raw(raw_member('pg1', 'replica', 'stopped'), raw_member('pg2', 'sync_standby'))
NEW_LEADER_OLD_STOPPED = raw(raw_member('pg1', 'replica', 'stopped'), raw_member('pg2', 'leader', 'running', timeline=3))
DONE = raw(raw_member('pg1', 'replica', 'streaming', timeline=3), raw_member('pg2', 'leader', 'running', timeline=3))


def test_wait_counts_the_polls_without_a_running_leader(monkeypatch):
    monkeypatch.setattr(mod, '_Poster', SyncPoster)
    clock = FakeClock()
    script = [BEFORE, NO_LEADER, NO_LEADER, ConnectionFailed('down'), NEW_LEADER_OLD_STOPPED, DONE]
    client = FakeClient(clusters=script)
    view, response, unavailable, source = mod.switch_and_wait(client, NOW_SWITCH, 30, 10, clock=clock.time, sleep=clock.sleep)
    assert view['leader'] == 'pg2' and response == 'Successfully switched over to "pg2"' and source == 'dcs'
    # polls at +0, +0.25 (none), +0.5 (none), +0.75 (error), +1.0 (leader back): 3 intervals of 0.25 s
    assert unavailable == 0.75


def test_wait_times_out_with_what_it_saw(monkeypatch):
    monkeypatch.setattr(mod, '_Poster', SyncPoster)
    clock = FakeClock()
    client = FakeClient(clusters=[NEW_LEADER_OLD_STOPPED])
    with pytest.raises(WaitTimeout, match=r'not completed after wait_timeout=5s \(last seen: pg1 replica/stopped tl 2, '
                                          r'pg2 leader/running tl 3\)'):
        mod.switch_and_wait(client, NOW_SWITCH, 30, 5, clock=clock.time, sleep=clock.sleep)
    assert 5 <= clock.now - 1000.0 <= 5.5


def test_wait_stops_on_a_refused_switchover(monkeypatch):
    monkeypatch.setattr(mod, '_Poster', SyncPoster)
    clock = FakeClock()
    error = PatroniApiError('POST /switchover: HTTP 412 (Patroni said: candidate does not exists)', status=412, body='')
    client = FakeClient(post=error, clusters=[BEFORE])
    with pytest.raises(mod.SwitchoverFailed, match='candidate does not exists'):
        mod.switch_and_wait(client, NOW_SWITCH, 30, 60, clock=clock.time, sleep=clock.sleep)
    assert clock.now - 1000.0 < 1


def test_wait_goes_on_when_patroni_does_not_know(monkeypatch):
    monkeypatch.setattr(mod, '_Poster', SyncPoster)
    clock = FakeClock()
    unknown = PatroniApiError('x', status=503, body='Switchover status unknown')
    client = FakeClient(post=unknown, clusters=[BEFORE, NO_LEADER, DONE])
    view, response, unavailable, dummy = mod.switch_and_wait(client, NOW_SWITCH, 30, 60, clock=clock.time, sleep=clock.sleep)
    assert view['leader'] == 'pg2' and response == 'Switchover status unknown' and unavailable == 0.25


class FakeMembers(object):
    """member_client(): each member's own GET /patroni answers from a script (one answer per call, last one repeats)."""

    def __init__(self, answers):
        self.answers = dict((name, list(script)) for name, script in answers.items())
        self.calls = []

    def __call__(self, api_url):
        name = api_url.split('//')[1].split(':')[0]
        members = self

        class Client(object):
            def get_json(self, path, timeout=None):
                members.calls.append((name, path, timeout))
                script = members.answers[name]
                answer = script.pop(0) if len(script) > 1 else script[0]
                if isinstance(answer, Exception):
                    raise answer
                return answer
        return Client()


PRIMARY_RUNNING = {'state': 'running', 'role': 'primary'}
PRIMARY_STOPPING = {'state': 'stopping', 'role': 'primary'}


def test_wait_asks_the_leader_itself(monkeypatch):
    """GET /cluster still shows pg1 running while pg1 itself says it is stopping: those polls count as unavailable."""
    monkeypatch.setattr(mod, '_Poster', SyncPoster)
    clock = FakeClock()
    members = FakeMembers({'pg1': [PRIMARY_RUNNING, PRIMARY_RUNNING, PRIMARY_STOPPING, PRIMARY_STOPPING,
                                   ConnectionFailed('down')],
                           'pg2': [{'state': 'starting', 'role': 'primary'}, PRIMARY_RUNNING]})
    script = [BEFORE, BEFORE, BEFORE, NO_LEADER, NEW_LEADER_OLD_STOPPED, DONE]
    client = FakeClient(clusters=script)
    view, dummy, unavailable, source = mod.switch_and_wait(client, NOW_SWITCH, 30, 10, before=cluster(*BEFORE['members']),
                                                           member_client=members, clock=clock.time, sleep=clock.sleep)
    # baseline (pg1 running), poll 0 pg1 running, 1 and 2 pg1 stopping, 3 no leader, 4 pg2 starting, 5 pg2 running
    assert source == 'member' and view['leader'] == 'pg2'
    assert unavailable == 1.0
    assert members.calls[0] == ('pg1', '', mod.LIVE_TIMEOUT)


def test_wait_falls_back_to_the_dcs_view_when_members_cannot_be_reached(monkeypatch):
    monkeypatch.setattr(mod, '_Poster', SyncPoster)
    clock = FakeClock()
    members = FakeMembers({'pg1': [ConnectionFailed('no route')], 'pg2': [ConnectionFailed('no route')]})
    client = FakeClient(clusters=[BEFORE, NO_LEADER, DONE])
    dummy, dummy2, unavailable, source = mod.switch_and_wait(client, NOW_SWITCH, 30, 10, before=cluster(*BEFORE['members']),
                                                             member_client=members, clock=clock.time, sleep=clock.sleep)
    assert source == 'dcs' and unavailable == 0.25
    assert [c[0] for c in members.calls] == ['pg1']  # asked once, before the switchover, then never again


@pytest.mark.parametrize('answer, expected', [
    (PRIMARY_RUNNING, True), ({'state': 'running', 'role': 'master'}, True), (PRIMARY_STOPPING, False),
    ({'state': 'running', 'role': 'replica'}, False), (PatroniApiError('x', status=503), False), ('text', False),
])
def test_leader_live(answer, expected):
    assert mod.leader_live(cluster(), FakeMembers({'pg1': [answer]})) is expected


class SyncPoster(mod._Poster):
    """The real poster, run synchronously so the fake clock stays deterministic."""

    def start(self):
        self.run()

    def is_alive(self):
        return False


def test_the_poster_thread_reports_errors():
    poster = mod._Poster(FakeClient(post=PatroniApiError('boom', status=500, body='boom')), NOW_SWITCH, 5)
    poster.start()
    poster.join(5)
    assert isinstance(poster.error, mod.SwitchoverFailed) and poster.result is None


def test_return_documentation_matches_the_result_keys():
    import yaml
    returned = yaml.safe_load(mod.RETURN)
    assert set(returned) == {'before', 'after', 'switchover', 'unavailable_seconds', 'unavailable_source', 'diff'}
    assert set(returned['switchover']['contains']) == {'from', 'to', 'scheduled_at', 'response'}
    assert set(returned['before']['contains']) == set(mod.summary(cluster()))
    json.dumps(mod.predict(cluster(), NOW_SWITCH))  # the prediction is plain data
