# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure unit tests of pg_replication_info: lag diagnosis, password stripping, slot flags. No server."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.pgha.replication.plugins.module_utils._postgres import InvalidInput
from ansible_collections.pgha.replication.plugins.modules import pg_replication_info as mod

MIB = 1024 * 1024
T_S = 5.0
T_B = 16 * MIB

DIAGNOSIS_CASES = [
    # id, state, (write, flush, replay) seconds, (write, flush, replay) bytes behind, expected
    ('idle, all null', 'streaming', (None, None, None), (0, 0, 0), 'healthy'),
    ('small lags', 'streaming', (0.001, 0.002, 0.003), (100, 200, 300), 'healthy'),
    ('exactly at threshold', 'streaming', (1.0, 2.0, 5.0), (0, 0, T_B), 'healthy'),
    ('network by time', 'streaming', (8.0, 8.1, 8.2), (0, 0, 0), 'network'),
    ('disk by time', 'streaming', (0.1, 7.0, 7.1), (0, 0, 0), 'disk'),
    ('replay by time', 'streaming', (0.1, 0.2, 30.0), (0, 0, 0), 'replay'),
    ('network by bytes', 'streaming', (None, None, None), (64 * MIB, 64 * MIB, 64 * MIB), 'network'),
    ('disk by bytes', 'streaming', (0.0, 0.0, 0.0), (MIB, 40 * MIB, 41 * MIB), 'disk'),
    ('replay by bytes', 'streaming', (0.0, 0.0, 0.0), (0, MIB, 100 * MIB), 'replay'),
    ('time wins over bytes', 'streaming', (0.1, 0.2, 9.0), (100 * MIB, 100 * MIB, 100 * MIB), 'replay'),
    ('pg_receivewal: no replay', 'streaming', (0.01, 0.02, None), (0, 0, None), 'healthy'),
    ('pg_receivewal far behind', 'streaming', (None, None, None), (20 * MIB, 20 * MIB, None), 'network'),
    ('catchup', 'catchup', (0.0, 0.0, 0.0), (0, 0, 0), 'not_streaming'),
    ('startup', 'startup', (None, None, None), (None, None, None), 'not_streaming'),
    ('stopping', 'stopping', (None, None, None), (0, 0, 0), 'not_streaming'),
    ('backup', 'backup', (None, None, None), (0, 0, 0), 'not_streaming'),
    ('non-monotonic values are clamped', 'streaming', (9.0, 6.0, 7.0), (0, 0, 0), 'network'),
]


@pytest.mark.parametrize('state, seconds, nbytes, expected', [c[1:] for c in DIAGNOSIS_CASES], ids=[c[0] for c in DIAGNOSIS_CASES])
def test_diagnose(state, seconds, nbytes, expected):
    diagnosis, reason = mod.diagnose(state, seconds, nbytes, T_S, T_B)
    assert diagnosis == expected, reason
    assert reason and '\n' not in reason
    if expected not in ('healthy', 'not_streaming'):
        assert 'is %s' % expected in reason


def test_diagnose_reason_text():
    assert mod.diagnose('streaming', (0.1, 0.2, 9.0), (0, 0, 0), T_S, T_B)[1] == (
        'lag 9.000s exceeds 5.000s; 8.800s of it is replay: the standby is slow to replay WAL '
        '(apply load, recovery conflicts or paused replay)')
    assert mod.diagnose('catchup', (None, None, None), (0, 0, 0), T_S, T_B)[1] == 'walsender state is catchup, not streaming'
    assert mod.diagnose(None, (None, None, None), (0, 0, 0), T_S, T_B)[1] == 'walsender state is unknown, not streaming'


@pytest.mark.parametrize('threshold_seconds, threshold_bytes, expected', [
    (10.0, T_B, 'healthy'),
    (1.0, T_B, 'replay'),
    (10.0, 0, 'network'),
])
def test_diagnose_thresholds(threshold_seconds, threshold_bytes, expected):
    assert mod.diagnose('streaming', (0.5, 0.6, 3.0), (10, 10, 10), threshold_seconds, threshold_bytes)[0] == expected


@pytest.mark.parametrize('overrides, message', [
    (dict(lag_threshold_bytes=-1), 'lag_threshold_bytes'),
    (dict(lag_threshold_seconds=-0.5), 'lag_threshold_seconds'),
])
def test_validate_params(overrides, message):
    params = dict(lag_threshold_bytes=T_B, lag_threshold_seconds=T_S)
    mod.validate_params(params)
    params.update(overrides)
    with pytest.raises(InvalidInput, match=message):
        mod.validate_params(params)
