# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure unit tests of pg_replication_slot: name validation, option checks, the diff view, the connection options. No
server."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.pgha.replication.plugins.module_utils._errors import InvalidInput
from ansible_collections.pgha.replication.plugins.modules import pg_replication_slot as mod
from unit.plugins.slot_cases import (  # pylint: disable=import-error
    params,
    physical,
)


@pytest.mark.parametrize('name', ['a', 's1', 'standby_1', '_x', '0', 'a' * 63])
def test_valid_names(name):
    mod.validate_slot_name(name)


@pytest.mark.parametrize('name', [
    '', None, 'A', 'Standby', 'with space', "quo'te", 'dq"x', 'x; DROP TABLE t', 'a-b', 'a.b', 'a' * 64, u'\u00fc', 'tab\t',
    'new\nline',
])
def test_invalid_names(name):
    with pytest.raises(InvalidInput, match='invalid slot name'):
        mod.validate_slot_name(name)


@pytest.mark.parametrize('overrides, message', [
    (dict(plugin='pgoutput'), 'plugin is only valid with slot_type=logical'),
    (dict(two_phase=False), 'two_phase is only valid with slot_type=logical'),
    (dict(failover=True), 'failover is only valid with slot_type=logical'),
    (dict(slot_type='logical', immediately_reserve=True), 'immediately_reserve is only valid'),
    (dict(slot_type='logical', plugin=''), 'plugin must not be empty'),
    (dict(wait_timeout=-1), 'wait_timeout'),
    (dict(name='Bad'), 'invalid slot name'),
])
def test_invalid_option_combinations(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        mod.validate_params(params(**overrides))


@pytest.mark.parametrize('overrides', [
    dict(), dict(immediately_reserve=True), dict(slot_type='logical'), dict(slot_type='logical', plugin='wal2json', two_phase=True),
    dict(state='absent', terminate_active=True), dict(slot_type='logical', failover=True, two_phase=True),
])
def test_valid_option_combinations(overrides):
    mod.validate_params(params(**overrides))


def test_diff_view():
    assert mod.diff_view(None) == {'state': 'absent'}
    view = mod.diff_view(physical(active=True, restart_lsn='0/1'))
    assert view == dict(state='present', slot_name='s1', slot_type='physical', plugin=None, database=None, two_phase=False,
                        failover=None, temporary=False)


# The module's connection options (shared module_utils, exercised here through the module's argument spec).
CONNECT_CASES = [
    ('defaults: local socket, peer auth', dict(),
     dict(user='postgres', dbname='postgres', port=5432, connect_timeout=10, sslmode='prefer', application_name='pgha.replication')),
    ('socket directory', dict(login_unix_socket='/run/pg'), dict(host='/run/pg')),
    ('host wins over socket', dict(login_host='127.0.0.1', login_unix_socket='/run/pg'), dict(host='127.0.0.1')),
    ('password and CA', dict(login_password='pw', ca_cert='/ca.pem', ssl_mode='verify-full'),
     dict(password='pw', sslrootcert='/ca.pem', sslmode='verify-full')),
]


@pytest.mark.parametrize('overrides, expected', [c[1:] for c in CONNECT_CASES], ids=[c[0] for c in CONNECT_CASES])
def test_connect_kwargs(overrides, expected):
    from ansible_collections.pgha.replication.plugins.module_utils import _postgres
    spec = _postgres.postgres_argument_spec()
    values = dict((key, option.get('default')) for key, option in spec.items())
    values.update(overrides)
    kwargs = _postgres.connect_kwargs(values)
    for key, value in expected.items():
        assert kwargs[key] == value
    if not values['login_host'] and not values['login_unix_socket']:
        assert 'host' not in kwargs  # libpq's default socket directory
    if not values['login_password']:
        assert 'password' not in kwargs
    assert spec['login_password']['no_log'] is True


def test_connection_error_never_contains_password():
    from ansible_collections.pgha.replication.plugins.module_utils import _postgres
    values = dict(login_user='u', login_password='hunter2', login_host='127.0.0.1', port=1, login_db='postgres',
                  connect_timeout=2, ssl_mode='disable', login_unix_socket='', ca_cert=None)
    with pytest.raises(_postgres.ConnectionFailed) as info:
        _postgres.connect(values)
    assert 'hunter2' not in info.value.msg and 'unable to connect' in info.value.msg
    assert _postgres.scrub('password=hunter2 x', 'hunter2') == 'password=******** x'


@pytest.mark.parametrize('overrides, message', [
    (dict(permanent=True), 'permanent=true needs api_url'),
    (dict(permanent=True, api_url='http://h:8008', slot_type='logical', two_phase=True), 'two_phase=true cannot be used'),
    (dict(permanent=True, api_url='http://h:8008', slot_type='logical', failover=True),
     'failover cannot be used with permanent=true.*set permanent=false and failover=true'),
    (dict(api_url='ftp://h'), 'api_url must be an http'),
    (dict(api_url='http://h:8008', api_username='u'), 'api_username and api_password must be set together'),
])
def test_invalid_patroni_options(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        mod.validate_params(params(**overrides))


def test_valid_patroni_options():
    mod.validate_params(params(permanent=True, api_url='http://h:8008', api_username='u', api_password='p', api_timeout=10,
                               slot_type='logical', two_phase=False))
