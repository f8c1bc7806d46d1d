#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
---
module: patroni_reinitialize
short_description: Rebuild a broken replica of a Patroni cluster from the leader
version_added: 0.1.0
description:
  - Declarative reinitialisation through the Patroni REST API. O(member) names a replica; when it is healthy (a replica
    that streams on the leader's timeline, lagging no more than C(maximum_lag_on_failover)) nothing is done, unless
    O(force=true). Otherwise the module asks the member's own Patroni to reinitialise it with C(POST /reinitialize).
    Patroni stops its PostgreSQL, removes the data directory and creates the replica again with the cluster's
    C(create_replica_methods) (C(pg_basebackup) from the leader, or pgBackRest).
  - With O(wait=true) it then waits until the member runs a new PostgreSQL that streams from the leader.
  - The leader is refused (switch over first), as is a member not in the cluster, and a cluster without a leader to
    clone from; the message names the members and says what to do. Patroni is not asked then.
  - Never runs C(patronictl).
author:
  - pgha.replication developers (@pgha)
extends_documentation_fragment:
  - pgha.replication._attributes
  - pgha.replication._attributes.patroni_group
  - pgha.replication._patroni
options:
  member:
    description: Name of the replica to rebuild (its C(name) in C(patroni.yml), as C(GET /cluster) lists it).
    type: str
    required: true
    version_added: 0.1.0
  force:
    description:
      - V(true) rebuilds the member even when it is healthy.
      - V(false) rebuilds it only when it is not - not streaming, on another timeline than the leader, lagging more
        than C(maximum_lag_on_failover) or with an unknown lag - so that a second run changes nothing.
    type: bool
    default: false
    version_added: 0.1.0
  wait:
    description: Wait until the member runs a new PostgreSQL streaming from the leader. Not used in check mode.
    type: bool
    default: true
    version_added: 0.1.0
  wait_timeout:
    description: Upper bound, in seconds, of the wait (see O(wait)); the module fails when it is reached.
    type: int
    default: 600
    version_added: 0.1.0
attributes:
  check_mode:
    description: Reads the cluster, runs the same checks and returns the same RV(ignore:changed) and RV(action) without
      asking Patroni.
  diff_mode:
    description: Returns the member's role, state and timeline before and after in RV(diff).
notes:
  - C(POST /reinitialize) needs the REST API's basic authentication when Patroni has C(restapi.authentication); set
    O(api_username) and O(api_password). The request goes to the member's own REST API (its C(api_url) in
    C(GET /cluster)), with the same credentials and TLS options.
  - 'The module sends C({"force": true}), so that Patroni rebuilds a member even while it keeps trying to restart a
    failed PostgreSQL.'
  - Every byte of the member's data directory is replaced. Playbook C(pgha.replication.member_reinit) asks for a
    confirmation that names the member.
seealso:
  - module: pgha.replication.patroni_cluster_info
  - name: Patroni REST API
    description: The C(/reinitialize) endpoint.
    link: https://patroni.readthedocs.io/en/latest/rest_api.html
'''

EXAMPLES = r'''
- name: Rebuild pg3 if it is broken
  pgha.replication.patroni_reinitialize:
    api_url: https://pg1.example.com:8008
    api_ca_path: /etc/patroni/pki/ca.crt
    api_username: patroni
    api_password: "{{ vault_patroni_api_password }}"
    member: pg3

- name: Rebuild pg3 whatever its state
  pgha.replication.patroni_reinitialize:
    api_url: https://pg1.example.com:8008
    api_username: patroni
    api_password: "{{ vault_patroni_api_password }}"
    member: pg3
    force: true
    wait_timeout: 1800
'''

RETURN = r'''
action:
  description: V(reinitialized) (V(would reinitialize) in check mode), or V(none) when the member is healthy.
  returned: always
  type: str
  sample: reinitialized
reason:
  description: Why the module did what it did, for example C(pg3 streams on timeline 3, 0 bytes behind) or C(force).
  returned: always
  type: str
  sample: "pg3 is in state 'start failed'"
member:
  description: The member after the run (predicted in check mode), as RV(pgha.replication.patroni_cluster_info#module:members)
    shows it.
  returned: always
  type: dict
  sample: {name: pg3, role: replica, state: streaming, timeline: 3, lag: 0}
seconds:
  description: Seconds from the request until the member streamed again; V(null) when nothing was asked or waited for.
  returned: always
  type: float
  sample: 7.4
diff:
  description: The member's role, state and timeline before and after.
  returned: when diff mode is enabled
  type: dict
'''

import time

from ansible_collections.pgha.replication.plugins.module_utils._module import ModuleFrame
from ansible_collections.pgha.replication.plugins.module_utils._poll import poll
from ansible_collections.pgha.replication.plugins.module_utils._patroni import (
    LEADER_ROLES,
    REPLICA_ROLES,
    Conflict,
    InvalidInput,
    PATRONI_API,
    PatroniClient,
    PgHaError,
    WaitTimeout,
    member_by_name,
    member_status,
    post_to_member,
    read_cluster,
    validate_api_params,
)

ARGUMENT_SPEC = dict(
    member=dict(type='str', required=True),
    force=dict(type='bool', default=False),
    wait=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=600),
)
POLL_INTERVAL = 1.0
HEALTHY_STATES = ('streaming', 'running')


class ReinitializeFailed(PgHaError):
    """Patroni refused or failed to reinitialise the member."""


def validate_params(params):
    """Check what the argument spec cannot express; return the desired state. Pure; raises InvalidInput."""
    validate_api_params(params)
    member = (params.get('member') or '').strip()
    if not member:
        raise InvalidInput('member must name a replica of the cluster')
    if params.get('wait_timeout') is not None and params['wait_timeout'] < 1:
        raise InvalidInput('wait_timeout must be 1 or more')
    return dict(member=member, force=bool(params.get('force')), wait=bool(params.get('wait')),
                wait_timeout=params.get('wait_timeout') or 600)


def health(cluster, member):
    """Why ``member`` needs rebuilding, or None when it is a healthy replica. Pure."""
    maximum = (cluster['config'] or {}).get('maximum_lag_on_failover', 1048576)
    name = member['name']
    if member['state'] not in HEALTHY_STATES:
        return "%s is in state '%s'" % (name, member['state'])
    if cluster['timeline'] is not None and member['timeline'] != cluster['timeline']:
        return "%s is on timeline %s, the leader on %s" % (name, member['timeline'], cluster['timeline'])
    if member['lag'] is None:
        return '%s has an unknown replication lag' % name
    if member['lag'] > maximum:
        return '%s lags %d bytes, more than maximum_lag_on_failover (%d bytes)' % (name, member['lag'], maximum)
    return None


def plan(cluster, desired):
    """(reinitialize?, reason) for the desired member. Pure; raises Conflict when it must not be rebuilt."""
    name = desired['member']
    member = member_by_name(cluster, name)
    names = ', '.join(m['name'] for m in cluster['members']) or 'none'
    if member is None:
        raise Conflict("member '%s' is not in the cluster (members: %s)" % (name, names))
    if member['role'] in LEADER_ROLES or cluster['leader'] == name:
        raise Conflict("member '%s' is the leader: it cannot be rebuilt from itself; switch over first "
                       "(pgha.replication.switchover, module pgha.replication.patroni_switchover), then rebuild it"
                       % name)
    if cluster['leader'] is None:
        raise Conflict("the cluster has no leader to rebuild '%s' from (members: %s)" % (name, names))
    if member['role'] not in REPLICA_ROLES:
        raise Conflict("member '%s' has role '%s', not a replica" % (name, member['role']))
    problem = health(cluster, member)
    if problem is None:
        if desired['force']:
            return True, 'force'
        return False, '%s streams on timeline %s, %s bytes behind' % (name, member['timeline'], member['lag'])
    return True, problem


def request_reinitialize(client, member):
    """POST /reinitialize on the member's own REST API. Raises ReinitializeFailed with Patroni's answer."""
    return post_to_member(client, member, '/reinitialize', {'force': True}, ReinitializeFailed, 'reinitialize')


def rebuilt(status, before_start):
    """Whether the member's live state (GET /patroni) shows a new PostgreSQL, a replica that streams. Pure."""
    return (bool(status) and status.get('state') == 'running' and status.get('role') == 'replica'
            and status.get('postmaster_start_time') != before_start
            and status.get('replication_state', 'streaming') == 'streaming')


def view(member):
    return dict((key, member.get(key)) for key in ('name', 'role', 'state', 'timeline', 'lag'))


def run(module, clock=time.monotonic, sleep=time.sleep):
    desired = validate_params(module.params)
    client = PatroniClient(module.params)
    cluster = read_cluster(client)
    do_it, reason = plan(cluster, desired)
    member = member_by_name(cluster, desired['member'])
    before = view(member)
    result = dict(changed=do_it, action='none', reason=reason, member=before, seconds=None)
    if do_it:
        result['action'] = 'would reinitialize' if module.check_mode else 'reinitialized'
    if do_it and not module.check_mode:
        live = member_status(client.for_member, member) or {}
        started = clock()
        request_reinitialize(client, member)
        if desired['wait']:
            dummy, done = poll(lambda: member_status(client.for_member, member),
                               lambda status: rebuilt(status, live.get('postmaster_start_time')),
                               POLL_INTERVAL, timeout=desired['wait_timeout'], clock=clock, sleep=sleep)
            if not done:
                raise WaitTimeout("'%s' did not stream again within %d s of the reinitialize request (see its Patroni "
                                  "log: journalctl -u patroni)" % (member['name'], desired['wait_timeout']))
            result['seconds'] = round(clock() - started, 1)
        after = member_by_name(read_cluster(client), member['name'])
        result['member'] = view(after) if after else before
    elif do_it:
        result['member'] = dict(before, state='streaming', timeline=cluster['timeline'], lag=0)
    if module._diff:
        result['diff'] = dict(before=before, after=result['member'])
    return result


def main():
    frame = ModuleFrame(ARGUMENT_SPEC, groups=[PATRONI_API], validate=validate_params)
    frame.run(run)


if __name__ == '__main__':
    main()
