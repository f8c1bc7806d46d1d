#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
---
module: patroni_restart
short_description: Restart the PostgreSQL of one Patroni member when a change waits for a restart
version_added: 0.1.0
description:
  - Declarative restart through the Patroni REST API. O(member) names a member of the cluster; with O(pending_only=true)
    (the default) it is restarted only when Patroni reports C(pending_restart) for it - a parameter changed that
    PostgreSQL reads only at start - so that a second run changes nothing.
  - The module asks the member's own Patroni (C(POST /restart) on its C(api_url)), which stops and starts PostgreSQL
    and keeps the member's role. With O(wait=true) it then waits until the member runs a new PostgreSQL (a replica
    streaming again) and no longer reports a pending restart.
  - The leader is refused unless O(allow_leader=true) - restarting it leaves the cluster without a writable server while
    PostgreSQL starts; switch over first (playbook C(pgha.replication.rolling_restart) does both). Also refused, with
    Patroni not asked - a member not in the cluster, a member whose PostgreSQL is not running (rebuild or start it
    first), and a paused cluster (Patroni's maintenance mode - resume it first).
  - Never runs C(patronictl).
author:
  - pgha.replication developers (@pgha)
extends_documentation_fragment:
  - pgha.replication._attributes
  - pgha.replication._attributes.patroni_group
  - pgha.replication._patroni
options:
  member:
    description: Name of the member to restart (its C(name) in C(patroni.yml), as C(GET /cluster) lists it).
    type: str
    required: true
    version_added: 0.1.0
  pending_only:
    description:
      - V(true) restarts the member only when Patroni reports C(pending_restart) for it; otherwise nothing is done.
      - V(false) restarts it in any case (not idempotent - every run restarts).
    type: bool
    default: true
    version_added: 0.1.0
  allow_leader:
    description: Restart the member even when it is the leader (writes fail while its PostgreSQL starts).
    type: bool
    default: false
    version_added: 0.1.0
  wait:
    description:
      - Wait until the member runs a new PostgreSQL - a replica streaming from the leader - with no pending restart.
      - Not used in check mode.
    type: bool
    default: true
    version_added: 0.1.0
  wait_timeout:
    description:
      - Upper bound, in seconds, of the restart (Patroni's C(timeout) for PostgreSQL to start) and of the wait (see
        O(wait)); the module fails when it is reached.
    type: int
    default: 300
    version_added: 0.1.0
attributes:
  check_mode:
    description: Reads the cluster, runs the same checks and returns the same RV(ignore:changed) and RV(action) without
      asking Patroni.
  diff_mode:
    description: Returns the member's role, state, pending restart and PostgreSQL start time before and after in RV(diff).
notes:
  - C(POST /restart) needs the REST API's basic authentication when Patroni has C(restapi.authentication); set
    O(api_username) and O(api_password). The request goes to the member's own REST API (its C(api_url) in
    C(GET /cluster)), with the same credentials and TLS options.
  - Restarting the only synchronous standby of a cluster with C(synchronous_mode_strict) makes commits on the leader
    wait until it is back. With C(synchronous_mode) on and another healthy replica, Patroni names that one synchronous
    in the meantime.
seealso:
  - module: pgha.replication.patroni_cluster_info
  - module: pgha.replication.patroni_switchover
  - name: Patroni REST API
    description: The C(/restart) endpoint.
    link: https://patroni.readthedocs.io/en/latest/rest_api.html
'''

EXAMPLES = r'''
- name: Restart pg3 if a parameter change waits for it
  pgha.replication.patroni_restart:
    api_url: https://pg1.example.com:8008
    api_ca_path: /etc/patroni/pki/ca.crt
    api_username: patroni
    api_password: "{{ vault_patroni_api_password }}"
    member: pg3

- name: Restart every replica that needs it, one after the other
  pgha.replication.patroni_restart:
    api_url: https://pg1.example.com:8008
    api_username: patroni
    api_password: "{{ vault_patroni_api_password }}"
    member: "{{ item }}"
  loop: [pg2, pg3]
'''

RETURN = r'''
action:
  description: V(restarted) (V(would restart) in check mode), or V(none) when no restart is pending.
  returned: always
  type: str
  sample: restarted
reason:
  description: Why the module did what it did - the pending parameters as Patroni reports them, V(pending_only=false),
    or that nothing is pending.
  returned: always
  type: str
  sample: "pg3 has a pending restart (wal_buffers: -1 -> 1MB)"
member:
  description: The member after the run (predicted in check mode) - name, role, state, timeline, lag, pending_restart.
  returned: always
  type: dict
  sample: {name: pg3, role: replica, state: streaming, timeline: 3, lag: 0, pending_restart: false}
postmaster_start_time:
  description: The member's PostgreSQL start time before and after, as its Patroni reports it.
  returned: always
  type: dict
  sample: {before: "2026-12-07 21:02:11.338+00:00", after: "2026-12-07 21:14:40.101+00:00"}
seconds:
  description: Seconds from the request until the member ran (and streamed) again; V(null) when nothing was asked or
    waited for.
  returned: always
  type: float
  sample: 3.1
diff:
  description: The member's role, state, pending restart and PostgreSQL start time before and after.
  returned: when diff mode is enabled
  type: dict
'''

import time

from ansible_collections.pgha.replication.plugins.module_utils._module import ModuleFrame
from ansible_collections.pgha.replication.plugins.module_utils._poll import poll
from ansible_collections.pgha.replication.plugins.module_utils._patroni import (
    LEADER_ROLES,
    Conflict,
    InvalidInput,
    PATRONI_API,
    PgHaError,
    PatroniClient,
    WaitTimeout,
    member_by_name,
    member_status,
    post_to_member,
    read_cluster,
    validate_api_params,
)

ARGUMENT_SPEC = dict(
    member=dict(type='str', required=True),
    pending_only=dict(type='bool', default=True),
    allow_leader=dict(type='bool', default=False),
    wait=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=300),
)
POLL_INTERVAL = 1.0
RUNNING_STATES = ('running', 'streaming')


class RestartFailed(PgHaError):
    """Patroni refused or failed to restart the member."""


def validate_params(params):
    """Check what the argument spec cannot express; return the desired state. Pure; raises InvalidInput."""
    validate_api_params(params)
    member = (params.get('member') or '').strip()
    if not member:
        raise InvalidInput('member must name a member of the cluster')
    if params.get('wait_timeout') is not None and params['wait_timeout'] < 1:
        raise InvalidInput('wait_timeout must be 1 or more')
    return dict(member=member, pending_only=params.get('pending_only') is not False,
                allow_leader=bool(params.get('allow_leader')), wait=params.get('wait') is not False,
                wait_timeout=params.get('wait_timeout') or 300)


def pending_reason(member):
    """What waits for a restart on ``member``, from Patroni's pending_restart_reason (Patroni 4). Pure."""
    reasons = member.get('pending_restart_reason')
    if not isinstance(reasons, dict) or not reasons:
        return '%s has a pending restart' % member['name']
    parts = []
    for name in sorted(reasons):
        change = reasons[name]
        if isinstance(change, dict):
            parts.append('%s: %s -> %s' % (name, change.get('old_value'), change.get('new_value')))
        else:
            parts.append(name)
    return '%s has a pending restart (%s)' % (member['name'], ', '.join(parts))


def plan(cluster, desired):
    """(restart?, reason) for the desired member. Pure; raises Conflict when it must not be restarted."""
    name = desired['member']
    member = member_by_name(cluster, name)
    names = ', '.join(m['name'] for m in cluster['members']) or 'none'
    if member is None:
        raise Conflict("member '%s' is not in the cluster (members: %s)" % (name, names))
    if cluster['paused']:
        raise Conflict("the cluster is paused (maintenance mode): resume it first (pgha.replication.maintenance "
                       "-e maintenance_state=resumed), then restart '%s'" % name)
    if member['state'] not in RUNNING_STATES:
        raise Conflict("member '%s' is in state '%s': a restart needs a running PostgreSQL (start it, or rebuild the "
                       "replica with pgha.replication.member_reinit)" % (name, member['state']))
    is_leader = member['role'] in LEADER_ROLES or cluster['leader'] == name
    if desired['pending_only'] and not member['pending_restart']:
        return False, '%s has no pending restart' % name
    if is_leader and not desired['allow_leader']:
        raise Conflict("member '%s' is the leader: restarting it leaves the cluster without a writable server while "
                       "PostgreSQL starts; switch over first (pgha.replication.rolling_restart does both), or set "
                       "allow_leader=true" % name)
    if desired['pending_only']:
        return True, pending_reason(member)
    return True, 'pending_only=false'


def request_restart(client, member, desired):
    """POST /restart on the member's own REST API; Patroni answers once PostgreSQL has started again.
    Raises RestartFailed with Patroni's answer."""
    body = dict(timeout=desired['wait_timeout'])
    if desired['pending_only']:
        body['restart_pending'] = True
    return post_to_member(client, member, '/restart', body, RestartFailed, 'restart',
                          timeout=desired['wait_timeout'] + 10)


def restarted(status, before_start):
    """Whether the member's live state (GET /patroni) shows a new PostgreSQL that runs (a replica streaming) with no
    pending restart. Pure."""
    if not status or status.get('state') != 'running' or status.get('pending_restart'):
        return False
    if status.get('postmaster_start_time') == before_start:
        return False
    return status.get('role') not in ('replica',) or status.get('replication_state', 'streaming') == 'streaming'


def view(member):
    return dict((key, member.get(key)) for key in ('name', 'role', 'state', 'timeline', 'lag', 'pending_restart'))


def run(module, clock=time.monotonic, sleep=time.sleep):
    desired = validate_params(module.params)
    client = PatroniClient(module.params)
    cluster = read_cluster(client)
    do_it, reason = plan(cluster, desired)
    member = member_by_name(cluster, desired['member'])
    before = view(member)
    live = member_status(client.for_member, member) or {}
    start_before = live.get('postmaster_start_time')
    result = dict(changed=do_it, action='none', reason=reason, member=before, seconds=None,
                  postmaster_start_time=dict(before=start_before, after=start_before))
    if do_it:
        result['action'] = 'would restart' if module.check_mode else 'restarted'
    if do_it and not module.check_mode:
        started = clock()
        request_restart(client, member, desired)
        status = None
        if desired['wait']:
            status, done = poll(lambda: member_status(client.for_member, member),
                                lambda current: restarted(current, start_before),
                                POLL_INTERVAL, timeout=desired['wait_timeout'], clock=clock, sleep=sleep)
            if not done:
                raise WaitTimeout("'%s' did not run a restarted PostgreSQL without a pending restart within %d s of "
                                  "the restart request (see its Patroni log: journalctl -u patroni)"
                                  % (member['name'], desired['wait_timeout']))
            result['seconds'] = round(clock() - started, 1)
        status = status or member_status(client.for_member, member) or {}
        result['postmaster_start_time']['after'] = status.get('postmaster_start_time')
        after = member_by_name(read_cluster(client, with_config=False), member['name'])
        result['member'] = dict(view(after) if after else before, pending_restart=bool(status.get('pending_restart')))
    elif do_it:
        result['member'] = dict(before, pending_restart=False)
    if module._diff:
        result['diff'] = dict(before=dict(before, postmaster_start_time=start_before),
                              after=dict(result['member'], postmaster_start_time=result['postmaster_start_time']['after']))
    return result


def main():
    frame = ModuleFrame(ARGUMENT_SPEC, groups=[PATRONI_API], validate=validate_params)
    frame.run(run)


if __name__ == '__main__':
    main()
