# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The name rule and the one-expression check of user SQL fragments (pure, table-driven)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.pgha.replication.plugins.module_utils._postgres import InvalidInput
from ansible_collections.pgha.replication.plugins.module_utils._sql_input import check_expression, validate_name

ONE_EXPRESSION = [
    'id > 5',
    "region = 'eu'",
    "note = 'a;b'",                            # separator inside a literal
    "note = 'it''s; fine'",                    # doubled quote keeps the literal open
    "note = E'it\\'s; fine'",                  # E'' escape
    "note = e'back\\\\slash; ok'",
    "note = E'\\''",                           # E'\'' is one quote
    "note = $$a; b$$",                         # dollar quoting
    "note = $tag$ ); commit; -- $tag$",
    "note = $a$ $b$ ; $b$ $a$",                # another tag inside is text
    '"weird;col" > 1',                         # separator inside a quoted identifier
    '"a""b" = 1',
    "U&\"d\\0061t;a\" = 'x'",
    "U&'d\\0061t;a' = note",
    "note = B'1010'",
    "note = X'1F'",
    "((a > 1) AND (b < 2)) OR c IN (1, 2, 3)",
    'arr[1] = 2',
    "note LIKE 'a--b' AND x = '/* not a comment */'",
    "a $1",                                    # a parameter, not a dollar quote (the server refuses it later)
    'a$b > 1',                                 # $ inside an identifier
    "note = 'x' || $q$y$q$",
]

NOT_ONE_EXPRESSION = [
    ('true); commit; drop table other; --', r'unbalanced \)'),
    ('true; commit; drop table other; --', 'statement separator'),
    ('true; drop table other', 'statement separator'),
    ("a = 'x'; drop table t", 'statement separator'),
    ('id > 1 -- swallow the rest', 'comment'),
    ('id > 1 /* swallow', 'comment'),
    ('id /* x */ > 1', 'comment'),
    ('a > 1)', r'unbalanced \)'),
    ('(a > 1', r'unclosed \('),
    ('a > 1) OR (b < 2', r'unbalanced \)'),
    ('true) WITH (publish = \'insert\'', r'unbalanced \)'),
    ('arr[1 = 2', r'unclosed \['),
    ('(a]', r'unbalanced \]'),
    ("note = 'unterminated", 'unterminated string literal'),
    ("note = E'\\'", 'unterminated string literal'),      # E'\' never closes
    ('"open ident', 'unterminated quoted identifier'),
    ('$x$ never closed', 'unterminated dollar-quoted'),
    ('a\x00b', 'NUL'),
    # Under standard_conforming_strings=off the backslash escapes the quote, so the ; is outside: refused either way.
    ("note = 'a\\'' ; drop table t; select '", 'standard_conforming_strings=off'),
]


@pytest.mark.parametrize('text', ONE_EXPRESSION)
def test_one_expression_accepted(text):
    check_expression(text, 'tables[0].row_filter')


@pytest.mark.parametrize('text, reason', NOT_ONE_EXPRESSION)
def test_not_one_expression_refused_naming_the_option(text, reason):
    with pytest.raises(InvalidInput, match=r'^tables\[2\]\.row_filter must be one SQL expression: .*' + reason) as info:
        check_expression(text, 'tables[2].row_filter')
    assert 'nothing was sent to the server' in info.value.msg


@pytest.mark.parametrize('text', ['', '   ', None])
def test_empty_expression_refused(text):
    with pytest.raises(InvalidInput, match='must be a non-empty SQL expression'):
        check_expression(text, 'row_filter')


def test_position_is_reported():
    with pytest.raises(InvalidInput, match='at character 5 '):
        check_expression('true; x', 'row_filter')


@pytest.mark.parametrize('value', ['a', 'app_pub', '_x', '1st', 'a' * 63, 'slot_2'])
def test_valid_names(value):
    assert validate_name(value, 'name') == value


@pytest.mark.parametrize('value', [
    None, '', 'A', 'AppPub', 'a$b', 'with space', "quo'te", 'dq"x', 'x; DROP TABLE t', 'a-b', 'a.b', 'a' * 64,
    u'\u00fc', 'tab\t', 'new\nline', 'trailing\n', '$x', 42,
])
def test_invalid_names(value):
    with pytest.raises(InvalidInput, match=r"^publications\[1\]: invalid publication name .*lower case letters"):
        validate_name(value, 'publications[1]', 'publication name')


@pytest.mark.parametrize('value, expected', [
    ('pubtest_s1', 'pubtest_s1'), ('PUBTEST_S2', 'pubtest_s2'), (' s ', 's'), ('"s1"', 's1'),
])
def test_sql_syntax_names_folded(value, expected):
    assert validate_name(value, 'tables_in_schema[0]', 'schema name', sql_syntax=True) == expected


@pytest.mark.parametrize('value', ['"S1"', '"a b"', '"a"b"', 's;x', '"s"; drop', 'a.b'])
def test_sql_syntax_names_refused(value):
    with pytest.raises(InvalidInput, match=r'tables_in_schema\[0\]: invalid schema name'):
        validate_name(value, 'tables_in_schema[0]', 'schema name', sql_syntax=True)
