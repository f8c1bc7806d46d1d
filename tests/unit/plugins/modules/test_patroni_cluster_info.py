# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure unit tests of the Patroni REST client and parsers behind patroni_cluster_info. No server."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import io
import json
import socket

import pytest
import yaml

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible_collections.pgha.replication.plugins.doc_fragments._patroni import ModuleDocFragment
from ansible_collections.pgha.replication.plugins.module_utils import _patroni
from ansible_collections.pgha.replication.plugins.module_utils._patroni import (
    ConnectionFailed,
    InvalidInput,
    PatroniApiError,
    PatroniClient,
)
from ansible_collections.pgha.replication.plugins.modules import patroni_cluster_info

SECRET = 'Hunter2-api-secret'

# GET /cluster of Patroni 4.1 with synchronous_mode on (shape as served by patroni.utils.cluster_as_json).
CLUSTER = {
    'members': [
        {'name': 'pg2', 'role': 'sync_standby', 'state': 'streaming', 'api_url': 'http://10.0.0.2:8008/patroni',
         'host': '10.0.0.2', 'port': 5432, 'timeline': 3, 'receive_lag': 0, 'receive_lsn': '0/5000060',
         'replay_lag': 16, 'replay_lsn': '0/5000050', 'lag': 16, 'lsn': '0/5000050', 'tags': {'noloadbalance': True}},
        {'name': 'pg1', 'role': 'leader', 'state': 'running', 'api_url': 'http://10.0.0.1:8008/patroni',
         'host': '10.0.0.1', 'port': 5432, 'timeline': 3, 'pending_restart': True,
         'pending_restart_reason': {'max_connections': {'old_value': '100', 'new_value': '200'}}},
        {'name': 'pg3', 'role': 'replica', 'state': 'starting', 'api_url': 'http://10.0.0.3:8008/patroni',
         'host': '10.0.0.3', 'port': 5432, 'receive_lag': 'unknown', 'receive_lsn': 'unknown', 'replay_lag': 'unknown',
         'replay_lsn': 'unknown', 'lag': 'unknown', 'lsn': 'unknown', 'tags': {'nofailover': True},
         'scheduled_restart': {'schedule': '2030-01-01T00:00:00+00:00'}},
    ],
    'scope': 'main',
    'scheduled_switchover': {'at': '2030-01-31T02:00:00+00:00', 'from': 'pg1', 'to': 'pg2'},
}
CONFIG = {'ttl': 20, 'loop_wait': 2, 'retry_timeout': 5, 'maximum_lag_on_failover': 4096, 'synchronous_mode': True,
          'postgresql': {'use_pg_rewind': True}}


MEMBER_CASES = [
    ('leader: lag 0, pending restart', CLUSTER['members'][1], 'pg1',
     dict(name='pg1', role='leader', state='running', timeline=3, lag=0, lsn=None, tags={}, pending_restart=True,
          scheduled_restart=None)),
    ('sync standby with lag in bytes and tags', CLUSTER['members'][0], 'pg1',
     dict(name='pg2', role='sync_standby', state='streaming', host='10.0.0.2', port=5432, timeline=3, lag=16,
          receive_lag=0, replay_lag=16, lsn='0/5000050', tags={'noloadbalance': True}, pending_restart=False)),
    ('unknown lag is None, no timeline', CLUSTER['members'][2], 'pg1',
     dict(name='pg3', role='replica', state='starting', timeline=None, lag=None, receive_lag=None, lsn=None,
          tags={'nofailover': True}, scheduled_restart={'schedule': '2030-01-01T00:00:00+00:00'})),
    ('Patroni 2 "master" role is a leader', {'name': 'a', 'role': 'master', 'state': 'running'}, None,
     dict(role='leader', lag=0, port=None, tags={}, pending_restart=False)),
    ('standby cluster leader', {'name': 'a', 'role': 'standby_leader', 'state': 'streaming', 'port': '5433'}, None,
     dict(role='standby_leader', lag=0, port=5433)),
]


@pytest.mark.parametrize('raw, leader, expected', [c[1:] for c in MEMBER_CASES], ids=[c[0] for c in MEMBER_CASES])
def test_normalise_member(raw, leader, expected):
    member = _patroni.normalise_member(raw, leader)
    for key, value in expected.items():
        assert member[key] == value, key
    assert set(member) == {'name', 'role', 'state', 'api_url', 'host', 'port', 'timeline', 'lag', 'receive_lag',
                           'replay_lag', 'lsn', 'tags', 'pending_restart', 'pending_restart_reason', 'scheduled_restart'}


def test_normalise_cluster():
    view = _patroni.normalise_cluster(CLUSTER, CONFIG)
    assert [m['name'] for m in view['members']] == ['pg1', 'pg2', 'pg3']
    assert view['leader'] == 'pg1'
    assert view['sync_standbys'] == ['pg2']
    assert view['timeline'] == 3
    assert view['scheduled_switchover'] == {'at': '2030-01-31T02:00:00+00:00', 'from': 'pg1', 'to': 'pg2'}
    assert view['paused'] is False and view['scope'] == 'main'
    assert view['config'] == dict(ttl=20, loop_wait=2, retry_timeout=5, maximum_lag_on_failover=4096, synchronous_mode=True,
                                  synchronous_mode_strict=False, synchronous_node_count=1, check_timeline=False, pause=False)


def test_normalise_cluster_without_leader():
    view = _patroni.normalise_cluster({'members': [{'name': 'a', 'role': 'replica', 'state': 'stopped'}], 'pause': True}, {})
    assert view['leader'] is None and view['timeline'] is None and view['sync_standbys'] == [] and view['paused'] is True
    assert view['scheduled_switchover'] is None
    assert view['config'] == _patroni.CONFIG_DEFAULTS


CONFIG_CASES = [
    ('defaults', {}, {}),
    ('quorum mode kept', {'synchronous_mode': 'quorum'}, {'synchronous_mode': 'quorum'}),
    ('string on', {'synchronous_mode': 'on'}, {'synchronous_mode': True}),
    ('string off', {'synchronous_mode': 'off'}, {'synchronous_mode': False}),
    ('string numbers', {'maximum_lag_on_failover': '2048', 'ttl': '40'}, {'maximum_lag_on_failover': 2048, 'ttl': 40}),
    ('garbage number falls back to the default', {'loop_wait': 'soon'}, {'loop_wait': 10}),
]


@pytest.mark.parametrize('raw, expected', [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_normalise_config(raw, expected):
    config = _patroni.normalise_config(raw)
    want = dict(_patroni.CONFIG_DEFAULTS)
    want.update(expected)
    assert config == want


STATUS_CASES = [
    (401, 'not authenticated', 'HTTP 401, authentication failed: check api_username and api_password'),
    (403, 'Access is denied', 'HTTP 403, access denied: the client address is not in restapi.allowlist'),
    (412, 'candidate name does not match with sync_standby',
     'HTTP 412, Patroni refused the request, a precondition does not hold (Patroni said: candidate name does not match'),
    (503, 'Switchover failed', 'HTTP 503, Patroni could not complete the request (Patroni said: Switchover failed)'),
    (422, 'Cannot schedule switchover in the past', 'HTTP 422, Patroni rejected the request as invalid'),
    (400, 'Switchover could be performed only from a specific leader', 'HTTP 400, Patroni rejected the request as invalid'),
    (404, '', 'HTTP 404, no such endpoint: is api_url the Patroni REST API'),
    (500, 'boom', 'HTTP 500, Patroni failed to handle the request (Patroni said: boom)'),
    (302, '', 'HTTP 302, unexpected answer'),
]


@pytest.mark.parametrize('status, body, expected', STATUS_CASES, ids=[str(c[0]) for c in STATUS_CASES])
def test_status_message(status, body, expected):
    msg = _patroni.status_message(status, body, 'POST', '/switchover')
    assert msg.startswith('POST /switchover: ')
    assert expected in msg
    if not body:
        assert 'Patroni said' not in msg


class FakeResponse(object):
    def __init__(self, status, body):
        self.status, self.body = status, body

    def getcode(self):
        return self.status

    def read(self):
        return self.body.encode()

    def close(self):
        pass


class FakeOpener(object):
    """Stands in for open_url: records the calls, answers from a table or raises."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, url, **kwargs):
        self.calls.append((url, kwargs))
        answer = self.answers[kwargs['method'] + ' ' + url.split('8008', 1)[1]]
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        if status >= 400:
            raise HTTPError(url, status, 'error', {}, io.BytesIO(body.encode()))
        return FakeResponse(status, body)


def client(answers, **params):
    values = dict(api_url='http://10.0.0.1:8008/', api_username='patroni', api_password=SECRET, api_ca_path='/ca.pem',
                  api_validate_certs=True, api_client_cert='/c.pem', api_client_key='/c.key', api_timeout=7)
    values.update(params)
    opener = FakeOpener(answers)
    return PatroniClient(values, opener=opener), opener


def test_read_cluster_sends_auth_and_tls_options():
    api, opener = client({'GET /cluster': (200, json.dumps(CLUSTER)), 'GET /config': (200, json.dumps(CONFIG))})
    view = _patroni.read_cluster(api)
    assert view['leader'] == 'pg1' and view['config']['maximum_lag_on_failover'] == 4096
    assert [c[0] for c in opener.calls] == ['http://10.0.0.1:8008/cluster', 'http://10.0.0.1:8008/config']
    kwargs = opener.calls[0][1]
    assert kwargs['url_username'] == 'patroni' and kwargs['url_password'] == SECRET and kwargs['force_basic_auth'] is True
    assert (kwargs['ca_path'], kwargs['client_cert'], kwargs['client_key'], kwargs['timeout']) == ('/ca.pem', '/c.pem', '/c.key', 7)
    assert kwargs['validate_certs'] is True and kwargs['use_netrc'] is False


def test_no_auth_when_no_username():
    api, opener = client({'GET /cluster': (200, '{"members": []}')}, api_username=None, api_password=None)
    _patroni.read_cluster(api, with_config=False)
    assert 'url_username' not in opener.calls[0][1]


def test_post_body_is_json():
    api, opener = client({'POST /switchover': (200, 'Successfully switched over to "pg2"')})
    assert api.request('POST', '/switchover', body={'leader': 'pg1', 'candidate': 'pg2'}, timeout=30) == (
        200, 'Successfully switched over to "pg2"')
    kwargs = opener.calls[0][1]
    assert json.loads(kwargs['data']) == {'leader': 'pg1', 'candidate': 'pg2'}
    assert kwargs['headers']['Content-Type'] == 'application/json' and kwargs['timeout'] == 30


def test_http_error_is_typed_and_never_shows_the_password():
    api, dummy = client({'POST /switchover': (401, 'not authenticated, password %s is wrong' % SECRET)})
    with pytest.raises(PatroniApiError) as info:
        api.request('POST', '/switchover', body={})
    assert info.value.status == 401 and 'authentication failed' in info.value.msg
    assert SECRET not in info.value.msg and SECRET not in info.value.body


@pytest.mark.parametrize('error', [URLError('Connection refused'), socket.timeout('timed out'),
                                   URLError(ConnectionRefusedError(111, 'Connection refused to %s' % SECRET))])
def test_unreachable_is_connection_failed(error):
    api, dummy = client({'GET /cluster': error})
    with pytest.raises(ConnectionFailed) as info:
        _patroni.read_cluster(api)
    assert 'cannot reach the Patroni REST API at http://10.0.0.1:8008 (GET /cluster)' in info.value.msg
    assert SECRET not in info.value.msg


@pytest.mark.parametrize('answers, message', [
    ({'GET /cluster': (200, '<html>')}, 'the answer is not JSON'),
    ({'GET /cluster': (200, '[1, 2]')}, 'not a Patroni cluster description'),
    ({'GET /cluster': (200, '{"members": []}'), 'GET /config': (502, '')}, 'GET /config: HTTP 502'),
])
def test_bad_answers(answers, message):
    api, dummy = client(answers)
    with pytest.raises(PatroniApiError, match=message):
        _patroni.read_cluster(api)


@pytest.mark.parametrize('overrides, message', [
    (dict(api_url='127.0.0.1:8008'), 'api_url must be an http:// or https:// URL'),
    (dict(api_url='ftp://x'), 'api_url must be'),
    (dict(api_password=None), 'api_username and api_password must be set together'),
    (dict(api_username=None), 'api_username and api_password must be set together'),
    (dict(api_client_cert=None), 'client_key needs api_client_cert'),
    (dict(api_timeout=0), 'timeout must be 1 or more'),
])
def test_validate_api_params(overrides, message):
    values = dict(api_url='https://db1:8008', api_username='u', api_password='p', api_client_cert='/c', api_client_key='/k', api_timeout=10)
    _patroni.validate_api_params(values)
    values.update(overrides)
    with pytest.raises(InvalidInput, match=message):
        _patroni.validate_api_params(values)


UTC = datetime.timezone.utc


@pytest.mark.parametrize('text, expected', [
    ('2030-01-31T02:00:00+00:00', datetime.datetime(2030, 1, 31, 2, 0, tzinfo=UTC)),
    ('2030-01-31T02:00Z', datetime.datetime(2030, 1, 31, 2, 0, tzinfo=UTC)),
    ('2030-01-31 03:30:15.5+01:30', datetime.datetime(2030, 1, 31, 2, 0, 15, 500000, tzinfo=UTC)),
    ('2030-01-30T22:00:00-0400', datetime.datetime(2030, 1, 31, 2, 0, tzinfo=UTC)),
    ('2030-01-31T02:00:00.123456789+00', datetime.datetime(2030, 1, 31, 2, 0, 0, 123456, tzinfo=UTC)),
])
def test_parse_iso8601(text, expected):
    assert _patroni.parse_iso8601(text) == expected


@pytest.mark.parametrize('text', ['2030-01-31T02:00:00', 'tomorrow', '', None, '2030-02-30T02:00:00Z', '2030-01-31T25:00Z',
                                  '2030-01-31T02:00+25:00', '31/01/2030 02:00Z'])
def test_parse_iso8601_refuses(text):
    with pytest.raises(InvalidInput, match='scheduled_at'):
        _patroni.parse_iso8601(text)


def test_argument_spec_and_doc_fragment_agree():
    """The argspec and its doc fragment are one pair: same options, types, defaults, no_log on the password."""
    spec = _patroni.patroni_argument_spec()
    docs = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    assert set(spec) == set(docs)
    for name, option in spec.items():
        assert option['type'] == docs[name]['type'], name
        assert option.get('default') == docs[name].get('default'), name
        assert bool(option.get('required')) == bool(docs[name].get('required')), name
    assert spec['api_password']['no_log'] is True


def test_module_documents_its_return_keys():
    returned = yaml.safe_load(patroni_cluster_info.RETURN)
    view = _patroni.normalise_cluster(CLUSTER, CONFIG)
    assert set(returned) == set(view)
    assert set(returned['members']['contains']) == set(view['members'][0])
    assert set(returned['config']['contains']) == set(view['config'])
