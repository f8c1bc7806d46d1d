# -*- coding: utf-8 -*-
# This module_utils is PRIVATE to the pgha.replication collection. It is not a public API:
# it may change or disappear without notice. Do not use it from other collections.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Checks of user input that the SQL modules make before any statement runs. Pure; raise InvalidInput.

- :func:`validate_name`: the one rule for every name option of every SQL module (slots, publications, subscriptions,
  the publication list of a subscription, owners, schemas).
- :func:`check_expression`: a user-supplied SQL fragment (a row filter) is exactly one expression - no statement
  separator, comment or unbalanced parenthesis outside quoted text - so that it cannot end the statement it is
  inserted into.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

from ansible_collections.pgha.replication.plugins.module_utils._postgres import InvalidInput

MAX_NAME_BYTES = 63
NAME_RE = re.compile(r'^[a-z0-9_]+$')
NAME_RULE = 'use only lower case letters (a-z), digits and underscores, 1 to %d bytes' % MAX_NAME_BYTES

_IDENT_START = re.compile(r'[A-Za-z_\u0080-\U0010ffff]')
_IDENT_CHAR = re.compile(r'[A-Za-z0-9_$\u0080-\U0010ffff]')
_DOLLAR_TAG = re.compile(r'\$(?:[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$')
_CLOSING = {')': '(', ']': '['}


def validate_name(value, option, what='name', sql_syntax=False):
    """Return the name given in ``option``, or raise InvalidInput naming the option (``what`` says what it names).

    The rule is PostgreSQL's rule for replication slot names, applied to every name: lower case ASCII letters,
    digits and underscores, 1 to 63 bytes. Such a name is the same quoted or not, is never truncated by the server,
    and cannot carry a quote, a semicolon or a space into a statement.

    With ``sql_syntax`` (options written as in SQL, like the schemas of a publication), an unquoted name is folded to
    lower case and a double-quoted one is unquoted first, as the server would; the name must then follow the rule.
    """
    name = value
    if sql_syntax and isinstance(value, str):
        text = value.strip()
        if len(text) >= 2 and text.startswith('"') and text.endswith('"') and '"' not in text[1:-1].replace('""', ''):
            name = text[1:-1].replace('""', '"')
        else:
            name = text.lower()
    if (not isinstance(name, str) or not NAME_RE.match(name) or '\n' in name
            or len(name.encode('utf-8')) > MAX_NAME_BYTES):
        raise InvalidInput('%s: invalid %s %r: %s' % (option, what, value, NAME_RULE))
    return name


class _Refused(Exception):
    def __init__(self, reason, position):
        super(_Refused, self).__init__(reason)
        self.reason = reason
        self.position = position


def _string_end(text, start, backslash_escapes):
    """Index just after the quoted text opened at ``start`` (a ' or "). Doubled quotes stay inside; with
    ``backslash_escapes`` a backslash escapes the next character."""
    quote = text[start]
    i = start + 1
    n = len(text)
    while i < n:
        char = text[i]
        if backslash_escapes and char == '\\':
            i += 2
            continue
        if char == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    raise _Refused('unterminated %s' % ('quoted identifier' if quote == '"' else 'string literal'), start)


def _scan(text, standard_strings):
    """Walk ``text`` as PostgreSQL's lexer does; raise _Refused at the first token that would let it be more than
    one expression. ``standard_strings`` is the server's standard_conforming_strings (whether a backslash in '...'
    is an ordinary character)."""
    stack = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char == '\x00':
            raise _Refused('NUL character', i)
        if text.startswith('--', i) or text.startswith('/*', i):
            raise _Refused('comment (%s)' % text[i:i + 2], i)
        if char == "'":
            i = _string_end(text, i, not standard_strings)
        elif char == '"':
            i = _string_end(text, i, False)
        elif char == '$':
            match = _DOLLAR_TAG.match(text, i)
            if match is None:
                i += 1  # $1 (a parameter) or an operator character
                continue
            tag = match.group(0)
            end = text.find(tag, match.end())
            if end < 0:
                raise _Refused('unterminated dollar-quoted string %s' % tag, i)
            i = end + len(tag)
        elif _IDENT_START.match(char):
            start = i
            while i < n and _IDENT_CHAR.match(text[i]):
                i += 1
            word = text[start:i].lower()
            if i < n and text[i] == "'":
                # E'...' escapes with backslashes; B'', X'', N'' are standard strings.
                i = _string_end(text, i, word == 'e' or not standard_strings)
            elif word == 'u' and text.startswith('&', i) and i + 1 < n and text[i + 1] in '\'"':
                i = _string_end(text, i + 1, False)  # U&'...' and U&"..." (backslash starts a Unicode escape only)
        elif char == ';':
            raise _Refused('statement separator ;', i)
        elif char in '([':
            stack.append((char, i))
            i += 1
        elif char in ')]':
            if not stack or stack[-1][0] != _CLOSING[char]:
                raise _Refused('unbalanced %s' % char, i)
            stack.pop()
            i += 1
        else:
            i += 1
    if stack:
        raise _Refused('unclosed %s' % stack[-1][0], stack[-1][1])


def check_expression(text, option):
    """Raise InvalidInput (naming ``option``) unless ``text`` is one SQL expression, as far as its tokens tell.

    Refused outside quoted text: ``;``, ``--`` and ``/* */`` comments, unbalanced ``()`` or ``[]``, NUL; and
    unterminated literals, quoted identifiers and dollar-quoted strings. Quoted text is understood as the server
    reads it: '...' with doubled quotes, E'...' with backslash escapes, $tag$...$tag$, "..." identifiers, U&'...'.
    The text is scanned both as a server with standard_conforming_strings on and as one with it off would read it,
    and must pass both, so that the check holds whatever the server's setting.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput('%s must be a non-empty SQL expression' % option)
    for standard_strings in (True, False):
        try:
            _scan(text, standard_strings)
        except _Refused as exc:
            raise InvalidInput(
                '%s must be one SQL expression: %s at character %d of %r%s; nothing was sent to the server'
                % (option, exc.reason, exc.position + 1, text,
                   '' if standard_strings else ' (as read with standard_conforming_strings=off)'))
