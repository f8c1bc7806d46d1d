# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure unit tests of pg_publication: input validation, version checks, planner, prediction. No server."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.pgha.replication.plugins.module_utils._postgres import Conflict, InvalidInput, Unsupported
from ansible_collections.pgha.replication.plugins.modules import pg_publication as mod

sql = pytest.importorskip('psycopg2.sql')

PG15 = dict(version_num=150008, version='15.8', in_recovery=False, login_role='postgres')
PG15_STANDBY = dict(PG15, in_recovery=True)
PG14 = dict(version_num=140013, version='14.13', in_recovery=False, login_role='postgres')
PG12 = dict(version_num=120020, version='12.20', in_recovery=False, login_role='postgres')
PG10 = dict(version_num=100023, version='10.23', in_recovery=False, login_role='postgres')
PG96 = dict(version_num=90624, version='9.6.24', in_recovery=False, login_role='postgres')
ALL_OPS = ['insert', 'update', 'delete', 'truncate']


def to_text(part):
    """Render a psycopg2.sql composable without a connection (Identifier always double-quoted, like psycopg2)."""
    if isinstance(part, sql.Composed):
        return ''.join(to_text(p) for p in part)
    if isinstance(part, sql.SQL):
        return part.string
    if isinstance(part, sql.Identifier):
        return '.'.join('"%s"' % s.replace('"', '""') for s in part.strings)
    if isinstance(part, sql.Literal):
        value = part.wrapped
        if isinstance(value, bool):
            return 'true' if value else 'false'
        return "'%s'" % value.replace("'", "''")
    raise AssertionError('unexpected composable %r' % (part,))


def rendered(steps):
    return [to_text(s.query) for s in steps]


def params(**overrides):
    base = dict(name='p1', state='present', tables=None, all_tables=None, tables_in_schema=None, publish=None,
                publish_via_partition_root=None, owner=None, allow_recreate=False, login_db='postgres')
    base.update(overrides)
    return base


def table(name, columns=None, row_filter=None):
    """A resolved member, as read_members()/resolve_desired() produce it (simple names: quote_ident is identity)."""
    schema, relname = name.split('.')
    return dict(name=name, schema=schema, relname=relname, columns=columns, attnames=list(columns) if columns else None,
                row_filter=row_filter)


def schema(name):
    return dict(name=name, nspname=name)


def pub(**overrides):
    base = dict(name='p1', owner='postgres', all_tables=False, tables=[], tables_in_schema=[], publish=list(ALL_OPS),
                publish_via_partition_root=False)
    base.update(overrides)
    return base


def desired(**overrides):
    """A resolved desired state."""
    base = mod.desired_from_params(params())
    base.update(overrides)
    return base


# ------------------------------------------------------------------------------------------------ validation

@pytest.mark.parametrize('name', ['p', 'p1', 'app_pub', '_x', '1pub', 'a' * 63])
def test_valid_names(name):
    mod.validate_publication_name(name)


@pytest.mark.parametrize('name', [
    '', None, 'P', 'AppPub', 'a$b', 'with space', "quo'te", 'dq"x', 'x; DROP TABLE t', 'a-b', 'a.b', 'a' * 64,
    u'\u00fc', 'tab\t', 'new\nline', '$x', 'pgha_scratch_x',
])
def test_invalid_names(name):
    with pytest.raises(InvalidInput, match='invalid publication name|reserved for the scratch'):
        mod.validate_publication_name(name)


@pytest.mark.parametrize('overrides, message', [
    (dict(name='Bad'), 'invalid publication name'),
    (dict(all_tables=True, tables=[dict(name='t')]), 'all_tables=true is mutually exclusive'),
    (dict(all_tables=True, tables_in_schema=['s']), 'all_tables=true is mutually exclusive'),
    (dict(all_tables=True, tables=[]), 'all_tables=true is mutually exclusive'),
    (dict(tables=[dict(name='')]), r'tables\[0\]: name must be a non-empty'),
    (dict(tables=[dict(name='  ')]), r'tables\[0\]: name must be a non-empty'),
    (dict(tables=[dict(name='t'), dict(name='t')]), r"tables\[1\] and tables\[0\] both name table 't'"),
    (dict(tables=[dict(name='t', columns=[])]), 'columns must not be empty'),
    (dict(tables=[dict(name='t', columns=['a', ''])]), 'column names must be non-empty'),
    (dict(tables=[dict(name='t', row_filter='')]), 'row_filter must be a non-empty SQL expression'),
    (dict(tables=[dict(name='t', row_filter='WHERE id > 5')]), 'without the WHERE keyword'),
    (dict(tables=[dict(name='t', row_filter='  where(id > 5)')]), 'without the WHERE keyword'),
    (dict(tables_in_schema=['s', 's']), "schema 's' is listed twice"),
    (dict(tables_in_schema=['']), r'tables_in_schema\[0\]: invalid schema name'),
    (dict(tables_in_schema=['s', 'x;y']), r'tables_in_schema\[1\]: invalid schema name'),
    (dict(tables_in_schema=['"a b"']), r'tables_in_schema\[0\]: invalid schema name'),
    (dict(tables_in_schema=['s', '"S"']), "schema '\"S\"' is listed twice|invalid schema name"),
    (dict(owner=''), 'owner: invalid role name'),
    (dict(owner='app"; drop'), 'owner: invalid role name'),
    (dict(tables=[dict(name='t', row_filter='true); commit; drop table other; --')]), r'tables\[0\]\.row_filter must be one SQL'),
    (dict(tables=[dict(name='t'), dict(name='u', row_filter='a > 1) OR (b < 2')]), r'tables\[1\]\.row_filter must be one SQL'),
])
def test_invalid_params(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        mod.validate_params(params(**overrides))


@pytest.mark.parametrize('overrides', [
    dict(),
    dict(all_tables=True),
    dict(all_tables=False, tables=[dict(name='t')]),
    dict(tables=[dict(name='public.t', columns=['a', 'b'], row_filter='wherever > 1')], tables_in_schema=['s']),
    dict(tables=[], tables_in_schema=[]),
    dict(publish=[], owner='app'),
    dict(state='absent', all_tables=True, tables=[dict(name='t')]),  # other options are ignored with state=absent
])
def test_valid_params(overrides):
    mod.validate_params(params(**overrides))


def test_desired_from_params_orders_publish_and_strips():
    want = mod.desired_from_params(params(publish=['truncate', 'insert', 'insert'],
                                          tables=[dict(name=' public.t ', columns=None, row_filter=' id > 1 ')]))
    assert want['publish'] == ['insert', 'truncate']
    assert want['tables'] == [dict(name='public.t', columns=None, row_filter='id > 1')]
    assert mod.desired_from_params(params())['publish'] is None


@pytest.mark.parametrize('overrides, facts, message', [
    (dict(tables=[dict(name='t', columns=['a'], row_filter=None)]), PG14, 'column lists .* need PostgreSQL 15'),
    (dict(tables=[dict(name='t', columns=None, row_filter='a > 1')]), PG14, 'row filters .* need PostgreSQL 15'),
    (dict(tables_in_schema=['s']), PG14, 'tables_in_schema need PostgreSQL 15'),
    (dict(publish_via_partition_root=True), PG12, 'publish_via_partition_root need PostgreSQL 13'),
    (dict(publish=['truncate']), PG10, 'publish=truncate need PostgreSQL 11'),
    (dict(), PG96, 'publications need PostgreSQL 10'),
    (dict(state='absent'), PG96, 'publications need PostgreSQL 10'),
])
def test_unsupported(overrides, facts, message):
    with pytest.raises(Unsupported, match=message):
        mod.check_supported(desired(**overrides), facts)


@pytest.mark.parametrize('overrides, facts', [
    (dict(tables=[dict(name='t', columns=None, row_filter=None)], tables_in_schema=[]), PG14),
    (dict(publish=['insert']), PG10),
    (dict(publish_via_partition_root=False), PG15),
])
def test_supported(overrides, facts):
    mod.check_supported(desired(**overrides), facts)


# ------------------------------------------------------------------------------------------------ planner

ORDERS = table('public.orders', columns=['id', 'region'], row_filter="(region = 'eu'::text)")
ITEMS = table('public.items')
ITEMS_FILTERED = table('public.items', row_filter='(id > 5)')
ITEMS_FILTERED_10 = table('public.items', row_filter='(id > 10)')
ITEMS_COLS = table('public.items', columns=['id'])
AUDIT = table('audit.log')

PLAN_CASES = [
    # id, current, desired overrides, facts, expected statements
    ('create empty', None, dict(), PG15, ['CREATE PUBLICATION "p1"']),
    ('create for all tables', None, dict(all_tables=True), PG15, ['CREATE PUBLICATION "p1" FOR ALL TABLES']),
    ('create for tables, sorted, with column list and filter', None, dict(tables=[ORDERS, AUDIT, ITEMS]), PG15,
     ['CREATE PUBLICATION "p1" FOR TABLE "audit"."log", "public"."items", '
      '"public"."orders" ("id", "region") WHERE ((region = \'eu\'::text))']),
    ('create for tables in schema', None, dict(tables_in_schema=[schema('sales'), schema('billing')]), PG15,
     ['CREATE PUBLICATION "p1" FOR TABLES IN SCHEMA "billing", "sales"']),
    ('create for tables and schema', None, dict(tables=[ITEMS], tables_in_schema=[schema('sales')]), PG15,
     ['CREATE PUBLICATION "p1" FOR TABLE "public"."items", TABLES IN SCHEMA "sales"']),
    ('create with empty table list', None, dict(tables=[], tables_in_schema=[]), PG15, ['CREATE PUBLICATION "p1"']),
    ('create with options', None, dict(tables=[ITEMS], publish=['insert', 'update'], publish_via_partition_root=True), PG15,
     ['CREATE PUBLICATION "p1" FOR TABLE "public"."items" WITH (publish = \'insert, update\', '
      'publish_via_partition_root = true)']),
    ('create publishing nothing', None, dict(publish=[], publish_via_partition_root=False), PG15,
     ['CREATE PUBLICATION "p1" WITH (publish = \'\', publish_via_partition_root = false)']),
    ('create with owner', None, dict(all_tables=True, owner='app'), PG15,
     ['CREATE PUBLICATION "p1" FOR ALL TABLES', 'ALTER PUBLICATION "p1" OWNER TO "app"']),
    ('create with owner = login role', None, dict(owner='postgres'), PG15, ['CREATE PUBLICATION "p1"']),
    ('exists, nothing managed', pub(tables=[ITEMS]), dict(), PG15, []),
    ('exists, same tables in another order', pub(tables=[AUDIT, ITEMS]), dict(tables=[ITEMS, AUDIT]), PG15, []),
    ('exists, same filter and columns', pub(tables=[ORDERS]), dict(tables=[dict(ORDERS)]), PG15, []),
    ('exists, same options', pub(), dict(publish=list(ALL_OPS), publish_via_partition_root=False, owner='postgres'), PG15, []),
    ('add table', pub(tables=[ITEMS]), dict(tables=[ITEMS, ORDERS]), PG15,
     ['ALTER PUBLICATION "p1" ADD TABLE "public"."orders" ("id", "region") WHERE ((region = \'eu\'::text))']),
    ('drop tables', pub(tables=[AUDIT, ITEMS, ORDERS]), dict(tables=[ITEMS]), PG15,
     ['ALTER PUBLICATION "p1" DROP TABLE "audit"."log", "public"."orders"']),
    ('drop every table', pub(tables=[AUDIT, ITEMS]), dict(tables=[]), PG15,
     ['ALTER PUBLICATION "p1" DROP TABLE "audit"."log", "public"."items"']),
    ('add and drop', pub(tables=[AUDIT]), dict(tables=[ITEMS]), PG15,
     ['ALTER PUBLICATION "p1" DROP TABLE "audit"."log"', 'ALTER PUBLICATION "p1" ADD TABLE "public"."items"']),
    ('filter added', pub(tables=[ITEMS]), dict(tables=[ITEMS_FILTERED]), PG15,
     ['ALTER PUBLICATION "p1" DROP TABLE "public"."items"',
      'ALTER PUBLICATION "p1" ADD TABLE "public"."items" WHERE ((id > 5))']),
    ('filter changed', pub(tables=[ITEMS_FILTERED, AUDIT]), dict(tables=[ITEMS_FILTERED_10, AUDIT]), PG15,
     ['ALTER PUBLICATION "p1" DROP TABLE "public"."items"',
      'ALTER PUBLICATION "p1" ADD TABLE "public"."items" WHERE ((id > 10))']),
    ('filter removed', pub(tables=[ITEMS_FILTERED]), dict(tables=[ITEMS]), PG15,
     ['ALTER PUBLICATION "p1" DROP TABLE "public"."items"', 'ALTER PUBLICATION "p1" ADD TABLE "public"."items"']),
    ('column list changed', pub(tables=[ITEMS_COLS]), dict(tables=[table('public.items', columns=['id', 'name'])]), PG15,
     ['ALTER PUBLICATION "p1" DROP TABLE "public"."items"',
      'ALTER PUBLICATION "p1" ADD TABLE "public"."items" ("id", "name")']),
    ('column list removed', pub(tables=[ITEMS_COLS]), dict(tables=[ITEMS]), PG15,
     ['ALTER PUBLICATION "p1" DROP TABLE "public"."items"', 'ALTER PUBLICATION "p1" ADD TABLE "public"."items"']),
    ('tables unset leaves them; schemas managed', pub(tables=[ITEMS], tables_in_schema=[schema('a'), schema('b')]),
     dict(tables_in_schema=[schema('b'), schema('c')]), PG15,
     ['ALTER PUBLICATION "p1" DROP TABLES IN SCHEMA "a"', 'ALTER PUBLICATION "p1" ADD TABLES IN SCHEMA "c"']),
    ('schemas unset are left alone when a table changes', pub(tables=[ITEMS], tables_in_schema=[schema('a')]),
     dict(tables=[ITEMS_FILTERED]), PG15,
     ['ALTER PUBLICATION "p1" DROP TABLE "public"."items"',
      'ALTER PUBLICATION "p1" ADD TABLE "public"."items" WHERE ((id > 5))']),
    ('drop all schemas', pub(tables_in_schema=[schema('a')]), dict(tables_in_schema=[]), PG15,
     ['ALTER PUBLICATION "p1" DROP TABLES IN SCHEMA "a"']),
    ('publish changed', pub(), dict(publish=['insert']), PG15, ['ALTER PUBLICATION "p1" SET (publish = \'insert\')']),
    ('publish nothing', pub(), dict(publish=[]), PG15, ['ALTER PUBLICATION "p1" SET (publish = \'\')']),
    ('via root changed', pub(), dict(publish_via_partition_root=True), PG15,
     ['ALTER PUBLICATION "p1" SET (publish_via_partition_root = true)']),
    ('both options', pub(publish=['insert']), dict(publish=['insert', 'delete'], publish_via_partition_root=True), PG15,
     ['ALTER PUBLICATION "p1" SET (publish = \'insert, delete\', publish_via_partition_root = true)']),
    ('owner changed', pub(), dict(owner='app'), PG15, ['ALTER PUBLICATION "p1" OWNER TO "app"']),
    ('owner with odd characters is quoted', pub(), dict(owner='App "Owner"'), PG15,
     ['ALTER PUBLICATION "p1" OWNER TO "App ""Owner"""']),
    ('all_tables=false on a table publication', pub(tables=[ITEMS]), dict(all_tables=False), PG15, []),
    ('all_tables=true on an all-tables publication', pub(all_tables=True), dict(all_tables=True), PG15, []),
    ('all-tables publication, options only', pub(all_tables=True), dict(publish=['insert']), PG15,
     ['ALTER PUBLICATION "p1" SET (publish = \'insert\')']),
    ('everything at once, in dependency order',
     pub(tables=[AUDIT, ITEMS], tables_in_schema=[schema('a')], publish=['insert']),
     dict(tables=[ITEMS_FILTERED, ORDERS], tables_in_schema=[schema('b')], publish=['insert', 'update'],
          publish_via_partition_root=True, owner='app'), PG15,
     ['ALTER PUBLICATION "p1" DROP TABLE "audit"."log", "public"."items"',
      'ALTER PUBLICATION "p1" DROP TABLES IN SCHEMA "a"',
      'ALTER PUBLICATION "p1" SET (publish = \'insert, update\', publish_via_partition_root = true)',
      'ALTER PUBLICATION "p1" ADD TABLES IN SCHEMA "b"',
      'ALTER PUBLICATION "p1" ADD TABLE "public"."items" WHERE ((id > 5)), '
      '"public"."orders" ("id", "region") WHERE ((region = \'eu\'::text))',
      'ALTER PUBLICATION "p1" OWNER TO "app"']),
    ('recreate list -> all tables', pub(tables=[ITEMS]), dict(all_tables=True, allow_recreate=True), PG15,
     ['DROP PUBLICATION "p1"', 'CREATE PUBLICATION "p1" FOR ALL TABLES']),
    ('recreate all tables -> list keeps unmanaged options and owner',
     pub(all_tables=True, publish=['insert'], publish_via_partition_root=True, owner='app'),
     dict(tables=[ITEMS], allow_recreate=True), PG15,
     ['DROP PUBLICATION "p1"',
      'CREATE PUBLICATION "p1" FOR TABLE "public"."items" WITH (publish = \'insert\', publish_via_partition_root = true)',
      'ALTER PUBLICATION "p1" OWNER TO "app"']),
    ('recreate all tables -> schemas, options set', pub(all_tables=True, publish=['insert']),
     dict(tables_in_schema=[schema('s')], publish=list(ALL_OPS), allow_recreate=True), PG15,
     ['DROP PUBLICATION "p1"',
      'CREATE PUBLICATION "p1" FOR TABLES IN SCHEMA "s" WITH (publish = \'insert, update, delete, truncate\')']),
    ('recreate all tables -> nothing', pub(all_tables=True), dict(all_tables=False, allow_recreate=True), PG15,
     ['DROP PUBLICATION "p1"', 'CREATE PUBLICATION "p1"']),
    ('allow_recreate without a scope change alters', pub(tables=[ITEMS]), dict(tables=[AUDIT], allow_recreate=True), PG15,
     ['ALTER PUBLICATION "p1" DROP TABLE "public"."items"', 'ALTER PUBLICATION "p1" ADD TABLE "audit"."log"']),
    ('absent, missing', None, dict(state='absent'), PG15, []),
    ('absent, exists', pub(all_tables=True), dict(state='absent'), PG15, ['DROP PUBLICATION IF EXISTS "p1"']),
    ('absent, missing, on a standby', None, dict(state='absent'), PG15_STANDBY, []),
    ('exists, unchanged, on a standby', pub(), dict(), PG15_STANDBY, []),
    ('PG14: tables without filters', None, dict(tables=[ITEMS]), PG14, ['CREATE PUBLICATION "p1" FOR TABLE "public"."items"']),
]


@pytest.mark.parametrize('current, overrides, facts, expected', [c[1:] for c in PLAN_CASES], ids=[c[0] for c in PLAN_CASES])
def test_plan(current, overrides, facts, expected):
    assert rendered(mod.plan(current, desired(**overrides), facts)) == expected


def test_row_filter_is_inserted_as_sql_not_as_a_value():
    # A trusted expression: inserted as SQL text, '%' is not taken for a placeholder, quotes stay as written.
    member = table('public.items', row_filter="(name LIKE 'a%')")
    assert rendered(mod.plan(None, desired(tables=[member]), PG15)) == [
        'CREATE PUBLICATION "p1" FOR TABLE "public"."items" WHERE ((name LIKE \'a%\'))']


REFUSE_CASES = [
    ('list -> all tables', pub(tables=[ITEMS, AUDIT], tables_in_schema=[schema('s')]), dict(all_tables=True), PG15, Conflict,
     r"publication 'p1' is FOR TABLE audit.log, public.items, TABLES IN SCHEMA s; making it FOR ALL TABLES .*"
     r"DROP PUBLICATION 'p1' \(FOR TABLE audit.log, public.items, TABLES IN SCHEMA s\).*Set allow_recreate=true"),
    ('all tables -> list', pub(all_tables=True), dict(tables=[ITEMS]), PG15, Conflict,
     r"publication 'p1' is FOR ALL TABLES; making it FOR TABLE public.items .*allow_recreate=true"),
    ('all tables -> schemas', pub(all_tables=True), dict(tables_in_schema=[schema('s')]), PG15, Conflict,
     r"making it TABLES IN SCHEMA s .*allow_recreate=true"),
    ('all tables -> all_tables=false', pub(all_tables=True), dict(all_tables=False), PG15, Conflict,
     r"making it with no tables .*allow_recreate=true"),
    ('empty -> all tables', pub(), dict(all_tables=True), PG15, Conflict, r"is with no tables; making it FOR ALL TABLES"),
    ('create on a standby', None, dict(), PG15_STANDBY, Unsupported, 'standby'),
    ('alter on a standby', pub(), dict(publish=['insert']), PG15_STANDBY, Unsupported, 'standby'),
    ('drop on a standby', pub(), dict(state='absent'), PG15_STANDBY, Unsupported, 'standby'),
    ('filter on PG14', None, dict(tables=[ITEMS_FILTERED]), PG14, Unsupported, 'PostgreSQL 15'),
]


@pytest.mark.parametrize('current, overrides, facts, exc, message', [c[1:] for c in REFUSE_CASES],
                         ids=[c[0] for c in REFUSE_CASES])
def test_plan_refuses(current, overrides, facts, exc, message):
    with pytest.raises(exc, match=message):
        mod.plan(current, desired(**overrides), facts)


# ------------------------------------------------------------------------------------------------ prediction

PREDICT_CASES = [
    ('create defaults', None, dict(), PG15, pub()),
    ('create defaults on PG12', None, dict(), PG12, pub(publish_via_partition_root=None)),
    ('create defaults on PG10', None, dict(), PG10, pub(publish=['insert', 'update', 'delete'], publish_via_partition_root=None)),
    ('create all, options, owner', None, dict(all_tables=True, publish=['insert'], publish_via_partition_root=True, owner='app'),
     PG15, pub(all_tables=True, publish=['insert'], publish_via_partition_root=True, owner='app')),
    ('create tables sorted', None, dict(tables=[ORDERS, AUDIT], tables_in_schema=[schema('s')]), PG15,
     pub(tables=[AUDIT, ORDERS], tables_in_schema=[schema('s')])),
    ('alter tables and owner', pub(tables=[ITEMS], tables_in_schema=[schema('s')]), dict(tables=[ORDERS], owner='app'), PG15,
     pub(tables=[ORDERS], tables_in_schema=[schema('s')], owner='app')),
    ('alter options', pub(publish=['insert']), dict(publish=['update'], publish_via_partition_root=True), PG15,
     pub(publish=['update'], publish_via_partition_root=True)),
    ('recreate keeps unmanaged', pub(all_tables=True, owner='app', publish=['insert']), dict(tables=[ITEMS], allow_recreate=True),
     PG15, pub(tables=[ITEMS], owner='app', publish=['insert'])),
    ('recreate to all tables', pub(tables=[ITEMS], tables_in_schema=[schema('s')]), dict(all_tables=True, allow_recreate=True),
     PG15, pub(all_tables=True)),
    ('absent', pub(), dict(state='absent'), PG15, None),
]


@pytest.mark.parametrize('current, overrides, facts, expected', [c[1:] for c in PREDICT_CASES],
                         ids=[c[0] for c in PREDICT_CASES])
def test_predict(current, overrides, facts, expected):
    want = desired(**overrides)
    steps = mod.plan(current, want, facts)
    assert steps
    assert mod.diff_view(mod.predict(current, want, facts, steps)) == mod.diff_view(expected)


def test_predict_noop_is_current():
    current = pub(tables=[ITEMS])
    assert mod.predict(current, desired(tables=[ITEMS]), PG15, []) is current


def test_public_view_and_diff_view():
    view = mod.public_view(pub(tables=[ORDERS, AUDIT], tables_in_schema=[schema('s')]))
    assert view == dict(name='p1', owner='postgres', all_tables=False, tables_in_schema=['s'], publish=ALL_OPS,
                        publish_via_partition_root=False,
                        tables=[dict(name='audit.log', columns=None, row_filter=None),
                                dict(name='public.orders', columns=['id', 'region'], row_filter="(region = 'eu'::text)")])
    assert mod.public_view(None) is None
    assert mod.diff_view(None) == {'state': 'absent'}
    assert mod.diff_view(pub())['state'] == 'present'


def test_describe_scope():
    assert mod.describe_scope(pub(all_tables=True)) == 'FOR ALL TABLES'
    assert mod.describe_scope(pub()) == 'with no tables'
    assert mod.describe_scope(pub(tables=[ITEMS, AUDIT], tables_in_schema=[schema('b'), schema('a')])) == \
        'FOR TABLE audit.log, public.items, TABLES IN SCHEMA a, b'


@pytest.mark.parametrize('current, overrides, expected', [
    (pub(all_tables=True), dict(), False),
    (pub(all_tables=True), dict(all_tables=True), False),
    (pub(all_tables=True), dict(all_tables=False), True),
    (pub(all_tables=True), dict(tables=[]), True),
    (pub(all_tables=True), dict(tables_in_schema=[]), True),
    (pub(), dict(all_tables=True), True),
    (pub(), dict(all_tables=False, tables=[ITEMS]), False),
    (pub(), dict(), False),
])
def test_needs_recreate(current, overrides, expected):
    assert mod.needs_recreate(current, desired(**overrides)) is expected


# ------------------------------------------------------------------------------------------------ server rules

SUPER = dict(PG15, superuser=True, can_create=True, database='app')
PLAIN = dict(PG15, superuser=False, can_create=True, database='app')
PG16 = dict(SUPER, version_num=160002, version='16.2')


def member(name, relkind='r', owned=True, **extra):
    value = table(name, **extra)
    value.update(relkind=relkind, owned=owned)
    return value


OWNER_OK = dict(superuser=False, can_create=True, member=True)


@pytest.mark.parametrize('current, overrides, facts, exc, message', [
    (None, dict(tables=[member('public.t', columns=['a'])], tables_in_schema=[schema('s')]), SUPER, InvalidInput,
     r'tables\[0\]\.columns \(public\.t\): PostgreSQL 15 does not allow column lists'),
    # The schemas are not managed in this run, but the publication has one.
    (pub(tables_in_schema=[schema('s')]), dict(tables=[member('public.t', columns=['a'])]), SUPER, InvalidInput,
     'does not allow column lists'),
    # The tables are not managed in this run, but one has a column list.
    (pub(tables=[member('public.t', columns=['a'])]), dict(tables_in_schema=[schema('s')]), SUPER, InvalidInput,
     'does not allow column lists'),
    (None, dict(tables_in_schema=[schema('pg_catalog')]), SUPER, InvalidInput, 'pg_catalog is a system schema'),
    (None, dict(tables_in_schema=[schema('pg_toast')]), SUPER, InvalidInput, 'system schema'),
    (None, dict(tables=[member('public.p', relkind='p', row_filter='(a > 1)')]), SUPER, InvalidInput,
     'a partitioned table cannot have a column list or row filter'),
    (pub(tables=[member('public.p', relkind='p', columns=['a'])], publish_via_partition_root=True),
     dict(publish_via_partition_root=False), SUPER, InvalidInput, 'partitioned table'),
    (None, dict(tables=[member('public.t')]), dict(PLAIN, can_create=False), Unsupported, 'no CREATE privilege on database'),
    (None, dict(all_tables=True), PLAIN, Unsupported, 'need superuser'),
    (pub(), dict(tables_in_schema=[schema('s')]), PLAIN, Unsupported, 'need superuser'),
    (None, dict(tables=[member('public.t', owned=False)]), PLAIN, Unsupported, r'tables\[0\] \(public\.t\): publishing a table needs its ownership'),
    (None, dict(tables=[member('public.t')], owner='o', owner_role=dict(OWNER_OK, member=False)), PLAIN, Unsupported,
     'must be a member of role o'),
    (None, dict(tables=[member('public.t')], owner='o', owner_role=dict(OWNER_OK, can_create=False)), PLAIN, Unsupported,
     'role o has no CREATE privilege'),
    (pub(all_tables=True), dict(owner='o', owner_role=OWNER_OK), PLAIN, Unsupported, 'must be a superuser, and role o'),
    (pub(tables_in_schema=[schema('s')]), dict(owner='o', owner_role=OWNER_OK), PLAIN, Unsupported, 'must be a superuser'),
])
def test_server_rules_refused(current, overrides, facts, exc, message):
    with pytest.raises(exc, match=message):
        mod.check_server_rules(current, desired(**overrides), facts)


@pytest.mark.parametrize('current, overrides, facts', [
    (None, dict(tables=[member('public.t', columns=['a'])], tables_in_schema=[schema('s')]), PG16),
    (None, dict(tables=[member('public.t', columns=['a'])], tables_in_schema=[]), SUPER),
    (pub(tables_in_schema=[schema('s')]), dict(tables_in_schema=[], tables=[member('public.t', columns=['a'])]), SUPER),
    (None, dict(tables=[member('public.p', relkind='p', row_filter='(a > 1)')], publish_via_partition_root=True), SUPER),
    (pub(tables=[member('public.t', owned=False)]), dict(tables=[member('public.t', owned=False)]), PLAIN),  # unchanged
    (pub(tables_in_schema=[schema('s')]), dict(tables_in_schema=[schema('s')]), PLAIN),  # no schema added
    (None, dict(tables=[member('public.t')], owner='o', owner_role=OWNER_OK), PLAIN),
    # A superuser changes the owner without the server's owner checks.
    (pub(all_tables=True), dict(owner='o', owner_role=dict(OWNER_OK, member=False, can_create=False)), SUPER),
    (pub(all_tables=True), dict(state='absent'), PLAIN),
])
def test_server_rules_accepted(current, overrides, facts):
    mod.check_server_rules(current, desired(**overrides), facts)
