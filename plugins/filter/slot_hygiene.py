# -*- coding: utf-8 -*-
# Copyright: pgha.replication contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The slot_hygiene filter: which replication slots of a leader need attention, and which of the slots an
operator asked to drop may be dropped. Pure: it reads what pg_replication_info (and, on a Patroni cluster,
patroni_config and patroni_cluster_info) returned and decides; the playbook slot_hygiene.yml acts on it."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible.errors import AnsibleFilterError
# The slot Patroni keeps for a member, named as Patroni names it: one definition for the modules and this filter.
from ansible_collections.pgha.replication.plugins.module_utils._patroni_slots import member_slot_name

DEFAULT_THRESHOLD = 5 * 1024 ** 3


def ignored_by(slot, ignore_slots):
    """True when an entry of Patroni's ignore_slots covers the slot: every key the entry gives (name, type,
    database, plugin) matches."""
    fields = dict(name=slot.get('slot_name'), type=slot.get('slot_type'), database=slot.get('database'),
                  plugin=slot.get('plugin'))
    for entry in ignore_slots or []:
        if isinstance(entry, dict) and entry and all(fields.get(key) == value for key, value in entry.items()):
            return True
    return False


def owner_of(slot, patroni):
    """Who keeps the slot on a Patroni cluster: 'permanent', 'member <name>', 'ignored' (by ignore_slots), 'failover'
    (a logical failover slot, left to PostgreSQL) or 'unknown'; None without Patroni."""
    if patroni is None:
        return None
    name = slot['slot_name']
    if name in (patroni.get('permanent') or {}):
        return 'permanent'
    for member in patroni.get('members') or []:
        if member_slot_name(member) == name:
            return 'member %s' % member
    if ignored_by(slot, patroni.get('ignore_slots')):
        return 'ignored'
    if slot.get('slot_type') == 'logical' and slot.get('failover'):
        # Patroni 4.1 leaves a failover slot (PostgreSQL 17) to PostgreSQL's own slot synchronisation.
        return 'failover'
    return 'unknown'


def flags_of(slot, threshold, owner):
    """Why a slot needs attention, one phrase each; [] when it does not."""
    flags = []
    retained = slot.get('retained_bytes') or 0
    if not slot.get('active') and retained > threshold:
        flags.append('inactive and retains %d bytes (more than %d)' % (retained, threshold))
    if slot.get('wal_status') in ('unreserved', 'lost'):
        flags.append('wal_status %s' % slot['wal_status'])
    if owner == 'unknown' and not slot.get('temporary'):
        flags.append('unknown to Patroni, which drops it at its next check of the slots (add it to ignore_slots '
                     'or make it permanent to keep it)')
    return flags


def refusal(slot, owner):
    """Why the slot may not be dropped by slot_hygiene, with what to do instead; None when it may. What Patroni keeps
    comes first: it creates such a slot again, active or not."""
    name = slot['slot_name']
    if owner == 'permanent':
        return ('slot %s is a Patroni permanent slot (Patroni creates it again): remove it from the configuration with '
                'pgha.replication.pg_replication_slot name=%s permanent=true state=absent' % (name, name))
    if owner and owner.startswith('member '):
        return ('slot %s is the slot Patroni keeps for %s (Patroni creates it again): remove the member from the '
                'cluster instead' % (name, owner))
    if slot.get('active'):
        return ('slot %s is active (pid %s): stop its consumer first, or drop it with pgha.replication.pg_replication_slot '
                'name=%s state=absent terminate_active=true' % (name, slot.get('active_pid'), name))
    if slot.get('temporary'):
        return 'slot %s is temporary: it goes away when the session that made it ends' % name
    return None


def as_names(value, what):
    if value is None or value == '':
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(',') if item.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise AnsibleFilterError('slot_hygiene: %s must be a list of slot names or a comma-separated string, not %r'
                             % (what, value))


def slot_hygiene(slots, threshold_bytes=DEFAULT_THRESHOLD, drop=None, patroni=None):
    """Classify ``slots`` (pg_replication_info's slots of the leader) and check the request to drop ``drop``.

    ``patroni`` is None, or {permanent: Patroni's slots dict, ignore_slots: list, members: member names}.
    Returns {rows, flagged, drop, absent, refused}: rows are the slots with owner and flags added, flagged the
    names of those with a flag, drop the named slots that exist and may be dropped, absent the named slots that do
    not exist (already dropped: nothing to do), refused one sentence per named slot that may not be dropped."""
    if not isinstance(slots, list) or not all(isinstance(slot, dict) and 'slot_name' in slot for slot in slots):
        raise AnsibleFilterError('slot_hygiene: the input must be the slots list of pg_replication_info, not %r' % (slots,))
    try:
        threshold = int(threshold_bytes)
    except (TypeError, ValueError):
        raise AnsibleFilterError('slot_hygiene: threshold_bytes must be a number of bytes, not %r' % (threshold_bytes,))
    if threshold < 0:
        raise AnsibleFilterError('slot_hygiene: threshold_bytes must be 0 or more, not %d' % threshold)
    if patroni is not None and not isinstance(patroni, dict):
        raise AnsibleFilterError('slot_hygiene: patroni must be a dict (permanent, ignore_slots, members), not %r' % (patroni,))
    rows = []
    for slot in slots:
        owner = owner_of(slot, patroni)
        row = dict(slot, owner=owner)
        row['flags'] = flags_of(slot, threshold, owner)
        rows.append(row)
    by_name = dict((row['slot_name'], row) for row in rows)
    wanted = as_names(drop, 'drop')
    result = dict(rows=rows, flagged=[row['slot_name'] for row in rows if row['flags']], drop=[], absent=[], refused=[])
    for name in wanted:
        row = by_name.get(name)
        if row is None:
            result['absent'].append(name)
            continue
        why = refusal(row, row['owner'])
        result['refused' if why else 'drop'].append(why or name)
    return result


def slot_names(value):
    """A list or comma-separated string of slot names as a sorted list without duplicates (to compare a confirmation
    with a request)."""
    return sorted(set(as_names(value, 'the value')))


class FilterModule(object):
    def filters(self):
        return {'slot_hygiene': slot_hygiene, 'slot_names': slot_names}
