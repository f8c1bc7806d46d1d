# -*- coding: utf-8 -*-
# This module_utils is PRIVATE to the pgha.replication collection. It is not a public API:
# it may change or disappear without notice. Do not use it from other collections.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""libpq connection strings, in one place: build one (every value quoted), parse one (keyword/value or URI) as libpq
does, and mask its secrets. psycopg2's make_dsn quotes only the values that need it, so building stays here; parsing
uses psycopg2.extensions.parse_dsn where it gives the answer."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

from ansible_collections.pgha.replication.plugins.module_utils._errors import MASK, InvalidInput
from ansible_collections.pgha.replication.plugins.module_utils._postgres import HAS_PSYCOPG2, psycopg2

SECRET_KEYS = ('password', 'sslpassword')


WHITESPACE = ' \t\n\r\f\v'


def quote_conninfo_value(value):
    """Quote a value for a libpq keyword/value connection string: single quotes, \\ and ' escaped with a backslash."""
    return "'" + value.replace('\\', '\\\\').replace("'", "\\'") + "'"


def build_conninfo(pairs):
    """Build a connection string from (keyword, value) pairs, every value quoted."""
    return ' '.join('%s=%s' % (key, quote_conninfo_value(value)) for key, value in pairs)


def _unquote_uri(text):
    try:
        from urllib.parse import unquote
    except ImportError:  # Python 2
        from urllib import unquote  # pylint: disable=no-name-in-module
    return unquote(text)


def parse_conninfo_uri(text):
    """Parse a postgresql:// URI into a dict of libpq keywords. Pure; raises InvalidInput (without the values)."""
    rest = text.split('://', 1)[1]
    result = {}
    query = None
    if '?' in rest:
        rest, query = rest.split('?', 1)
    netloc, dbname = (rest.split('/', 1) + [None])[:2] if '/' in rest else (rest, None)
    if '@' in netloc:
        userinfo, netloc = netloc.rsplit('@', 1)
        if ':' in userinfo:
            user, password = userinfo.split(':', 1)
            result['password'] = _unquote_uri(password)
        else:
            user = userinfo
        if user:
            result['user'] = _unquote_uri(user)
    hosts, ports = [], []
    if netloc:
        for spec in netloc.split(','):
            if spec.startswith('['):
                host, _sep, tail = spec[1:].partition(']')
                port = tail[1:] if tail.startswith(':') else ''
            elif ':' in spec:
                host, port = spec.rsplit(':', 1)
            else:
                host, port = spec, ''
            hosts.append(_unquote_uri(host))
            ports.append(port)
    if any(hosts):
        result['host'] = ','.join(hosts)
    if any(ports):
        result['port'] = ','.join(ports)
    if dbname:
        result['dbname'] = _unquote_uri(dbname)
    if query:
        for item in query.split('&'):
            if not item:
                continue
            if '=' not in item:
                raise InvalidInput('invalid URI query parameter in the connection string')
            key, value = item.split('=', 1)
            result[_unquote_uri(key)] = _unquote_uri(value)
    return result


def parse_conninfo(text):
    """Parse a libpq connection string (keyword/value or URI) into a dict, as libpq's conninfo_parse() does. Pure.

    libpq itself parses it (psycopg2.extensions.parse_dsn) when it can; a keyword this libpq does not know (a stored
    connection string written for a newer libpq) or a syntax error is left to the parser below, which gives the same
    answer and names keywords, never values. Raises InvalidInput.
    """
    if HAS_PSYCOPG2:
        try:
            return psycopg2.extensions.parse_dsn(text or '')
        except psycopg2.ProgrammingError:
            pass
    return parse_conninfo_text(text)


def parse_conninfo_text(text):
    """parse_conninfo() without libpq. Pure; raises InvalidInput, whose messages name keywords, never values."""
    text = text or ''
    if text.startswith('postgresql://') or text.startswith('postgres://'):
        return parse_conninfo_uri(text)
    result = {}
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in WHITESPACE:
            i += 1
        if i >= n:
            return result
        start = i
        while i < n and text[i] != '=' and text[i] not in WHITESPACE:
            i += 1
        key = text[start:i]
        while i < n and text[i] in WHITESPACE:
            i += 1
        if i >= n or text[i] != '=':
            raise InvalidInput('missing "=" after "%s" in the connection string' % key)
        i += 1
        while i < n and text[i] in WHITESPACE:
            i += 1
        buf = []
        if i < n and text[i] == "'":
            i += 1
            closed = False
            while i < n:
                char = text[i]
                if char == '\\':
                    i += 1
                    if i < n:
                        buf.append(text[i])
                        i += 1
                    continue
                if char == "'":
                    i += 1
                    closed = True
                    break
                buf.append(char)
                i += 1
            if not closed:
                raise InvalidInput('unterminated quoted string in the connection string (keyword "%s")' % key)
        else:
            while i < n and text[i] not in WHITESPACE:
                if text[i] == '\\' and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
        result[key] = ''.join(buf)


def mask_conninfo(parts):
    """A copy of a parsed connection string with secret values masked. Pure."""
    if parts is None:
        return None
    return dict((key, MASK if key in SECRET_KEYS and value is not None else value) for key, value in parts.items())


_PASSWORD_RE = re.compile(r"""password\s*=\s*('(?:[^'\\]|\\.)*'|\S*)""", re.IGNORECASE)


def mask_conninfo_text(conninfo):
    """Remove any password=... from a libpq connection string. Pure."""
    if conninfo is None:
        return None
    return _PASSWORD_RE.sub('password=********', conninfo)
