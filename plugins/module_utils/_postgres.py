# -*- coding: utf-8 -*-
# This module_utils is PRIVATE to the pgha.replication collection. It is not a public API:
# it may change or disappear without notice. Do not use it from other collections.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Connection options, connection and query helpers shared by the PostgreSQL modules.

Helpers raise :class:`~._errors.PgHaError` subclasses; only the module frame (``_module``) turns them into
``fail_json``. No message produced here ever contains the login password.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import traceback

from ansible_collections.pgha.replication.plugins.module_utils._errors import (  # pylint: disable=unused-import
    Conflict,
    ConnectionFailed,
    InvalidInput,
    MissingDependency,
    PgHaError,
    QueryFailed,
    Unsupported,
    WaitTimeout,
    mask,
)
from ansible_collections.pgha.replication.plugins.module_utils._module import OptionGroup

PSYCOPG2_IMPORT_ERROR = None
try:
    import psycopg2
    import psycopg2.extensions
    import psycopg2.extras
    from psycopg2 import sql  # pylint: disable=unused-import  # re-exported for the modules
    HAS_PSYCOPG2 = True
except ImportError:
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()
    HAS_PSYCOPG2 = False
    psycopg2 = None
    sql = None

APPLICATION_NAME = 'pgha.replication'
SSL_MODES = ['allow', 'disable', 'prefer', 'require', 'verify-ca', 'verify-full']


# libpq keywords that have an option of their own: connect_params may not set them.
DEDICATED_KEYWORDS = dict(host='login_host', hostaddr='login_host', port='login_port', user='login_user',
                          password='login_password', dbname='login_db', sslmode='ssl_mode', sslrootcert='ca_cert',
                          sslcert='ssl_cert', sslkey='ssl_key', connect_timeout='connect_timeout',
                          application_name='connect_params (application_name is always pgha.replication)')


# Connection options, named as community.postgresql names them; documented by the ``pgha.replication._postgres``
# doc fragment.
POSTGRES = OptionGroup(
    dict(
        login_user=dict(type='str', default='postgres'),
        login_password=dict(type='str', no_log=True),
        login_host=dict(type='str', default=''),
        login_unix_socket=dict(type='str', default=''),
        login_port=dict(type='int', default=5432, aliases=['port']),
        login_db=dict(type='str', default='postgres'),
        connect_timeout=dict(type='int', default=10),
        ssl_mode=dict(type='str', default='prefer', choices=SSL_MODES),
        ca_cert=dict(type='path', aliases=['ssl_rootcert']),
        ssl_cert=dict(type='path'),
        ssl_key=dict(type='path'),
        connect_params=dict(type='dict', default={}),
    ),
    doc_fragment='pgha.replication._postgres',
)


def postgres_argument_spec():
    """Connection options (POSTGRES's argument spec)."""
    return POSTGRES.argument_spec()


scrub = mask  # the name earlier versions of this file used


def connect_kwargs(params):
    """Map module parameters to psycopg2.connect() keyword arguments (pure).

    Raises InvalidInput when connect_params sets a keyword that has an option of its own.
    """
    port = params.get('login_port') or params.get('port') or 5432
    kwargs = dict(
        user=params.get('login_user') or 'postgres',
        dbname=params.get('login_db') or 'postgres',
        port=port,
        connect_timeout=params.get('connect_timeout') if params.get('connect_timeout') is not None else 10,
        sslmode=params.get('ssl_mode') or 'prefer',
        application_name=APPLICATION_NAME,
    )
    # An empty login_host means "unix socket": login_unix_socket, or libpq's compiled-in default directory.
    if params.get('login_host'):
        kwargs['host'] = params['login_host']
    elif params.get('login_unix_socket'):
        kwargs['host'] = params['login_unix_socket']
    if params.get('login_password'):
        kwargs['password'] = params['login_password']
    for option, keyword in (('ca_cert', 'sslrootcert'), ('ssl_cert', 'sslcert'), ('ssl_key', 'sslkey')):
        if params.get(option):
            kwargs[keyword] = params[option]
    extra = params.get('connect_params') or {}
    clashes = sorted(key for key in extra if key in DEDICATED_KEYWORDS)
    if clashes:
        raise InvalidInput('connect_params may not set %s: use %s instead'
                           % (', '.join(clashes), ', '.join(DEDICATED_KEYWORDS[key] for key in clashes)))
    for key, value in extra.items():
        kwargs[key] = value if isinstance(value, (int, float)) and not isinstance(value, bool) else '%s' % (value,)
    return kwargs


def connect(params):
    """Open an autocommit psycopg2 connection from module parameters.

    Raises MissingDependency or ConnectionFailed (never containing the password).
    """
    if not HAS_PSYCOPG2:
        raise MissingDependency('psycopg2 is required', import_error=PSYCOPG2_IMPORT_ERROR)
    kwargs = connect_kwargs(params)
    try:
        conn = psycopg2.connect(**kwargs)
        conn.autocommit = True
    except psycopg2.Error as exc:
        where = kwargs.get('host') or 'the default unix socket'
        raise ConnectionFailed(mask(
            'unable to connect to database %s as %s on %s port %s: %s'
            % (kwargs['dbname'], kwargs['user'], where, kwargs['port'], str(exc).strip()),
            params.get('login_password')))
    return conn


def _query_failed(conn, exc, query):
    text = render(conn, query) if conn is not None else ''
    return QueryFailed('%s (while running: %s)' % (str(exc).strip(), text), pgcode=getattr(exc, 'pgcode', None))


def fetch_all(conn, query, params=None):
    """Run ``query`` (str or psycopg2.sql.Composable) with ``params``; return the rows as a list of plain dicts."""
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(query, params)
            if cur.description is None:
                return []
            return [dict(row) for row in cur.fetchall()]
    except psycopg2.Error as exc:
        raise _query_failed(conn, exc, query)


def fetch_one(conn, query, params=None):
    """Like fetch_all() but return the first row as a dict, or None when there is no row."""
    rows = fetch_all(conn, query, params)
    return rows[0] if rows else None


def execute(conn, query, params=None):
    """Run a statement; return nothing. Raises QueryFailed."""
    fetch_all(conn, query, params)


def render(conn, query, params=None):
    """Render a statement (str or Composable, with its parameters bound) to the SQL text sent to the server.

    Used for the ``queries`` result; do not pass secrets as parameters of statements you render.
    """
    try:
        if params is not None:
            with conn.cursor() as cur:
                text = cur.mogrify(query, params)
            return text.decode(psycopg2.extensions.encodings.get(conn.encoding, 'utf-8'))
        if hasattr(query, 'as_string'):
            return query.as_string(conn)
        return query
    except psycopg2.Error as exc:
        raise QueryFailed('cannot render statement: %s' % str(exc).strip())


def server_facts(conn):
    """Return a dict with version_num (int), version (str), in_recovery (bool) and wal_level (str)."""
    row = fetch_one(conn, "SELECT current_setting('server_version') AS version, pg_is_in_recovery() AS in_recovery, "
                          "current_setting('wal_level') AS wal_level, current_database() AS database")
    row['version_num'] = conn.server_version
    return row
