# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""converge(): which failures are races, and what a re-read decides (pure; the server side is in tests/server)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.pgha.replication.plugins.module_utils._converge import converge
from ansible_collections.pgha.replication.plugins.module_utils._postgres import Conflict, QueryFailed


def failing(pgcode, ran=()):
    def apply():
        exc = QueryFailed('boom', pgcode=pgcode)
        exc.details['queries'] = list(ran)
        raise exc
    return apply


def test_success_is_passed_through():
    assert converge(lambda: ['CREATE x'], lambda: pytest.fail('no re-read'), None, 'x') == (['CREATE x'], False)


@pytest.mark.parametrize('pgcode', ['42710', '23505', '42704'])
def test_race_reached_is_success_with_what_ran_before(pgcode):
    reads = []
    result = converge(failing(pgcode, ['SELECT pg_terminate_backend(1)']), lambda: reads.append(1) or 'state',
                      lambda state: state == 'state', 'x')
    assert result == (['SELECT pg_terminate_backend(1)'], True) and reads == [1]


@pytest.mark.parametrize('pgcode', ['42710', '23505', '42704'])
def test_race_not_reached_is_a_conflict(pgcode):
    with pytest.raises(Conflict, match="^slot 'x' was changed by someone else while this run changed it"):
        converge(failing(pgcode), lambda: 'other', lambda state: False, "slot 'x'")


@pytest.mark.parametrize('pgcode', [None, '42501', '55006', '42601'])
def test_other_failures_are_raised_unchanged(pgcode):
    with pytest.raises(QueryFailed) as info:
        converge(failing(pgcode), lambda: pytest.fail('no re-read'), None, 'x')
    assert info.value.pgcode == pgcode
