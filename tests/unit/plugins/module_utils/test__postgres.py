"""The shared connection options: community.postgresql's names, and what libpq gets from them."""
import pytest

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.pgha.replication.plugins.module_utils import _postgres

SPEC = _postgres.postgres_argument_spec()


def validated(**params):
    result = ArgumentSpecValidator(SPEC).validate(params)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def test_names_users_know_from_community_postgresql():
    for name in ('login_host', 'login_user', 'login_password', 'login_db', 'login_port', 'login_unix_socket',
                 'ssl_mode', 'ca_cert', 'ssl_cert', 'ssl_key', 'connect_params', 'connect_timeout'):
        assert name in SPEC, name
    assert SPEC['login_port']['aliases'] == ['port']
    assert SPEC['ca_cert']['aliases'] == ['ssl_rootcert']
    assert SPEC['login_password']['no_log'] is True


CASES = [
    ('defaults', dict(), dict(user='postgres', dbname='postgres', port=5432, sslmode='prefer'), ['host', 'password']),
    ('login_port', dict(login_port=6543), dict(port=6543), []),
    ('port, the old name', dict(port=6544), dict(port=6544), []),
    ('ssl_rootcert, community.postgresql alias', dict(ssl_rootcert='/ca.pem'), dict(sslrootcert='/ca.pem'), []),
    ('client certificate', dict(ssl_cert='/c.crt', ssl_key='/c.key', ssl_mode='verify-full'),
     dict(sslcert='/c.crt', sslkey='/c.key', sslmode='verify-full'), []),
    ('connect_params passed on', dict(connect_params=dict(target_session_attrs='read-write', keepalives_idle=30)),
     dict(target_session_attrs='read-write', keepalives_idle=30), []),
    ('host and db', dict(login_host='127.0.0.1', login_db='app', login_user='u', login_password='pw'),
     dict(host='127.0.0.1', dbname='app', user='u', password='pw'), []),
]


@pytest.mark.parametrize('params, expected, absent', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_connect_kwargs(params, expected, absent):
    kwargs = _postgres.connect_kwargs(validated(**params))
    for key, value in expected.items():
        assert kwargs[key] == value, key
    for key in absent:
        assert key not in kwargs, key
    assert kwargs['application_name'] == 'pgha.replication'


@pytest.mark.parametrize('key, option', [('password', 'login_password'), ('port', 'login_port'), ('sslkey', 'ssl_key'),
                                         ('application_name', 'application_name')])
def test_connect_params_may_not_shadow_an_option(key, option):
    with pytest.raises(_postgres.InvalidInput) as info:
        _postgres.connect_kwargs(validated(connect_params={key: 'x'}))
    assert 'connect_params may not set %s' % key in info.value.msg
    assert option in info.value.msg
    assert "'x'" not in info.value.msg
