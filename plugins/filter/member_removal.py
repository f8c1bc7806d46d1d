# -*- coding: utf-8 -*-
# Copyright: pgha.replication contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The member_removal filter: whether a member may leave a Patroni cluster, and what its removal leaves. Pure: it
reads what patroni_cluster_info returned; the playbook member_remove.yml acts on it."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.pgha.replication.plugins.module_utils._patroni_slots import member_slot_name

LEADER_ROLES = ('leader', 'standby_leader', 'master', 'primary')


def synchronous_need(config):
    """(members the synchronous settings need, their description), or (1, None) without synchronous mode."""
    config = config or {}
    mode = config.get('synchronous_mode')
    if mode in (True, 'quorum', 'on', 'true'):
        count = int(config.get('synchronous_node_count') or 1)
        what = 'synchronous_mode=%s with synchronous_node_count=%d' % ('quorum' if mode == 'quorum' else 'on', count)
        if config.get('synchronous_mode_strict'):
            what += ' (strict)'
        return count + 1, what
    return 1, None


def member_removal(cluster, member):
    """What removing ``member`` from the cluster (patroni_cluster_info's result) means: a dict with member, present
    (still in GET /cluster), slot (the slot Patroni keeps for it on the leader), leader, remaining (the other members)
    and problems (why it must not be removed now, each saying what to do; empty when it may)."""
    if not isinstance(cluster, dict) or not isinstance(cluster.get('members'), list):
        raise AnsibleFilterError('member_removal: the input must be the result of pgha.replication.patroni_cluster_info')
    if not member or not isinstance(member, str):
        raise AnsibleFilterError('member_removal: name the member to remove')
    names = [m.get('name') for m in cluster['members']]
    present = member in names
    remaining = sorted(name for name in names if name != member)
    leader = cluster.get('leader')
    problems = []
    if present:
        role = next(m.get('role') for m in cluster['members'] if m.get('name') == member)
        if member == leader or role in LEADER_ROLES:
            problems.append("%s is the leader: switch over first (pgha.replication.switchover -e switchover_leader=<one "
                            "of %s>), then remove it" % (member, ', '.join(remaining) or 'the other members'))
        elif leader is None:
            problems.append('the cluster has no leader: a member is removed from a running cluster only (members: %s)'
                            % (', '.join(sorted(names)) or 'none'))
        away = sorted('%s (%s)' % (m.get('name'), m.get('state')) for m in cluster['members']
                      if m.get('name') != member and m.get('state') not in ('running', 'streaming'))
        if away:
            problems.append('not running: %s - wait until every other member runs: the slot of %s is dropped with '
                            "Patroni's member_slots_ttl at 0 for a moment, which drops the slot of a member that is "
                            'away too' % (', '.join(away), member))
        need, what = synchronous_need(cluster.get('config'))
        if what and len(remaining) < need:
            problems.append('removing %s leaves %d member(s) (%s) and %s needs %d: lower synchronous_node_count '
                            '(patroni_synchronous_node_count) or turn synchronous mode off (pgha_synchronous_mode) first, '
                            'or add a member' % (member, len(remaining), ', '.join(remaining) or 'none', what, need))
    return dict(member=member, present=present, slot=member_slot_name(member), leader=leader, remaining=remaining,
                problems=problems)


class FilterModule(object):
    def filters(self):
        return {'member_removal': member_removal}
