# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure unit tests of pg_subscription: libpq conninfo quoting and parsing, masking, validation, planner. No server."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

import pytest

from ansible_collections.pgha.replication.plugins.module_utils._postgres import Conflict, InvalidInput, Unsupported
from ansible_collections.pgha.replication.plugins.module_utils import _conninfo
from ansible_collections.pgha.replication.plugins.module_utils._errors import mask
from ansible_collections.pgha.replication.plugins.module_utils._module import merged_argument_spec
from ansible_collections.pgha.replication.plugins.module_utils._postgres import POSTGRES
from ansible_collections.pgha.replication.plugins.modules import pg_subscription as mod

PG15 = dict(version_num=150008)
PG16 = dict(version_num=160004)
PG14 = dict(version_num=140011)
PG17 = dict(version_num=170012)
SECRET = "pa ss'w\\rd"


# --- masking ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('secret', ['simple', SECRET, "o'neil", 'back\\slash'])
def test_scrub_all_masks_every_form(secret):
    conninfo = _conninfo.build_conninfo([('password', secret)])
    sql_literal = "'" + conninfo.replace("'", "''") + "'"
    e_literal = "E'" + conninfo.replace('\\', '\\\\').replace("'", "''") + "'"
    for text in (secret, conninfo, sql_literal, e_literal, 'error near "%s"' % secret):
        assert secret not in mask(text, [secret])
        assert _conninfo.quote_conninfo_value(secret)[1:-1] not in mask(text, [secret])
        assert '********' in mask(text, [secret])
    assert mask('nothing', [None, '']) == 'nothing'


def sub(**overrides):
    """An existing subscription in the internal form read_subscription() returns."""
    value = dict(oid=16400, name='s1', owner='postgres', enabled=True, publications=['p1'],
                 conninfo={'host': 'h', 'port': '5432', 'dbname': 'app', 'user': 'rep', 'password': SECRET},
                 slot_name='s1', binary=False, streaming='off', synchronous_commit='off', disable_on_error=False,
                 two_phase=False, two_phase_state='disabled', origin=None, failover=None, skip_lsn=None)
    value.update(overrides)
    return value


def test_public_and_diff_views_mask_the_password():
    current = sub()
    for view in (mod.public_view(current), mod.diff_view(current), mod.diff_view(current, password_changed=True)):
        assert SECRET not in json.dumps(view) and 'rd' not in json.dumps(view.get('connection', {}).get('password'))
    assert mod.public_view(current)['connection']['password'] == '********'
    assert 'oid' not in mod.public_view(current) and 'conninfo' not in mod.public_view(current)
    assert mod.diff_view(current, password_changed=True)['connection']['password'] == '******** (changed)'
    assert mod.diff_view(None) == {'state': 'absent'}


# --- parameters -----------------------------------------------------------------------------------------------------

def params(**overrides):
    base = dict(name='s1', state='present', publications=None, connection=None, connection_extra=None, enabled=None,
                slot_name=None, create_slot=None, copy_data=None, binary=None, streaming=None, synchronous_commit=None,
                disable_on_error=None, two_phase=None, origin=None, failover=None, refresh=False, skip_lsn=None, drop_slot=True,
                wait=False, wait_timeout=300, login_db='app', connect_timeout=10)
    base.update(overrides)
    return base


def conn(**overrides):
    value = dict(host=['h'], port=[5432], dbname='app', user='rep', password=SECRET, sslmode=None, sslrootcert=None,
                 connect_timeout=None, target_session_attrs=None, application_name=None)
    value.update(overrides)
    return value


def desired(**overrides):
    values = params(**overrides)
    mod.validate_params(values)
    return mod.desired_from_params(values)


def test_desired_connection_pairs():
    pairs = mod.desired_connection(params(connection=conn(host=['a', 'b'], port=[5432, 5433], target_session_attrs='read-write',
                                                          connect_timeout=5),
                                          connection_extra={'keepalives_idle': 30, 'sslcert': '/c.pem', 'keepalives': True}))
    assert pairs == [('host', 'a,b'), ('port', '5432,5433'), ('dbname', 'app'), ('user', 'rep'), ('password', SECRET),
                     ('connect_timeout', '5'), ('target_session_attrs', 'read-write'), ('keepalives', '1'),
                     ('keepalives_idle', '30'), ('sslcert', '/c.pem')]
    assert mod.desired_connection(params()) is None


@pytest.mark.parametrize('overrides, message', [
    (dict(name='Bad'), 'invalid subscription name'),
    (dict(name='a' * 64), 'invalid subscription name'),
    (dict(name="x'; DROP"), 'invalid subscription name'),
    (dict(slot_name='Slot'), 'invalid slot_name'),
    (dict(publications=[]), 'publications must not be empty'),
    (dict(publications=['']), 'invalid publication name'),
    (dict(publications=['p' * 64]), 'invalid publication name'),
    (dict(connection_extra={'password': 'x'}), 'must not hold password: use connection.password'),
    (dict(connection_extra={'sslpassword': 'x'}), 'must not hold sslpassword'),
    (dict(connection_extra={'host': 'x'}), 'connection_extra.host: set connection.host instead'),
    (dict(connection_extra={'bogus': 'x'}), "'bogus' is not a libpq connection keyword"),
    (dict(connection_extra={'Keepalives': 'x'}), 'is not a libpq connection keyword'),
    (dict(connection=conn(dbname='a\x00b')), 'NUL'),
    (dict(connection=conn(host=['a', ''])), 'connection.host must not hold empty entries'),
    (dict(connection=conn(host=['a', 'b', 'c'], port=[1, 2])), 'one port, or one per host'),
    (dict(connection=dict((k, None) for k in conn())), 'set no keyword'),
    (dict(streaming='maybe'), 'streaming must be on or off'),
    (dict(synchronous_commit='sometimes'), 'synchronous_commit must be one of'),
    (dict(skip_lsn='12345'), 'invalid skip_lsn'),
    (dict(skip_lsn='0/0'), 'must not be 0/0'),
    (dict(wait_timeout=-1), 'wait_timeout'),
])
def test_invalid_params(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        mod.validate_params(params(**overrides))


def test_value_normalisation():
    want = desired(streaming='True', synchronous_commit='False', skip_lsn='0/014c0378')
    assert (want['streaming'], want['synchronous_commit'], want['skip_lsn']) == ('on', 'off', '0/14C0378')
    assert desired(streaming='parallel')['streaming'] == 'parallel'
    assert desired(synchronous_commit='remote_apply')['synchronous_commit'] == 'remote_apply'


# --- planner --------------------------------------------------------------------------------------------------------

def rendered(steps):
    """Steps as (template, identifiers, shown params) - exactly what `queries` shows, without a connection."""
    return [(s.text, s.idents, s.shown) for s in steps]


MASKED = "host='h' port='5432' dbname='app' user='rep' password='********'"
CLEAR = "host='h' port='5432' dbname='app' user='rep' password='pa ss\\'w\\\\rd'"
CREATE = dict(publications=['p1'], connection=conn())

PLAN_CASES = [
    ('create minimal', None, CREATE, PG15,
     [('CREATE SUBSCRIPTION {0} CONNECTION %s PUBLICATION {1}', ('s1', ['p1']), (MASKED,))]),
    ('create with options', None, dict(CREATE, publications=['p1', 'p2'], enabled=False, slot_name='slot1', create_slot=False,
                                       copy_data=False, binary=True, streaming='on', synchronous_commit='local',
                                       disable_on_error=True, two_phase=True), PG15,
     [('CREATE SUBSCRIPTION {0} CONNECTION %s PUBLICATION {1} WITH (enabled = %s, slot_name = %s, create_slot = %s, '
       'copy_data = %s, binary = %s, streaming = %s, synchronous_commit = %s, disable_on_error = %s, two_phase = %s)',
       ('s1', ['p1', 'p2']), (MASKED, False, 'slot1', False, False, True, 'on', 'local', True, True))]),
    ('create on a premade slot, waiting for the copy', None, dict(CREATE, slot_name='s1', create_slot=False, wait=True), PG15,
     [('CREATE SUBSCRIPTION {0} CONNECTION %s PUBLICATION {1} WITH (slot_name = %s, create_slot = %s)', ('s1', ['p1']),
       (MASKED, 's1', False))]),
    ('create with origin on 16', None, dict(CREATE, origin='none', streaming='parallel'), PG16,
     [('CREATE SUBSCRIPTION {0} CONNECTION %s PUBLICATION {1} WITH (streaming = %s, origin = %s)', ('s1', ['p1']),
       (MASKED, 'parallel', 'none'))]),
    ('create with failover on 17', None, dict(CREATE, slot_name='s1', create_slot=False, failover=True), PG17,
     [('CREATE SUBSCRIPTION {0} CONNECTION %s PUBLICATION {1} WITH (slot_name = %s, create_slot = %s, failover = %s)',
       ('s1', ['p1']), (MASKED, 's1', False, True))]),
    ('failover already as asked', sub(failover=True), dict(failover=True), PG17, []),
    ('failover of an enabled subscription: disable, set, enable', sub(failover=False), dict(failover=True), PG17,
     [('ALTER SUBSCRIPTION {0} DISABLE', ('s1',), None),
      ('ALTER SUBSCRIPTION {0} SET (failover = %s)', ('s1',), (True,)),
      ('ALTER SUBSCRIPTION {0} ENABLE', ('s1',), None)]),
    ('failover of a disabled subscription', sub(enabled=False, failover=True), dict(failover=False), PG17,
     [('ALTER SUBSCRIPTION {0} SET (failover = %s)', ('s1',), (False,))]),
    ('failover and disable', sub(failover=False), dict(failover=True, enabled=False), PG17,
     [('ALTER SUBSCRIPTION {0} DISABLE', ('s1',), None),
      ('ALTER SUBSCRIPTION {0} SET (failover = %s)', ('s1',), (True,))]),
    ('failover, then enable a disabled one', sub(enabled=False, failover=False), dict(failover=True, enabled=True), PG17,
     [('ALTER SUBSCRIPTION {0} SET (failover = %s)', ('s1',), (True,)),
      ('ALTER SUBSCRIPTION {0} ENABLE', ('s1',), None)]),
    ('failover then refresh publications on the enabled subscription', sub(failover=False),
     dict(failover=True, publications=['p2']), PG17,
     [('ALTER SUBSCRIPTION {0} DISABLE', ('s1',), None),
      ('ALTER SUBSCRIPTION {0} SET (failover = %s)', ('s1',), (True,)),
      ('ALTER SUBSCRIPTION {0} ENABLE', ('s1',), None),
      ('ALTER SUBSCRIPTION {0} SET PUBLICATION {1} WITH (refresh = true)', ('s1', ['p2']), None)]),
    ('exists, nothing set', sub(), dict(), PG15, []),
    ('exists, same everything', sub(), dict(CREATE, enabled=True, binary=False, streaming='off', slot_name='s1',
                                            synchronous_commit='off', disable_on_error=False, two_phase=False,
                                            create_slot=True, copy_data=True), PG15, []),
    ('publications same set, other order', sub(publications=['p1', 'p2']), dict(publications=['p2', 'p1']), PG15, []),
    ('alter publications', sub(), dict(publications=['p1', 'p2']), PG15,
     [('ALTER SUBSCRIPTION {0} SET PUBLICATION {1} WITH (refresh = true)', ('s1', ['p1', 'p2']), None)]),
    ('alter publications with copy_data', sub(), dict(publications=['p2'], copy_data=False), PG15,
     [('ALTER SUBSCRIPTION {0} SET PUBLICATION {1} WITH (refresh = true, copy_data = %s)', ('s1', ['p2']), (False,))]),
    ('alter publications of a disabled subscription', sub(enabled=False), dict(publications=['p2']), PG15,
     [('ALTER SUBSCRIPTION {0} SET PUBLICATION {1} WITH (refresh = false)', ('s1', ['p2']), None)]),
    ('enable then refresh publications', sub(enabled=False), dict(publications=['p2'], enabled=True), PG15,
     [('ALTER SUBSCRIPTION {0} ENABLE', ('s1',), None),
      ('ALTER SUBSCRIPTION {0} SET PUBLICATION {1} WITH (refresh = true)', ('s1', ['p2']), None)]),
    ('refresh publications then disable', sub(), dict(publications=['p2'], enabled=False), PG15,
     [('ALTER SUBSCRIPTION {0} SET PUBLICATION {1} WITH (refresh = true)', ('s1', ['p2']), None),
      ('ALTER SUBSCRIPTION {0} DISABLE', ('s1',), None)]),
    ('disable', sub(), dict(enabled=False), PG15, [('ALTER SUBSCRIPTION {0} DISABLE', ('s1',), None)]),
    ('enable', sub(enabled=False), dict(enabled=True), PG15, [('ALTER SUBSCRIPTION {0} ENABLE', ('s1',), None)]),
    ('set options', sub(), dict(binary=True, streaming='on', synchronous_commit='remote_apply', disable_on_error=True,
                                slot_name='other'), PG15,
     [('ALTER SUBSCRIPTION {0} SET (slot_name = %s, binary = %s, streaming = %s, synchronous_commit = %s, '
       'disable_on_error = %s)', ('s1',), ('other', True, 'on', 'remote_apply', True))]),
    ('set origin on 16', sub(origin='any'), dict(origin='none'), PG16,
     [('ALTER SUBSCRIPTION {0} SET (origin = %s)', ('s1',), ('none',))]),
    ('create-only options ignored when they cannot be read back', sub(), dict(create_slot=False, copy_data=False), PG15, []),
    ('password differs', sub(conninfo=dict(sub()['conninfo'], password='old')), dict(connection=conn()), PG15,
     [('ALTER SUBSCRIPTION {0} CONNECTION %s', ('s1',), (MASKED,))]),
    ('keyword removed', sub(conninfo=dict(sub()['conninfo'], sslmode='require')), dict(connection=conn()), PG15,
     [('ALTER SUBSCRIPTION {0} CONNECTION %s', ('s1',), (MASKED,))]),
    ('same connection parsed', sub(conninfo=_conninfo.parse_conninfo(CLEAR)), dict(connection=conn()), PG15, []),
    ('connection unset is not managed', sub(conninfo={'host': 'elsewhere'}), dict(enabled=True), PG15, []),
    ('connection then options then enable', sub(enabled=False, conninfo={}),
     dict(connection=conn(), binary=True, enabled=True), PG15,
     [('ALTER SUBSCRIPTION {0} CONNECTION %s', ('s1',), (MASKED,)),
      ('ALTER SUBSCRIPTION {0} SET (binary = %s)', ('s1',), (True,)),
      ('ALTER SUBSCRIPTION {0} ENABLE', ('s1',), None)]),
    ('skip then enable', sub(enabled=False), dict(skip_lsn='0/14C0378', enabled=True), PG15,
     [('ALTER SUBSCRIPTION {0} SKIP (lsn = %s)', ('s1',), ('0/14C0378',)),
      ('ALTER SUBSCRIPTION {0} ENABLE', ('s1',), None)]),
    ('skip already pending', sub(skip_lsn='0/14C0378'), dict(skip_lsn='0/14c0378'), PG15, []),
    ('absent, missing', None, dict(state='absent'), PG15, []),
    ('absent', sub(), dict(state='absent'), PG15, [('DROP SUBSCRIPTION {0}', ('s1',), None)]),
    ('absent without slot drop', sub(), dict(state='absent', drop_slot=False), PG15,
     [('ALTER SUBSCRIPTION {0} DISABLE', ('s1',), None),
      ('ALTER SUBSCRIPTION {0} SET (slot_name = NONE)', ('s1',), None),
      ('DROP SUBSCRIPTION {0}', ('s1',), None)]),
    ('absent without slot drop, disabled', sub(enabled=False), dict(state='absent', drop_slot=False), PG15,
     [('ALTER SUBSCRIPTION {0} SET (slot_name = NONE)', ('s1',), None), ('DROP SUBSCRIPTION {0}', ('s1',), None)]),
    ('absent without slot drop, already detached', sub(enabled=False, slot_name=None), dict(state='absent', drop_slot=False),
     PG15, [('DROP SUBSCRIPTION {0}', ('s1',), None)]),
]


@pytest.mark.parametrize('current, overrides, server, expected', [c[1:] for c in PLAN_CASES], ids=[c[0] for c in PLAN_CASES])
def test_plan(current, overrides, server, expected):
    steps = mod.plan(current, desired(**overrides), server)
    assert rendered(steps) == expected
    assert SECRET not in json.dumps(rendered(steps))


def test_plan_executes_the_real_password():
    steps = mod.plan(None, desired(**CREATE), PG15)
    assert steps[0].params == (CLEAR,)
    assert _conninfo.parse_conninfo(steps[0].params[0])['password'] == SECRET


REFRESH_CASES = [
    ('publisher has a new table', sub(), {'public.a', 'public.b'}, {'public.a'}, dict(),
     [('ALTER SUBSCRIPTION {0} REFRESH PUBLICATION', ('s1',), None)]),
    ('table removed from publication', sub(), {'public.a'}, {'public.a', 'public.b'}, dict(copy_data=False),
     [('ALTER SUBSCRIPTION {0} REFRESH PUBLICATION WITH (copy_data = %s)', ('s1',), (False,))]),
    ('same tables', sub(), {'public.a'}, {'public.a'}, dict(), []),
    ('disabled, enabled in the same run', sub(enabled=False), {'public.a'}, set(), dict(enabled=True),
     [('ALTER SUBSCRIPTION {0} ENABLE', ('s1',), None), ('ALTER SUBSCRIPTION {0} REFRESH PUBLICATION', ('s1',), None)]),
]


@pytest.mark.parametrize('current, published, subscribed, overrides, expected', [c[1:] for c in REFRESH_CASES],
                         ids=[c[0] for c in REFRESH_CASES])
def test_plan_refresh(current, published, subscribed, overrides, expected):
    steps = mod.plan(current, desired(refresh=True, **overrides), PG15, published, subscribed)
    assert rendered(steps) == expected


def test_plan_refresh_with_publication_change_needs_no_publisher():
    steps = mod.plan(sub(), desired(refresh=True, publications=['p9']), PG15)
    assert rendered(steps) == [('ALTER SUBSCRIPTION {0} SET PUBLICATION {1} WITH (refresh = true)', ('s1', ['p9']), None)]


@pytest.mark.parametrize('origin_lsn, current_skip, action, steps', [
    (None, None, 'set', 1),
    ('0/14C0000', None, 'set', 1),
    ('0/14C0378', None, 'set', 1),   # the origin's LSN is a commit's end: equal means not past yet
    ('0/14C03A0', None, 'passed', 0),
    ('1/0', '0/14C0378', 'passed', 0),
    ('0/1', '0/14C0378', 'pending', 0),
])
def test_skip_idempotence(origin_lsn, current_skip, action, steps):
    current = sub(skip_lsn=current_skip)
    assert mod.skip_action(current, '0/14C0378', origin_lsn) == action
    assert len(mod.plan(current, desired(skip_lsn='0/14C0378'), PG15, origin_lsn=origin_lsn)) == steps


REFUSE_CASES = [
    ('two_phase differs', sub(), dict(two_phase=True), PG15, Conflict,
     "has two_phase=false; two_phase applies at creation only: set two_phase=false, or run with state=absent"),
    ('two_phase differs other way', sub(two_phase=True), dict(two_phase=False), PG15, Conflict, 'set two_phase=true'),
    ('create without publications', None, dict(connection=conn()), PG15, InvalidInput, 'set publications to create it'),
    ('create without connection', None, dict(publications=['p']), PG15, InvalidInput, 'set connection to create it'),
    ('create with nothing', None, dict(), PG15, InvalidInput, 'set publications and connection'),
    ('skip on a missing subscription', None, dict(CREATE, skip_lsn='0/1'), PG15, InvalidInput, 'skip_lsn applies to an existing'),
    ('origin on 15', sub(), dict(origin='none'), PG15, Unsupported,
     r'origin needs PostgreSQL 16 or later \(the subscriber runs 15\); nothing was changed'),
    ('origin at creation on 15', None, dict(CREATE, origin='any'), PG15, Unsupported, 'origin needs PostgreSQL 16'),
    ('failover on 16', sub(), dict(failover=True), PG16, Unsupported,
     r'failover needs PostgreSQL 17 or later \(the subscriber runs 16\); nothing was changed'),
    ('failover false on 15', sub(), dict(failover=False), PG15, Unsupported, 'failover needs PostgreSQL 17'),
    ('failover at creation on 15', None, dict(CREATE, failover=True), PG15, Unsupported, 'failover needs PostgreSQL 17'),
    ('failover without a slot', sub(enabled=False, slot_name=None), dict(failover=True), PG17, Conflict,
     'has no slot .slot_name = NONE.*set slot_name'),
    ('parallel on 15', sub(), dict(streaming='parallel'), PG15, Unsupported, 'streaming=parallel needs PostgreSQL 16'),
    ('disable_on_error on 14', sub(), dict(disable_on_error=True), PG14, Unsupported, 'disable_on_error needs PostgreSQL 15'),
    ('two_phase on 14', None, dict(CREATE, two_phase=True), PG14, Unsupported, 'two_phase needs PostgreSQL 15'),
    ('refresh a disabled subscription', sub(enabled=False), dict(refresh=True), PG15, Conflict, 'set enabled=true'),
    ('wait on a disabled subscription', sub(enabled=False), dict(wait=True), PG15, Conflict, 'wait=true needs an enabled'),
    ('wait on a disabled creation', None, dict(CREATE, wait=True, enabled=False), PG15, InvalidInput, 'wait=true needs enabled'),
]


@pytest.mark.parametrize('current, overrides, server, exc, message', [c[1:] for c in REFUSE_CASES],
                         ids=[c[0] for c in REFUSE_CASES])
def test_plan_refuses(current, overrides, server, exc, message):
    with pytest.raises(exc, match=message):
        mod.plan(current, desired(**overrides), server, {'public.a'}, set())


# --- prediction -----------------------------------------------------------------------------------------------------

def test_predict_create_matches_the_read_back():
    want = desired(**CREATE)
    steps = mod.plan(None, want, PG15)
    predicted = mod.predict(None, want, PG15, steps, 'postgres')
    real = sub(oid=1, conninfo=_conninfo.parse_conninfo(steps[0].params[0]))
    assert mod.diff_view(predicted) == mod.diff_view(real)
    assert mod.public_view(predicted) == mod.public_view(real)


def test_predict_failover_matches_the_read_back():
    for current, overrides in ((sub(failover=False), dict(failover=True)),
                               (sub(failover=True, enabled=False), dict(failover=False, enabled=True))):
        want = desired(**overrides)
        steps = mod.plan(current, want, PG17)
        assert steps
        real = dict(current, **overrides)
        assert mod.diff_view(mod.predict(current, want, PG17, steps, 'postgres')) == mod.diff_view(real)
    want = desired(**dict(CREATE, failover=True))
    predicted = mod.predict(None, want, PG17, mod.plan(None, want, PG17), 'postgres')
    assert predicted['failover'] is True
    assert mod.predict(None, desired(**CREATE), PG16, mod.plan(None, desired(**CREATE), PG16), 'postgres')['failover'] is None


@pytest.mark.parametrize('overrides', [
    dict(publications=['p2', 'p1']), dict(enabled=False), dict(binary=True, streaming='on', slot_name='x'),
    dict(connection=conn(host=['a', 'b'], target_session_attrs='read-write')), dict(state='absent'),
])
def test_predict_alter_matches_the_read_back(overrides):
    current = sub()
    want = desired(**overrides)
    steps = mod.plan(current, want, PG15)
    assert steps
    predicted = mod.predict(current, want, PG15, steps, 'postgres')
    if want['state'] == 'absent':
        assert predicted is None
        return
    real = dict(current)
    real.update(dict((k, v) for k, v in overrides.items() if k in current))
    if 'connection' in overrides:
        real['conninfo'] = _conninfo.parse_conninfo(steps[0].params[0])
    assert mod.diff_view(predicted) == mod.diff_view(real)


def test_predict_noop_is_current():
    current = sub()
    assert mod.predict(current, desired(), PG15, [], 'postgres') is current


def test_password_changed():
    assert mod.password_changed(sub(), desired(connection=conn(password='new'))) is True
    assert mod.password_changed(sub(), desired(connection=conn())) is False
    assert mod.password_changed(sub(), desired()) is False
    assert mod.password_changed(None, desired(**CREATE)) is False


def test_argument_spec_hides_the_password():
    spec = merged_argument_spec([POSTGRES], mod.ARGUMENT_SPEC)
    assert spec['connection']['options']['password']['no_log'] is True
    assert spec['login_password']['no_log'] is True


# --- names, the publisher check, server rules known in advance --------------------------------------------------------

@pytest.mark.parametrize('overrides, message', [
    (dict(publications=['p1', 'p"; DROP TABLE t; --']), r'publications\[1\]: invalid publication name'),
    (dict(publications=["it's"]), r'publications\[0\]: invalid publication name'),
    (dict(publications=['App']), r'publications\[0\]: invalid publication name'),
    (dict(publications=['a b']), r'publications\[0\]: invalid publication name'),
    (dict(slot_name='none'), "invalid slot_name 'none'"),
    (dict(name='s;1'), 'name: invalid subscription name'),
])
def test_names_follow_the_one_rule(overrides, message):
    with pytest.raises(InvalidInput, match=message):
        mod.validate_params(params(**overrides))


PUBLISHER_OK = dict(tables={'public.t'}, missing=[], slot=None, replication=True, user='rep', database='app')


@pytest.mark.parametrize('publisher, overrides, creating, exc, message', [
    (dict(PUBLISHER_OK, missing=['p2']), dict(publications=['p1', 'p2']), True, InvalidInput,
     "publications: 'p2' does not exist in database app on the publisher"),
    (dict(PUBLISHER_OK, missing=['p1', 'p2']), dict(publications=['p1', 'p2']), True, InvalidInput, "'p1', 'p2' do not"),
    (dict(PUBLISHER_OK, replication=False), {}, True, InvalidInput, 'connection.user: role rep on the publisher has neither'),
    (dict(PUBLISHER_OK, tables=set()), dict(wait=True), True, InvalidInput, 'wait=true: publications p1 publish no table'),
    (dict(PUBLISHER_OK, slot=dict(active=False)), {}, True, Conflict, "slot_name: replication slot 's1' already exists"),
    (dict(PUBLISHER_OK, slot=dict(active=False)), dict(slot_name='other'), True, Conflict, "slot 'other' already exists"),
])
def test_check_publisher_refuses(publisher, overrides, creating, exc, message):
    with pytest.raises(exc, match=message):
        mod.check_publisher(publisher, desired(**dict(dict(publications=['p1'], connection=conn()), **overrides)), creating)


@pytest.mark.parametrize('publisher, overrides, creating', [
    (PUBLISHER_OK, {}, True),
    (dict(PUBLISHER_OK, tables=set()), {}, True),                        # no table, but no wait
    (dict(PUBLISHER_OK, slot=dict(active=False)), dict(create_slot=False), True),  # uses the existing slot
    (dict(PUBLISHER_OK, slot=dict(active=True)), {}, False),             # not creating: the slot is the subscription's
])
def test_check_publisher_accepts(publisher, overrides, creating):
    mod.check_publisher(publisher, desired(publications=['p1'], connection=conn(), **overrides), creating)


@pytest.mark.parametrize('current, overrides, expected', [
    (None, dict(publications=['p1'], connection=conn()), 'desired'),
    (None, dict(publications=['p1']), None),                             # plan() refuses: connection missing
    (sub(), {}, None),                                                   # nothing changes: not checked
    (sub(), dict(enabled=False), None),
    (sub(), dict(publications=['p1']), None),
    (sub(), dict(publications=['p1', 'p2']), 'current'),                  # publications change, stored connection
    (sub(), dict(refresh=True), 'current'),
    (sub(), dict(connection=conn(password='new')), 'desired'),
    (sub(), dict(state='absent'), None),
])
def test_publisher_to_check(current, overrides, expected):
    want = desired(**overrides)
    found = mod.publisher_to_check(current, want)
    if expected is None:
        assert found is None
    else:
        pairs, publications = found
        assert pairs == (want['connection_pairs'] if expected == 'desired' else list(current['conninfo'].items()))
        assert publications == (want['publications'] or current['publications'])


@pytest.mark.parametrize('overrides, published, subscribed', [
    (dict(publications=['p1', 'p2']), None, None),
    (dict(refresh=True), {'public.a', 'public.b'}, {'public.a'}),
])
def test_refresh_with_copy_data_refused_once_two_phase_is_enabled(overrides, published, subscribed):
    current = sub(two_phase=True, two_phase_state='enabled')
    with pytest.raises(Conflict, match='set copy_data=false'):
        mod.plan(current, desired(**overrides), PG15, published, subscribed)
    steps = mod.plan(current, desired(copy_data=False, **overrides), PG15, published, subscribed)
    assert steps and all('copy_data = %s' in s.text for s in steps)
    # Pending (not yet enabled) two-phase does not block the refresh.
    assert mod.plan(sub(two_phase=True, two_phase_state='pending'), desired(**overrides), PG15, published, subscribed)
