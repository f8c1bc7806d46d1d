# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Cases shared by the tests of pg_replication_slot and of its two backends: server facts, desired states, slots."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.pgha.replication.plugins.modules import pg_replication_slot as mod

PG15_PRIMARY = dict(version_num=150008, in_recovery=False, wal_level='logical')


PG15_STANDBY = dict(version_num=150008, in_recovery=True, wal_level='logical')


PG16_STANDBY = dict(version_num=160004, in_recovery=True, wal_level='logical')


PG17_PRIMARY = dict(version_num=170012, in_recovery=False, wal_level='logical')


PG17_STANDBY = dict(version_num=170012, in_recovery=True, wal_level='logical')


PG13_PRIMARY = dict(version_num=130016, in_recovery=False, wal_level='logical')


REPLICA_WAL = dict(version_num=150008, in_recovery=False, wal_level='replica')


def params(**overrides):
    base = dict(name='s1', slot_type='physical', state='present', plugin=None, immediately_reserve=False,
                two_phase=None, failover=None, terminate_active=False, wait_timeout=10, login_db='postgres')
    base.update(overrides)
    return base


def desired(**overrides):
    return mod.desired_from_params(params(**overrides))


def physical(**overrides):
    slot = dict(slot_name='s1', slot_type='physical', plugin=None, database=None, active=False, active_pid=None,
                two_phase=False, temporary=False)
    slot.update(overrides)
    return slot


def logical(**overrides):
    values = dict(slot_type='logical', plugin='pgoutput', database='postgres')
    values.update(overrides)
    return physical(**values)


def rendered(steps):
    """Steps as (kind, sql text, params) - the planner only emits plain SQL text, so no connection is needed."""
    return [(s.kind, s.query.as_string(None), s.params) for s in steps]


PATRONI_PRIMARY = dict(PG15_PRIMARY, cluster_name='pgha')


LOGICAL_DEF = {'type': 'logical', 'database': 'postgres', 'plugin': 'pgoutput'}


def patroni(slots=None, key='slots', members=('pg1', 'pg2'), scope='pgha', **config):
    if slots is not None:
        config[key] = slots
    return dict(config=config, members=list(members), scope=scope)


def pdesired(**overrides):
    return desired(**dict(dict(permanent=True, api_url='http://127.0.0.1:8008'), **overrides))


def plan_view(planned):
    return dict(patch=planned.patch, steps=rendered(planned.steps), entry=planned.entry, wait_for=planned.wait_for)
