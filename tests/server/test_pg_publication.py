# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_publication against a real server. Every claim is checked with an independent query.

Everything lives in a dedicated database (pubtest_db) and role (pubtest_owner), created and dropped here, so the
other tests sharing the cluster are not affected (FOR ALL TABLES included).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import threading
import time

import psycopg2
import pytest

from ansible_collections.pgha.replication.plugins.module_utils import _publications

from .conftest import run_four_steps, run_in_lockstep, run_module

MODULE = 'pg_publication'
DB = 'pubtest_db'
OWNER = 'pubtest_owner'

SETUP = [
    'CREATE TABLE public.pubtest_items (id int PRIMARY KEY, name text, region text, amount numeric)',
    'CREATE TABLE public.pubtest_orders (id int PRIMARY KEY, item_id int, note text)',
    'CREATE TABLE public."PubTest_Mixed" ("Id" int PRIMARY KEY, "Label" text)',
    'CREATE SCHEMA pubtest_s1',
    'CREATE TABLE pubtest_s1.pubtest_a (id int PRIMARY KEY)',
    'CREATE SCHEMA pubtest_s2',
    'CREATE TABLE pubtest_s2.pubtest_b (id int PRIMARY KEY)',
    'CREATE VIEW public.pubtest_view AS SELECT id FROM public.pubtest_items',
    'CREATE UNLOGGED TABLE public.pubtest_unlogged (id int)',
    'CREATE TABLE public.pubtest_parted (id int, region text) PARTITION BY LIST (region)',
    "CREATE TABLE public.pubtest_parted_eu PARTITION OF public.pubtest_parted FOR VALUES IN ('eu')",
]


@pytest.fixture(scope='module')
def cluster(primary):
    primary.query('DROP DATABASE IF EXISTS %s' % DB)
    primary.query('DROP ROLE IF EXISTS %s' % OWNER)
    primary.query('CREATE ROLE %s SUPERUSER' % OWNER)
    primary.query('CREATE DATABASE %s' % DB)
    for statement in SETUP:
        primary.query(statement, dbname=DB)
    try:
        yield primary
    finally:
        primary.query('DROP DATABASE IF EXISTS %s' % DB)
        primary.query('DROP ROLE IF EXISTS %s' % OWNER)


@pytest.fixture
def pubname(cluster, request):
    """A publication name for one test; dropped afterwards whatever happens."""
    name = 'pubtest_%s' % request.node.name.replace('test_', '', 1).lower()[:40]
    name = ''.join(ch if ch.isalnum() or ch == '_' else '_' for ch in name)
    cluster.query('DROP PUBLICATION IF EXISTS "%s"' % name, dbname=DB)
    yield name
    cluster.query('DROP PUBLICATION IF EXISTS "%s"' % name, dbname=DB)


def args(cluster, **extra):
    return cluster.conn_args(login_db=DB, **extra)


def state(cluster, name):
    """The publication as the server has it, read independently of the module (fresh connection, own SQL)."""
    rows = cluster.query('SELECT pubname, pg_get_userbyid(pubowner) AS owner, puballtables, pubinsert, pubupdate, pubdelete, '
                         'pubtruncate, pubviaroot FROM pg_publication WHERE pubname = %s', (name,), dbname=DB)
    if not rows:
        return None
    pub = rows[0]
    pub['tables'] = cluster.query(
        "SELECT format('%%I.%%I', n.nspname, c.relname) AS name, "
        '(SELECT array_agg(quote_ident(a.attname) ORDER BY a.attnum) FROM pg_attribute a '
        ' WHERE a.attrelid = r.prrelid AND a.attnum = ANY (r.prattrs::int2[])) AS columns, '
        'pg_get_expr(r.prqual, r.prrelid) AS row_filter '
        'FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid JOIN pg_class c ON c.oid = r.prrelid '
        'JOIN pg_namespace n ON n.oid = c.relnamespace WHERE p.pubname = %s ORDER BY 1', (name,), dbname=DB)
    pub['schemas'] = [r['nspname'] for r in cluster.query(
        'SELECT n.nspname FROM pg_publication_namespace pn JOIN pg_publication p ON p.oid = pn.pnpubid '
        'JOIN pg_namespace n ON n.oid = pn.pnnspid WHERE p.pubname = %s ORDER BY 1', (name,), dbname=DB)]
    return pub


def publication_count(cluster):
    return cluster.query('SELECT count(*) AS n FROM pg_publication', dbname=DB)[0]['n']


def assert_result_matches_server(result, server):
    """The module's returned publication is the server's state."""
    pub = result['publication']
    assert pub['name'] == server['pubname'] and pub['owner'] == server['owner']
    assert pub['all_tables'] == server['puballtables']
    assert pub['publish_via_partition_root'] == server['pubviaroot']
    assert pub['publish'] == [op for op in ('insert', 'update', 'delete', 'truncate') if server['pub' + op]]
    assert [(t['name'], t['columns'], t['row_filter']) for t in pub['tables']] == \
        [(t['name'], t['columns'], t['row_filter']) for t in server['tables']]
    assert pub['tables_in_schema'] == server['schemas']


def four_steps(cluster, name, module_args):
    """The four steps (conftest.run_four_steps); the state before and after is read independently (state()), and
    the real run's result must match the server."""
    before = state(cluster, name)
    seen = {}

    def unchanged_before():
        assert state(cluster, name) == before, 'check mode changed the server'

    def changed():
        now = state(cluster, name)
        if 'after' not in seen:
            assert now != before
            seen['after'] = now
        assert now == seen['after']

    applied = run_four_steps(MODULE, args(cluster, name=name, **module_args), changed, unchanged_before,
                             compare=('queries', 'diff', 'publication'))
    if seen['after'] is not None:
        assert_result_matches_server(applied, seen['after'])
    return applied


def assert_unchanged(cluster, name, module_args):
    """Both in check mode and for real: no change reported, no statement, server untouched."""
    before = state(cluster, name)
    for check_mode in (True, False):
        rc, res = run_module(MODULE, args(cluster, name=name, **module_args), check_mode=check_mode)
        assert rc == 0, res
        assert res['changed'] is False and res['queries'] == [], res
    assert state(cluster, name) == before


def assert_refused(cluster, name, module_args, needle):
    """Both in check mode and for real: failure naming ``needle``, server untouched. Returns the message."""
    before = state(cluster, name)
    count = publication_count(cluster)
    for check_mode in (True, False):
        rc, res = run_module(MODULE, args(cluster, name=name, **module_args), check_mode=check_mode)
        assert rc != 0 and res['failed'], res
        assert needle in res['msg'], res['msg']
    assert state(cluster, name) == before
    assert publication_count(cluster) == count
    return res['msg']


ITEMS_FILTERED = dict(name='pubtest_items', columns=['region', 'id'], row_filter='id>5')


def test_create_with_row_filter_and_columns_four_steps(cluster, pubname):
    res = four_steps(cluster, pubname, dict(tables=[ITEMS_FILTERED], publish=['insert', 'update']))
    server = state(cluster, pubname)
    assert server['tables'] == [dict(name='public.pubtest_items', columns=['id', 'region'], row_filter='(id > 5)')]
    assert (server['pubinsert'], server['pubupdate'], server['pubdelete'], server['pubtruncate']) == (True, True, False, False)
    assert (server['owner'], server['puballtables'], server['pubviaroot']) == ('postgres', False, False)
    assert res['queries'] == ['CREATE PUBLICATION "%s" FOR TABLE "public"."pubtest_items" ("id", "region") WHERE ((id > 5)) '
                              "WITH (publish = 'insert, update')" % pubname]
    assert res['diff']['before'] == {'state': 'absent'}
    assert res['diff']['after']['state'] == 'present'
    # pg_publication_tables agrees (another view of the same catalog).
    rows = cluster.query('SELECT attnames::text[] AS attnames, rowfilter FROM pg_publication_tables WHERE pubname = %s',
                         (pubname,), dbname=DB)
    assert rows == [dict(attnames=['id', 'region'], rowfilter='(id > 5)')]

    four_steps(cluster, pubname, dict(state='absent'))
    assert state(cluster, pubname) is None


@pytest.mark.parametrize('equivalent', [
    dict(name='pubtest_items', columns=['id', 'region'], row_filter='(id > 5)'),
    dict(name='public.pubtest_items', columns=['region', 'id'], row_filter='id > 5'),
    dict(name='PUBLIC.PUBTEST_ITEMS', columns=['REGION', 'Id'], row_filter='((id)>(5))'),
    dict(name='"public"."pubtest_items"', columns=['"region"', 'id'], row_filter='  id   >   5 '),
], ids=['deparsed form', 'qualified, reordered', 'upper case folds', 'quoted'])
def test_equivalent_filter_is_not_a_change(cluster, pubname, equivalent):
    rc, res = run_module(MODULE, args(cluster, name=pubname, tables=[ITEMS_FILTERED]))
    assert rc == 0 and res['changed'], res
    assert_unchanged(cluster, pubname, dict(tables=[equivalent]))


def test_swapped_operands_are_another_filter(cluster, pubname):
    # Logically equivalent, but another expression for PostgreSQL (it deparses to (5 < id)): a change, like the server sees it.
    rc, res = run_module(MODULE, args(cluster, name=pubname, tables=[ITEMS_FILTERED]))
    assert rc == 0 and res['changed'], res
    res = four_steps(cluster, pubname, dict(tables=[dict(ITEMS_FILTERED, row_filter='5 < id')]))
    assert state(cluster, pubname)['tables'][0]['row_filter'] == '(5 < id)'


def test_string_literal_filter_is_stable(cluster, pubname):
    four_steps(cluster, pubname, dict(tables=[dict(name='pubtest_items', row_filter="region='eu' AND name LIKE 'a%'")]))
    assert state(cluster, pubname)['tables'][0]['row_filter'] == "((region = 'eu'::text) AND (name ~~ 'a%'::text))"
    assert_unchanged(cluster, pubname, dict(tables=[dict(name='pubtest_items',
                                                         row_filter="(region = 'eu') and (name like 'a%')")]))


def test_different_filter_and_columns_are_changes(cluster, pubname):
    rc, res = run_module(MODULE, args(cluster, name=pubname, tables=[ITEMS_FILTERED, dict(name='pubtest_orders')]))
    assert rc == 0 and res['changed'], res

    res = four_steps(cluster, pubname, dict(tables=[dict(ITEMS_FILTERED, row_filter='id > 6'), dict(name='pubtest_orders')]))
    assert res['queries'] == ['ALTER PUBLICATION "%s" DROP TABLE "public"."pubtest_items"' % pubname,
                              'ALTER PUBLICATION "%s" ADD TABLE "public"."pubtest_items" ("id", "region") WHERE ((id > 6))'
                              % pubname]
    assert state(cluster, pubname)['tables'] == [
        dict(name='public.pubtest_items', columns=['id', 'region'], row_filter='(id > 6)'),
        dict(name='public.pubtest_orders', columns=None, row_filter=None)]

    four_steps(cluster, pubname, dict(tables=[dict(ITEMS_FILTERED, row_filter='id > 6', columns=['id', 'name', 'region']),
                                              dict(name='pubtest_orders')]))
    assert state(cluster, pubname)['tables'][0]['columns'] == ['id', 'name', 'region']

    # Filter and column list removed: all rows and columns.
    four_steps(cluster, pubname, dict(tables=[dict(name='pubtest_items'), dict(name='pubtest_orders')]))
    assert state(cluster, pubname)['tables'][0] == dict(name='public.pubtest_items', columns=None, row_filter=None)


def test_table_add_and_drop(cluster, pubname):
    rc, res = run_module(MODULE, args(cluster, name=pubname, tables=[dict(name='pubtest_items')]))
    assert rc == 0 and res['changed'], res

    res = four_steps(cluster, pubname, dict(tables=[dict(name='pubtest_items'), dict(name='pubtest_orders'),
                                                    dict(name='"PubTest_Mixed"', columns=['"Label"', '"Id"'])]))
    assert res['queries'] == ['ALTER PUBLICATION "%s" ADD TABLE "public"."PubTest_Mixed" ("Id", "Label"), '
                              '"public"."pubtest_orders"' % pubname]
    assert [t['name'] for t in state(cluster, pubname)['tables']] == [
        'public."PubTest_Mixed"', 'public.pubtest_items', 'public.pubtest_orders']
    assert res['publication']['tables'][0] == dict(name='public."PubTest_Mixed"', columns=['"Id"', '"Label"'], row_filter=None)
    # The returned names can be given back as they are.
    assert_unchanged(cluster, pubname, dict(tables=res['publication']['tables']))

    res = four_steps(cluster, pubname, dict(tables=[dict(name='pubtest_orders')]))
    assert res['queries'] == ['ALTER PUBLICATION "%s" DROP TABLE "public"."PubTest_Mixed", "public"."pubtest_items"'
                              % pubname]
    assert [t['name'] for t in state(cluster, pubname)['tables']] == ['public.pubtest_orders']

    # tables unset: not managed.
    assert_unchanged(cluster, pubname, dict())
    four_steps(cluster, pubname, dict(tables=[]))
    assert state(cluster, pubname)['tables'] == []


def test_all_tables_scope_change_refused_then_allowed(cluster, pubname):
    rc, res = run_module(MODULE, args(cluster, name=pubname, tables=[dict(name='pubtest_items')], publish=['insert']))
    assert rc == 0 and res['changed'], res

    msg = assert_refused(cluster, pubname, dict(all_tables=True), 'allow_recreate=true')
    assert 'FOR TABLE public.pubtest_items' in msg and 'DROP PUBLICATION' in msg

    res = four_steps(cluster, pubname, dict(all_tables=True, allow_recreate=True))
    assert res['queries'] == ['DROP PUBLICATION "%s"' % pubname,
                              'CREATE PUBLICATION "%s" FOR ALL TABLES WITH (publish = \'insert\')' % pubname]
    server = state(cluster, pubname)
    assert server['puballtables'] is True and server['tables'] == []
    assert (server['pubinsert'], server['pubupdate']) == (True, False), 'unmanaged publish kept across the re-creation'

    assert_refused(cluster, pubname, dict(tables=[dict(name='pubtest_orders')]), 'allow_recreate=true')
    assert_refused(cluster, pubname, dict(tables_in_schema=['pubtest_s1']), 'FOR ALL TABLES')
    assert_unchanged(cluster, pubname, dict(all_tables=True))

    four_steps(cluster, pubname, dict(tables=[dict(name='pubtest_orders')], allow_recreate=True))
    server = state(cluster, pubname)
    assert server['puballtables'] is False and [t['name'] for t in server['tables']] == ['public.pubtest_orders']


def test_tables_in_schema(cluster, pubname):
    res = four_steps(cluster, pubname, dict(tables_in_schema=['pubtest_s1'], tables=[dict(name='pubtest_orders')]))
    assert res['queries'] == ['CREATE PUBLICATION "%s" FOR TABLE "public"."pubtest_orders", TABLES IN SCHEMA "pubtest_s1"'
                              % pubname]
    assert state(cluster, pubname)['schemas'] == ['pubtest_s1']
    published = cluster.query('SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s ORDER BY 1, 2',
                              (pubname,), dbname=DB)
    assert published == [dict(schemaname='public', tablename='pubtest_orders'),
                         dict(schemaname='pubtest_s1', tablename='pubtest_a')]

    res = four_steps(cluster, pubname, dict(tables_in_schema=['PUBTEST_S2']))
    assert res['queries'] == ['ALTER PUBLICATION "%s" DROP TABLES IN SCHEMA "pubtest_s1"' % pubname,
                              'ALTER PUBLICATION "%s" ADD TABLES IN SCHEMA "pubtest_s2"' % pubname]
    server = state(cluster, pubname)
    assert server['schemas'] == ['pubtest_s2']
    assert [t['name'] for t in server['tables']] == ['public.pubtest_orders'], 'tables unset are not managed'

    four_steps(cluster, pubname, dict(tables_in_schema=[]))
    assert state(cluster, pubname)['schemas'] == []
    assert_refused(cluster, pubname, dict(tables_in_schema=['pubtest_nosuchschema']), 'does not exist')


def test_publish_options_and_owner(cluster, pubname):
    res = four_steps(cluster, pubname, dict())
    assert res['queries'] == ['CREATE PUBLICATION "%s"' % pubname]
    server = state(cluster, pubname)
    assert (server['pubinsert'], server['pubupdate'], server['pubdelete'], server['pubtruncate']) == (True, True, True, True)

    res = four_steps(cluster, pubname, dict(publish=['delete', 'insert']))
    assert res['queries'] == ["ALTER PUBLICATION \"%s\" SET (publish = 'insert, delete')" % pubname]
    server = state(cluster, pubname)
    assert (server['pubinsert'], server['pubupdate'], server['pubdelete'], server['pubtruncate']) == (True, False, True, False)

    four_steps(cluster, pubname, dict(publish=[]))
    server = state(cluster, pubname)
    assert not any(server['pub' + op] for op in ('insert', 'update', 'delete', 'truncate'))

    four_steps(cluster, pubname, dict(publish_via_partition_root=True))
    assert state(cluster, pubname)['pubviaroot'] is True

    res = four_steps(cluster, pubname, dict(owner=OWNER))
    assert res['queries'] == ['ALTER PUBLICATION "%s" OWNER TO "%s"' % (pubname, OWNER)]
    assert state(cluster, pubname)['owner'] == OWNER
    assert_refused(cluster, pubname, dict(owner='pubtest_nosuchrole'), "role 'pubtest_nosuchrole' does not exist")


def test_row_filter_on_partitioned_table_follows_via_root(cluster, pubname):
    # PostgreSQL 15 refuses a row filter on a partitioned table unless publish_via_partition_root is true: the
    # scratch publication that normalises the filter is created with the same setting.
    table = dict(name='pubtest_parted', row_filter="region = 'eu'")
    msg = assert_refused(cluster, pubname, dict(tables=[table]), 'publish_via_partition_root')
    assert 'tables[0]' in msg
    four_steps(cluster, pubname, dict(tables=[table], publish_via_partition_root=True))
    assert state(cluster, pubname)['tables'][0]['row_filter'] == "(region = 'eu'::text)"
    assert_unchanged(cluster, pubname, dict(tables=[table]))  # via root unset: the publication's value is used


def test_create_all_tables_with_owner(cluster, pubname):
    res = four_steps(cluster, pubname, dict(all_tables=True, owner=OWNER, publish_via_partition_root=False))
    assert res['queries'] == ['CREATE PUBLICATION "%s" FOR ALL TABLES WITH (publish_via_partition_root = false)' % pubname,
                              'ALTER PUBLICATION "%s" OWNER TO "%s"' % (pubname, OWNER)]
    server = state(cluster, pubname)
    assert server['puballtables'] is True and server['owner'] == OWNER


def test_failed_statement_rolls_back_everything(cluster, pubname):
    # An event trigger refuses the ADD TABLES IN SCHEMA, which the module cannot predict. The DROP TABLE that runs
    # first must be rolled back with it.
    rc, res = run_module(MODULE, args(cluster, name=pubname, tables=[dict(name='pubtest_items'), dict(name='pubtest_orders')]))
    assert rc == 0 and res['changed'], res
    before = state(cluster, pubname)
    cluster.query("CREATE FUNCTION pubtest_refuse() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN "
                  "IF current_query() LIKE '%%ADD TABLES IN SCHEMA%%' THEN RAISE EXCEPTION 'pubtest refuses'; END IF; END$$",
                  dbname=DB)
    cluster.query("CREATE EVENT TRIGGER pubtest_refuse ON ddl_command_end WHEN TAG IN ('ALTER PUBLICATION') "
                  'EXECUTE FUNCTION pubtest_refuse()', dbname=DB)
    try:
        rc, res = run_module(MODULE, args(cluster, name=pubname, tables=[dict(name='pubtest_items')],
                                          tables_in_schema=['pubtest_s1']))
    finally:
        cluster.query('DROP EVENT TRIGGER pubtest_refuse', dbname=DB)
        cluster.query('DROP FUNCTION pubtest_refuse()', dbname=DB)
    assert rc != 0 and 'pubtest refuses' in res['msg'] and 'rolled back' in res['msg'], res
    assert res['queries'] == ['ALTER PUBLICATION "%s" DROP TABLE "public"."pubtest_orders"' % pubname]
    assert state(cluster, pubname) == before


def test_column_list_with_schemas_refused_in_both_modes(cluster, pubname):
    # PostgreSQL 15 refuses column lists in a publication that publishes schemas: check mode must fail as apply does,
    # whether the schemas, the column list or neither is given in this run.
    if cluster.query("SELECT current_setting('server_version_num')::int AS v")[0]['v'] >= 160000:
        pytest.skip('PostgreSQL 16 allows column lists with schemas')
    columns = [dict(name='pubtest_items', columns=['id'])]
    assert_refused(cluster, pubname, dict(tables=columns, tables_in_schema=['pubtest_s1']),
                   'tables[0].columns (public.pubtest_items): PostgreSQL 15 does not allow column lists')
    rc, res = run_module(MODULE, args(cluster, name=pubname, tables=columns))
    assert rc == 0 and res['changed'], res
    assert_refused(cluster, pubname, dict(tables_in_schema=['pubtest_s1']), 'does not allow column lists')
    cluster.query('ALTER PUBLICATION %s SET TABLE pubtest_orders, TABLES IN SCHEMA pubtest_s2' % pubname, dbname=DB)
    assert_refused(cluster, pubname, dict(tables=columns), 'does not allow column lists')
    assert state(cluster, pubname)['schemas'] == ['pubtest_s2']


@pytest.mark.parametrize('module_args, needle', [
    (dict(tables_in_schema=['pg_catalog']), 'pg_catalog is a system schema'),
    (dict(tables_in_schema=['information_schema']), 'information_schema is a system schema'),
    (dict(tables=[dict(name='pubtest_parted', columns=['id'])], publish_via_partition_root=False),
     'a partitioned table cannot have a column list or row filter'),
    (dict(tables=[dict(name='pubtest_parted', row_filter="region = 'eu'")]),
     'WHERE clause cannot be used for a partitioned table'),
], ids=['pg_catalog', 'information_schema', 'partitioned columns', 'partitioned filter'])
def test_server_rules_predicted_in_check_mode(cluster, pubname, module_args, needle):
    """What the server would refuse is refused in both modes, before any statement (the server's own refusal is the
    check: without the module's rule, apply fails with the server's error, check mode reports a change)."""
    assert_refused(cluster, pubname, module_args, needle)


def test_via_root_off_with_filtered_partitioned_table_refused_in_both_modes(cluster, pubname):
    # The tables are not managed in the second run: only the option changes, which the server refuses.
    rc, res = run_module(MODULE, args(cluster, name=pubname, publish_via_partition_root=True,
                                      tables=[dict(name='pubtest_parted', row_filter="region = 'eu'")]))
    assert rc == 0 and res['changed'], res
    assert_refused(cluster, pubname, dict(publish_via_partition_root=False),
                   'a partitioned table cannot have a column list or row filter')
    assert state(cluster, pubname)['pubviaroot'] is True


def test_non_superuser_schemas_refused_in_both_modes(cluster, pubname):
    cluster.query('DROP OWNED BY pubtest_plain', dbname=DB) if cluster.query(
        "SELECT 1 FROM pg_roles WHERE rolname = 'pubtest_plain'") else None
    cluster.query('DROP ROLE IF EXISTS pubtest_plain')
    cluster.query('CREATE ROLE pubtest_plain LOGIN')
    cluster.query('GRANT CREATE ON DATABASE %s TO pubtest_plain' % DB)
    try:
        for module_args, needle in ((dict(tables_in_schema=['pubtest_s1']), 'need superuser'),
                                    (dict(tables=[dict(name='pubtest_items')]), 'does not own it')):
            for check_mode in (True, False):
                rc, res = run_module(MODULE, args(cluster, name=pubname, login_user='pubtest_plain', **module_args),
                                     check_mode=check_mode)
                assert rc != 0 and needle in res['msg'], res
            assert state(cluster, pubname) is None
    finally:
        cluster.query('REVOKE CREATE ON DATABASE %s FROM pubtest_plain' % DB)
        cluster.query('DROP ROLE pubtest_plain')


@pytest.mark.parametrize('name', ["bad'name", 'Upper', 'with space', 'x; DROP TABLE t', 'a' * 64, '', 'x"y', 'ü', 'a-b'])
def test_bad_names_refused_before_touching_server(cluster, name):
    count = publication_count(cluster)
    for check_mode in (True, False):
        rc, res = run_module(MODULE, args(cluster, name=name, tables=[dict(name='pubtest_items')]), check_mode=check_mode)
        assert rc != 0 and res['failed'], res
        assert 'invalid publication name' in res['msg']
    assert publication_count(cluster) == count
    assert cluster.query("SELECT to_regclass('public.pubtest_items') IS NOT NULL AS present", dbname=DB)[0]['present']


@pytest.mark.parametrize('tables, needle', [
    ([dict(name='pubtest_nosuchtable')], "table 'pubtest_nosuchtable' does not exist"),
    ([dict(name='pubtest_items'), dict(name='nosuchschema.pubtest_items')],
     "tables[1]: table 'nosuchschema.pubtest_items' does not exist"),
    ([dict(name='a.b.c.d')], 'invalid table name'),
    ([dict(name='pubtest_view')], 'is not a table'),
    ([dict(name='pubtest_unlogged')], 'cannot be published'),
    ([dict(name='pubtest_items', columns=['nosuchcolumn'])], "column 'nosuchcolumn' does not exist"),
    ([dict(name='pubtest_items', columns=['id', 'ID'])], 'listed twice'),
    ([dict(name='pubtest_items'), dict(name='public.pubtest_items')], 'both name table public.pubtest_items'),
    ([dict(name='pubtest_items', row_filter='nosuchcolumn > 1')], 'the server refused'),
    ([dict(name='pubtest_items', row_filter='WHERE id > 1')], 'without the WHERE keyword'),
    ([dict(name='pubtest_items', row_filter='random() > 0.5')], 'the server refused'),
], ids=['missing table', 'missing schema', 'bad syntax', 'view', 'unlogged', 'missing column', 'duplicate column',
        'duplicate table', 'bad filter', 'WHERE keyword', 'volatile filter'])
def test_bad_tables_refused_with_nothing_created(cluster, pubname, tables, needle):
    assert_refused(cluster, pubname, dict(tables=tables), needle)
    assert state(cluster, pubname) is None
    assert not cluster.query("SELECT 1 FROM pg_publication WHERE pubname LIKE 'pgha\\_scratch\\_%%'", dbname=DB)


def test_bad_table_refused_on_existing_publication(cluster, pubname):
    rc, res = run_module(MODULE, args(cluster, name=pubname, tables=[dict(name='pubtest_items')], publish=['insert']))
    assert rc == 0 and res['changed'], res
    assert_refused(cluster, pubname, dict(tables=[dict(name='pubtest_orders'), dict(name='pubtest_nosuchtable')],
                                          publish=['update']), 'does not exist')
    assert [t['name'] for t in state(cluster, pubname)['tables']] == ['public.pubtest_items']


def test_absent_when_missing_is_no_change(cluster, pubname):
    assert_unchanged(cluster, pubname, dict(state='absent'))
    assert state(cluster, pubname) is None


HOSTILE_FILTERS = [
    'true); commit; drop table public.pubtest_victim; --',
    'true); commit; drop table public.pubtest_victim; select (true',
    'true; commit; drop table public.pubtest_victim',
    "region = E'\\''); commit; drop table public.pubtest_victim; --",
    "region = 'x' /* */); commit; drop table public.pubtest_victim; --",
    "region = $$x$$); commit; drop table public.pubtest_victim; --",
    'true) WITH (publish = \'insert\'',
    'true -- the rest of the statement is swallowed',
]


def victim_present(cluster):
    return cluster.query("SELECT to_regclass('public.pubtest_victim') IS NOT NULL AS present", dbname=DB)[0]['present']


def scratch_publications(cluster):
    return cluster.query("SELECT pubname FROM pg_publication WHERE pubname LIKE 'pgha\\_scratch\\_%%'", dbname=DB)


@pytest.mark.parametrize('row_filter', HOSTILE_FILTERS)
def test_hostile_row_filter_runs_nothing_in_either_mode(cluster, pubname, row_filter):
    """The issue's data loss: a COMMIT in a row filter ended the scratch transaction and the DROP that followed stayed."""
    cluster.query('CREATE TABLE IF NOT EXISTS public.pubtest_victim (id int)', dbname=DB)
    try:
        for check_mode in (True, False):
            rc, res = run_module(MODULE, args(cluster, name=pubname, tables=[
                dict(name='pubtest_orders'), dict(name='pubtest_items', row_filter=row_filter)]), check_mode=check_mode)
            assert victim_present(cluster), 'the hostile row filter dropped a table'
            assert scratch_publications(cluster) == [], 'a scratch publication was committed'
            assert state(cluster, pubname) is None
            assert rc != 0 and res['failed'], res
            assert 'tables[1].row_filter must be one SQL expression' in res['msg'], res['msg']
    finally:
        cluster.query('DROP TABLE IF EXISTS public.pubtest_victim', dbname=DB)


@pytest.mark.parametrize('row_filter', HOSTILE_FILTERS[:3])
def test_scratch_step_runs_one_statement_even_without_the_expression_check(cluster, row_filter):
    """The second barrier on its own: the normalising step is handed the hostile text directly (as if the
    expression check had missed it) and must still run nothing but one statement."""
    cluster.query('CREATE TABLE IF NOT EXISTS public.pubtest_victim (id int)', dbname=DB)
    conn = psycopg2.connect(**cluster.dsn(dbname=DB))
    conn.autocommit = True
    try:
        facts = _publications.read_facts(conn)
        member = _publications._resolve_table(conn, 0, dict(name='pubtest_items', row_filter=row_filter))
        try:
            _publications._normalise_row_filters(conn, [member], False, facts)
            refused = None
        except _publications.PgHaError as exc:
            refused = exc.msg
        assert victim_present(cluster), 'the hostile row filter dropped a table'
        assert scratch_publications(cluster) == [], 'a scratch publication was committed'
        assert refused and 'tables[0].row_filter' in refused and 'the server refused' in refused, refused
    finally:
        conn.close()
        cluster.query('DROP TABLE IF EXISTS public.pubtest_victim', dbname=DB)


@pytest.mark.parametrize('row_filter, deparsed', [
    ("name = 'a;b'", "(name = 'a;b'::text)"),
    ("name = E'it\\'s; --fine'", "(name = 'it''s; --fine'::text)"),
    ("name = $q$ ); commit; $q$", "(name = ' ); commit; '::text)"),
    ('"region" = \'x\' AND (id > 1 OR (id < -1))', "((region = 'x'::text) AND ((id > 1) OR (id < '-1'::integer)))"),
])
def test_semicolons_and_comment_marks_inside_literals_are_accepted_four_steps(cluster, pubname, row_filter, deparsed):
    res = four_steps(cluster, pubname, dict(tables=[dict(name='pubtest_items', row_filter=row_filter)]))
    assert state(cluster, pubname)['tables'][0]['row_filter'] == deparsed
    assert res['publication']['tables'][0]['row_filter'] == deparsed
    assert scratch_publications(cluster) == []


def test_concurrent_identical_runs_converge(cluster, pubname):
    """Five identical runs at once, in lockstep: all succeed, one publication, one run reports the change; the same
    for five drops."""
    module_args = args(cluster, name=pubname, tables=[dict(name='pubtest_items', row_filter='id > 5')])
    results = run_in_lockstep(cluster, MODULE, module_args, runs=5)
    assert all(rc == 0 for rc, res in results), [res.get('msg') for rc, res in results if rc != 0]
    assert publication_count(cluster) == 1 and state(cluster, pubname)['tables'][0]['row_filter'] == '(id > 5)'
    assert sum(1 for rc, res in results if res['changed']) == 1
    assert scratch_publications(cluster) == []

    results = run_in_lockstep(cluster, MODULE, args(cluster, name=pubname, state='absent'), runs=5)
    assert all(rc == 0 for rc, res in results), [res.get('msg') for rc, res in results if rc != 0]
    assert state(cluster, pubname) is None
    assert sum(1 for rc, res in results if res['changed']) == 1


@pytest.mark.parametrize('same', [True, False], ids=['same publication', 'another publication'])
def test_created_by_someone_else_meanwhile_is_reread(cluster, pubname, same):
    """A publication created (not by this collection) between the module's read and its CREATE: the CREATE waits for
    it, fails with a unique violation and is rolled back, the module reads again: success when it is what was asked,
    else a conflict."""
    other = cluster.connect(dbname=DB)
    other.autocommit = False
    outcome = {}
    try:
        other.cursor().execute('CREATE PUBLICATION %s FOR TABLE %s' % (pubname, 'pubtest_items' if same else 'pubtest_orders'))
        runner = threading.Thread(target=lambda: outcome.update(result=run_module(
            MODULE, args(cluster, name=pubname, tables=[dict(name='pubtest_items')]))))
        runner.start()
        time.sleep(3)  # the module's CREATE PUBLICATION now waits for this transaction (unique index)
        other.commit()
        runner.join(60)
    finally:
        other.close()
    rc, res = outcome['result']
    if same:
        assert rc == 0 and res['changed'] is False and res['queries'] == [], res
    else:
        assert rc != 0 and 'was changed by someone else' in res['msg'], res
    assert [t['name'] for t in state(cluster, pubname)['tables']] == ['public.pubtest_items' if same else 'public.pubtest_orders']
