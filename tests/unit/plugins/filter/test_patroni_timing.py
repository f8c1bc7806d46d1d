# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The patroni_timing_problems filter: Patroni's HA timing rule, the same one patroni_config applies."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.pgha.replication.plugins.filter.patroni_timing import FilterModule, patroni_timing_problems
from ansible_collections.pgha.replication.plugins.module_utils._errors import InvalidInput
from ansible_collections.pgha.replication.plugins.modules import patroni_config

CASES = [
    ('defaults', dict(ttl=30, loop_wait=10, retry_timeout=10), []),
    ('the edge', dict(ttl=20, loop_wait=2, retry_timeout=9), []),
    ('fast preset', dict(ttl=20, loop_wait=2, retry_timeout=5), []),
    ('numbers as strings (inventory values)', dict(ttl='30', loop_wait='10', retry_timeout='10'), []),
    ('sum above ttl', dict(ttl=20, loop_wait=10, retry_timeout=10),
     ['loop_wait + 2 * retry_timeout (10 + 2 * 10 = 30) must not exceed ttl (20)']),
    ('every minimum', dict(ttl=19, loop_wait=0, retry_timeout=2),
     ['ttl (19) must be 20 or more', 'loop_wait (0) must be 1 or more', 'retry_timeout (2) must be 3 or more']),
]


@pytest.mark.parametrize('timing, expected', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_problems(timing, expected):
    assert patroni_timing_problems(timing) == expected
    assert FilterModule().filters()['patroni_timing_problems'](timing) == expected


@pytest.mark.parametrize('timing, expected', [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_module_refuses_the_same_timings_with_the_same_words(timing, expected):
    patch = dict((key, int(value)) for key, value in timing.items())
    if not expected:
        patroni_config.validate_timing(patch, patch)
        return
    with pytest.raises(InvalidInput) as info:
        patroni_config.validate_timing(patch, patch)
    assert '; '.join(expected) in info.value.msg


@pytest.mark.parametrize('timing', [None, dict(ttl=30, loop_wait=10), dict(ttl=30, loop_wait=10, retry_timeout=10, x=1),
                                    dict(ttl='thirty', loop_wait=10, retry_timeout=10)])
def test_bad_input_is_a_filter_error(timing):
    with pytest.raises(AnsibleFilterError, match='patroni_timing_problems'):
        patroni_timing_problems(timing)
