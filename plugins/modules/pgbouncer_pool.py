#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pgbouncer_pool
short_description: Manage one PgBouncer database entry, and pause or resume it
version_added: 0.1.0
description:
  - Add, replace or remove one entry of the C([databases]) section of a PgBouncer configuration file, then
    C(RELOAD) PgBouncer through its admin console and read the running entry back with C(SHOW DATABASES).
  - Pause or resume one database through the admin console (C(PAUSE) and C(RESUME)).
  - The entry is written whole - it holds exactly the options given to the module. An option left unset is
    not present in the line, so PgBouncer uses its own default (for example C(default_pool_size) for
    O(pool_size)); it is not kept from the current line.
  - Every other line of the file (other entries, other sections, comments, blank lines) is kept byte for byte.
    The file is replaced atomically and keeps its mode and owner.
author:
  - pgha.replication developers (@pgha)
extends_documentation_fragment:
  - pgha.replication._attributes
  - pgha.replication._attributes.pgbouncer_group
  - pgha.replication._pgbouncer
options:
  name:
    description:
      - The database name clients connect to through PgBouncer (the key of the C([databases]) entry).
      - ASCII letters, digits and underscores only, at most 63 characters; V(pgbouncer) (the admin console) is
        refused. PgBouncer accepts other names in double quotes in its file, but its admin console does not
        accept every quoted name in C(PAUSE) and C(RESUME), so such names fail before anything is touched.
      - The fallback entry C(*) is not managed by this module.
    type: str
    required: true
    version_added: 0.1.0
  state:
    description:
      - V(present) writes the entry (when it differs) and reloads PgBouncer.
      - V(absent) removes the entry (when it exists) and reloads PgBouncer, which disconnects the database's
        clients.
      - V(paused) sends C(PAUSE) for the database unless it is already paused, and waits up to O(wait_timeout)
        seconds for PgBouncer to release the database's server connections.
      - V(resumed) sends C(RESUME) for the database unless it is not paused.
      - V(paused) and V(resumed) do not read or write O(config_file); the database must be known to the running
        PgBouncer.
    type: str
    choices: [present, absent, paused, resumed]
    default: present
    version_added: 0.1.0
  config_file:
    description:
      - The PgBouncer configuration file holding the C([databases]) section.
      - When the main configuration file pulls the C([databases]) section from another file with C(%include),
        point O(config_file) at that other file.
      - The entry is edited in place when it exists. A new entry is added after the last entry of the last
        C([databases]) section; a file without that section gets one at its end.
      - Several entries for O(name) are replaced by one, at the place of the first.
    type: path
    default: /etc/pgbouncer/pgbouncer.ini
    version_added: 0.1.0
  reload:
    description:
      - With O(state=present) or O(state=absent), reload PgBouncer through its admin console and check the
        running entry against the request.
      - PgBouncer is reloaded when the file changed, or when the running entry differs from the file (a change
        written earlier and never reloaded).
      - When V(false), only the file is edited and the admin console is not used (for example before PgBouncer's
        first start); RV(database) is then V(null).
    type: bool
    default: true
    version_added: 0.1.0
  wait_timeout:
    description:
      - Seconds to wait for C(PAUSE) to complete with O(state=paused), and bound on every other admin command.
      - C(PAUSE) completes once every server connection of the database is released; in C(session) pool mode a
        connected client holds its server connection until it disconnects.
      - When C(PAUSE) does not complete in time, the module sends C(RESUME), so that clients are not left
        blocked, and fails.
      - Not used in check mode.
    type: int
    default: 30
    version_added: 0.1.0
  dbname:
    description:
      - C(dbname=) - the database to connect to on the server. PgBouncer's default is O(name).
      - Only valid with O(state=present), like every entry option below.
    type: str
    version_added: 0.1.0
  host:
    description:
      - C(host=) - the server's host name, IP address, comma-separated list, or unix socket directory
        (starting with V(/)). PgBouncer's default is its unix socket directory.
    type: str
    version_added: 0.1.0
  port:
    description:
      - C(port=) - the server's port. PgBouncer's default is V(5432).
      - PgBouncer's own port, used to reach its admin console, is O(login_port).
    type: int
    version_added: 0.1.0
  user:
    description:
      - C(user=) - connect to the server as this user whoever the client is (one pool for the database).
      - PgBouncer 1.18 does not drop a forced user on reload - removing O(user) from an entry needs a PgBouncer
        restart, reported by RV(restart_required).
    type: str
    version_added: 0.1.0
  password:
    description:
      - C(password=) - password of O(user) on the server. Without it PgBouncer uses C(auth_file) or C(auth_query).
      - Stored in clear text in O(config_file), like any password in PgBouncer's configuration; protect the file.
      - Never shown in results, diffs or error messages, where it is replaced by C(********).
    type: str
    version_added: 0.1.0
  auth_user:
    description:
      - C(auth_user=) - overrides PgBouncer's global C(auth_user) for this database.
    type: str
    version_added: 0.1.0
  pool_mode:
    description:
      - C(pool_mode=) - pool mode of this database. PgBouncer's default is its global C(pool_mode).
    type: str
    choices: [session, transaction, statement]
    version_added: 0.1.0
  pool_size:
    description:
      - C(pool_size=) - maximum size of the pools of this database (0 or more). PgBouncer's default is its
        C(default_pool_size).
    type: int
    version_added: 0.1.0
  min_pool_size:
    description:
      - C(min_pool_size=) - minimum pool size (0 or more). PgBouncer's default is its global C(min_pool_size).
    type: int
    version_added: 0.1.0
  reserve_pool:
    description:
      - C(reserve_pool=) - additional connections for this database (0 or more). PgBouncer's default is its
        C(reserve_pool_size).
    type: int
    version_added: 0.1.0
  max_db_connections:
    description:
      - C(max_db_connections=) - maximum server connections of all pools of this database together (0 or more,
        0 meaning no limit). PgBouncer's default is its global C(max_db_connections).
    type: int
    version_added: 0.1.0
  connect_query:
    description:
      - C(connect_query=) - query run on each new server connection before it is used by clients.
    type: str
    version_added: 0.1.0
  client_encoding:
    description:
      - C(client_encoding=) - C(client_encoding) asked from the server.
    type: str
    version_added: 0.1.0
  datestyle:
    description:
      - C(datestyle=) - C(DateStyle) asked from the server.
    type: str
    version_added: 0.1.0
  timezone:
    description:
      - C(timezone=) - C(TimeZone) asked from the server.
    type: str
    version_added: 0.1.0
attributes:
  check_mode:
    description:
      - Can run in check mode and predicts the same changes, queries and diff as a real run.
      - In check mode the file is not written and the only admin command sent is the read-only C(SHOW DATABASES).
  diff_mode:
    description: Returns the entry line before and after in RV(diff), password masked.
notes:
  - Values are written in PgBouncer's connection string syntax, C(key=value) separated by spaces, values quoted
    with single quotes (a quote doubled) when they hold anything but letters, digits and C(_.,:/@+-). Values
    must not be empty nor hold control characters (newlines, tabs...); such values fail before anything changes.
  - What PgBouncer 1.18 does on C(RELOAD) with a changed entry, as measured for this module - every setting the
    module manages is applied on reload, except the removal of O(user) (the forced user is kept until restart).
    A change of O(dbname), O(host), O(port), O(user) or O(connect_query) marks the database's server connections
    to be closed once released, so clients inside a session or transaction keep the old server until then.
    O(client_encoding), O(datestyle) and O(timezone) apply to new server connections only.
  - After a reload the module compares C(SHOW DATABASES) with the request (database, host, port, forced user, pool
    mode and sizes, maximum connections) and fails when they differ - for example when PgBouncer refused the
    file (its log names the faulty line).
  - O(state=paused) is reached as soon as PgBouncer marks the database paused; its C(paused) column shows V(1)
    from the moment C(PAUSE) is sent, before the server connections are released.
seealso:
  - name: PgBouncer configuration
    description: The C([databases]) section of pgbouncer.ini.
    link: https://www.pgbouncer.org/config.html#section-databases
  - name: PgBouncer admin console
    description: SHOW DATABASES, RELOAD, PAUSE and RESUME.
    link: https://www.pgbouncer.org/usage.html#admin-console
'''

EXAMPLES = r'''
- name: Route the app database through PgBouncer in transaction mode
  pgha.replication.pgbouncer_pool:
    name: app
    host: 10.0.0.11
    port: 5432
    dbname: app
    pool_mode: transaction
    pool_size: 20
  become: true
  become_user: postgres

- name: Point app at the new primary during a switchover
  pgha.replication.pgbouncer_pool:
    name: app
    host: 10.0.0.12
    port: 5432
    dbname: app
    pool_mode: transaction
    pool_size: 20
  become: true
  become_user: postgres

- name: Pause app before the switchover
  pgha.replication.pgbouncer_pool:
    name: app
    state: paused
    wait_timeout: 60
  become: true
  become_user: postgres

- name: Resume app
  pgha.replication.pgbouncer_pool:
    name: app
    state: resumed
  become: true
  become_user: postgres

- name: Remove an entry, connecting to the admin console over TCP
  pgha.replication.pgbouncer_pool:
    name: legacy
    state: absent
    login_host: 127.0.0.1
    login_user: pgbouncer_admin
    login_password: "{{ pgbouncer_admin_password }}"
  become: true
'''

RETURN = r'''
database:
  description:
    - The database's row of C(SHOW DATABASES) after the run, or V(null) when PgBouncer has no such database.
    - In check mode, the row as it is before the run. V(null) with O(reload=false).
  returned: always
  type: dict
  contains:
    name:
      description: The database name clients use.
      type: str
      sample: app
    host:
      description: Server host, or V(null) for PgBouncer's unix socket directory.
      type: str
      sample: 10.0.0.11
    port:
      description: Server port.
      type: int
      sample: 5432
    database:
      description: Database name on the server.
      type: str
      sample: app
    force_user:
      description: The forced user, or V(null).
      type: str
      sample: null
    pool_size:
      description: Maximum pool size in effect.
      type: int
      sample: 20
    min_pool_size:
      description: Minimum pool size in effect.
      type: int
      sample: 0
    reserve_pool:
      description: Reserve pool size in effect.
      type: int
      sample: 0
    pool_mode:
      description: The database's pool mode, or V(null) when it uses PgBouncer's global C(pool_mode).
      type: str
      sample: transaction
    max_connections:
      description: Maximum server connections of the database (0 is no limit).
      type: int
      sample: 0
    current_connections:
      description: Current server connections of the database.
      type: int
      sample: 2
    paused:
      description: V(1) when the database is paused, else V(0).
      type: int
      sample: 0
    disabled:
      description: V(1) when the database is disabled, else V(0).
      type: int
      sample: 0
entry:
  description: The entry line in O(config_file) after the run (predicted in check mode), password masked; empty when there is none.
  returned: when O(state=present) or O(state=absent)
  type: str
  sample: app = dbname=app host=10.0.0.11 port=5432 pool_mode=transaction pool_size=20
queries:
  description: The admin console commands run, or that would run in check mode. C(SHOW) commands are not listed.
  returned: always
  type: list
  elements: str
  sample: [RELOAD]
restart_required:
  description:
    - Whether PgBouncer must be restarted for the running database to match the entry, because the change is one
      that PgBouncer does not apply on reload (the removal of O(user)).
  returned: always
  type: bool
  sample: false
restart_reason:
  description: Why a restart is required; V(null) when none is.
  returned: always
  type: str
  sample: null
diff:
  description: The entry line before and after (password masked), empty when there is none.
  returned: when diff mode is enabled and O(state=present) or O(state=absent)
  type: dict
  contains:
    before:
      description: The entry line before the run.
      type: str
      sample: ''
    after:
      description: The entry line after the run.
      type: str
      sample: app = dbname=app host=10.0.0.11 port=5432 pool_mode=transaction pool_size=20
'''

import os
import re
import tempfile

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.pgha.replication.plugins.module_utils._module import ModuleFrame
from ansible_collections.pgha.replication.plugins.module_utils._pgbouncer import (
    CONSOLE_NAME_RE,
    MASK,
    PGBOUNCER_CONSOLE,
    AdminConsole,
    ConfigFileError,
    console_command,
    mask_line,
    plan_databases_edit,
    render_entry,
    split_lines,
)
from ansible_collections.pgha.replication.plugins.module_utils._postgres import (
    Conflict,
    InvalidInput,
    QueryFailed,
    WaitTimeout,
)

# Database names: letters, digits, underscores. PgBouncer reads such a name unquoted in its file, and
# its admin console takes it as the argument of PAUSE/RESUME. The console has no parameters and does
# not accept quoted identifiers in every version, so the name is validated strictly instead of quoted:
# a valid name can be put in a command as it is.
NAME_RE = CONSOLE_NAME_RE
RESERVED_NAMES = ('pgbouncer',)
# Control characters (newlines included) would break the ini line or the connection string.
CONTROL_RE = re.compile(u'[\u0000-\u001f\u007f]')

# The entry's options, in the order they are written.
ENTRY_OPTIONS = ('dbname', 'host', 'port', 'user', 'password', 'auth_user', 'pool_mode', 'pool_size', 'min_pool_size',
                 'reserve_pool', 'max_db_connections', 'connect_query', 'client_encoding', 'datestyle', 'timezone')
INT_OPTIONS = ('port', 'pool_size', 'min_pool_size', 'reserve_pool', 'max_db_connections')
STR_OPTIONS = tuple(o for o in ENTRY_OPTIONS if o not in INT_OPTIONS)
# Entry option -> SHOW DATABASES column, compared after a reload.
RUNNING_COLUMNS = (('dbname', 'database'), ('host', 'host'), ('port', 'port'), ('user', 'force_user'),
                   ('pool_mode', 'pool_mode'), ('pool_size', 'pool_size'), ('min_pool_size', 'min_pool_size'),
                   ('reserve_pool', 'reserve_pool'), ('max_db_connections', 'max_connections'))
NOT_PAUSED = 'is not paused'


def validate_params(params):
    """Check values and option combinations the argument spec cannot express. Pure; raises InvalidInput."""
    name = params['name']
    if name is None or not NAME_RE.match(name):
        raise InvalidInput('invalid name %r: use only ASCII letters, digits and underscores, 1 to 63 characters' % (name,))
    if name in RESERVED_NAMES:
        raise InvalidInput("name '%s' is reserved by PgBouncer for its admin console" % name)
    given = [option for option in ENTRY_OPTIONS if params.get(option) is not None]
    if params['state'] != 'present' and given:
        raise InvalidInput('%s only valid with state=present (state=%s)'
                           % (', '.join(given) + (' is' if len(given) == 1 else ' are'), params['state']))
    for option in STR_OPTIONS:
        value = params.get(option)
        if value is None:
            continue
        shown = MASK if option == 'password' else repr(value)
        if value == '':
            raise InvalidInput('%s must not be empty (PgBouncer refuses empty values); leave it unset for the default' % option)
        if CONTROL_RE.search(value):
            raise InvalidInput('%s %s holds a control character (newline, tab...), which cannot be written in a '
                               'PgBouncer entry' % (option, shown))
    for option in INT_OPTIONS:
        value = params.get(option)
        if value is None:
            continue
        if option == 'port' and not 1 <= value <= 65535:
            raise InvalidInput('port must be between 1 and 65535, not %d' % value)
        if value < 0:
            raise InvalidInput('%s must be 0 or more, not %d' % (option, value))
    if params.get('wait_timeout') is not None and params['wait_timeout'] < 1:
        raise InvalidInput('wait_timeout must be 1 or more')


def desired_options(params):
    """The entry's options as (key, text) pairs in writing order; unset options are left out. Pure."""
    return [(option, '%s' % params[option]) for option in ENTRY_OPTIONS if params.get(option) is not None]


def running_differences(name, options, row):
    """Compare a SHOW DATABASES row with the entry's options. Pure.

    Returns (mismatches, restart_reason): mismatches lists 'column: expected X, running Y' for the settings
    PgBouncer applies on reload; restart_reason explains a difference only a restart fixes (1.18 keeps a
    forced user when user= is removed), or is None. Unset options with a known default (dbname, host, port,
    pool_mode) are compared with that default; unset sizes follow PgBouncer's global settings and are skipped.
    """
    wanted = dict(options)
    defaults = dict(dbname=name, host=None, port='5432', pool_mode=None)
    mismatches = []
    restart_reason = None
    for option, column in RUNNING_COLUMNS:
        running = row.get(column)
        running = None if running in (None, '') else '%s' % running
        if option == 'user' and option not in wanted:
            if running is not None:
                restart_reason = ("PgBouncer keeps the forced user '%s' of database '%s' on reload after user= is removed "
                                  "from its entry; restart PgBouncer to drop it" % (running, name))
            continue
        if option in wanted:
            expected = wanted[option]
        elif option in defaults:
            expected = defaults[option]
        else:
            continue
        if running != expected:
            mismatches.append('%s: expected %s, running %s' % (column, expected, running))
    return mismatches, restart_reason


def plan_entry(lines, name, state, options):
    """Plan the file edit for present/absent. Pure. Returns (new_lines, before, after, changed)."""
    new_line = render_entry(name, options) if state == 'present' else None
    new_lines, before, changed = plan_databases_edit(lines, name, new_line)
    after = render_entry(name, options, mask_password=True) if state == 'present' else ''
    if not changed:
        after = mask_line(before) if before else ''
    return new_lines, (mask_line(before) if before else ''), after, changed


def plan_reload(changed, state, name, options, running):
    """Whether RELOAD is needed: the file changed, or the running database differs from the file. Pure.

    ``running`` is the SHOW DATABASES rows by name. A difference that only a restart fixes does not call for a reload.
    """
    if changed:
        return True
    row = running.get(name)
    if state == 'absent':
        return row is not None
    if row is None:
        return True
    return bool(running_differences(name, options, row)[0])


def read_config(path):
    """The file's lines (text decoded so that every byte is written back as read)."""
    if not os.path.isfile(path):
        raise ConfigFileError('config_file %s does not exist or is not a regular file' % path)
    try:
        with open(path, 'rb') as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise ConfigFileError('cannot read config_file %s: %s' % (path, to_native(exc)))
    return split_lines(data.decode('utf-8', 'surrogateescape'))


def write_config(module, path, lines):
    """Replace ``path`` atomically with ``lines``: a temp file in the same directory, then atomic_move (which keeps
    the file's mode and owner)."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix='.%s.' % os.path.basename(path), suffix='.tmp')
        with os.fdopen(fd, 'wb') as handle:
            handle.write(''.join(lines).encode('utf-8', 'surrogateescape'))
    except (IOError, OSError) as exc:
        raise ConfigFileError('cannot write a temporary file in %s: %s' % (directory, to_native(exc)))
    module.atomic_move(tmp, os.path.abspath(path))


def run_entry(module, params, console):
    """state=present/absent: read, plan, write, reload, re-read."""
    name = params['name']
    state = params['state']
    options = desired_options(params)
    lines = read_config(params['config_file'])
    new_lines, before, after, changed = plan_entry(lines, name, state, options)
    running = console.show_databases(params['wait_timeout']) if console else {}
    reload_needed = console is not None and plan_reload(changed, state, name, options, running)
    queries = ['RELOAD'] if reload_needed else []
    result = dict(changed=changed or reload_needed, queries=queries, entry=after, restart_required=False,
                  restart_reason=None, database=running.get(name))
    if module._diff:
        result['diff'] = dict(before=before, after=after)

    if not module.check_mode:
        if changed:
            write_config(module, params['config_file'], new_lines)
        if reload_needed:
            console.command('RELOAD', params['wait_timeout'])
            running = console.show_databases(params['wait_timeout'])
            result['database'] = running.get(name)
            written = 'the entry was written to %s, ' % params['config_file'] if changed else ''
            if state == 'absent' and name in running:
                raise QueryFailed("%sbut after RELOAD PgBouncer still runs database '%s'; see PgBouncer's log for the "
                                  "reason (a syntax error in the file?)" % (written, name), queries=queries)
            if state == 'present':
                if name not in running:
                    raise QueryFailed("%sbut after RELOAD PgBouncer has no database '%s'; see PgBouncer's log for the "
                                      "reason" % (written, name), queries=queries)
                mismatches, _reason = running_differences(name, options, running[name])
                if mismatches:
                    raise QueryFailed("%sbut after RELOAD PgBouncer runs database '%s' with other settings (%s); see "
                                      "PgBouncer's log for the reason" % (written, name, '; '.join(mismatches)),
                                      queries=queries)
    if state == 'present' and result['database'] is not None:
        # In check mode the row is the current one: a forced user that the entry drops is predicted the same way.
        reason = running_differences(name, options, result['database'])[1]
        result['restart_required'] = reason is not None
        result['restart_reason'] = reason
    return result


def run_pause(module, params, console):
    """state=paused/resumed: read the paused column, send PAUSE/RESUME when it differs, re-read."""
    name = params['name']
    pause = params['state'] == 'paused'
    running = console.show_databases(params['wait_timeout'])
    row = running.get(name)
    if row is None:
        raise Conflict("PgBouncer has no database '%s'; add it with state=present first" % name)
    # name matched NAME_RE: it can be written into the command as it is (see NAME_RE).
    command = console_command('PAUSE' if pause else 'RESUME', name)
    needed = bool(row['paused']) != pause
    result = dict(changed=needed, queries=[command] if needed else [], restart_required=False, restart_reason=None,
                  database=row)
    if not needed or module.check_mode:
        return result
    try:
        console.command(command, params['wait_timeout'])
    except WaitTimeout:
        # PgBouncer keeps the database paused after the admin connection is gone: undo it so that its
        # clients are not left waiting, and fail.
        undo = console_command('RESUME', name)
        retry = AdminConsole(params)
        try:
            retry.command(undo, params['wait_timeout'])
        finally:
            retry.close()
        raise WaitTimeout("PAUSE %s did not complete within wait_timeout=%ss: clients still hold server connections "
                          "(in session pool mode, until they disconnect); %s was sent, the database is not paused"
                          % (name, params['wait_timeout'], undo), queries=[command, undo])
    except QueryFailed as exc:
        # A concurrent RESUME got there first: the goal is reached.
        if pause or NOT_PAUSED not in exc.details.get('pgmessage', ''):
            raise
        result['changed'] = False
        result['queries'] = []
    result['database'] = console.show_databases(params['wait_timeout']).get(name)
    return result


ARGUMENT_SPEC = dict(
    name=dict(type='str', required=True),
    state=dict(type='str', default='present', choices=['present', 'absent', 'paused', 'resumed']),
    config_file=dict(type='path', default='/etc/pgbouncer/pgbouncer.ini'),
    reload=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=30),
    dbname=dict(type='str'),
    host=dict(type='str'),
    port=dict(type='int'),
    user=dict(type='str'),
    password=dict(type='str', no_log=True),
    auth_user=dict(type='str'),
    pool_mode=dict(type='str', choices=['session', 'transaction', 'statement']),
    pool_size=dict(type='int'),
    min_pool_size=dict(type='int'),
    reserve_pool=dict(type='int'),
    max_db_connections=dict(type='int'),
    connect_query=dict(type='str'),
    client_encoding=dict(type='str'),
    datestyle=dict(type='str'),
    timezone=dict(type='str'),
)


def run(module, console):
    """paused/resumed: the console only; present/absent: the [databases] entry (and a RELOAD through the console)."""
    if module.params['state'] in ('paused', 'resumed'):
        return run_pause(module, module.params, console)
    return run_entry(module, module.params, console)


def open_console(params):
    """The admin console, when this run needs it (state paused/resumed, or reload=true), else None.

    Connected before anything else: an unreachable PgBouncer fails the task before the file is touched."""
    if params['state'] in ('paused', 'resumed') or params['reload']:
        return AdminConsole(params)
    return None


def main():
    frame = ModuleFrame(ARGUMENT_SPEC, groups=[PGBOUNCER_CONSOLE], validate=validate_params, report=dict(queries=[]))
    frame.run(lambda module: run(module, frame.closing(open_console(module.params))))


if __name__ == '__main__':
    main()
