# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure unit tests of _replay: the pause/resume planner, check mode's prediction, when a pause holds."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.pgha.replication.plugins.module_utils import _replay as replay
from ansible_collections.pgha.replication.plugins.module_utils._errors import Conflict, WaitTimeout


def state(pause_state, wait_event=None):
    return dict(pause_state=pause_state, paused=pause_state != 'not paused', startup_wait_event=wait_event)


@pytest.mark.parametrize('current, desired, expected', [
    ('not paused', 'paused', [replay.PAUSE]),
    ('pause requested', 'paused', []),
    ('paused', 'paused', []),
    ('not paused', 'resumed', []),
    ('pause requested', 'resumed', [replay.RESUME]),
    ('paused', 'resumed', [replay.RESUME]),
])
def test_plan(current, desired, expected):
    assert replay.plan(state(current), desired) == expected


def test_predict_a_pause_on_a_delayed_standby_stays_requested():
    assert replay.predict(state('not paused', 'RecoveryApplyDelay'), 'paused', [replay.PAUSE])['pause_state'] == 'pause requested'
    assert replay.predict(state('not paused', 'RecoveryWalStream'), 'paused', [replay.PAUSE])['pause_state'] == 'paused'
    after = replay.predict(state('paused', 'RecoveryPause'), 'resumed', [replay.RESUME])
    assert after['pause_state'] == 'not paused' and after['paused'] is False
    unchanged = state('paused')
    assert replay.predict(unchanged, 'paused', []) == unchanged


@pytest.mark.parametrize('current, wait_event, holds', [
    ('paused', 'RecoveryPause', True),
    ('pause requested', 'RecoveryApplyDelay', True),
    ('pause requested', 'RecoveryWalStream', False),
    ('pause requested', None, False),
    ('not paused', 'RecoveryApplyDelay', False),
])
def test_pause_holds(current, wait_event, holds):
    assert replay.pause_holds(state(current, wait_event)) is holds


def test_wait_for_pause_times_out_naming_the_option():
    with pytest.raises(WaitTimeout) as err:
        replay.wait_for_pause(lambda: state('pause requested', 'WalReceiverWaitStart'), 0)
    assert 'raise wait_timeout' in err.value.msg and "'pause requested'" in err.value.msg
    assert err.value.details['standby']['pause_state'] == 'pause requested'


def test_a_primary_is_refused():
    with pytest.raises(Conflict, match='is a primary'):
        replay.check_standby(dict(in_recovery=False), 'pg1')
    replay.check_standby(dict(in_recovery=True), 'pg4')
