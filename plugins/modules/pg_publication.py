#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_publication
short_description: Create, change or drop PostgreSQL logical replication publications
version_added: 0.1.0
description:
  - Create, change or drop a publication in the database the module connects to (O(login_db)), idempotently.
  - Manages the published tables with their column lists and row filters, the schemas published with
    C(FOR TABLES IN SCHEMA), C(FOR ALL TABLES), the published operations, O(publish_via_partition_root) and the owner.
  - Every option left unset is not managed; for example without O(tables) the publication's table list is
    left as it is.
  - Changes to an existing publication are made with C(ALTER PUBLICATION), all statements of a run in one
    transaction, so a failing statement leaves the publication as it was.
  - A change between C(FOR ALL TABLES) and a list of tables or schemas cannot be made with C(ALTER PUBLICATION).
    The module then fails, names what would be dropped, and only drops and re-creates the publication
    (in one transaction) with O(allow_recreate=true).
author:
  - pgha.replication developers (@pgha)
extends_documentation_fragment:
  - pgha.replication._attributes
  - pgha.replication._attributes.postgresql_group
  - pgha.replication._postgres
options:
  name:
    description:
      - Name of the publication.
      - Lower case letters (a-z), digits and underscores, 1 to 63 bytes - the rule of every name option of the
        collection's SQL modules. Other names, and names starting with V(pgha_scratch_), fail before the server is
        touched.
    type: str
    required: true
    version_added: 0.1.0
  state:
    description:
      - V(present) creates the publication or changes it to match the options that are set.
      - V(absent) drops the publication if it exists. Other options are then ignored.
    type: str
    choices: [present, absent]
    default: present
    version_added: 0.1.0
  tables:
    description:
      - The tables the publication publishes explicitly (C(FOR TABLE)). When set, tables not listed are removed
        from the publication; V([]) removes every explicitly published table.
      - When unset, the publication's table list is not managed.
      - Mutually exclusive with O(all_tables=true). Can be combined with O(tables_in_schema).
      - Each table must exist; a table that does not exist fails the module before anything is changed.
    type: list
    elements: dict
    version_added: 0.1.0
    suboptions:
      name:
        description:
          - Table name, optionally schema-qualified (V(schema.table)), written as in SQL - unquoted names are
            folded to lower case, double quotes keep case and special characters.
          - Resolved by the server with C(to_regclass()), using the O(login_user)'s C(search_path); V(t) and
            V(public.t) name the same table.
          - Only ordinary and partitioned tables that are neither temporary nor unlogged can be published.
        type: str
        required: true
        version_added: 0.1.0
      columns:
        description:
          - Column list (PostgreSQL 15 or later); only these columns are published.
          - Column names are written as in SQL, like O(tables[].name). The order does not matter;
            PostgreSQL keeps the columns in table order.
          - When unset, all columns are published.
        type: list
        elements: str
        version_added: 0.1.0
      row_filter:
        description:
          - Row filter (PostgreSQL 15 or later), a SQL boolean expression without the C(WHERE) keyword,
            for example V(id > 5 AND region = 'eu').
          - The expression is SQL text inserted into the statement, so it must be exactly one expression. Before the
            module connects, it is read as the server reads it - string literals with doubled quotes, V(E'...') with
            backslash escapes, dollar-quoted strings, double-quoted identifiers - and refused, naming the option
            (V(tables[2].row_filter)), when it holds outside quoted text a statement separator V(;), a comment
            (V(--) or V(/* */)), or unbalanced parentheses or brackets, or when a literal is not terminated. A V(;)
            or V(--) inside a literal or a quoted identifier is accepted.
          - The server then parses C(SELECT 1 FROM <table> WHERE (<row_filter>\)) as one statement (without running
            it) before the filter is used, so even text that got past the first check cannot run another statement.
          - The server's own rules for row filters apply (simple expressions on the table's columns, no
            user-defined or volatile functions); they are checked in check mode too.
          - Compared in the form the server deparses it to, so V(id>5) and V((id > 5\)) are the same filter.
          - When unset, all rows are published.
        type: str
        version_added: 0.1.0
  all_tables:
    description:
      - V(true) publishes all tables of the database, including tables created later (C(FOR ALL TABLES)).
      - V(false) requires a publication that is not C(FOR ALL TABLES).
      - When unset, the scope is not managed (O(tables) and O(tables_in_schema) still are when set).
      - V(true) is mutually exclusive with O(tables) and O(tables_in_schema).
      - Switching an existing publication to or from C(FOR ALL TABLES) needs O(allow_recreate=true).
      - Needs superuser.
    type: bool
    version_added: 0.1.0
  tables_in_schema:
    description:
      - Schemas whose tables are all published, including tables created there later
        (C(FOR TABLES IN SCHEMA), PostgreSQL 15 or later). Schemas not listed are removed from the publication.
      - Schema names are written as in SQL - unquoted names are folded to lower case, double quotes are removed - and
        the name must then follow the rule of O(name). The schemas must exist; system schemas (C(pg_catalog),
        C(information_schema), C(pg_toast)) are refused.
      - When unset, the publication's schema list is not managed.
      - PostgreSQL 15 does not allow column lists (O(tables[].columns)) in a publication that publishes schemas;
        the module refuses the combination in both modes, also when one of the two is already on the publication
        and only the other is set in this run.
      - Needs superuser.
    type: list
    elements: str
    version_added: 0.1.0
  publish:
    description:
      - The operations published.
      - When unset, not managed; a new publication then publishes all operations (the server's default).
      - V([]) publishes no operation.
    type: list
    elements: str
    choices: [insert, update, delete, truncate]
    version_added: 0.1.0
  publish_via_partition_root:
    description:
      - Publish changes of partitions as changes of their partitioned table (PostgreSQL 13 or later).
      - When unset, not managed; a new publication then uses V(false) (the server's default).
    type: bool
    version_added: 0.1.0
  owner:
    description:
      - Role that owns the publication, as its name is stored in C(pg_roles); it follows the rule of O(name).
      - When unset, not managed; a new publication is then owned by O(login_user).
      - The role must exist. When O(login_user) is not a superuser, it must be a member of the role, the role must
        have the C(CREATE) privilege on the database, and the owner of a C(FOR ALL TABLES) or C(FOR TABLES IN SCHEMA)
        publication must be a superuser - as the server requires; checked in both modes.
    type: str
    version_added: 0.1.0
  allow_recreate:
    description:
      - Allow dropping and re-creating the publication (in one transaction) when the requested scope cannot be
        reached with C(ALTER PUBLICATION) - from C(FOR ALL TABLES) to a list of tables or schemas, or back.
      - Options left unset (O(publish), O(publish_via_partition_root), O(owner)) keep their values.
      - Subscriptions should run C(ALTER SUBSCRIPTION ... REFRESH PUBLICATION) afterwards.
    type: bool
    default: false
    version_added: 0.1.0
attributes:
  check_mode:
    description:
      - Can run in check mode and predict the same changes, queries and diff as a real run, and fails where the
        real run would fail on the server's rules that can be known in advance (see the notes).
      - To compare row filters, the module creates a scratch publication in a transaction that is always
        rolled back, also in check mode (see the notes).
  diff_mode:
    description: Returns the publication before and after in RV(diff).
notes:
  - Row filters are compared in the server's own normalised form. For every table with a O(tables[].row_filter),
    the module creates a scratch publication with that filter in a transaction that is always rolled back, reads
    back the filter as C(pg_get_expr()) writes it, and compares that with the existing publication's filter read
    the same way. The scratch publication briefly takes a C(SHARE UPDATE EXCLUSIVE) lock on the table, and needs
    the same privileges as the real change (ownership of the table).
  - The scratch statement cannot be made into anything else by the filter text - three barriers, each enough for
    the known attacks - the expression check of O(tables[].row_filter) before the module connects; the
    server parsing the filter as one statement first (PL/pgSQL C(OPEN ... FOR EXECUTE) refuses a text of more than
    one statement before running any of it); and the transaction id compared before the rollback, so that a
    transaction ended by the filter fails the run.
  - Before planning, in both modes, the module refuses what the server would refuse - column lists with schemas on
    PostgreSQL 15, system schemas, a column list or row filter on a partitioned table when
    O(publish_via_partition_root) is false, a publication without the C(CREATE) privilege on the database, C(FOR ALL
    TABLES) or schemas without superuser, a table that O(login_user) does not own, and the O(owner) rules.
  - Concurrent identical runs converge. In apply mode a run takes an advisory lock on the publication's name (in
    its database) before reading it, so a second run waits and finds what the first one made. When the publication
    is created or dropped by someone else between the read and the change (the server reports that it already
    exists, or does not exist), the module reads it again - no change when it is now as asked, otherwise a failure
    saying it was changed concurrently.
  - Creating and changing publications needs the C(CREATE) privilege on the database and ownership of the
    tables; C(FOR ALL TABLES) and C(FOR TABLES IN SCHEMA) need superuser.
  - A publication can only be managed on the primary; the module fails on a standby.
  - PostgreSQL 10 or later. Column lists, row filters and O(tables_in_schema) need PostgreSQL 15,
    O(publish_via_partition_root) PostgreSQL 13, V(truncate) in O(publish) PostgreSQL 11; asking for them on an
    older server fails before anything is changed.
seealso:
  - module: pgha.replication.pg_replication_slot
  - name: CREATE PUBLICATION
    description: PostgreSQL documentation of CREATE PUBLICATION.
    link: https://www.postgresql.org/docs/current/sql-createpublication.html
  - name: ALTER PUBLICATION
    description: PostgreSQL documentation of ALTER PUBLICATION.
    link: https://www.postgresql.org/docs/current/sql-alterpublication.html
'''

EXAMPLES = r'''
- name: Publish two tables, one with a column list and a row filter
  pgha.replication.pg_publication:
    name: app_pub
    login_db: app
    tables:
      - name: public.orders
        columns: [id, customer_id, total, region]
        row_filter: region = 'eu'
      - name: public.customers
    publish: [insert, update, delete]
  become: true
  become_user: postgres

- name: Publish every table of two schemas and one more table
  pgha.replication.pg_publication:
    name: reporting_pub
    login_db: app
    tables_in_schema: [sales, billing]
    tables:
      - name: public.currencies
    publish_via_partition_root: true
  become: true
  become_user: postgres

- name: Switch a table-list publication to FOR ALL TABLES (drops and re-creates it)
  pgha.replication.pg_publication:
    name: app_pub
    login_db: app
    all_tables: true
    allow_recreate: true
  become: true
  become_user: postgres

- name: Drop a publication
  pgha.replication.pg_publication:
    name: old_pub
    login_db: app
    state: absent
  become: true
  become_user: postgres
'''

RETURN = r'''
publication:
  description:
    - The publication after the run (predicted in check mode), or V(null) when it does not exist.
    - Names are written as PostgreSQL's C(quote_ident()) writes them, so they can be given back as options.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the publication.
      type: str
      sample: app_pub
    owner:
      description: Role owning the publication.
      type: str
      sample: postgres
    all_tables:
      description: Whether the publication is C(FOR ALL TABLES).
      type: bool
      sample: false
    tables:
      description: Explicitly published tables, sorted by schema and name.
      type: list
      elements: dict
      contains:
        name:
          description: Schema-qualified table name.
          type: str
          sample: public.orders
        columns:
          description: Published columns in table order, or V(null) when all columns are published.
          type: list
          elements: str
          sample: [id, customer_id, total, region]
        row_filter:
          description: Row filter as the server deparses it, or V(null) when all rows are published.
          type: str
          sample: "(region = 'eu'::text)"
    tables_in_schema:
      description: Schemas whose tables are all published, sorted.
      type: list
      elements: str
      sample: [sales]
    publish:
      description: Published operations, in the order insert, update, delete, truncate.
      type: list
      elements: str
      sample: [insert, update, delete]
    publish_via_partition_root:
      description: Whether partitions are published as their root table; V(null) before PostgreSQL 13.
      type: bool
      sample: false
queries:
  description:
    - The statements run, or that would run in check mode. They run in one transaction (C(BEGIN) and C(COMMIT)
      are not listed).
    - The scratch statements used to normalise row filters are not listed; they are always rolled back.
  returned: always
  type: list
  elements: str
  sample: ['CREATE PUBLICATION "app_pub" FOR TABLE "public"."orders" ("id", "region") WHERE (region = ''eu'')']
diff:
  description: The publication before and after.
  returned: when diff mode is enabled
  type: dict
  contains:
    before:
      description: "The publication before the run, or C({state: absent}) when it did not exist."
      type: dict
      sample: {state: absent}
    after:
      description: "The publication after the run, or C({state: absent}) when it does not exist."
      type: dict
      sample: {state: present, name: app_pub, owner: postgres, all_tables: false, tables_in_schema: [],
               tables: [{name: public.orders, columns: null, row_filter: null}],
               publish: [insert, update, delete, truncate], publish_via_partition_root: false}
'''

import re

from ansible_collections.pgha.replication.plugins.module_utils._converge import converge, lock_object
from ansible_collections.pgha.replication.plugins.module_utils._module import ModuleFrame
from ansible_collections.pgha.replication.plugins.module_utils._postgres import (
    Conflict,
    POSTGRES,
    InvalidInput,
    Unsupported,
    connect,
    sql,
)
from ansible_collections.pgha.replication.plugins.module_utils._publications import (
    MIN_VERSION,
    OPERATIONS,
    SCRATCH_PREFIX,
    _table_key,
    _table_object,
    read_facts,
    read_publication,
    resolve_desired,
)
from ansible_collections.pgha.replication.plugins.module_utils._sql import apply, fixed, show, statement
from ansible_collections.pgha.replication.plugins.module_utils._sql_input import check_expression, validate_name


PUBLIC_KEYS = ('name', 'owner', 'all_tables', 'tables', 'tables_in_schema', 'publish', 'publish_via_partition_root')


# ---------------------------------------------------------------------------------------------------------------
# Input validation (pure)
# ---------------------------------------------------------------------------------------------------------------

def validate_publication_name(name):
    """Raise InvalidInput unless ``name`` follows the collection's name rule and is not a scratch name."""
    validate_name(name, 'name', 'publication name')
    if name.startswith(SCRATCH_PREFIX):
        raise InvalidInput('name: invalid publication name %r: names starting with %s are reserved for the scratch '
                           'publications of the module' % (name, SCRATCH_PREFIX))


def _nonempty_string(value):
    return value is not None and value.strip() != '' and '\x00' not in value


def validate_params(params):
    """Check what the argument spec cannot express. Pure; raises InvalidInput."""
    validate_publication_name(params['name'])
    if params['state'] == 'absent':
        return
    tables = params.get('tables')
    schemas = params.get('tables_in_schema')
    if params.get('all_tables') and (tables is not None or schemas is not None):
        raise InvalidInput('all_tables=true is mutually exclusive with tables and tables_in_schema')
    seen = {}
    for index, entry in enumerate(tables or []):
        label = 'tables[%d]' % index
        if not _nonempty_string(entry.get('name')):
            raise InvalidInput('%s: name must be a non-empty table name' % label)
        key = entry['name'].strip()
        if key in seen:
            raise InvalidInput('%s and tables[%d] both name table %r' % (label, seen[key], key))
        seen[key] = index
        columns = entry.get('columns')
        if columns is not None:
            if not columns:
                raise InvalidInput('%s (%s): columns must not be empty; leave it unset to publish all columns' % (label, key))
            for column in columns:
                if not _nonempty_string(column):
                    raise InvalidInput('%s (%s): column names must be non-empty' % (label, key))
        row_filter = entry.get('row_filter')
        if row_filter is not None:
            if not _nonempty_string(row_filter):
                raise InvalidInput('%s (%s): row_filter must be a non-empty SQL expression; leave it unset to publish '
                                   'all rows' % (label, key))
            if re.match(r'^\s*where\b', row_filter, re.IGNORECASE):
                raise InvalidInput('%s (%s): write row_filter without the WHERE keyword' % (label, key))
            check_expression(row_filter, '%s.row_filter' % label)
    if schemas is not None:
        seen_schemas = set()
        for index, schema in enumerate(schemas):
            folded = validate_name(schema, 'tables_in_schema[%d]' % index, 'schema name', sql_syntax=True)
            if folded in seen_schemas:
                raise InvalidInput('tables_in_schema: schema %r is listed twice' % schema)
            seen_schemas.add(folded)
    if params.get('owner') is not None:
        validate_name(params['owner'], 'owner', 'role name')


def desired_from_params(params):
    """The desired state as given, before names are resolved by the server. Pure."""
    tables = None
    if params.get('tables') is not None:
        tables = [dict(name=t['name'].strip(), columns=t.get('columns'),
                       row_filter=t['row_filter'].strip() if t.get('row_filter') is not None else None)
                  for t in params['tables']]
    publish = None
    if params.get('publish') is not None:
        publish = [op for op in OPERATIONS if op in params['publish']]
    schemas = params.get('tables_in_schema')
    return dict(
        name=params['name'],
        state=params['state'],
        all_tables=params.get('all_tables'),
        tables=tables,
        tables_in_schema=[s.strip() for s in schemas] if schemas is not None else None,
        publish=publish,
        publish_via_partition_root=params.get('publish_via_partition_root'),
        owner=params.get('owner'),
        allow_recreate=bool(params.get('allow_recreate')),
    )


def check_supported(desired, facts):
    """Raise Unsupported when the server lacks a feature the desired state uses. Pure."""
    version = facts['version_num']
    if version < MIN_VERSION['publications']:
        raise Unsupported('publications need PostgreSQL 10 or later (the server runs %s)' % facts.get('version'))
    if desired['state'] == 'absent':
        return
    needs = []
    for table in desired.get('tables') or []:
        if table.get('columns') is not None:
            needs.append(('columns', 'column lists (tables[].columns)'))
        if table.get('row_filter') is not None:
            needs.append(('row_filter', 'row filters (tables[].row_filter)'))
    if desired.get('tables_in_schema'):
        needs.append(('tables_in_schema', 'tables_in_schema'))
    if 'truncate' in (desired.get('publish') or []):
        needs.append(('truncate', 'publish=truncate'))
    if desired.get('publish_via_partition_root') is not None:
        needs.append(('publish_via_partition_root', 'publish_via_partition_root'))
    for feature, label in needs:
        if version < MIN_VERSION[feature]:
            raise Unsupported('%s need PostgreSQL %d or later (the server runs %s)'
                              % (label, MIN_VERSION[feature] // 10000, facts.get('version')))


def _effective(current, desired, key):
    """What the publication will have for ``key`` after the run: the desired value, or the current one when unmanaged."""
    if desired[key] is not None:
        return desired[key]
    if current is None or desired['all_tables'] or needs_recreate(current, desired):
        return [] if key != 'publish_via_partition_root' else None
    return current[key]


def check_server_rules(current, desired, facts):
    """Refuse, before planning and in both modes, what the server would refuse of the resolved desired state.

    Each rule is one the server applies to CREATE/ALTER PUBLICATION and that can be known from the catalogs already
    read, so check mode fails where the real run would. Pure; raises InvalidInput or Unsupported.
    """
    if desired['state'] == 'absent':
        return
    name = desired['name']
    version = facts['version_num']
    tables = _effective(current, desired, 'tables')
    schemas = _effective(current, desired, 'tables_in_schema')
    for schema in desired['tables_in_schema'] or []:
        nspname = schema['nspname']
        if nspname in ('pg_catalog', 'information_schema') or nspname.startswith(('pg_toast', 'pg_temp_')):
            raise InvalidInput('tables_in_schema: %s is a system schema, which the server does not publish' % schema['name'])
    if version < 160000 and schemas:
        for index, member in enumerate(tables):
            if member.get('attnames') is not None:
                raise InvalidInput(
                    'tables[%d].columns (%s): PostgreSQL %d does not allow column lists in a publication that publishes '
                    'schemas (tables_in_schema: %s); remove the column list or the schemas (PostgreSQL 16 allows both)'
                    % (index, member['name'], version // 10000, ', '.join(s['name'] for s in schemas)))
    via_root = desired['publish_via_partition_root']
    if via_root is None:
        via_root = bool(current and current.get('publish_via_partition_root'))  # a re-created publication keeps it
    if not via_root:
        for index, member in enumerate(tables):
            if member.get('relkind') == 'p' and (member.get('attnames') is not None or member.get('row_filter') is not None):
                raise InvalidInput(
                    'tables[%d] (%s): a partitioned table cannot have a column list or row filter when '
                    'publish_via_partition_root is false; set publish_via_partition_root=true, or publish its partitions'
                    % (index, member['name']))
    creates = current is None or needs_recreate(current, desired)
    if creates and not facts.get('superuser') and not facts.get('can_create', True):
        raise Unsupported("publication '%s': role %s has no CREATE privilege on database %s, which CREATE PUBLICATION "
                          "needs" % (name, facts.get('login_role'), facts.get('database')))
    added_schemas = desired['tables_in_schema'] or []
    if current is not None and not creates:
        have = set(s['nspname'] for s in current['tables_in_schema'])
        added_schemas = [s for s in added_schemas if s['nspname'] not in have]
    if not facts.get('superuser', True) and ((creates and desired['all_tables']) or added_schemas):
        raise Unsupported("publication '%s': FOR ALL TABLES and FOR TABLES IN SCHEMA need superuser, and role %s is not"
                          % (name, facts.get('login_role')))
    have_members = dict((_table_key(m), _member_definition(m)) for m in (current or {}).get('tables') or []) \
        if not creates else {}
    for index, member in enumerate(desired['tables'] or []):
        if member.get('owned') is False and have_members.get(_table_key(member)) != _member_definition(member):
            raise Unsupported('tables[%d] (%s): publishing a table needs its ownership, and role %s does not own it'
                              % (index, member['name'], facts.get('login_role')))
    role = desired.get('owner_role')
    if role is not None and not facts.get('superuser', True) and (current is None or desired['owner'] != current['owner']
                                                                  or creates):
        # The server checks these only when the role changing the owner is not a superuser.
        if not role['member']:
            raise Unsupported('owner: role %s must be a member of role %s to give it the publication'
                              % (facts.get('login_role'), desired['owner']))
        if not role['superuser'] and not role['can_create']:
            raise Unsupported('owner: role %s has no CREATE privilege on database %s, which the owner of a publication '
                              'needs' % (desired['owner'], facts.get('database')))
        all_tables = desired['all_tables'] if desired['all_tables'] is not None else bool(current and current['all_tables'])
        if not role['superuser'] and (all_tables or schemas):
            raise Unsupported('owner: the owner of a FOR ALL TABLES or FOR TABLES IN SCHEMA publication must be a '
                              'superuser, and role %s is not' % desired['owner'])


def default_publish(facts):
    """Operations a publication created without the publish option publishes."""
    if facts['version_num'] >= MIN_VERSION['truncate']:
        return list(OPERATIONS)
    return list(OPERATIONS[:3])


# ---------------------------------------------------------------------------------------------------------------
# Planner (pure). Publications and desired states share one shape:
#   tables: [{name (quote_ident form), schema, relname (raw), columns (quote_ident form, table order) or None,
#             attnames (raw) or None, row_filter (as pg_get_expr() writes it) or None}]
#   tables_in_schema: [{name (quote_ident form), nspname (raw)}]
# ---------------------------------------------------------------------------------------------------------------


def _member_definition(member):
    return (member.get('attnames'), member.get('row_filter'))


def _table_list(members):
    return sql.SQL(', ').join(_table_object(m) for m in sorted(members, key=_table_key))


def _schema_list(schemas):
    return sql.SQL(', ').join(sql.Identifier(s['nspname']) for s in sorted(schemas, key=lambda s: s['nspname']))


def _with_options(options):
    items = []
    if options.get('publish') is not None:
        items.append(sql.SQL('publish = {0}').format(sql.Literal(', '.join(options['publish']))))
    if options.get('publish_via_partition_root') is not None:
        items.append(sql.SQL('publish_via_partition_root = {0}').format(
            sql.SQL('true' if options['publish_via_partition_root'] else 'false')))
    return items


def describe_scope(pub):
    """Human-readable scope of a publication (or desired state), for messages. Pure."""
    if pub.get('all_tables'):
        return 'FOR ALL TABLES'
    parts = []
    if pub.get('tables'):
        parts.append('FOR TABLE ' + ', '.join(m['name'] for m in sorted(pub['tables'], key=_table_key)))
    if pub.get('tables_in_schema'):
        schemas = sorted(pub['tables_in_schema'], key=lambda s: s['nspname'])
        parts.append('TABLES IN SCHEMA ' + ', '.join(s['name'] for s in schemas))
    return ', '.join(parts) if parts else 'with no tables'


def needs_recreate(current, desired):
    """Whether reaching ``desired`` needs DROP + CREATE (a change to or from FOR ALL TABLES). Pure."""
    if current['all_tables']:
        return desired['all_tables'] is False or desired['tables'] is not None or desired['tables_in_schema'] is not None
    return desired['all_tables'] is True


def _create(desired, current, facts):
    """CREATE PUBLICATION (+ OWNER TO). ``current`` is the publication being re-created, or None."""
    name = sql.Identifier(desired['name'])
    # Statements carry no %s parameters: values are sql.Literal, names sql.Identifier, so a row filter containing
    # '%' is never taken for a placeholder.
    parts = ['CREATE PUBLICATION ', name]
    if desired['all_tables']:
        parts.append(' FOR ALL TABLES')
    else:
        objects = []
        if desired['tables']:
            objects.append(sql.SQL('TABLE {0}').format(_table_list(desired['tables'])))
        if desired['tables_in_schema']:
            objects.append(sql.SQL('TABLES IN SCHEMA {0}').format(_schema_list(desired['tables_in_schema'])))
        if objects:
            parts.extend([' FOR ', sql.SQL(', ').join(objects)])
    options = dict(publish=desired['publish'], publish_via_partition_root=desired['publish_via_partition_root'])
    if current is not None:
        # Re-created: options left unset keep their values (written only when they differ from the default).
        if options['publish'] is None and current['publish'] != default_publish(facts):
            options['publish'] = current['publish']
        if options['publish_via_partition_root'] is None and current.get('publish_via_partition_root'):
            options['publish_via_partition_root'] = True
    items = _with_options(options)
    if items:
        parts.extend([' WITH (', sql.SQL(', ').join(items), ')'])
    steps = [fixed(*parts)]
    owner = _owner_after(desired, current, facts)
    if owner != facts['login_role']:
        steps.append(sql.SQL('ALTER PUBLICATION {0} OWNER TO {1}').format(name, sql.Identifier(owner)))
    return steps


def _owner_after(desired, current, facts):
    if desired['owner'] is not None:
        return desired['owner']
    if current is not None:
        return current['owner']
    return facts['login_role']


def _alter(current, desired):
    """ALTER PUBLICATION statements, ordered so that PostgreSQL's consistency checks pass at every step:
    removals first, then options, then additions, then the owner."""
    name = sql.Identifier(desired['name'])
    drop_tables, add_tables, drop_schemas, add_schemas = [], [], [], []
    if desired['tables'] is not None:
        have = dict((_table_key(m), m) for m in current['tables'])
        want = dict((_table_key(m), m) for m in desired['tables'])
        drop_tables = [m for key, m in have.items() if key not in want]
        add_tables = [m for key, m in want.items() if key not in have]
        # A member whose column list or row filter changes is dropped and added again in the same transaction:
        # atomic for readers, and it leaves the (possibly unmanaged) schema list alone, which SET TABLE would not.
        changed = [key for key, m in want.items() if key in have and _member_definition(have[key]) != _member_definition(m)]
        drop_tables += [have[key] for key in changed]
        add_tables += [want[key] for key in changed]
    if desired['tables_in_schema'] is not None:
        have = dict((s['nspname'], s) for s in current['tables_in_schema'])
        want = dict((s['nspname'], s) for s in desired['tables_in_schema'])
        drop_schemas = [s for key, s in have.items() if key not in want]
        add_schemas = [s for key, s in want.items() if key not in have]
    options = {}
    if desired['publish'] is not None and desired['publish'] != current['publish']:
        options['publish'] = desired['publish']
    if (desired['publish_via_partition_root'] is not None
            and desired['publish_via_partition_root'] != current['publish_via_partition_root']):
        options['publish_via_partition_root'] = desired['publish_via_partition_root']

    steps = []
    if drop_tables:
        steps.append(sql.SQL('ALTER PUBLICATION {0} DROP TABLE {1}').format(
            name, sql.SQL(', ').join(sql.Identifier(m['schema'], m['relname']) for m in sorted(drop_tables, key=_table_key))))
    if drop_schemas:
        steps.append(sql.SQL('ALTER PUBLICATION {0} DROP TABLES IN SCHEMA {1}').format(name, _schema_list(drop_schemas)))
    if options:
        steps.append(sql.SQL('ALTER PUBLICATION {0} SET ({1})').format(name, sql.SQL(', ').join(_with_options(options))))
    if add_schemas:
        steps.append(sql.SQL('ALTER PUBLICATION {0} ADD TABLES IN SCHEMA {1}').format(name, _schema_list(add_schemas)))
    if add_tables:
        steps.append(sql.SQL('ALTER PUBLICATION {0} ADD TABLE {1}').format(name, _table_list(add_tables)))
    if desired['owner'] is not None and desired['owner'] != current['owner']:
        steps.append(sql.SQL('ALTER PUBLICATION {0} OWNER TO {1}').format(name, sql.Identifier(desired['owner'])))
    return steps


def plan(current, desired, facts):
    """Turn (current publication or None, resolved desired state, server facts) into a list of statements. Pure.

    ``facts`` needs version_num, in_recovery and login_role. Raises Conflict, Unsupported.
    """
    name = desired['name']
    check_supported(desired, facts)
    if desired['state'] == 'absent':
        steps = [] if current is None else [sql.SQL('DROP PUBLICATION IF EXISTS {0}').format(sql.Identifier(name))]
    elif current is None:
        steps = _create(desired, None, facts)
    elif needs_recreate(current, desired):
        target = dict(desired)
        if not desired['all_tables']:
            target['tables'] = desired['tables'] or []
            target['tables_in_schema'] = desired['tables_in_schema'] or []
        if not desired['allow_recreate']:
            raise Conflict(
                "publication '%s' is %s; making it %s cannot be done with ALTER PUBLICATION: it needs DROP PUBLICATION "
                "'%s' (%s) and CREATE PUBLICATION again. Set allow_recreate=true to drop and re-create it in one "
                "transaction (subscribers should then refresh their subscription); nothing was changed"
                % (name, describe_scope(current), describe_scope(target), name, describe_scope(current)))
        steps = [sql.SQL('DROP PUBLICATION {0}').format(sql.Identifier(name))] + _create(desired, current, facts)
    else:
        steps = _alter(current, desired)
    if steps and facts.get('in_recovery'):
        raise Unsupported("publication '%s' cannot be changed on a standby; run the module against the primary" % name)
    return [statement(step) for step in steps]


def predict(current, desired, facts, steps):
    """The publication expected after ``steps`` run (for check mode). Pure."""
    if not steps:
        return current
    if desired['state'] == 'absent':
        return None
    recreated = current is None or needs_recreate(current, desired)
    if recreated:
        base = dict(
            name=desired['name'],
            owner=_owner_after(desired, current, facts),
            all_tables=bool(desired['all_tables']),
            tables=[],
            tables_in_schema=[],
            publish=current['publish'] if current is not None else default_publish(facts),
            publish_via_partition_root=(current['publish_via_partition_root'] if current is not None
                                        else (False if facts['version_num'] >= MIN_VERSION['publish_via_partition_root']
                                              else None)),
        )
    else:
        base = dict(current)
        if desired['owner'] is not None:
            base['owner'] = desired['owner']
    if desired['tables'] is not None:
        base['tables'] = sorted(desired['tables'], key=_table_key)
    if desired['tables_in_schema'] is not None:
        base['tables_in_schema'] = sorted(desired['tables_in_schema'], key=lambda s: s['nspname'])
    if desired['publish'] is not None:
        base['publish'] = list(desired['publish'])
    if desired['publish_via_partition_root'] is not None:
        base['publish_via_partition_root'] = desired['publish_via_partition_root']
    return base


def public_view(pub):
    """The publication as returned to the user (no internal raw names). Pure."""
    if pub is None:
        return None
    view = dict((key, pub.get(key)) for key in PUBLIC_KEYS)
    view['tables'] = [dict(name=m['name'], columns=m.get('columns'), row_filter=m.get('row_filter'))
                      for m in sorted(pub['tables'], key=_table_key)]
    view['tables_in_schema'] = [s['name'] for s in sorted(pub['tables_in_schema'], key=lambda s: s['nspname'])]
    return view


def diff_view(pub):
    """The publication as shown in the diff. Pure."""
    if pub is None:
        return {'state': 'absent'}
    view = {'state': 'present'}
    view.update(public_view(pub))
    return view


# ---------------------------------------------------------------------------------------------------------------
# Run: read and resolve on the server (_publications), plan, apply (_sql)
# ---------------------------------------------------------------------------------------------------------------

def run(module, conn):
    """Read, resolve, plan, apply (unless check mode), re-read. Returns the result dict."""
    desired = desired_from_params(module.params)
    facts = read_facts(conn)
    check_supported(desired, facts)
    if not module.check_mode:
        lock_object(conn, 'publication', desired['name'])
    current = read_publication(conn, desired['name'], facts)
    if desired['state'] == 'present':
        if facts.get('in_recovery'):
            raise Unsupported("publication '%s' cannot be managed on a standby; run the module against the primary"
                              % desired['name'])
        desired = resolve_desired(conn, desired, facts, current)
        check_server_rules(current, desired, facts)
    steps = plan(current, desired, facts)
    if module.check_mode:
        queries = [show(conn, step) for step in steps]
        after = predict(current, desired, facts, steps)
    else:
        def reached(state):
            return not plan(state, desired, facts)
        queries, raced = converge(lambda: apply(conn, steps, transaction=True) if steps else [],
                                  lambda: read_publication(conn, desired['name'], facts), reached,
                                  "publication '%s'" % desired['name'])
        if raced:
            steps, queries = [], []  # someone else made it (or dropped it) as asked: no change by this run
        after = read_publication(conn, desired['name'], facts)
    result = dict(changed=bool(steps), publication=public_view(after), queries=queries)
    if module._diff:
        result['diff'] = dict(before=diff_view(current), after=diff_view(after))
    return result


ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    state=dict(type='str', default='present', choices=['present', 'absent']),
    tables=dict(type='list', elements='dict', options=dict(
        name=dict(type='str', required=True),
        columns=dict(type='list', elements='str'),
        row_filter=dict(type='str'),
    )),
    all_tables=dict(type='bool'),
    tables_in_schema=dict(type='list', elements='str'),
    publish=dict(type='list', elements='str', choices=list(OPERATIONS)),
    publish_via_partition_root=dict(type='bool'),
    owner=dict(type='str'),
    allow_recreate=dict(type='bool', default=False),
)


def main():
    frame = ModuleFrame(ARGUMENT_SPEC, groups=[POSTGRES], validate=validate_params, report=dict(queries=[]))
    frame.run(lambda module: run(module, frame.closing(connect(module.params))))


if __name__ == '__main__':
    main()
