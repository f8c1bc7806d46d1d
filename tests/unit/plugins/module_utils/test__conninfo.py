# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""libpq connection strings (_conninfo): quoting, parsing as libpq does (with and without libpq), masking. Pure."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.pgha.replication.plugins.module_utils import _conninfo
from ansible_collections.pgha.replication.plugins.module_utils._errors import InvalidInput

SECRET = "pa ss'w\\rd"


# --- conninfo quoting and parsing ------------------------------------------------------------------------------------

@pytest.mark.parametrize('value, quoted', [
    ('plain', "'plain'"),
    ('', "''"),
    ('with space', "'with space'"),
    ("it's", "'it\\'s'"),
    ('back\\slash', "'back\\\\slash'"),
    ("\\'", "'\\\\\\''"),
    ('a=b', "'a=b'"),
])
def test_quote_conninfo_value(value, quoted):
    assert _conninfo.quote_conninfo_value(value) == quoted


@pytest.mark.parametrize('value', ['plain', '', 'with space', "it's", 'back\\slash', "\\'", "'", '\\', ' lead', 'tab\tx',
                                   'x=y z', u'\u00fcnicode', SECRET])
def test_quote_parse_roundtrip(value):
    text = _conninfo.build_conninfo([('host', 'h'), ('password', value), ('application_name', value)])
    assert _conninfo.parse_conninfo(text) == {'host': 'h', 'password': value, 'application_name': value}


PARSE_CASES = [
    ('empty', '', {}),
    ('whitespace only', '  \t ', {}),
    ('unquoted', 'host=h port=5432 dbname=app', {'host': 'h', 'port': '5432', 'dbname': 'app'}),
    ('spaces around =', 'host = h   port=  5432', {'host': 'h', 'port': '5432'}),
    ('quoted with spaces', "password='a b' user=u", {'password': 'a b', 'user': 'u'}),
    ('escaped quote', "password='it\\'s'", {'password': "it's"}),
    ('escaped backslash', "password='a\\\\b'", {'password': 'a\\b'}),
    ('unquoted backslash escape', 'password=a\\ b', {'password': 'a b'}),
    ('empty quoted', "password=''", {'password': ''}),
    ('multi host', 'host=a,b port=5432,5433 target_session_attrs=read-write',
     {'host': 'a,b', 'port': '5432,5433', 'target_session_attrs': 'read-write'}),
    ('last wins', 'host=a host=b', {'host': 'b'}),
    ('uri', 'postgresql://rep:s%40cret@h1:5432,h2:5433/app?sslmode=require&application_name=x',
     {'user': 'rep', 'password': 's@cret', 'host': 'h1,h2', 'port': '5432,5433', 'dbname': 'app', 'sslmode': 'require',
      'application_name': 'x'}),
    ('uri ipv6 no port', 'postgres://[::1]/db', {'host': '::1', 'dbname': 'db'}),
    ('uri minimal', 'postgresql://', {}),
]


@pytest.mark.parametrize('text, expected', [c[1:] for c in PARSE_CASES], ids=[c[0] for c in PARSE_CASES])
def test_parse_conninfo(text, expected):
    assert _conninfo.parse_conninfo(text) == expected


@pytest.mark.parametrize('text, message', [
    ('host', 'missing "=" after "host"'),
    ('host=h port', 'missing "=" after "port"'),
    ("password='secret-value", 'unterminated quoted string'),
])
def test_parse_conninfo_errors_never_echo_values(text, message):
    with pytest.raises(InvalidInput, match=message) as info:
        _conninfo.parse_conninfo(text)
    assert 'secret-value' not in info.value.msg


# --- masking a parsed connection string and a connection string's text ---------------------------------------------

def test_mask_conninfo():
    assert _conninfo.mask_conninfo({'host': 'h', 'password': 'x', 'sslpassword': 'y'}) == \
        {'host': 'h', 'password': '********', 'sslpassword': '********'}
    assert _conninfo.mask_conninfo(None) is None


@pytest.mark.parametrize('conninfo, expected', [
    (None, None),
    ('host=a port=5432 user=rep', 'host=a port=5432 user=rep'),
    ('host=a password=secret user=rep', 'host=a password=******** user=rep'),
    ('host=a password = secret', 'host=a password=******** '.rstrip()),
    ("host=a password='se cret\\' x' user=rep", 'host=a password=******** user=rep'),
    ('PASSWORD=Secret', 'password=********'),
    ('user=rep password=********', 'user=rep password=********'),
])
def test_mask_conninfo_text(conninfo, expected):
    assert _conninfo.mask_conninfo_text(conninfo) == expected
    if conninfo:
        assert 'secret' not in _conninfo.mask_conninfo_text(conninfo).lower()


@pytest.mark.parametrize('text, expected', [c[1:] for c in PARSE_CASES], ids=[c[0] for c in PARSE_CASES])
def test_the_parser_without_libpq_agrees_with_libpq(text, expected):
    assert _conninfo.parse_conninfo_text(text) == expected


def test_a_keyword_this_libpq_does_not_know_is_still_parsed():
    assert _conninfo.parse_conninfo("host=h sslnegotiation_of_the_future='x y'") == {
        'host': 'h', 'sslnegotiation_of_the_future': 'x y'}
