# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""patroni_switchover against a real two-member Patroni 4 cluster (synchronous_mode on).

Every claim is checked independently: GET /cluster with plain urllib, ``pg_is_in_recovery()`` and the replication
views over psycopg2 on each member, and the members' Patroni logs (a switchover request Patroni accepted is logged
as "received switchover request", so "no POST" is verified on the server side).

A tiny fake Patroni (``FakePatroni`` below) is used for one thing only: Patroni's own refusals (412) and failures
(503) of POST /switchover. A real Patroni answers them only when its state changes between the module's pre-checks
and the POST (a race that cannot be produced on demand), because the module refuses the same cases itself first.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import threading
import time

import pytest

from .conftest import run_module
from .patroni_fixture import (  # noqa: F401  pylint: disable=unused-import
    API_PASSWORD,
    API_USER,
    SUPERUSER_PASSWORD,
    free_port,
    http,
    patroni_cluster,
)

try:
    from http.server import BaseHTTPRequestHandler, HTTPServer
except ImportError:  # pragma: no cover
    BaseHTTPRequestHandler = HTTPServer = object

MODULE = 'patroni_switchover'


def roles(cluster):
    """(leader, other) names from an independent GET /cluster of a healthy cluster."""
    view = cluster.wait_healthy()
    leader = [m['name'] for m in view['members'] if m['role'] == 'leader'][0]
    other = [m['name'] for m in view['members'] if m['name'] != leader][0]
    timeline = [m['timeline'] for m in view['members'] if m['name'] == leader][0]
    return leader, other, timeline


def leader_and_timeline(cluster):
    view = cluster.cluster()
    leaders = [m for m in view['members'] if m['role'] == 'leader']
    assert len(leaders) == 1, view
    return leaders[0]['name'], leaders[0]['timeline']


def assert_streams_from(cluster, replica, leader):
    """SQL on both members: ``leader`` is a primary, ``replica`` is in recovery and streams from ``leader``."""
    assert cluster.in_recovery(leader) is False
    assert cluster.in_recovery(replica) is True
    host, port = cluster.members[leader]['host'], cluster.members[leader]['pg_port']

    def streaming():
        rows = cluster.pg_query(replica, 'SELECT status, sender_host, sender_port FROM pg_stat_wal_receiver')
        return rows and rows[0] == ('streaming', host, port)
    deadline = time.time() + 30
    while not streaming():
        assert time.time() < deadline, cluster.pg_query(replica, 'SELECT status, sender_host, sender_port FROM pg_stat_wal_receiver')
        time.sleep(0.25)
    rows = cluster.pg_query(leader, "SELECT application_name, state FROM pg_stat_replication WHERE application_name = %s",
                            (replica,))
    assert rows == [(replica, 'streaming')]


class Writer(object):
    """Independent measure of the outage: INSERTs every 20 ms through a libpq multi-host connection string
    (target_session_attrs=read-write, so it follows the primary); ``longest_gap`` is the longest time between two
    successful writes."""

    def __init__(self, cluster):
        import psycopg2
        self.psycopg2 = psycopg2
        members = [cluster.members[name] for name in sorted(cluster.members)]
        self.dsn = dict(host=','.join(m['host'] for m in members), port=','.join(str(m['pg_port']) for m in members),
                        user='postgres', password=SUPERUSER_PASSWORD, dbname='postgres', connect_timeout=1,
                        target_session_attrs='read-write')
        self.oks = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.daemon = True
        conn = psycopg2.connect(**self.dsn)
        conn.autocommit = True
        conn.cursor().execute('CREATE TABLE IF NOT EXISTS switchover_writes (at timestamptz DEFAULT now())')
        conn.close()

    def run(self):
        conn = None
        while not self.stopping.is_set():
            try:
                if conn is None:
                    conn = self.psycopg2.connect(**self.dsn)
                    conn.autocommit = True
                conn.cursor().execute('INSERT INTO switchover_writes DEFAULT VALUES')
                self.oks.append(time.time())
            except self.psycopg2.Error:
                if conn is not None:
                    conn.close()
                conn = None
            time.sleep(0.02)
        if conn is not None:
            conn.close()

    def __enter__(self):
        self.thread.start()
        time.sleep(1)
        return self

    def __exit__(self, *exc):
        time.sleep(1)
        self.stopping.set()
        self.thread.join(10)

    @property
    def longest_gap(self):
        return max(b - a for a, b in zip(self.oks, self.oks[1:]))


def test_switchover_four_steps(patroni_cluster, record_property):  # noqa: F811
    leader, other, timeline = roles(patroni_cluster)
    posts = patroni_cluster.switchover_requests()
    args = patroni_cluster.module_args(leader=other)

    # 1. check mode: predicts the switchover, asks nothing, moves nothing.
    rc, res = run_module(MODULE, args, check_mode=True)
    assert rc == 0, res
    assert res['changed'] is True
    assert res['switchover'] == {'from': leader, 'to': other, 'scheduled_at': None, 'response': None}
    assert res['before']['leader'] == leader and res['after']['leader'] == other
    assert res['after']['timeline'] == timeline + 1 and res['unavailable_seconds'] is None
    assert res['diff'] == {'before': {'leader': leader, 'scheduled_switchover': None},
                           'after': {'leader': other, 'scheduled_switchover': None}}
    predicted = (res['switchover']['from'], res['switchover']['to'], res['after']['leader'], res['after']['timeline'], res['diff'])
    time.sleep(3)  # longer than loop_wait: a switchover asked for would have started
    assert leader_and_timeline(patroni_cluster) == (leader, timeline)
    assert patroni_cluster.switchover_requests() == posts
    assert patroni_cluster.in_recovery(leader) is False and patroni_cluster.in_recovery(other) is True

    # 2. apply: the leader moves, the old leader streams from the new one on the next timeline.
    with Writer(patroni_cluster) as writer:
        started = time.time()
        rc, res = run_module(MODULE, args)
        elapsed = time.time() - started
    assert rc == 0, res
    assert res['changed'] is True
    assert res['switchover']['response'] == 'Successfully switched over to "%s"' % other
    assert (res['switchover']['from'], res['switchover']['to'], res['after']['leader'], res['after']['timeline'],
            res['diff']) == predicted, 'check mode must predict the real run'
    assert patroni_cluster.switchover_requests() == posts + 1
    view = patroni_cluster.cluster()
    by_name = dict((m['name'], m) for m in view['members'])
    assert by_name[other]['role'] == 'leader' and by_name[other]['state'] == 'running'
    assert by_name[other]['timeline'] == timeline + 1
    assert by_name[leader]['role'] in ('replica', 'sync_standby')
    assert by_name[leader]['state'] == 'streaming' and by_name[leader]['timeline'] == timeline + 1
    assert_streams_from(patroni_cluster, replica=leader, leader=other)
    assert isinstance(res['unavailable_seconds'], float) and 0 < res['unavailable_seconds'] < elapsed
    # The leader's own REST API was reachable, so the figure follows the real outage seen by a client writing.
    assert res['unavailable_source'] == 'member'
    assert abs(res['unavailable_seconds'] - writer.longest_gap) <= 1.0, (res['unavailable_seconds'], writer.longest_gap)
    record_property('unavailable_seconds', res['unavailable_seconds'])
    record_property('longest_write_gap', round(writer.longest_gap, 2))
    record_property('module_seconds', round(elapsed, 2))
    print('switchover %s -> %s: unavailable_seconds=%s, longest write gap %.2fs, module run %.2fs'
          % (leader, other, res['unavailable_seconds'], writer.longest_gap, elapsed))

    # 3. and 4. check mode again, apply again: unchanged, nothing asked, the timeline stays.
    patroni_cluster.wait_healthy(leader=other)
    for check_mode in (True, False):
        rc, res = run_module(MODULE, args, check_mode=check_mode)
        assert rc == 0, res
        assert res['changed'] is False and res['switchover'] is None
        assert res['unavailable_seconds'] is None and res['unavailable_source'] is None
        assert res['before']['leader'] == res['after']['leader'] == other
        assert res['diff']['before'] == res['diff']['after']
    assert leader_and_timeline(patroni_cluster) == (other, timeline + 1)
    assert patroni_cluster.switchover_requests() == posts + 1


def test_candidate_any_moves_the_leader_away(patroni_cluster, record_property):  # noqa: F811
    leader, other, timeline = roles(patroni_cluster)
    rc, res = run_module(MODULE, patroni_cluster.module_args(candidate_any=True), check_mode=True)
    assert rc == 0 and res['changed'] is True and res['switchover']['to'] == other, res
    assert leader_and_timeline(patroni_cluster) == (leader, timeline)

    rc, res = run_module(MODULE, patroni_cluster.module_args(candidate_any=True))
    assert rc == 0, res
    assert res['changed'] is True and res['switchover']['from'] == leader and res['switchover']['to'] == other
    assert leader_and_timeline(patroni_cluster) == (other, timeline + 1)
    assert_streams_from(patroni_cluster, replica=leader, leader=other)
    assert res['unavailable_source'] == 'member' and res['unavailable_seconds'] > 0
    record_property('unavailable_seconds', res['unavailable_seconds'])
    print('candidate_any switchover %s -> %s: unavailable_seconds=%s' % (leader, other, res['unavailable_seconds']))


def test_nonexistent_member_refused(patroni_cluster):  # noqa: F811
    leader, dummy, timeline = roles(patroni_cluster)
    posts = patroni_cluster.switchover_requests()
    for check_mode in (True, False):
        rc, res = run_module(MODULE, patroni_cluster.module_args(leader='pg9'), check_mode=check_mode)
        assert rc != 0 and res['failed'], res
        assert res['msg'] == "leader 'pg9' is not a member of the cluster (members: pg1, pg2)"
    assert patroni_cluster.switchover_requests() == posts
    assert leader_and_timeline(patroni_cluster) == (leader, timeline)


def test_nofailover_candidate_refused(patroni_cluster):  # noqa: F811
    """The replica gets the nofailover tag (patroni.yml + POST /reload): the pre-check refuses it and names the tag."""
    leader, other, timeline = roles(patroni_cluster)
    posts = patroni_cluster.switchover_requests()
    try:
        patroni_cluster.set_tags(other, dict(nofailover=True))
        for check_mode in (True, False):
            rc, res = run_module(MODULE, patroni_cluster.module_args(leader=other), check_mode=check_mode)
            assert rc != 0 and res['failed'], res
            assert res['msg'].startswith('cannot switch over from %s to %s: ' % (leader, other))
            assert "member '%s' has the nofailover tag and can never be promoted" % other in res['msg']
            rc, res = run_module(MODULE, patroni_cluster.module_args(candidate_any=True), check_mode=check_mode)
            assert rc != 0 and 'candidate_any=true: no member can take over from %s' % leader in res['msg'], res
            assert 'nofailover' in res['msg']
        assert patroni_cluster.switchover_requests() == posts
        assert leader_and_timeline(patroni_cluster) == (leader, timeline)
    finally:
        patroni_cluster.set_tags(other, dict(nofailover=False))
        patroni_cluster.wait_healthy(leader=leader)


def test_wrong_password_is_a_clear_401(patroni_cluster):  # noqa: F811
    leader, other, timeline = roles(patroni_cluster)
    wrong = API_PASSWORD + '-wrong'
    rc, res = run_module(MODULE, patroni_cluster.module_args(leader=other, api_password=wrong))
    assert rc != 0 and res['failed'], res
    assert res['msg'] == ('switchover from %s to %s failed: POST /switchover: HTTP 401, authentication failed: check '
                          'api_username and api_password (restapi.authentication in patroni.yml) '
                          '(Patroni said: not authenticated)' % (leader, other))
    assert wrong not in res['_raw'] and API_PASSWORD not in res['_raw']
    # No password at all: Patroni refuses the same way.
    rc, res = run_module(MODULE, dict(api_url=patroni_cluster.api_url, leader=other))
    assert rc != 0 and 'HTTP 401, authentication failed' in res['msg'], res
    assert leader_and_timeline(patroni_cluster) == (leader, timeline)


def test_scheduled_switchover(patroni_cluster):  # noqa: F811
    leader, other, timeline = roles(patroni_cluster)
    at = time.strftime('%Y-%m-%dT%H:%M:%S+00:00', time.gmtime(time.time() + 3600))
    args = patroni_cluster.module_args(leader=other, scheduled_at=at)
    try:
        rc, res = run_module(MODULE, args, check_mode=True)
        assert rc == 0 and res['changed'] is True and res['switchover']['scheduled_at'] == at, res
        assert 'scheduled_switchover' not in patroni_cluster.cluster()

        rc, res = run_module(MODULE, args)
        assert rc == 0 and res['changed'] is True, res
        assert res['switchover']['response'] == 'Switchover scheduled' and res['unavailable_seconds'] is None
        scheduled = patroni_cluster.cluster()['scheduled_switchover']
        assert scheduled == {'at': at, 'from': leader, 'to': other}
        assert res['after']['leader'] == leader and res['diff']['after']['scheduled_switchover'] == scheduled

        for check_mode in (True, False):
            rc, res = run_module(MODULE, args, check_mode=check_mode)
            assert rc == 0 and res['changed'] is False, res
        # Another switchover while one is scheduled: refused, the schedule stays.
        rc, res = run_module(MODULE, patroni_cluster.module_args(leader=other))
        assert rc != 0 and 'already scheduled at %s; cancel it first' % at in res['msg'], res
        assert patroni_cluster.cluster()['scheduled_switchover'] == scheduled
        assert leader_and_timeline(patroni_cluster) == (leader, timeline)
    finally:
        http('DELETE', patroni_cluster.api_url + '/switchover', auth=(API_USER, API_PASSWORD))
    assert 'scheduled_switchover' not in patroni_cluster.cluster()

    rc, res = run_module(MODULE, patroni_cluster.module_args(leader=other, scheduled_at='2001-01-01T00:00:00Z'))
    assert rc != 0 and 'is in the past' in res['msg'], res
    rc, res = run_module(MODULE, patroni_cluster.module_args(leader=other, scheduled_at='2030-01-01 02:00'))
    assert rc != 0 and 'not an ISO 8601 date and time with a time zone' in res['msg'], res


# --- Patroni's own refusals, from a fake Patroni (see the module docstring) --------------------------------------------
FAKE_CLUSTER = {'scope': 'fake', 'members': [
    {'name': 'pg1', 'role': 'leader', 'state': 'running', 'api_url': 'http://127.0.3.1:1/patroni', 'host': '127.0.3.1',
     'port': 5432, 'timeline': 4},
    {'name': 'pg2', 'role': 'sync_standby', 'state': 'streaming', 'api_url': 'http://127.0.3.2:1/patroni', 'host': '127.0.3.2',
     'port': 5432, 'timeline': 4, 'lag': 0, 'receive_lag': 0, 'replay_lag': 0, 'lsn': '0/5000000'}]}
FAKE_CONFIG = {'ttl': 20, 'loop_wait': 2, 'retry_timeout': 5, 'maximum_lag_on_failover': 1048576, 'synchronous_mode': True}


class FakePatroni(object):
    """GET /cluster and /config answer a healthy cluster; POST /switchover answers ``status`` and ``text``."""

    def __init__(self, status, text):
        answer = (status, text)
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def _send(self, code, body, content_type):
                data = body.encode()
                self.send_response(code)
                self.send_header('Content-Type', content_type)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == '/cluster':
                    self._send(200, json.dumps(FAKE_CLUSTER), 'application/json')
                elif self.path == '/config':
                    self._send(200, json.dumps(FAKE_CONFIG), 'application/json')
                else:
                    self._send(404, 'not found', 'text/plain')

            def do_POST(self):
                length = int(self.headers.get('Content-Length') or 0)
                received.append((self.path, json.loads(self.rfile.read(length) or b'{}'), self.headers.get('Authorization')))
                self._send(answer[0], answer[1], 'text/html')

            def log_message(self, *args):
                pass

        self.server = HTTPServer(('127.0.3.1', free_port('127.0.3.1')), Handler)
        self.url = 'http://127.0.3.1:%d' % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs=dict(poll_interval=0.1))
        self.thread.daemon = True

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.mark.parametrize('status, text, expected', [
    (412, 'candidate name does not match with sync_standby',
     'switchover from pg1 to pg2 failed: POST /switchover: HTTP 412, Patroni refused the request, a precondition does '
     'not hold (Patroni said: candidate name does not match with sync_standby)'),
    (503, 'Switchover failed',
     'switchover from pg1 to pg2 failed: POST /switchover: HTTP 503, Patroni could not complete the request '
     '(Patroni said: Switchover failed)'),
    (503, 'failed to write failover key into DCS', 'HTTP 503, Patroni could not complete the request (Patroni said: '
     'failed to write failover key into DCS)'),
    (403, 'Access is denied', 'HTTP 403, access denied: the client address is not in restapi.allowlist'),
    (200, 'Switched over to "pg3" instead of "pg2"', 'Patroni promoted another member'),
])
def test_patronis_own_refusals_are_reported(status, text, expected):
    with FakePatroni(status, text) as fake:
        rc, res = run_module(MODULE, dict(api_url=fake.url, api_username=API_USER, api_password=API_PASSWORD, leader='pg2',
                                          wait_timeout=5))
    assert rc != 0 and res['failed'], res
    assert expected in res['msg']
    assert API_PASSWORD not in res['_raw'] and 'Traceback' not in res['_raw']
    assert [(path, body) for path, body, dummy in fake.received] == [('/switchover', {'leader': 'pg1', 'candidate': 'pg2'})]
    assert fake.received[0][2].startswith('Basic ')
