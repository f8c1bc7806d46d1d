# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_subscription against two real clusters: ``primary`` publishes, ``subscriber`` subscribes over TCP with a password.

Every claim is checked with an independent query; the publisher's password must appear nowhere in a result.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import re
import threading
import time

import pytest

from ansible_collections.pgha.replication.plugins.modules import pg_subscription as mod

from .conftest import PASSWORD, PASSWORD_ROLE, run_four_steps, run_in_lockstep, run_module

MODULE = 'pg_subscription'
DB = 'subtest_db'


@pytest.fixture(scope='module')
def clusters(primary, subscriber):
    for cluster in (primary, subscriber):
        if not cluster.query('SELECT 1 FROM pg_database WHERE datname = %s', (DB,)):
            cluster.query('CREATE DATABASE %s' % DB)
    return primary, subscriber


def both(clusters, statement):
    for cluster in clusters:
        cluster.query(statement, dbname=DB)


def make_tables(clusters, *names):
    """Fresh tables of the same name on both sides."""
    for name in names:
        both(clusters, 'DROP TABLE IF EXISTS %s' % name)
        both(clusters, 'CREATE TABLE %s (id int PRIMARY KEY, v text)' % name)


def publish(primary, pub, tables=None):
    primary.query('DROP PUBLICATION IF EXISTS %s' % pub, dbname=DB)
    primary.query('CREATE PUBLICATION %s %s' % (pub, 'FOR TABLE ' + ', '.join(tables) if tables else 'FOR ALL TABLES'),
                  dbname=DB)


def pub_conn(primary, **overrides):
    conn = dict(host='127.0.0.1', port=primary.port, dbname=DB, user=PASSWORD_ROLE, password=PASSWORD)
    conn.update(overrides)
    return conn


def sub_row(subscriber, name):
    rows = subscriber.query('SELECT s.oid, subenabled, subpublications, subconninfo, subslotname, subbinary, '
                            'substream, subsynccommit, subdisableonerr, subtwophasestate::text AS twophase, '
                            'subskiplsn::text AS skiplsn FROM pg_subscription s WHERE subname = %s', (name,), dbname=DB)
    return rows[0] if rows else None


def sub_tables(subscriber, name):
    return dict((r['t'], r['s']) for r in subscriber.query(
        'SELECT c.relname AS t, r.srsubstate::text AS s FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid '
        'JOIN pg_class c ON c.oid = r.srrelid WHERE s.subname = %s', (name,), dbname=DB))


def slot_names(primary):
    return set(r['slot_name'] for r in primary.query('SELECT slot_name FROM pg_replication_slots'))


def sub_count(subscriber):
    return subscriber.query('SELECT count(*) AS n FROM pg_subscription')[0]['n']


def rows_of(cluster, table):
    return [(r['id'], r['v']) for r in cluster.query('SELECT id, v FROM %s ORDER BY id' % table, dbname=DB)]


def cleanup(clusters, name):
    primary, subscriber = clusters
    if sub_row(subscriber, name):
        subscriber.query('ALTER SUBSCRIPTION %s DISABLE' % name, dbname=DB)
        subscriber.query('ALTER SUBSCRIPTION %s SET (slot_name = NONE)' % name, dbname=DB)
        subscriber.query('DROP SUBSCRIPTION %s' % name, dbname=DB)
    primary.wait_for(lambda: not primary.query('SELECT 1 FROM pg_replication_slots WHERE database = %s AND active', (DB,)),
                     what='the walsenders to exit')
    primary.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = %s', (DB,))


def no_password(res):
    text = json.dumps(res)
    assert PASSWORD not in text, 'the password leaked into the result'
    assert PASSWORD not in res.get('_raw', '')


def args(subscriber, name, **extra):
    return subscriber.conn_args(login_db=DB, name=name, **extra)


def four_steps(subscriber, module_args, verify_changed, verify_unchanged_before):
    """The four steps (conftest.run_four_steps), with no password in any result."""
    return run_four_steps(MODULE, module_args, verify_changed, verify_unchanged_before, each=no_password)


def test_create_with_wait_four_steps(clusters):
    primary, subscriber = clusters
    name = 'subtest_create'
    make_tables(clusters, 'subtest_c1')
    publish(primary, 'subtest_pub_c', ['subtest_c1'])
    primary.query("INSERT INTO subtest_c1 VALUES (1, 'one'), (2, 'two')", dbname=DB)
    module_args = args(subscriber, name, publications=['subtest_pub_c'], connection=pub_conn(primary), wait=True,
                       wait_timeout=60)
    try:
        res = four_steps(subscriber, module_args,
                         verify_changed=lambda: sub_row(subscriber, name) or pytest.fail('no subscription'),
                         verify_unchanged_before=lambda: (sub_row(subscriber, name) is None and name not in slot_names(primary))
                         or pytest.fail('created in check mode'))
        # The initial copy is done (wait=true) and the slot exists on the publisher.
        assert sub_tables(subscriber, name) == {'subtest_c1': 'r'}
        assert rows_of(subscriber, 'subtest_c1') == [(1, 'one'), (2, 'two')]
        assert name in slot_names(primary)
        assert res['tables'] == [dict(name='public.subtest_c1', state='r', state_name='ready', lsn=res['tables'][0]['lsn'])]
        sub = res['subscription']
        assert (sub['name'], sub['enabled'], sub['publications'], sub['slot_name'], sub['owner']) == (
            name, True, ['subtest_pub_c'], name, 'postgres')
        assert sub['connection'] == dict(host='127.0.0.1', port=str(primary.port), dbname=DB, user=PASSWORD_ROLE,
                                         password='********')
        assert res['diff']['before'] == {'state': 'absent'}
        assert res['queries'] == [
            "CREATE SUBSCRIPTION \"%s\" CONNECTION 'host=''127.0.0.1'' port=''%d'' dbname=''%s'' user=''%s'' "
            "password=''********''' PUBLICATION \"subtest_pub_c\"" % (name, primary.port, DB, PASSWORD_ROLE)]
        # The server really holds the password: the masking is the module's, and the subscription authenticates with it.
        assert "password='%s'" % PASSWORD in sub_row(subscriber, name)['subconninfo']
        assert PASSWORD not in open(subscriber.logfile).read(), 'the statement with the password reached the server log'
        # Replication flows.
        primary.query("INSERT INTO subtest_c1 VALUES (3, 'three')", dbname=DB)
        subscriber.wait_for(lambda: (3, 'three') in rows_of(subscriber, 'subtest_c1'), what='row 3 to arrive')
        rc, res = run_module(MODULE, args(subscriber, name))
        assert rc == 0 and res['changed'] is False
        assert res['worker']['pid'] and res['worker']['received_lsn']
        assert res['stats']['apply_error_count'] == 0
        no_password(res)
    finally:
        cleanup(clusters, name)


def test_change_publications_four_steps(clusters):
    primary, subscriber = clusters
    name = 'subtest_pubs'
    make_tables(clusters, 'subtest_p1', 'subtest_p2')
    publish(primary, 'subtest_pub_p1', ['subtest_p1'])
    publish(primary, 'subtest_pub_p2', ['subtest_p2'])
    primary.query("INSERT INTO subtest_p2 VALUES (20, 'twenty')", dbname=DB)
    try:
        rc, res = run_module(MODULE, args(subscriber, name, publications=['subtest_pub_p1'], connection=pub_conn(primary),
                                          wait=True, wait_timeout=60))
        assert rc == 0 and res['changed'], res
        assert sub_tables(subscriber, name) == {'subtest_p1': 'r'}

        module_args = args(subscriber, name, publications=['subtest_pub_p2', 'subtest_pub_p1'], wait=True, wait_timeout=60)
        res = four_steps(subscriber, module_args,
                         verify_changed=lambda: sorted(sub_row(subscriber, name)['subpublications'])
                         == ['subtest_pub_p1', 'subtest_pub_p2'] or pytest.fail('publications not set'),
                         verify_unchanged_before=lambda: sub_row(subscriber, name)['subpublications'] == ['subtest_pub_p1']
                         or pytest.fail('changed in check mode'))
        assert res['queries'] == ['ALTER SUBSCRIPTION "%s" SET PUBLICATION "subtest_pub_p2", "subtest_pub_p1" '
                                  'WITH (refresh = true)' % name]
        assert sub_tables(subscriber, name) == {'subtest_p1': 'r', 'subtest_p2': 'r'}
        assert rows_of(subscriber, 'subtest_p2') == [(20, 'twenty')]
    finally:
        cleanup(clusters, name)


def test_disable_enable_and_options_four_steps(clusters):
    primary, subscriber = clusters
    name = 'subtest_toggle'
    make_tables(clusters, 'subtest_t1')
    publish(primary, 'subtest_pub_t', ['subtest_t1'])
    try:
        rc, res = run_module(MODULE, args(subscriber, name, publications=['subtest_pub_t'], connection=pub_conn(primary),
                                          wait=True, wait_timeout=60))
        assert rc == 0 and res['changed'], res

        worker = "SELECT 1 FROM pg_stat_subscription WHERE subname = '%s' AND pid IS NOT NULL" % name
        res = four_steps(subscriber, args(subscriber, name, enabled=False),
                         verify_changed=lambda: sub_row(subscriber, name)['subenabled'] is False or pytest.fail('enabled'),
                         verify_unchanged_before=lambda: sub_row(subscriber, name)['subenabled'] or pytest.fail('disabled'))
        assert res['queries'] == ['ALTER SUBSCRIPTION "%s" DISABLE' % name]
        assert res['diff']['before']['enabled'] is True and res['diff']['after']['enabled'] is False
        subscriber.wait_for(lambda: not subscriber.query(worker), what='the apply worker to stop')
        primary.query("INSERT INTO subtest_t1 VALUES (1, 'while disabled')", dbname=DB)

        four_steps(subscriber, args(subscriber, name, enabled=True),
                   verify_changed=lambda: sub_row(subscriber, name)['subenabled'] or pytest.fail('disabled'),
                   verify_unchanged_before=lambda: sub_row(subscriber, name)['subenabled'] is False or pytest.fail('enabled'))
        subscriber.wait_for(lambda: rows_of(subscriber, 'subtest_t1') == [(1, 'while disabled')], what='the row to arrive')

        # Options with ALTER SUBSCRIPTION ... SET, and a new connection string (same password).
        opts = args(subscriber, name, binary=True, streaming='on', synchronous_commit='local', disable_on_error=True,
                    connection=pub_conn(primary, application_name='subtest_app', connect_timeout=5))
        res = four_steps(subscriber, opts,
                         verify_changed=lambda: sub_row(subscriber, name)['subbinary'] or pytest.fail('not binary'),
                         verify_unchanged_before=lambda: sub_row(subscriber, name)['subbinary'] is False or pytest.fail('set'))
        row = sub_row(subscriber, name)
        assert (row['subbinary'], row['substream'], row['subsynccommit'], row['subdisableonerr']) == (True, True, 'local', True)
        assert "application_name='subtest_app'" in row['subconninfo'] and "password='%s'" % PASSWORD in row['subconninfo']
        assert res['queries'][0].startswith('ALTER SUBSCRIPTION "%s" CONNECTION ' % name)
        assert "password=''********''" in res['queries'][0]
        assert res['queries'][1] == ('ALTER SUBSCRIPTION "%s" SET (binary = true, streaming = \'on\', '
                                     'synchronous_commit = \'local\', disable_on_error = true)' % name)
        primary.wait_for(lambda: primary.query("SELECT 1 FROM pg_stat_replication WHERE application_name = 'subtest_app'"),
                         what='the subscription to reconnect with the new application_name')

        # A new password is applied (and shown as changed, masked) even though nothing else differs. The publisher is
        # checked with it first, so the role's password is changed there before.
        primary.query("ALTER ROLE %s PASSWORD '%s'" % (PASSWORD_ROLE, PASSWORD + 'x'))
        rc, res = run_module(MODULE, dict(opts, connection=pub_conn(primary, application_name='subtest_app', connect_timeout=5,
                                                                    password=PASSWORD + 'x')), check_mode=True)
        assert rc == 0 and res['changed'] is True and len(res['queries']) == 1, res
        assert res['diff']['after']['connection']['password'] == '******** (changed)'
        assert res['diff']['before']['connection']['password'] == '********'
        assert PASSWORD not in json.dumps(res)
    finally:
        primary.query("ALTER ROLE %s PASSWORD '%s'" % (PASSWORD_ROLE, PASSWORD))
        cleanup(clusters, name)


def test_refresh_picks_up_new_tables_four_steps(clusters):
    primary, subscriber = clusters
    name = 'subtest_refresh'
    db2 = 'subtest_refresh_db'
    for cluster in clusters:
        if not cluster.query('SELECT 1 FROM pg_database WHERE datname = %s', (db2,)):
            cluster.query('CREATE DATABASE %s' % db2)
        cluster.query('DROP TABLE IF EXISTS subtest_r1, subtest_r2', dbname=db2)
        cluster.query('CREATE TABLE subtest_r1 (id int PRIMARY KEY)', dbname=db2)
    primary.query('DROP PUBLICATION IF EXISTS subtest_pub_all', dbname=db2)
    primary.query('CREATE PUBLICATION subtest_pub_all FOR ALL TABLES', dbname=db2)
    base = subscriber.conn_args(login_db=db2, name=name)
    try:
        rc, res = run_module(MODULE, dict(base, publications=['subtest_pub_all'], connection=pub_conn(primary, dbname=db2),
                                          wait=True, wait_timeout=60))
        assert rc == 0 and res['changed'], res
        # Nothing new on the publisher: refresh=true changes nothing.
        rc, res = run_module(MODULE, dict(base, refresh=True), check_mode=True)
        assert rc == 0 and res['changed'] is False and res['queries'] == [], res

        for cluster in clusters:
            cluster.query('CREATE TABLE subtest_r2 (id int PRIMARY KEY)', dbname=db2)
        primary.query('INSERT INTO subtest_r2 VALUES (7)', dbname=db2)

        def tables():
            return sorted(r['relname'] for r in subscriber.query(
                'SELECT c.relname FROM pg_subscription_rel r JOIN pg_class c ON c.oid = r.srrelid', dbname=db2))
        res = four_steps(subscriber, dict(base, refresh=True, wait=True, wait_timeout=60),
                         verify_changed=lambda: tables() == ['subtest_r1', 'subtest_r2'] or pytest.fail('not refreshed'),
                         verify_unchanged_before=lambda: tables() == ['subtest_r1'] or pytest.fail('refreshed in check mode'))
        assert res['queries'] == ['ALTER SUBSCRIPTION "%s" REFRESH PUBLICATION' % name]
        assert [t['state'] for t in res['tables']] == ['r', 'r']
        assert [r['id'] for r in subscriber.query('SELECT id FROM subtest_r2', dbname=db2)] == [7]
    finally:
        if subscriber.query('SELECT 1 FROM pg_subscription WHERE subname = %s', (name,), dbname=db2):
            subscriber.query('DROP SUBSCRIPTION %s' % name, dbname=db2)


def test_password_never_shown_on_failure(clusters):
    primary, subscriber = clusters
    name = 'subtest_fail'
    make_tables(clusters, 'subtest_f1')
    publish(primary, 'subtest_pub_f', ['subtest_f1'])
    before = (sub_count(subscriber), slot_names(primary))
    try:
        for conn in (pub_conn(primary, port=1), pub_conn(primary, password=PASSWORD + '-wrong'),
                     pub_conn(primary, host=['127.0.0.1', '127.0.0.1'], port=[1, 2], connect_timeout=2)):
            rc, res = run_module(MODULE, args(subscriber, name, publications=['subtest_pub_f'], connection=conn))
            assert rc != 0 and res['failed'], res
            assert 'could not connect to the publisher' in res['msg'], res['msg']
            no_password(res)
            assert conn['password'] not in json.dumps(res)
        assert (sub_count(subscriber), slot_names(primary)) == before, 'nothing may be created'
        assert PASSWORD not in open(subscriber.logfile).read(), 'the failing statement with the password reached the server log'

        # A subscription made elsewhere (the password is not a module argument, so Ansible's no_log cannot hide it):
        # the module masks the stored connection string itself, in success and in failure.
        subscriber.query("CREATE SUBSCRIPTION %s CONNECTION 'host=127.0.0.1 port=1 dbname=%s user=%s password=%s' "
                         "PUBLICATION subtest_pub_f WITH (connect = false)" % (name, DB, PASSWORD_ROLE, PASSWORD), dbname=DB)
        rc, res = run_module(MODULE, args(subscriber, name))
        assert rc == 0 and res['changed'] is False, res
        assert res['subscription']['connection']['password'] == '********' and res['subscription']['enabled'] is False
        no_password(res)
        rc, res = run_module(MODULE, args(subscriber, name, enabled=True, refresh=True))
        assert rc != 0 and 'could not connect to the publisher' in res['msg'], res
        no_password(res)
        rc, res = run_module(MODULE, args(subscriber, name, state='absent', drop_slot=False))
        assert rc == 0 and res['changed'] is True, res
        assert res['queries'] == ['ALTER SUBSCRIPTION "%s" SET (slot_name = NONE)' % name, 'DROP SUBSCRIPTION "%s"' % name]
        assert sub_row(subscriber, name) is None
        no_password(res)
    finally:
        cleanup(clusters, name)


def finish_lsn_from_log(subscriber, table, seen):
    """The finish LSN of the failing remote transaction, from the subscriber's log (PostgreSQL 15: 'finished at X')."""
    with open(subscriber.logfile) as handle:
        text = handle.read()
    found = re.findall(r'replication target relation "public\.%s" in transaction \d+, finished at ([0-9A-F]+/[0-9A-F]+)'
                       % table, text)
    found = [lsn for lsn in found if lsn not in seen]
    return found[-1] if found else None


def test_conflict_disables_then_skip_resumes(clusters):
    primary, subscriber = clusters
    name = 'subtest_skip'
    make_tables(clusters, 'subtest_k1')
    publish(primary, 'subtest_pub_k', ['subtest_k1'])
    try:
        rc, res = run_module(MODULE, args(subscriber, name, publications=['subtest_pub_k'], connection=pub_conn(primary),
                                          disable_on_error=True, wait=True, wait_timeout=60))
        assert rc == 0 and res['changed'], res
        errors_before = res['stats']['apply_error_count']
        seen = set(re.findall(r'finished at ([0-9A-F]+/[0-9A-F]+)', open(subscriber.logfile).read()))

        subscriber.query("INSERT INTO subtest_k1 VALUES (100, 'subscriber')", dbname=DB)
        primary.query("INSERT INTO subtest_k1 VALUES (100, 'publisher')", dbname=DB)
        subscriber.wait_for(lambda: sub_row(subscriber, name)['subenabled'] is False, what='disable_on_error to disable it')
        lsn = subscriber.wait_for(lambda: finish_lsn_from_log(subscriber, 'subtest_k1', seen), what='the error in the log')

        rc, res = run_module(MODULE, args(subscriber, name))
        assert rc == 0 and res['changed'] is False
        assert res['stats']['apply_error_count'] > errors_before
        assert res['subscription']['enabled'] is False and res['worker'] is None

        skip_args = args(subscriber, name, skip_lsn=lsn, enabled=True)
        rc, res = run_module(MODULE, skip_args, check_mode=True)
        assert rc == 0 and res['changed'] is True, res
        assert res['queries'] == ['ALTER SUBSCRIPTION "%s" SKIP (lsn = \'%s\')' % (name, lsn),
                                  'ALTER SUBSCRIPTION "%s" ENABLE' % name]
        assert res['skip']['action'] == 'set' and res['skip']['lsn'] == lsn
        assert sub_row(subscriber, name)['skiplsn'] == '0/0' and sub_row(subscriber, name)['subenabled'] is False

        rc, res = run_module(MODULE, skip_args)
        assert rc == 0 and res['changed'] is True, res
        assert res['skip']['action'] == 'set'
        primary.query("INSERT INTO subtest_k1 VALUES (101, 'after')", dbname=DB)
        subscriber.wait_for(lambda: (101, 'after') in rows_of(subscriber, 'subtest_k1'), what='replication to resume')
        assert (100, 'subscriber') in rows_of(subscriber, 'subtest_k1'), 'the conflicting remote row was skipped'
        assert sub_row(subscriber, name)['skiplsn'] == '0/0', 'the server clears the skip LSN once used'

        # Once applied past that LSN, asking again changes nothing (origin progress > skip LSN).
        for check_mode in (True, False):
            rc, res = run_module(MODULE, skip_args, check_mode=check_mode)
            assert rc == 0 and res['changed'] is False and res['queries'] == [], res
            assert res['skip']['action'] == 'passed'
        assert sub_row(subscriber, name)['skiplsn'] == '0/0'
    finally:
        cleanup(clusters, name)


@pytest.mark.parametrize('drop_slot', [True, False])
def test_absent_four_steps(clusters, drop_slot):
    primary, subscriber = clusters
    name = 'subtest_absent_%s' % str(drop_slot).lower()
    make_tables(clusters, 'subtest_a1')
    publish(primary, 'subtest_pub_a', ['subtest_a1'])
    try:
        rc, res = run_module(MODULE, args(subscriber, name, publications=['subtest_pub_a'], connection=pub_conn(primary),
                                          wait=True, wait_timeout=60))
        assert rc == 0 and res['changed'], res
        assert name in slot_names(primary)
        res = four_steps(subscriber, args(subscriber, name, state='absent', drop_slot=drop_slot),
                         verify_changed=lambda: sub_row(subscriber, name) is None or pytest.fail('still there'),
                         verify_unchanged_before=lambda: sub_row(subscriber, name) or pytest.fail('dropped in check mode'))
        assert res['subscription'] is None and res['diff']['after'] == {'state': 'absent'}
        if drop_slot:
            assert res['queries'] == ['DROP SUBSCRIPTION "%s"' % name]
            assert name not in slot_names(primary)
        else:
            assert res['queries'] == ['ALTER SUBSCRIPTION "%s" DISABLE' % name,
                                      'ALTER SUBSCRIPTION "%s" SET (slot_name = NONE)' % name,
                                      'DROP SUBSCRIPTION "%s"' % name]
            assert name in slot_names(primary), 'drop_slot=false leaves the slot on the publisher'
    finally:
        cleanup(clusters, name)


@pytest.mark.parametrize('extra, needle', [
    (dict(name="Bad'Name"), 'invalid subscription name'),
    (dict(name='x; DROP TABLE t'), 'invalid subscription name'),
    (dict(slot_name='Bad'), 'invalid slot_name'),
    (dict(connection_extra=dict(password='x')), 'use connection.password'),
    (dict(connection_extra=dict(nosuchkeyword='x')), 'not a libpq connection keyword'),
    (dict(origin='none'), 'origin needs PostgreSQL 16'),
    (dict(streaming='parallel'), 'streaming=parallel needs PostgreSQL 16'),
    (dict(failover=True), 'failover needs PostgreSQL 17 or later (the subscriber runs 15); nothing was changed'),
    (dict(skip_lsn='0/1'), 'skip_lsn applies to an existing'),
    (dict(skip_lsn='nonsense'), 'invalid skip_lsn'),
    (dict(publications=None), 'set publications to create it'),
])
def test_bad_input_refused_with_nothing_created(clusters, extra, needle):
    primary, subscriber = clusters
    version = subscriber.query("SELECT current_setting('server_version_num')::int AS v")[0]['v']
    if version >= 160000 and ('origin' in extra or 'streaming' in extra):
        pytest.skip('PostgreSQL 16 supports this option')
    if 'failover' in extra and version // 10000 != 15:
        pytest.skip('the message names PostgreSQL 15; PostgreSQL 17 supports the option')
    before = (sub_count(subscriber), slot_names(primary))
    module_args = args(subscriber, 'subtest_bad', publications=['subtest_pub_x'], connection=pub_conn(primary))
    module_args.update(extra)
    for check_mode in (True, False):
        rc, res = run_module(MODULE, module_args, check_mode=check_mode)
        assert rc != 0 and res['failed'], res
        assert needle in res['msg'], res['msg']
        no_password(res)
    assert (sub_count(subscriber), slot_names(primary)) == before


def subscribed(clusters, name, table, pub):
    """A fresh table published as ``pub`` and a subscription ``name`` to it, made by the module; its catalog row."""
    primary, subscriber = clusters
    make_tables(clusters, table)
    publish(primary, pub, [table])
    rc, res = run_module(MODULE, args(subscriber, name, publications=[pub], connection=pub_conn(primary)))
    assert rc == 0 and res['changed'], res
    return sub_row(subscriber, name)


def test_create_only_option_change_refused(clusters):
    primary, subscriber = clusters
    name = 'subtest_2pc'
    try:
        before = subscribed(clusters, name, 'subtest_q1', 'subtest_pub_q')
        rc, res = run_module(MODULE, args(subscriber, name, two_phase=True))
        assert rc != 0 and 'two_phase applies at creation only' in res['msg'] and 'state=absent' in res['msg'], res
        assert sub_row(subscriber, name) == before
    finally:
        cleanup(clusters, name)


@pytest.mark.parametrize('extra, needle', [
    (dict(origin='none'), 'origin needs PostgreSQL 16 or later (the subscriber runs 15); nothing was changed'),
    (dict(failover=True), 'failover needs PostgreSQL 17 or later (the subscriber runs 15); nothing was changed'),
    (dict(failover=False, enabled=False), 'failover needs PostgreSQL 17 or later'),
])
def test_newer_option_on_an_existing_subscription_refused_on_15(clusters, extra, needle):
    """On PostgreSQL 15 an option of 16 or 17 is refused in both modes, naming it and the version; nothing changes."""
    primary, subscriber = clusters
    if subscriber.query("SELECT current_setting('server_version_num')::int AS v")[0]['v'] // 10000 != 15:
        pytest.skip('the refusal is proven on PostgreSQL 15')
    name = 'subtest_newer'
    try:
        before = subscribed(clusters, name, 'subtest_n1', 'subtest_pub_n')
        for check_mode in (True, False):
            rc, res = run_module(MODULE, args(subscriber, name, **extra), check_mode=check_mode)
            assert rc != 0 and res['failed'] and needle in res['msg'], res
            assert res.get('queries') in (None, []), res
            no_password(res)
        assert sub_row(subscriber, name) == before
    finally:
        cleanup(clusters, name)


def publisher_refusals(primary):
    return [
        (dict(publications=['subtest_pub_missing']), "publications: 'subtest_pub_missing' does not exist"),
        (dict(publications=['subtest_pub_v', 'subtest_pub_missing']), "'subtest_pub_missing' does not exist"),
        (dict(publications=['subtest_pub_v"; DROP TABLE t; --']), 'publications[0]: invalid publication name'),
        (dict(publications=["it's"]), 'publications[0]: invalid publication name'),
        (dict(publications=['subtest_pub_empty'], wait=True), 'publish no table'),
        (dict(connection=pub_conn(primary, port=1)), 'could not connect to the publisher'),
        (dict(connection=pub_conn(primary, password=PASSWORD + '-wrong')), 'could not connect to the publisher'),
        (dict(connection=pub_conn(primary, host=['127.0.0.1 x'])), 'could not connect to the publisher'),
        (dict(connection=pub_conn(primary, user='subtest_norepl', password=None)), 'neither REPLICATION nor superuser'),
        (dict(slot_name='subtest_taken'), "replication slot 'subtest_taken' already exists on the publisher"),
        (dict(slot_name='none'), "invalid slot_name 'none'"),
    ]


REFUSAL_IDS = ['missing publication', 'one of two missing', 'quotes and semicolon', 'quote', 'wait with no table',
               'unreachable', 'wrong password', 'host with a space', 'no replication attribute', 'slot exists',
               'slot_name none']


@pytest.mark.parametrize('case', range(len(REFUSAL_IDS)), ids=REFUSAL_IDS)
def test_publisher_checked_before_create_in_both_modes(clusters, case):
    """Check mode fails exactly where apply would (or where apply would create something useless), nothing is made."""
    primary, subscriber = clusters
    make_tables(clusters, 'subtest_v1')
    publish(primary, 'subtest_pub_v', ['subtest_v1'])
    primary.query('DROP PUBLICATION IF EXISTS subtest_pub_empty', dbname=DB)
    primary.query('CREATE PUBLICATION subtest_pub_empty', dbname=DB)
    primary.query('DROP ROLE IF EXISTS subtest_norepl')
    primary.query('CREATE ROLE subtest_norepl LOGIN')
    primary.query("SELECT pg_create_logical_replication_slot('subtest_taken', 'pgoutput')", dbname=DB)
    extra, needle = publisher_refusals(primary)[case]
    module_args = args(subscriber, 'subtest_checked', publications=['subtest_pub_v'], connection=pub_conn(primary))
    module_args.update(extra)
    before = (sub_count(subscriber), slot_names(primary))
    try:
        for check_mode in (True, False):
            rc, res = run_module(MODULE, module_args, check_mode=check_mode)
            assert rc != 0 and res['failed'], (check_mode, res)
            assert needle in res['msg'], (check_mode, res['msg'])
            no_password(res)
            assert (sub_count(subscriber), slot_names(primary)) == before, 'nothing may be created'
    finally:
        primary.query("SELECT pg_drop_replication_slot('subtest_taken')")
        primary.query('DROP ROLE subtest_norepl')
        cleanup(clusters, 'subtest_checked')


def test_publisher_checked_before_alter_in_both_modes(clusters):
    primary, subscriber = clusters
    name = 'subtest_alter_checked'
    try:
        before = subscribed(clusters, name, 'subtest_w1', 'subtest_pub_w')
        for extra, needle in ((dict(publications=['subtest_pub_w', 'subtest_pub_gone']), "'subtest_pub_gone' does not exist"),
                              (dict(connection=pub_conn(primary, password='not-it')), 'could not connect to the publisher')):
            for check_mode in (True, False):
                rc, res = run_module(MODULE, args(subscriber, name, **extra), check_mode=check_mode)
                assert rc != 0 and needle in res['msg'], (check_mode, res)
                no_password(res)
            assert sub_row(subscriber, name) == before
    finally:
        cleanup(clusters, name)


def test_password_hidden_from_other_sessions_and_the_log_while_the_slot_waits(clusters):
    """An observer polls pg_stat_activity on both sides while CREATE SUBSCRIPTION is held up (creating a logical slot
    waits for the publisher's running transactions, and one is kept open), with every statement logged."""
    primary, subscriber = clusters
    name = 'subtest_hidden'
    make_tables(clusters, 'subtest_h1')
    publish(primary, 'subtest_pub_h', ['subtest_h1'])
    for setting, value in (('log_statement', 'all'), ('log_min_duration_statement', '0')):
        subscriber.query("ALTER SYSTEM SET %s = '%s'" % (setting, value))
    subscriber.query('SELECT pg_reload_conf()')
    log_start = os.path.getsize(subscriber.logfile)
    holder = primary.connect(dbname=DB)
    holder.autocommit = False
    holder.cursor().execute('SELECT txid_current()')
    seen, stop, outcome = [], threading.Event(), {}

    def observe():
        conns = dict(subscriber=subscriber.connect(), publisher=primary.connect())
        try:
            while not stop.is_set():
                for where, conn in conns.items():
                    with conn.cursor() as cur:
                        cur.execute('SELECT application_name, state, query FROM pg_stat_activity WHERE pid <> pg_backend_pid()')
                        seen.extend((where, app, state, query or '') for app, state, query in cur.fetchall())
                time.sleep(0.02)
        finally:
            for conn in conns.values():
                conn.close()

    def create():
        outcome['result'] = run_module(MODULE, args(subscriber, name, publications=['subtest_pub_h'],
                                                    connection=pub_conn(primary)))

    observer, runner = threading.Thread(target=observe), threading.Thread(target=create)
    observer.start()
    try:
        runner.start()
        primary.wait_for(lambda: any(q.startswith('CREATE_REPLICATION_SLOT') for w, a, st, q in list(seen)),
                         what='the slot creation to wait on the publisher')
        time.sleep(1)  # the observer keeps polling while CREATE SUBSCRIPTION waits
        holder.rollback()
        runner.join(120)
    finally:
        holder.close()
        stop.set()
        observer.join(30)
        for setting in ('log_statement', 'log_min_duration_statement'):
            subscriber.query('ALTER SYSTEM RESET %s' % setting)
        subscriber.query('SELECT pg_reload_conf()')
    try:
        rc, res = outcome['result']
        assert rc == 0 and res['changed'], res
        assert sub_row(subscriber, name) is not None and name in slot_names(primary)
        leaked = [(w, a, st, q) for w, a, st, q in seen if PASSWORD in q]
        assert not leaked, 'the password was visible in pg_stat_activity: %r' % leaked[:1]
        # The module's own session was there while it waited, with its statement hidden.
        assert any(w == 'subscriber' and a == 'pgha.replication' and st == 'disabled' for w, a, st, q in seen)
        with open(subscriber.logfile) as handle:
            handle.seek(log_start)
            log = handle.read()
        assert 'pg_stat_activity' in log, 'statement logging was not on'
        assert PASSWORD not in log, 'the statement with the password reached the server log'
    finally:
        cleanup(clusters, name)


def test_concurrent_identical_runs_converge(clusters):
    """Five identical runs at once, in lockstep: all succeed, one subscription and one slot, one run reports the
    change; the same for five drops."""
    primary, subscriber = clusters
    name = 'subtest_conc'
    make_tables(clusters, 'subtest_n1')
    publish(primary, 'subtest_pub_n', ['subtest_n1'])
    module_args = args(subscriber, name, publications=['subtest_pub_n'], connection=pub_conn(primary))
    try:
        results = run_in_lockstep(subscriber, MODULE, module_args, runs=5)
        assert all(rc == 0 for rc, res in results), [res.get('msg') for rc, res in results if rc != 0]
        assert sub_count(subscriber) == 1 and sub_row(subscriber, name) is not None
        assert [slot for slot in slot_names(primary) if slot == name] == [name]
        assert sum(1 for rc, res in results if res['changed']) == 1
        for rc, res in results:
            no_password(res)

        results = run_in_lockstep(subscriber, MODULE, args(subscriber, name, state='absent'), runs=5)
        assert all(rc == 0 for rc, res in results), [res.get('msg') for rc, res in results if rc != 0]
        assert sub_row(subscriber, name) is None and name not in slot_names(primary)
        assert sum(1 for rc, res in results if res['changed']) == 1
    finally:
        cleanup(clusters, name)


@pytest.mark.parametrize('same', [True, False], ids=['same subscription', 'another subscription'])
def test_created_by_someone_else_meanwhile_is_reread(clusters, same):
    """A subscription created (not by this collection) between the module's read and its CREATE: the module's
    CREATE waits for it, fails with a unique violation, reads again: success when it is what was asked, else a
    conflict."""
    primary, subscriber = clusters
    name = 'subtest_meanwhile'
    make_tables(clusters, 'subtest_m1')
    publish(primary, 'subtest_pub_m', ['subtest_m1'])
    publish(primary, 'subtest_pub_m2', ['subtest_m1'])
    conn = pub_conn(primary)
    pairs = mod.desired_connection(dict(connection=dict(conn, host=[conn['host']], port=[conn['port']]), connection_extra=None))
    other = subscriber.connect(dbname=DB)
    other.autocommit = False
    outcome = {}
    try:
        other.cursor().execute('CREATE SUBSCRIPTION %s CONNECTION %%s PUBLICATION %s WITH (connect = false)'
                               % (name, 'subtest_pub_m' if same else 'subtest_pub_m2'), (mod.build_conninfo(pairs),))
        runner = threading.Thread(target=lambda: outcome.update(result=run_module(MODULE, args(
            subscriber, name, publications=['subtest_pub_m'], connection=conn, enabled=False, create_slot=False,
            copy_data=False))))
        runner.start()
        time.sleep(3)  # the module's CREATE SUBSCRIPTION now waits for this transaction (unique index)
        other.commit()
        runner.join(60)
        rc, res = outcome['result']
        no_password(res)
        if same:
            assert rc == 0 and res['changed'] is False and res['queries'] == [], res
            assert res['subscription']['publications'] == ['subtest_pub_m']
        else:
            assert rc != 0 and 'was changed by someone else' in res['msg'], res
            assert sub_row(subscriber, name)['subpublications'] == ['subtest_pub_m2']
        assert sub_count(subscriber) == 1
    finally:
        other.close()
        cleanup(clusters, name)
