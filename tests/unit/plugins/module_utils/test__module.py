# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The module frame: option groups and their constraints, the failure report, and every module's main().

Each main() is run the way Ansible runs a module (a subprocess reading its arguments from a file), on
arguments that fail before or at the first connection (nothing listens on 127.0.0.1 port 1): the frame
must report the error with fail_json, the details the module promises, and no secret anywhere in its output.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import subprocess
import sys
import tempfile

import pytest

from ansible_collections.pgha.replication.plugins.module_utils._errors import Conflict, InvalidInput, QueryFailed
from ansible_collections.pgha.replication.plugins.module_utils._module import (
    IF_SET,
    OptionGroup,
    failure,
    merged_argument_spec,
)
from ansible_collections.pgha.replication.plugins.module_utils._patroni import PATRONI_API
from ansible_collections.pgha.replication.plugins.module_utils._pgbouncer import PGBOUNCER_CONSOLE
from ansible_collections.pgha.replication.plugins.module_utils._postgres import POSTGRES

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
COLLECTIONS_PATH = os.path.join(REPO_ROOT, '.build', 'collections')
SECRET = 'Hunter2-xyzzy'
NOWHERE = dict(login_host='127.0.0.1', login_port=1, login_password=SECRET, connect_timeout=2)
API_NOWHERE = dict(api_url='http://127.0.0.1:1', api_username='patroni', api_password=SECRET, api_timeout=2)

GROUP = OptionGroup(dict(a=dict(type='str', required=True), b=dict(type='str'), c=dict(type='str'), n=dict(type='int')),
                    'x._y', together=[('a', 'b')], needs=dict(c='a'), minimum=dict(n=1))


@pytest.mark.parametrize('params, message', [
    (dict(a='1', b='2', c='3', n=1), None),
    (dict(), None),
    (dict(a='1'), 'a and b must be set together'),
    (dict(b='2'), 'a and b must be set together'),
    (dict(c='3'), 'c needs a'),
    (dict(n=0), 'n must be 1 or more'),
])
def test_group_constraints(params, message):
    if message is None:
        GROUP.check(params)
    else:
        with pytest.raises(InvalidInput, match=message):
            GROUP.check(params)


def test_optional_group_is_checked_only_when_its_option_is_set():
    optional = GROUP.optional(when='c')
    assert 'required' not in optional.spec['a'] and GROUP.spec['a']['required'] is True
    optional.check(dict(n=0))
    with pytest.raises(InvalidInput, match='n must be 1 or more'):
        optional.check(dict(c='3', a='1', b='2', n=0))


def test_the_module_options_win_over_a_group_and_groups_are_copied():
    spec = merged_argument_spec([POSTGRES], dict(login_db=dict(type='str', default='app')))
    assert spec['login_db']['default'] == 'app'
    spec['login_user']['default'] = 'changed'
    assert POSTGRES.spec['login_user']['default'] == 'postgres'


@pytest.mark.parametrize('group, fragment', [(POSTGRES, '_postgres'), (PATRONI_API, '_patroni'),
                                             (PGBOUNCER_CONSOLE, '_pgbouncer')])
def test_each_group_matches_its_doc_fragment(group, fragment):
    yaml = pytest.importorskip('yaml')
    module = __import__('ansible_collections.pgha.replication.plugins.doc_fragments.' + fragment, fromlist=['x'])
    documented = yaml.safe_load(module.ModuleDocFragment.DOCUMENTATION)['options']
    assert group.doc_fragment == 'pgha.replication.' + fragment
    assert sorted(documented) == sorted(group.spec)
    for name, spec in group.spec.items():
        assert documented[name]['type'] == spec['type'], name
        assert documented[name].get('default') == spec.get('default'), name
        assert sorted(documented[name].get('aliases', [])) == sorted(spec.get('aliases', [])), name
        assert bool(spec.get('no_log')) == ('password' in name), name


def test_patroni_options_share_one_prefix_and_have_one_name_each():
    for name, spec in PATRONI_API.spec.items():
        assert name.startswith('api_'), name
        assert 'aliases' not in spec, name


def test_failure_masks_the_message_and_the_details_it_reports():
    exc = Conflict('role x with password %s' % SECRET, queries=["ALTER ROLE x PASSWORD '%s'" % SECRET], other='kept out')
    assert failure(exc, dict(queries=[], requests=[], tables=IF_SET), [SECRET]) == dict(
        msg='role x with password ********', queries=["ALTER ROLE x PASSWORD '********'"], requests=[])
    assert failure(QueryFailed('boom', pgcode='42P01', tables=[1]), dict(tables=IF_SET), []) == dict(msg='boom', tables=[1])


def run_main(module, args, check_mode=False):
    fd, path = tempfile.mkstemp(suffix='.json', prefix='pgha-unit-args-')
    with os.fdopen(fd, 'w') as handle:
        json.dump({'ANSIBLE_MODULE_ARGS': dict(args, _ansible_check_mode=check_mode, _ansible_diff=True)}, handle)
    env = dict(os.environ, PYTHONPATH=COLLECTIONS_PATH + os.pathsep + os.environ.get('PYTHONPATH', ''))
    try:
        out = subprocess.run([sys.executable, '-m', 'ansible_collections.pgha.replication.plugins.modules.' + module, path],
                             capture_output=True, text=True, timeout=60, env=env, cwd=REPO_ROOT, check=False)
    finally:
        os.unlink(path)
    return out.returncode, json.loads(out.stdout), out.stdout + out.stderr


# module, arguments, what the message says, the details the failure carries
MAINS = [
    ('patroni_cluster_info', dict(API_NOWHERE), 'cannot reach the Patroni REST API', {}),
    ('patroni_config', dict(API_NOWHERE, config=dict(ttl=30)), 'cannot reach the Patroni REST API', {}),
    ('patroni_switchover', dict(API_NOWHERE, candidate_any=True), 'cannot reach the Patroni REST API', {}),
    ('patroni_switchover', dict(API_NOWHERE, api_username=None), 'api_username and api_password must be set together', {}),
    ('pg_publication', dict(NOWHERE, name='pub'), 'unable to connect to database', dict(queries=[])),
    ('pg_publication', dict(NOWHERE, name=SECRET), 'name: invalid publication name', dict(queries=[])),
    ('pg_replication_info', dict(NOWHERE), 'unable to connect to database', {}),
    ('pg_replication_slot', dict(NOWHERE, name='slot'), 'unable to connect to database', dict(queries=[], requests=[])),
    ('pg_replication_slot', dict(NOWHERE, name=SECRET), 'name: invalid slot name', dict(queries=[], requests=[])),
    ('pg_replication_slot', dict(NOWHERE, name='slot', api_url='ftp://x'), 'api_url must be an http', dict(queries=[], requests=[])),
    ('pg_subscription', dict(NOWHERE, name='sub', connection=dict(host=['127.0.0.1'], dbname='app', password='Other-secret-2')),
     'unable to connect to database', dict(queries=[])),
    ('pgbouncer_pool', dict(NOWHERE, name='app', host='127.0.0.1', password='Other-secret-2'), 'unable to connect to the pgbouncer',
     dict(queries=[])),
    ('pgbackrest_info', dict(binary='/nonexistent/pgbackrest'), 'pgbackrest', {}),
]


@pytest.mark.parametrize('check_mode', [False, True])
@pytest.mark.parametrize('module, args, message, details', MAINS)
def test_every_main_reports_through_the_frame(module, args, message, details, check_mode):
    rc, result, raw = run_main(module, args, check_mode)
    assert rc == 1 and result['failed'] is True, raw
    assert message in result['msg'], result['msg']
    for key, value in details.items():
        assert result[key] == value, (key, result)
    assert 'exception' not in result and 'Traceback' not in raw, raw
    for secret in (SECRET, 'Other-secret-2'):
        assert secret not in raw
