# -*- coding: utf-8 -*-
# This module_utils is PRIVATE to the pgha.replication collection. It is not a public API:
# it may change or disappear without notice. Do not use it from other collections.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Publications on the server, for pg_publication: the server facts it needs, a publication read from the catalog in
the planner's shape, and the desired state resolved against the server (tables, columns and schemas looked up, row
filters normalised by the server itself in a scratch publication that is always rolled back).

Publications and desired states share one shape:
  tables: [{name (quote_ident form), schema, relname (raw), columns (quote_ident form, table order) or None,
            attnames (raw) or None, row_filter (as pg_get_expr() writes it) or None}]
  tables_in_schema: [{name (quote_ident form), nspname (raw)}]

Helpers raise :class:`~._errors.PgHaError` subclasses; only the module frame turns them into ``fail_json``.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import binascii
import os

from ansible_collections.pgha.replication.plugins.module_utils._errors import InvalidInput, PgHaError, QueryFailed
from ansible_collections.pgha.replication.plugins.module_utils._postgres import execute, fetch_all, fetch_one, render, server_facts, sql
from ansible_collections.pgha.replication.plugins.module_utils._sql import fixed

OPERATIONS = ('insert', 'update', 'delete', 'truncate')


# Server version (server_version_num) needed by each feature.
MIN_VERSION = dict(
    publications=100000,
    truncate=110000,
    publish_via_partition_root=130000,
    columns=150000,
    row_filter=150000,
    tables_in_schema=150000,
)


def _table_key(member):
    return (member['schema'], member['relname'])


def _table_object(member):
    """``"schema"."table" ("col", ...) WHERE (filter)`` for CREATE/ALTER PUBLICATION.

    The row filter was written by the user (or deparsed by the server from what the user wrote): it is an SQL
    expression, trusted like any SQL the user writes, and is inserted as SQL text, not quoted as a value.
    """
    parts = [sql.Identifier(member['schema'], member['relname'])]
    if member.get('attnames') is not None:
        parts.append(sql.SQL(' ({0})').format(sql.SQL(', ').join(sql.Identifier(a) for a in member['attnames'])))
    if member.get('row_filter') is not None:
        parts.append(sql.SQL(' WHERE ({0})').format(sql.SQL(member['row_filter'])))
    return sql.Composed(parts)


SCRATCH_PREFIX = 'pgha_scratch_'


def read_facts(conn):
    """server_facts() plus the role the module is logged in as (the owner of what it creates)."""
    facts = server_facts(conn)
    facts.update(fetch_one(conn, 'SELECT current_user::text AS login_role, r.rolsuper AS superuser, '
                                 "pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE') AS can_create "
                                 'FROM pg_catalog.pg_roles r WHERE r.rolname = current_user'))
    return facts


def _optional(facts, feature, expression, alias, null_type):
    if facts['version_num'] >= MIN_VERSION[feature]:
        return sql.SQL('{0} AS {1}').format(sql.SQL(expression), sql.Identifier(alias))
    return sql.SQL('NULL::{0} AS {1}').format(sql.SQL(null_type), sql.Identifier(alias))


def read_members(conn, pubnames, facts):
    """Explicitly published tables of the publications named in ``pubnames``: {pubname: [member, ...]}.

    Column lists and row filters are read in the server's own form: attribute names (in table order) for prattrs,
    pg_get_expr() for prqual.
    """
    select = [
        _optional(facts, 'columns',
                  'CASE WHEN pr.prattrs IS NULL THEN NULL ELSE ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a '
                  'WHERE a.attrelid = pr.prrelid AND a.attnum = ANY (pr.prattrs::int2[]) ORDER BY a.attnum) END',
                  'attnames', 'text[]'),
        _optional(facts, 'columns',
                  'CASE WHEN pr.prattrs IS NULL THEN NULL ELSE ARRAY(SELECT pg_catalog.quote_ident(a.attname) '
                  'FROM pg_catalog.pg_attribute a WHERE a.attrelid = pr.prrelid AND a.attnum = ANY (pr.prattrs::int2[]) '
                  'ORDER BY a.attnum) END', 'columns', 'text[]'),
        _optional(facts, 'row_filter', 'pg_catalog.pg_get_expr(pr.prqual, pr.prrelid)', 'row_filter', 'text'),
    ]
    query = sql.SQL(
        'SELECT p.pubname::text AS pubname, n.nspname::text AS schema, c.relname::text AS relname, '
        "pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS name, "
        'c.relkind::text AS relkind, {0} '
        'FROM pg_catalog.pg_publication_rel pr '
        'JOIN pg_catalog.pg_publication p ON p.oid = pr.prpubid '
        'JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid '
        'JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace '
        'WHERE p.pubname = ANY (%s)').format(sql.SQL(', ').join(select))
    members = dict((name, []) for name in pubnames)
    for row in fetch_all(conn, query, (list(pubnames),)):
        members[row.pop('pubname')].append(row)
    for name in members:
        members[name].sort(key=_table_key)
    return members


def read_publication(conn, name, facts):
    """The publication named ``name`` in the connected database, or None."""
    select = [
        _optional(facts, 'truncate', 'p.pubtruncate', 'pubtruncate', 'boolean'),
        _optional(facts, 'publish_via_partition_root', 'p.pubviaroot', 'publish_via_partition_root', 'boolean'),
    ]
    row = fetch_one(conn, sql.SQL(
        'SELECT p.oid, p.pubname::text AS name, pg_catalog.pg_get_userbyid(p.pubowner)::text AS owner, '
        'p.puballtables AS all_tables, p.pubinsert, p.pubupdate, p.pubdelete, {0} '
        'FROM pg_catalog.pg_publication p WHERE p.pubname = %s').format(sql.SQL(', ').join(select)), (name,))
    if row is None:
        return None
    schemas = []
    if facts['version_num'] >= MIN_VERSION['tables_in_schema']:
        schemas = fetch_all(conn, 'SELECT n.nspname::text AS nspname, pg_catalog.quote_ident(n.nspname) AS name '
                                  'FROM pg_catalog.pg_publication_namespace pn '
                                  'JOIN pg_catalog.pg_namespace n ON n.oid = pn.pnnspid WHERE pn.pnpubid = %s',
                            (row['oid'],))
    return dict(
        name=row['name'],
        owner=row['owner'],
        all_tables=row['all_tables'],
        tables=read_members(conn, [name], facts)[name],
        tables_in_schema=sorted(schemas, key=lambda s: s['nspname']),
        publish=[op for op in OPERATIONS if row.get('pub' + op)],
        publish_via_partition_root=row['publish_via_partition_root'],
    )


def _resolve_table(conn, index, entry):
    label = 'tables[%d]' % index
    try:
        row = fetch_one(conn, (
            'SELECT c.oid, n.nspname::text AS schema, c.relname::text AS relname, '
            "pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS name, "
            'c.relkind::text AS relkind, c.relpersistence::text AS persistence, '
            "pg_catalog.pg_has_role(c.relowner, 'USAGE') AS owned "
            'FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace '
            'WHERE c.oid = pg_catalog.to_regclass(%s)'), (entry['name'],))
    except QueryFailed as exc:
        raise InvalidInput('%s: invalid table name %r: %s' % (label, entry['name'], exc.msg))
    if row is None:
        raise InvalidInput("%s: table %r does not exist (looked up with to_regclass() in this database and the "
                           "search_path of login_user); nothing was changed" % (label, entry['name']))
    if row['relkind'] not in ('r', 'p'):
        raise InvalidInput('%s: %s is not a table (relkind %s); only ordinary and partitioned tables can be published'
                           % (label, row['name'], row['relkind']))
    if row['persistence'] != 'p' or row['schema'] in ('pg_catalog', 'information_schema'):
        raise InvalidInput('%s: %s cannot be published (temporary, unlogged and system tables cannot)' % (label, row['name']))
    member = dict(name=row['name'], schema=row['schema'], relname=row['relname'], oid=row['oid'], relkind=row['relkind'],
                  owned=row['owned'], columns=None, attnames=None, row_filter=entry.get('row_filter'))
    if entry.get('columns') is not None:
        found = []
        for column in entry['columns']:
            try:
                parts = fetch_one(conn, 'SELECT pg_catalog.parse_ident(%s) AS parts', (column,))['parts']
            except QueryFailed as exc:
                raise InvalidInput('%s (%s): invalid column name %r: %s' % (label, row['name'], column, exc.msg))
            if len(parts) != 1:
                raise InvalidInput('%s (%s): column name %r must be a single name' % (label, row['name'], column))
            attribute = fetch_one(conn, (
                'SELECT a.attnum, a.attname::text AS attname, pg_catalog.quote_ident(a.attname) AS name, '
                'a.attgenerated::text AS generated FROM pg_catalog.pg_attribute a '
                'WHERE a.attrelid = %s AND a.attname = %s AND a.attnum > 0 AND NOT a.attisdropped'), (row['oid'], parts[0]))
            if attribute is None:
                raise InvalidInput('%s (%s): column %r does not exist' % (label, row['name'], column))
            if attribute['generated']:
                raise InvalidInput('%s (%s): generated column %s cannot be published' % (label, row['name'], attribute['name']))
            if any(a['attnum'] == attribute['attnum'] for a in found):
                raise InvalidInput('%s (%s): column %s is listed twice' % (label, row['name'], attribute['name']))
            found.append(attribute)
        found.sort(key=lambda a: a['attnum'])
        member['attnames'] = [a['attname'] for a in found]
        member['columns'] = [a['name'] for a in found]
    return member


def _parse_as_one_statement(conn, index, member):
    """Have the server parse ``SELECT 1 FROM <table> WHERE (<row filter>)`` as ONE statement, without running it.

    The statement text travels as a string literal to PL/pgSQL's ``OPEN ... FOR EXECUTE``, which refuses a text that
    parses into more than one statement ("cannot open multi-query plan as cursor") before executing any of it, and
    only plans the one it accepts (no row is fetched). The row filter is then inserted into CREATE PUBLICATION
    after the same ``WHERE (`` and lexed the same way, so that statement is one statement too. This holds even if
    check_expression() missed something; it is the second of the three barriers (see _normalise_row_filters).
    """
    query = sql.SQL('SELECT 1 FROM {0} WHERE ({1})').format(
        sql.Identifier(member['schema'], member['relname']), sql.SQL(member['row_filter']))
    body = sql.SQL('DECLARE c refcursor; BEGIN OPEN c FOR EXECUTE {0}; CLOSE c; END').format(
        sql.Literal(render(conn, query)))
    try:
        execute(conn, sql.SQL('DO {0}').format(sql.Literal(render(conn, body))))
    except QueryFailed as exc:
        raise InvalidInput('tables[%d].row_filter (%s): the server refused %r as a row filter: %s; nothing was changed'
                           % (index, member['name'], member['row_filter'], exc.msg.split(' (while running:')[0]))


def _transaction_id(conn):
    return fetch_one(conn, 'SELECT pg_catalog.txid_current()::text AS xid')['xid']


def _normalise_row_filters(conn, members, via_root, facts):
    """Replace each member's row filter with the server's own deparsed form of it.

    Comparing filter texts (even with quotes or spaces stripped) cannot tell ``id>5`` from ``(id > 5)`` reliably.
    Instead, in a transaction that is ALWAYS rolled back, a scratch publication is created per filtered table with
    the desired column list and row filter, and the filter is read back with pg_get_expr() - exactly as the
    existing publication's filter is read (read_members) - so deparsed is compared with deparsed. The scratch
    publications never become visible to anyone, and nothing of them survives the rollback.

    The filter is user text inserted into the scratch statement, so three barriers keep that statement from being
    anything else (a COMMIT in the text would end the scratch transaction, and what follows it would stay):
    check_expression() refused separators, comments and unbalanced parentheses before the module connected; the
    server parsed each filter as one statement first (_parse_as_one_statement); and the transaction id is compared
    before the rollback, so a transaction that ended anyway fails the run.
    """
    filtered = [(index, m) for index, m in enumerate(members) if m['row_filter'] is not None]
    if not filtered:
        return
    token = binascii.hexlify(os.urandom(6)).decode('ascii')
    names = {}
    execute(conn, 'BEGIN')
    try:
        xid = _transaction_id(conn)
        for index, member in filtered:
            _parse_as_one_statement(conn, index, member)
            scratch = '%s%s_%d' % (SCRATCH_PREFIX, token, index)
            names[index] = scratch
            create = sql.SQL('CREATE PUBLICATION {0} FOR TABLE {1}').format(sql.Identifier(scratch), _table_object(member))
            if facts['version_num'] >= MIN_VERSION['publish_via_partition_root']:
                create = fixed(create, sql.SQL(' WITH (publish_via_partition_root = {0})').format(
                    sql.SQL('true' if via_root else 'false')))
            try:
                execute(conn, create)
            except QueryFailed as exc:
                raise InvalidInput('tables[%d] (%s): the server refused the column list or row filter %r: %s'
                                   % (index, member['name'], member['row_filter'], exc.msg))
        read = read_members(conn, list(names.values()), facts)
        if _transaction_id(conn) != xid:
            raise QueryFailed('the transaction used to normalise row filters ended before its rollback: a row filter '
                              'ran as more than one statement; check the server for changes')
    finally:
        try:
            execute(conn, 'ROLLBACK')
        except PgHaError:
            pass
    for index, member in filtered:
        rows = read[names[index]]
        if len(rows) != 1:
            raise QueryFailed('could not read back the row filter of %s' % member['name'])
        member['row_filter'] = rows[0]['row_filter']


def resolve_desired(conn, desired, facts, current):
    """The desired state with every name resolved, and column lists and row filters normalised, by the server.

    Raises InvalidInput for tables, columns, schemas or roles that do not exist; nothing is changed.
    """
    resolved = dict(desired)
    if desired['tables'] is not None:
        members = []
        seen = {}
        for index, entry in enumerate(desired['tables']):
            member = _resolve_table(conn, index, entry)
            key = _table_key(member)
            if key in seen:
                raise InvalidInput('tables[%d] and tables[%d] both name table %s' % (seen[key], index, member['name']))
            seen[key] = index
            members.append(member)
        via_root = desired['publish_via_partition_root']
        if via_root is None:
            via_root = bool(current and current.get('publish_via_partition_root'))
        _normalise_row_filters(conn, members, via_root, facts)
        for member in members:
            member.pop('oid')
        resolved['tables'] = sorted(members, key=_table_key)
    if desired['tables_in_schema'] is not None:
        schemas = []
        for schema in desired['tables_in_schema']:
            try:
                row = fetch_one(conn, 'SELECT n.nspname::text AS nspname, pg_catalog.quote_ident(n.nspname) AS name '
                                      'FROM pg_catalog.pg_namespace n WHERE n.oid = pg_catalog.to_regnamespace(%s)', (schema,))
            except QueryFailed as exc:
                raise InvalidInput('tables_in_schema: invalid schema name %r: %s' % (schema, exc.msg))
            if row is None:
                raise InvalidInput('tables_in_schema: schema %r does not exist; nothing was changed' % schema)
            if any(s['nspname'] == row['nspname'] for s in schemas):
                raise InvalidInput('tables_in_schema: schema %s is listed twice' % row['name'])
            schemas.append(row)
        resolved['tables_in_schema'] = sorted(schemas, key=lambda s: s['nspname'])
    if desired['owner'] is not None:
        role = fetch_one(conn, 'SELECT r.rolsuper AS superuser, '
                               "pg_catalog.has_database_privilege(r.oid, pg_catalog.current_database(), 'CREATE') AS can_create, "
                               "pg_catalog.pg_has_role(r.oid, 'MEMBER') AS member "
                               'FROM pg_catalog.pg_roles r WHERE r.rolname = %s', (desired['owner'],))
        if role is None:
            raise InvalidInput('owner: role %r does not exist' % desired['owner'])
        resolved['owner_role'] = role
    return resolved
