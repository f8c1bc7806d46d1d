# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure unit tests of pgbouncer_pool and its _pgbouncer helpers: ini parsing, entry rendering, the planner,
password masking, validation, the comparison with SHOW DATABASES. No PgBouncer."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.pgha.replication.plugins.module_utils import _pgbouncer as pgb
from ansible_collections.pgha.replication.plugins.module_utils._postgres import InvalidInput
from ansible_collections.pgha.replication.plugins.modules import pgbouncer_pool as mod

INI = (
    u';; pgbouncer.ini - managed in part by Ansible\n'
    u'[databases]\n'
    u'; foodb = host=example  (a commented-out example)\n'
    u'app = host=10.0.0.1 port=5432 dbname=app\n'
    u'  reports=host=10.0.0.2   dbname=rep    pool_size=5\n'
    u'"odd name" = host=10.0.0.3\n'
    u'secret = host=10.0.0.4 user=bob password=\'p w\'\'d\' pool_mode=session\n'
    u'\n'
    u'# trailing comment of the section \u00e9\n'
    u'\n'
    u'[users]\n'
    u'app = pool_mode=transaction\n'
    u'\n'
    u'[pgbouncer]\n'
    u'listen_addr = 127.0.0.1\n'
    u'%include /etc/pgbouncer/extra.ini\n'
)


def lines(text=INI):
    return pgb.split_lines(text)


def params(**overrides):
    base = dict(name='app', state='present', config_file='/x', reload=True, wait_timeout=30)
    for option in mod.ENTRY_OPTIONS:
        base[option] = None
    base.update(overrides)
    return base


def test_split_lines_round_trip():
    for text in (INI, u'a\r\nb\n', u'no newline at end', u'', u'\n\n'):
        assert u''.join(pgb.split_lines(text)) == text


@pytest.mark.parametrize('line, expected', [
    (u'[databases]\n', ('section', u'databases')),
    (u'  [pgbouncer]  \n', ('section', u'pgbouncer')),
    (u'; comment = x\n', ('comment', None)),
    (u'# comment\n', ('comment', None)),
    (u'   \n', ('blank', None)),
    (u'%include /x\n', ('other', None)),
    (u'app = host=x port=1\n', ('entry', (u'app', u'host=x port=1', 6))),
    (u'app=host=x\r\n', ('entry', (u'app', u'host=x', 4))),
    (u'\tb.c-d_e =\thost=y   \n', ('entry', (u'b.c-d_e', u'host=y', 11))),
    (u'"a ""b""" = host=z\n', ('entry', (u'a "b"', u'host=z', 12))),
    (u'* = host=fallback\n', ('entry', (u'*', u'host=fallback', 4))),
    (u'empty =\n', ('entry', (u'empty', u'', 7))),
    (u'broken line\n', ('other', None)),
])
def test_classify_line(line, expected):
    assert pgb.classify_line(line) == expected


def test_parse_databases_only_reads_the_databases_section():
    entries, sections = pgb.parse_databases(lines())
    assert [e.name for e in entries] == ['app', 'reports', 'odd name', 'secret']
    assert [e.index for e in entries] == [3, 4, 5, 6]
    assert sections == [(1, 10)]
    assert entries[1].value == 'host=10.0.0.2   dbname=rep    pool_size=5'


def test_parse_databases_several_sections():
    text = u'[databases]\na = host=1\n[pgbouncer]\nx = 1\n[databases]\nb = host=2\n'
    entries, sections = pgb.parse_databases(lines(text))
    assert [e.name for e in entries] == ['a', 'b']
    assert sections == [(0, 2), (4, 6)]


@pytest.mark.parametrize('value, expected', [
    (u'host=x port=5432', {'host': 'x', 'port': '5432'}),
    (u"  connect_query='SELECT ''a b''' host=x ", {'connect_query': "SELECT 'a b'", 'host': 'x'}),
    (u'host = x', {'host': 'x'}),
    (u'host=a host=b', {'host': 'b'}),
    (u'', {}),
    (u"password='' host=x", None),
    (u"password='open", None),
    (u'=x', None),
    (u'host', None),
])
def test_connstr_dict(value, expected):
    if expected is None:
        with pytest.raises(ValueError):
            pgb.connstr_dict(value)
    else:
        assert pgb.connstr_dict(value) == expected


@pytest.mark.parametrize('text, expected', [
    (u'app', u'app'),
    (u'10.0.0.1,10.0.0.2', u'10.0.0.1,10.0.0.2'),
    (u'/var/run/postgresql', u'/var/run/postgresql'),
    (u'S3cret-Pa55word', u'S3cret-Pa55word'),
    (u'SELECT 1', u"'SELECT 1'"),
    (u"it's", u"'it''s'"),
    (u'a=b', u"'a=b'"),
    (u'Europe/Paris', u'Europe/Paris'),
    (u'ISO, DMY', u"'ISO, DMY'"),
    (u'x;y#z"', u"'x;y#z\"'"),
])
def test_quote_value_round_trips(text, expected):
    assert pgb.quote_value(text) == expected
    assert pgb.connstr_dict(u'k=%s' % expected) == {'k': text}


def test_render_entry():
    options = [('dbname', 'app'), ('host', '10.0.0.1'), ('port', '5432'), ('password', "p w'd"), ('connect_query', 'SELECT 1')]
    assert pgb.render_entry('app', options) == u"app = dbname=app host=10.0.0.1 port=5432 password='p w''d' connect_query='SELECT 1'"
    assert pgb.render_entry('app', options, mask_password=True) == \
        u"app = dbname=app host=10.0.0.1 port=5432 password=******** connect_query='SELECT 1'"
    assert pgb.render_entry('app', []) == u'app ='


def test_desired_options_order_and_unset():
    opts = mod.desired_options(params(pool_size=0, host='h', dbname='d', pool_mode='transaction', timezone='UTC'))
    assert opts == [('dbname', 'd'), ('host', 'h'), ('pool_mode', 'transaction'), ('pool_size', '0'), ('timezone', 'UTC')]


@pytest.mark.parametrize('line, expected', [
    (u"secret = host=h user=bob password='p w''d' pool_mode=session\n", u'secret = host=h user=bob password=******** pool_mode=session'),
    (u'a=password=abc password=def\n', u'a=password=******** password=********'),
    (u'a = host=h\n', u'a = host=h'),
    (u"a = password='unterminated\n", u'a = <unparsable connection string, not shown: it may contain a password>'),
    (u'; password=abc\n', u'; password=abc'),
])
def test_mask_line(line, expected):
    assert pgb.mask_line(line) == expected


PLAN_CASES = [
    # id, name, state, options, changed, expected text (None: unchanged), before
    ('add to the databases section, after its last entry', 'new', 'present', [('host', 'h')], True,
     INI.replace(u"pool_mode=session\n", u"pool_mode=session\nnew = host=h\n"), u''),
    ('identical entry: no change', 'app', 'present', [('host', '10.0.0.1'), ('port', '5432'), ('dbname', 'app')], False, None,
     u'app = host=10.0.0.1 port=5432 dbname=app'),
    ('same pairs, other spacing and order: no change', 'reports', 'present',
     [('dbname', 'rep'), ('host', '10.0.0.2'), ('pool_size', '5')], False, None,
     u'  reports=host=10.0.0.2   dbname=rep    pool_size=5'),
    ('replace in place', 'app', 'present', [('host', '10.0.0.9')], True,
     INI.replace(u'app = host=10.0.0.1 port=5432 dbname=app\n', u'app = host=10.0.0.9\n'),
     u'app = host=10.0.0.1 port=5432 dbname=app'),
    ('unset option is removed from the line', 'reports', 'present', [('host', '10.0.0.2'), ('dbname', 'rep')], True,
     INI.replace(u'  reports=host=10.0.0.2   dbname=rep    pool_size=5\n', u'reports = host=10.0.0.2 dbname=rep\n'),
     u'  reports=host=10.0.0.2   dbname=rep    pool_size=5'),
    ('quoted key is matched', 'odd name', 'absent', [], True, INI.replace(u'"odd name" = host=10.0.0.3\n', u''),
     u'"odd name" = host=10.0.0.3'),
    ('the [users] entry of the same name is not touched', 'app', 'absent', [], True,
     INI.replace(u'app = host=10.0.0.1 port=5432 dbname=app\n', u''), u'app = host=10.0.0.1 port=5432 dbname=app'),
    ('absent, missing: no change', 'nope', 'absent', [], False, None, u''),
    ('commented-out entry is not an entry', 'foodb', 'absent', [], False, None, u''),
    ('password entry: before is masked', 'secret', 'absent', [], True,
     INI.replace(u"secret = host=10.0.0.4 user=bob password='p w''d' pool_mode=session\n", u''),
     u'secret = host=10.0.0.4 user=bob password=******** pool_mode=session'),
]


@pytest.mark.parametrize('name, state, options, changed, expected, before', [c[1:] for c in PLAN_CASES],
                         ids=[c[0] for c in PLAN_CASES])
def test_plan_entry(name, state, options, changed, expected, before):
    new_lines, got_before, after, got_changed = mod.plan_entry(lines(), name, state, options)
    assert got_changed is changed
    assert u''.join(new_lines) == (INI if expected is None else expected)
    assert got_before == before
    if state == 'absent':
        assert after == ''
    elif changed:
        assert after == pgb.render_entry(name, options, mask_password=True)
    else:
        assert after == before


def test_plan_keeps_crlf_and_adds_missing_newline():
    text = u'[databases]\r\na = host=1\r\n[pgbouncer]\r\n'
    new_lines, _b, _a, changed = mod.plan_entry(lines(text), 'a', 'present', [('host', '2')])
    assert changed and u''.join(new_lines) == u'[databases]\r\na = host=2\r\n[pgbouncer]\r\n'
    new_lines = mod.plan_entry(lines(text), 'b', 'present', [('host', '3')])[0]
    assert u''.join(new_lines) == u'[databases]\r\na = host=1\r\nb = host=3\r\n[pgbouncer]\r\n'
    new_lines = mod.plan_entry(lines(u'[databases]'), 'b', 'present', [('host', '3')])[0]
    assert u''.join(new_lines) == u'[databases]\nb = host=3\n'


def test_plan_without_databases_section_appends_one():
    text = u'[pgbouncer]\nlisten_port = 6432'
    new_lines = mod.plan_entry(lines(text), 'b', 'present', [('host', '3')])[0]
    assert u''.join(new_lines) == u'[pgbouncer]\nlisten_port = 6432\n[databases]\nb = host=3\n'


def test_plan_duplicates_collapse_to_first():
    text = u'[databases]\na = host=1\nb = host=x\na = host=2\n'
    new_lines, before, _after, changed = mod.plan_entry(lines(text), 'a', 'present', [('host', '2')])
    assert changed and before == u'a = host=2'
    assert u''.join(new_lines) == u'[databases]\na = host=2\nb = host=x\n'
    new_lines = mod.plan_entry(lines(text), 'a', 'absent', [])[0]
    assert u''.join(new_lines) == u'[databases]\nb = host=x\n'


def test_plan_rewrites_unparsable_entry():
    text = u"[databases]\na = host='broken\n"
    new_lines, _b, _a, changed = mod.plan_entry(lines(text), 'a', 'present', [('host', 'h')])
    assert changed and u''.join(new_lines) == u'[databases]\na = host=h\n'


@pytest.mark.parametrize('overrides', [
    dict(), dict(name='A_b_9'), dict(name='a' * 63), dict(host='h', port=5432, pool_size=0, pool_mode='session'),
    dict(password="p w'd\u00e9", connect_query="SELECT 'x'"), dict(state='absent'), dict(state='paused'),
    dict(state='resumed'),
])
def test_valid_params(overrides):
    mod.validate_params(params(**overrides))


@pytest.mark.parametrize('overrides, message', [
    (dict(name='with space'), 'invalid name'),
    (dict(name="quo'te"), 'invalid name'),
    (dict(name='dq"x'), 'invalid name'),
    (dict(name='new\nline'), 'invalid name'),
    (dict(name='a-b'), 'invalid name'),
    (dict(name='*'), 'invalid name'),
    (dict(name=''), 'invalid name'),
    (dict(name='a' * 64), 'invalid name'),
    (dict(name=u'\u00fc'), 'invalid name'),
    (dict(name='pgbouncer'), 'reserved'),
    (dict(host='a\nb'), 'host .* control character'),
    (dict(connect_query='SELECT 1;\r'), 'connect_query .* control character'),
    (dict(timezone='a\tb'), 'control character'),
    (dict(dbname=''), 'dbname must not be empty'),
    (dict(pool_size=-1), 'pool_size must be 0 or more'),
    (dict(min_pool_size=-5), 'min_pool_size must be 0 or more'),
    (dict(reserve_pool=-1), 'reserve_pool'),
    (dict(max_db_connections=-1), 'max_db_connections'),
    (dict(port=0), 'port must be between'),
    (dict(port=70000), 'port must be between'),
    (dict(state='absent', host='h'), 'host is only valid with state=present'),
    (dict(state='paused', host='h', pool_size=1), 'host, pool_size are only valid with state=present'),
    (dict(wait_timeout=0), 'wait_timeout'),
])
def test_invalid_params(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        mod.validate_params(params(**overrides))


def test_invalid_password_is_not_shown():
    with pytest.raises(InvalidInput) as info:
        mod.validate_params(params(password='se\ncret'))
    assert 'se\ncret' not in info.value.msg and '********' in info.value.msg


def row(**overrides):
    base = dict(name='app', host='10.0.0.1', port=5432, database='app', force_user=None, pool_size=20, min_pool_size=0,
                reserve_pool=0, pool_mode=None, max_connections=0, current_connections=0, paused=0, disabled=0)
    base.update(overrides)
    return base


RUNNING_CASES = [
    ('match, defaults', [('host', '10.0.0.1')], row(), [], None),
    ('match, all', [('dbname', 'app'), ('host', '10.0.0.1'), ('port', '5432'), ('user', 'bob'), ('pool_mode', 'transaction'),
                    ('pool_size', '7'), ('min_pool_size', '1'), ('reserve_pool', '2'), ('max_db_connections', '9')],
     row(force_user='bob', pool_mode='transaction', pool_size=7, min_pool_size=1, reserve_pool=2, max_connections=9), [], None),
    ('host differs', [('host', '10.0.0.2')], row(), ['host: expected 10.0.0.2, running 10.0.0.1'], None),
    ('unset pool_mode expects the global one', [('host', '10.0.0.1')], row(pool_mode='session'),
     ['pool_mode: expected None, running session'], None),
    ('unset sizes are not compared', [('host', '10.0.0.1')], row(pool_size=99, max_connections=3), [], None),
    ('default dbname is the name', [('host', '10.0.0.1')], row(database='other'), ['database: expected app, running other'], None),
    ('unix socket host', [], row(host=None), [], None),
    ('forced user kept after removal', [('host', '10.0.0.1')], row(force_user='bob'), [], 'restart PgBouncer'),
    ('forced user changed', [('host', '10.0.0.1'), ('user', 'alice')], row(force_user='bob'),
     ['force_user: expected alice, running bob'], None),
]


@pytest.mark.parametrize('options, running, mismatches, reason', [c[1:] for c in RUNNING_CASES], ids=[c[0] for c in RUNNING_CASES])
def test_running_differences(options, running, mismatches, reason):
    got_mismatches, got_reason = mod.running_differences('app', options, running)
    assert got_mismatches == mismatches
    if reason is None:
        assert got_reason is None
    else:
        assert reason in got_reason


@pytest.mark.parametrize('changed, state, running, expected', [
    (True, 'present', {}, True),
    (False, 'present', {'app': row()}, False),
    (False, 'present', {}, True),
    (False, 'present', {'app': row(host='10.0.0.9')}, True),
    (False, 'present', {'app': row(force_user='bob')}, False),
    (False, 'absent', {}, False),
    (False, 'absent', {'app': row()}, True),
])
def test_plan_reload(changed, state, running, expected):
    assert mod.plan_reload(changed, state, 'app', [('host', '10.0.0.1')], running) is expected
