# -*- coding: utf-8 -*-
# This module_utils is PRIVATE to the pgha.replication collection. It is not a public API:
# it may change or disappear without notice. Do not use it from other collections.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""PgBouncer helpers: the admin console connection options and client, and pure functions that
read and edit the ``[databases]`` section of a pgbouncer.ini without touching any other byte.

Helpers raise :class:`PgHaError` subclasses (from ``_postgres``); only a module's ``main()`` turns
them into ``fail_json``. No message produced here contains the login password or an entry's password.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re
import select
import time
from collections import namedtuple

from ansible_collections.pgha.replication.plugins.module_utils._postgres import (
    HAS_PSYCOPG2,
    PSYCOPG2_IMPORT_ERROR,
    ConnectionFailed,
    InvalidInput,
    MissingDependency,
    PgHaError,
    QueryFailed,
    WaitTimeout,
    connect_kwargs,
    psycopg2,
)
from ansible_collections.pgha.replication.plugins.module_utils._errors import MASK, mask
from ansible_collections.pgha.replication.plugins.module_utils._module import OptionGroup

ADMIN_DB = 'pgbouncer'
DATABASES_SECTION = 'databases'

# An unquoted connection-string value is safe with these characters only; anything else is quoted.
_SAFE_VALUE_RE = re.compile(r'^[A-Za-z0-9_.,:/@+-]+$')
# Characters pgbouncer's ini reader accepts in an unquoted key (libusual cfparser).
_KEY_CHARS_RE = re.compile(r'[A-Za-z0-9_.*-]+')


class ConfigFileError(PgHaError):
    """The configuration file cannot be read, parsed or written."""


# One key = value line of a [databases] section: its index in the list of lines, the key (database
# alias, unquoted), the raw value text (connection string), and where that value starts in the line.
Entry = namedtuple('Entry', ['index', 'name', 'value', 'value_start'])


# Admin console connection options; documented by the ``pgha.replication._pgbouncer`` doc fragment.
PGBOUNCER_CONSOLE = OptionGroup(
    dict(
        login_user=dict(type='str', default='pgbouncer'),
        login_password=dict(type='str', no_log=True),
        login_host=dict(type='str', default=''),
        login_unix_socket=dict(type='str', default=''),
        login_port=dict(type='int', default=6432),
        connect_timeout=dict(type='int', default=10),
    ),
    doc_fragment='pgha.replication._pgbouncer',
)


def pgbouncer_argument_spec():
    """Admin console connection options (PGBOUNCER_CONSOLE's argument spec)."""
    return PGBOUNCER_CONSOLE.argument_spec()


# ---------------------------------------------------------------------------------------------
# ini file: pure functions over a list of lines (each with its own line ending, if any)
# ---------------------------------------------------------------------------------------------

def split_lines(text):
    """Split ``text`` into lines that keep their ``\\n`` (pgbouncer only knows ``\\n``); ''.join() restores it."""
    parts = text.split('\n')
    lines = [part + '\n' for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _line_body(line):
    """The line without its ending (``\\n`` or ``\\r\\n``)."""
    if line.endswith('\n'):
        line = line[:-1]
    if line.endswith('\r'):
        line = line[:-1]
    return line


def _line_ending(line):
    if line.endswith('\r\n'):
        return '\r\n'
    if line.endswith('\n'):
        return '\n'
    return ''


def classify_line(line):
    """Return ('blank'|'comment'|'section'|'entry'|'other', data) for one ini line, as pgbouncer reads it.

    data is the section name for 'section', (key, value, value_start) for 'entry', None otherwise.
    """
    body = _line_body(line)
    pos = 0
    while pos < len(body) and body[pos].isspace():
        pos += 1
    if pos == len(body):
        return 'blank', None
    char = body[pos]
    if char in '#;':
        return 'comment', None
    if char == '%':
        return 'other', None  # %include and friends
    if char == '[':
        end = body.find(']', pos)
        if end < 0:
            return 'other', None
        return 'section', body[pos + 1:end]
    if char == '"':
        # Quoted key, SQL identifier style ("" for one double quote).
        key_chars = []
        cur = pos + 1
        while True:
            if cur >= len(body):
                return 'other', None
            if body[cur] == '"':
                if cur + 1 < len(body) and body[cur + 1] == '"':
                    key_chars.append('"')
                    cur += 2
                    continue
                cur += 1
                break
            key_chars.append(body[cur])
            cur += 1
        key = ''.join(key_chars)
    else:
        match = _KEY_CHARS_RE.match(body, pos)
        if not match:
            return 'other', None
        key = match.group(0)
        cur = match.end()
    while cur < len(body) and body[cur] in ' \t':
        cur += 1
    if cur >= len(body) or body[cur] != '=':
        return 'other', None
    cur += 1
    while cur < len(body) and body[cur] in ' \t':
        cur += 1
    value = body[cur:].rstrip()
    return 'entry', (key, value, cur)


def parse_databases(lines):
    """Read the [databases] sections of ``lines``.

    Returns (entries, sections): every Entry found in a [databases] section, in file order, and the
    [databases] sections as (header_index, end_index) pairs, end_index being the index of the line
    after the section's last line.
    """
    entries = []
    sections = []
    current = None
    header = None
    for index, line in enumerate(lines):
        kind, data = classify_line(line)
        if kind == 'section':
            if current == DATABASES_SECTION:
                sections.append((header, index))
            current, header = data, index
            continue
        if kind == 'entry' and current == DATABASES_SECTION:
            entries.append(Entry(index, data[0], data[1], data[2]))
    if current == DATABASES_SECTION:
        sections.append((header, len(lines)))
    return entries, sections


def parse_connstr(value):
    """Split a pgbouncer connection string into [(key, value, value_start, value_end)], like pgbouncer 1.18 does.

    Values may be single-quoted, with '' for one quote; value_start/value_end delimit the raw value
    text (quotes included). Raises ValueError on a syntax error.
    """
    pairs = []
    pos = 0
    length = len(value)
    while True:
        while pos < length and value[pos].isspace():
            pos += 1
        if pos >= length:
            return pairs
        key_start = pos
        while pos < length and value[pos] not in '= ':
            pos += 1
        key = value[key_start:pos]
        while pos < length and value[pos].isspace():
            pos += 1
        if pos >= length or value[pos] != '=' or not key:
            raise ValueError('expected key=value at %r' % value[key_start:key_start + 20])
        pos += 1
        while pos < length and value[pos].isspace():
            pos += 1
        raw_start = pos
        if pos < length and value[pos] == "'":
            chars = []
            pos += 1
            while True:
                if pos >= length:
                    raise ValueError('unterminated quoted value for %s' % key)
                if value[pos] == "'":
                    if pos + 1 < length and value[pos + 1] == "'":
                        chars.append("'")
                        pos += 2
                        continue
                    pos += 1
                    break
                chars.append(value[pos])
                pos += 1
            text = ''.join(chars)
        else:
            while pos < length and value[pos] != ' ':
                pos += 1
            text = value[raw_start:pos]
        if not text:
            raise ValueError('empty value for %s' % key)
        pairs.append((key, text, raw_start, pos))


def connstr_dict(value):
    """The connection string as a dict (the last of repeated keys wins, as in pgbouncer). Raises ValueError."""
    return dict((key, text) for key, text, _start, _end in parse_connstr(value))


def quote_value(text):
    """Quote a connection-string value when it needs it (single quotes, '' for a quote)."""
    if _SAFE_VALUE_RE.match(text):
        return text
    return "'%s'" % text.replace("'", "''")


def render_entry(name, options, mask_password=False):
    """The [databases] line (no line ending) for ``name`` with ``options``, a list of (key, value) pairs."""
    parts = []
    for key, text in options:
        parts.append('%s=%s' % (key, MASK if (mask_password and key == 'password') else quote_value(text)))
    return ('%s = %s' % (name, ' '.join(parts))).rstrip()


def mask_line(line):
    """The line without its ending, with the value of any password= replaced by ********.

    A line whose connection string cannot be parsed is shown as a placeholder: it might hold a password.
    """
    kind, data = classify_line(line)
    body = _line_body(line)
    if kind != 'entry':
        return body
    _key, value, value_start = data
    try:
        pairs = parse_connstr(value)
    except ValueError:
        if 'password' in value:
            return body[:value_start] + '<unparsable connection string, not shown: it may contain a password>'
        return body
    masked = value
    for key, _text, start, end in reversed(pairs):
        if key == 'password':
            masked = masked[:start] + MASK + masked[end:]
    return body[:value_start] + masked


def plan_databases_edit(lines, name, new_line):
    """Plan the edit of the [databases] entry ``name``. Pure.

    ``new_line`` is the wanted line without line ending, or None to remove the entry. Returns
    (new_lines, before, changed): ``before`` is the effective current line (the last one for
    ``name``, as pgbouncer reads it; no ending) or ''. An existing entry is kept as it is when its
    connection string has the same key/value pairs as ``new_line`` (spacing and quoting aside).
    Several entries for ``name`` are replaced by one, at the place of the first.
    """
    entries, sections = parse_databases(lines)
    mine = [entry for entry in entries if entry.name == name]
    before = _line_body(lines[mine[-1].index]) if mine else ''
    if new_line is None:
        if not mine:
            return list(lines), before, False
        drop = set(entry.index for entry in mine)
        return [line for index, line in enumerate(lines) if index not in drop], before, True

    if len(mine) == 1:
        wanted = classify_line(new_line)[1][1]
        try:
            if connstr_dict(mine[0].value) == connstr_dict(wanted):
                return list(lines), before, False
        except ValueError:
            pass  # the current line is broken: rewrite it
    new_lines = list(lines)
    if mine:
        first = mine[0].index
        ending = _line_ending(lines[first]) or '\n'
        drop = set(entry.index for entry in mine[1:])
        new_lines[first] = new_line + ending
        return [line for index, line in enumerate(new_lines) if index not in drop], before, True

    if sections:
        header, end = sections[-1]
        in_section = [entry.index for entry in entries if header < entry.index < end]
        at = (in_section[-1] if in_section else header) + 1
        ending = _line_ending(lines[at - 1]) or '\n'
        if not lines[at - 1].endswith('\n'):
            new_lines[at - 1] = lines[at - 1] + '\n'
            ending = '\n'
        new_lines.insert(at, new_line + ending)
        return new_lines, before, True

    # No [databases] section at all: add one at the end of the file.
    if new_lines and not new_lines[-1].endswith('\n'):
        new_lines[-1] += '\n'
    new_lines.extend(['[%s]\n' % DATABASES_SECTION, new_line + '\n'])
    return new_lines, before, True


# ---------------------------------------------------------------------------------------------
# Admin console
# ---------------------------------------------------------------------------------------------

# The admin console's own commands that take a database name, and the names they may take as they are: the console
# has no parameters and does not accept quoted identifiers in every version.
CONSOLE_VERBS = ('PAUSE', 'RESUME', 'DISABLE', 'ENABLE', 'KILL', 'RECONNECT', 'WAIT_CLOSE')
CONSOLE_NAME_RE = re.compile(r'^[A-Za-z0-9_]{1,63}$')


def console_command(verb, name):
    """``VERB name`` for the admin console. Pure; raises InvalidInput unless the name can stand unquoted."""
    if verb not in CONSOLE_VERBS or not CONSOLE_NAME_RE.match(name or ''):
        raise InvalidInput('%r: not a database name the PgBouncer console can take (letters, digits, underscores)'
                           % (name,))
    return ' '.join((verb, name))


class AdminConsole(object):
    """A connection to pgbouncer's admin console (the special database ``pgbouncer``).

    The console only speaks the simple query protocol and accepts its own commands (SHOW, RELOAD,
    PAUSE, ...), not SQL: commands are sent as plain text without parameters, which psycopg2 sends
    with the simple protocol. The connection is asynchronous so that every command is bounded by a
    timeout (PAUSE, for one, only returns once the database's server connections are released).
    """

    def __init__(self, params):
        if not HAS_PSYCOPG2:
            raise MissingDependency('psycopg2 is required', import_error=PSYCOPG2_IMPORT_ERROR)
        self._secret = params.get('login_password')
        kwargs = connect_kwargs(dict(params, login_db=ADMIN_DB, port=params.get('login_port') or 6432, ssl_mode='prefer',
                                     ca_cert=None))
        kwargs.pop('connect_timeout', None)  # enforced below: libpq ignores it for asynchronous connections
        timeout = params.get('connect_timeout') or 10
        where = kwargs.get('host') or 'the default unix socket'
        self._describe = 'pgbouncer admin console as %s on %s port %s' % (kwargs['user'], where, kwargs['port'])
        self.conn = None
        try:
            self.conn = psycopg2.connect(async_=1, **kwargs)
            if not self._wait(time.monotonic() + timeout):
                raise ConnectionFailed('unable to connect to the %s: no answer within connect_timeout=%ss'
                                       % (self._describe, timeout))
        except psycopg2.Error as exc:
            self.close()
            raise ConnectionFailed(mask('unable to connect to the %s: %s' % (self._describe, str(exc).strip()),
                                        self._secret))
        except ConnectionFailed:
            self.close()
            raise

    def _wait(self, deadline):
        """Drive the asynchronous connection until its current operation completes; False on timeout."""
        while True:
            state = self.conn.poll()
            if state == psycopg2.extensions.POLL_OK:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if state == psycopg2.extensions.POLL_READ:
                select.select([self.conn.fileno()], [], [], remaining)
            elif state == psycopg2.extensions.POLL_WRITE:
                select.select([], [self.conn.fileno()], [], remaining)

    def command(self, text, timeout):
        """Run one admin command; return its rows as a list of dicts ([] for commands without rows).

        Raises QueryFailed (``msg`` holds pgbouncer's message) or WaitTimeout; after a timeout the
        connection is closed (the console cannot cancel a command).
        """
        try:
            cur = self.conn.cursor()
            cur.execute(text)
            if not self._wait(time.monotonic() + timeout):
                self.close()
                raise WaitTimeout('%s did not complete within %s seconds' % (text, timeout))
            if cur.description is None:
                return []
            names = [column[0] for column in cur.description]
            return [dict(zip(names, row)) for row in cur.fetchall()]
        except psycopg2.Error as exc:
            raise QueryFailed(mask('%s failed: %s' % (text, str(exc).strip()), self._secret),
                              pgcode=getattr(exc, 'pgcode', None), pgmessage=str(exc).strip())

    def show_databases(self, timeout=30):
        """SHOW DATABASES, as a dict keyed by database alias."""
        return dict((row['name'], row) for row in self.command('SHOW DATABASES', timeout))

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except psycopg2.Error:
                pass
            self.conn = None
