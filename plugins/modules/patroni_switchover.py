#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
---
module: patroni_switchover
short_description: Make a given member the leader of a Patroni cluster with a checked switchover
version_added: 0.1.0
description:
  - Declarative switchover through the Patroni REST API. O(leader) names the member that should lead;
    when it already leads nothing is done. Otherwise the module checks that the member can take over,
    asks Patroni for a switchover (C(POST /switchover)) and, with O(wait=true), waits until the new leader
    runs and the old leader streams from it.
  - Before asking, the candidate must exist, be V(running) or V(streaming), be a V(replica) or
    V(sync_standby) or V(quorum_standby), have no C(nofailover) tag, lag no more than C(maximum_lag_on_failover)
    bytes and, when C(synchronous_mode) is V(true) or V(quorum), be a synchronous (or quorum) standby. A failed check fails the task with a message naming
    the problem; Patroni is not asked.
  - Never runs C(patronictl).
author:
  - pgha.replication developers (@pgha)
extends_documentation_fragment:
  - pgha.replication._attributes
  - pgha.replication._attributes.patroni_group
  - pgha.replication._patroni
options:
  leader:
    description:
      - Name of the member that should be the leader.
      - It must be a member of the cluster. Mutually exclusive with O(candidate_any).
    type: str
    version_added: 0.1.0
  candidate_any:
    description:
      - When V(true) and O(leader) is not set, move the leadership to any healthy member but the current leader -
        a synchronous standby first, then the one with the least lag.
      - This is not idempotent - every run switches over (for example to take the leader's host out for maintenance).
    type: bool
    default: false
    version_added: 0.1.0
  scheduled_at:
    description:
      - Schedule the switchover at this time instead of now - an ISO 8601 date and time with a time zone,
        for example V(2030-01-31T02:00:00+00:00). It must be in the future.
      - The module returns once Patroni has accepted the schedule; O(wait) does not apply.
      - The same schedule again is unchanged; a different switchover already scheduled makes the module fail.
    type: str
    version_added: 0.1.0
  wait:
    description:
      - Wait until O(leader) leads with state V(running) and the old leader is a replica streaming from it
        (state V(streaming), or V(running) on the new timeline).
      - Not used in check mode or with O(scheduled_at).
    type: bool
    default: true
    version_added: 0.1.0
  wait_timeout:
    description:
      - Seconds to wait (see O(wait)). The module fails when the switchover has not completed in time.
    type: int
    default: 120
    version_added: 0.1.0
attributes:
  check_mode:
    description:
      - Reads the cluster and runs every pre-check; predicts RV(ignore:changed) and RV(switchover) without asking Patroni.
        RV(after) is the predicted cluster.
  diff_mode:
    description: Returns the leader and the scheduled switchover before and after in RV(diff).
notes:
  - A switchover needs the REST API's basic authentication when Patroni has C(restapi.authentication); set
    O(api_username) and O(api_password).
  - Patroni answers C(POST /switchover) once the new leader holds the leader key (at most twice C(loop_wait),
    at least 20 seconds); the request's timeout is raised to cover that whatever O(api_timeout) says.
  - With O(wait=true) the module polls C(GET /cluster), and the leader's own REST API, every 0.25 seconds while
    Patroni switches over and reports in RV(unavailable_seconds) how long it saw no running leader.
seealso:
  - module: pgha.replication.patroni_cluster_info
  - name: Patroni REST API, switchover and failover endpoints
    description: C(POST /switchover) and its answers.
    link: https://patroni.readthedocs.io/en/latest/rest_api.html#switchover-and-failover-endpoints
'''

EXAMPLES = r'''
- name: Make pg2 the leader, waiting for the old leader to stream from it
  pgha.replication.patroni_switchover:
    api_url: http://10.0.0.1:8008
    api_username: patroni
    api_password: "{{ patroni_api_password }}"
    leader: pg2
  register: switched

- name: Report how long writes were unavailable
  ansible.builtin.debug:
    msg: "{{ switched.switchover }} took {{ switched.unavailable_seconds }}s without a running leader"
  when: switched is changed

- name: Move the leader off this host before patching it
  pgha.replication.patroni_switchover:
    api_url: http://10.0.0.1:8008
    api_username: patroni
    api_password: "{{ patroni_api_password }}"
    candidate_any: true
  when: patroni.leader == inventory_hostname

- name: Schedule a switchover to pg1 at 02:00 UTC
  pgha.replication.patroni_switchover:
    api_url: http://10.0.0.1:8008
    api_username: patroni
    api_password: "{{ patroni_api_password }}"
    leader: pg1
    scheduled_at: "2030-01-31T02:00:00+00:00"
'''

RETURN = r'''
before:
  description: The cluster before the run.
  returned: always
  type: dict
  contains:
    leader:
      description: Name of the leader.
      type: str
      sample: pg1
    timeline:
      description: Timeline of the leader.
      type: int
      sample: 1
    members:
      description: The members as RV(pgha.replication.patroni_cluster_info#module:members) returns them.
      type: list
      elements: dict
      sample: [{name: pg1, role: leader, state: running}, {name: pg2, role: sync_standby, state: streaming}]
after:
  description:
    - The cluster after the run, read again from the REST API; in check mode, the prediction
      (the candidate and the old leader swap roles, the timeline is one more).
  returned: always
  type: dict
  contains:
    leader:
      description: Name of the leader.
      type: str
      sample: pg2
    timeline:
      description: Timeline of the leader.
      type: int
      sample: 2
    members:
      description: The members.
      type: list
      elements: dict
      sample: [{name: pg1, role: sync_standby, state: streaming}, {name: pg2, role: leader, state: running}]
switchover:
  description: The switchover asked for (or that would be asked for in check mode), V(null) when none is needed.
  returned: always
  type: dict
  contains:
    from:
      description: The leader demoted.
      type: str
      sample: pg1
    to:
      description: The member promoted.
      type: str
      sample: pg2
    scheduled_at:
      description: When it is scheduled (UTC, ISO 8601), V(null) for a switchover now.
      type: str
      sample: null
    response:
      description: Patroni's answer to C(POST /switchover); V(null) in check mode.
      type: str
      sample: Successfully switched over to "pg2"
  sample: {from: pg1, to: pg2, scheduled_at: null, response: Successfully switched over to "pg2"}
unavailable_seconds:
  description:
    - Seconds during which the module saw no running leader while waiting, sampled every 0.25 seconds.
    - A poll sees a running leader when C(GET /cluster) names a leader in state V(running) and, when
      RV(unavailable_source=member), that leader's own REST API (its C(api_url)) reports PostgreSQL running as
      a primary at that moment.
    - It is what Patroni reports, not a measure of client connections; with RV(unavailable_source=dcs) it misses most
      of the old leader's shutdown, because members write their state to the DCS once per C(loop_wait).
    - V(null) when it did not wait (no switchover, check mode, O(wait=false) or O(scheduled_at)).
  returned: always
  type: float
  sample: 1.75
unavailable_source:
  description:
    - V(member) when the leader's own REST API was asked at each poll (it answered before the switchover),
      V(dcs) when only C(GET /cluster) was read (the members' C(api_url) cannot be reached from where the module runs).
    - V(null) when it did not wait.
  returned: always
  type: str
  sample: member
diff:
  description: The leader and the scheduled switchover before and after.
  returned: when diff mode is enabled
  type: dict
  contains:
    before:
      description: Before the run.
      type: dict
      sample: {leader: pg1, scheduled_switchover: null}
    after:
      description: After the run (predicted in check mode).
      type: dict
      sample: {leader: pg2, scheduled_switchover: null}
'''

import datetime
import threading
import time

from ansible_collections.pgha.replication.plugins.module_utils._module import ModuleFrame
from ansible_collections.pgha.replication.plugins.module_utils._poll import poll
from ansible_collections.pgha.replication.plugins.module_utils._patroni import (
    REPLICA_ROLES,
    SYNC_ROLES,
    UTC,
    Conflict,
    ConnectionFailed,
    InvalidInput,
    PatroniApiError,
    PATRONI_API,
    PatroniClient,
    PgHaError,
    Unsupported,
    WaitTimeout,
    member_by_name,
    member_status,
    parse_iso8601,
    read_cluster,
    validate_api_params,
)

POLL_INTERVAL = 0.25
LIVE_TIMEOUT = 1
CANDIDATE_STATES = ('running', 'streaming')


class PrecheckFailed(Conflict):
    """The candidate (or the cluster) is not fit for a switchover; Patroni is not asked."""


class SwitchoverFailed(PgHaError):
    """Patroni refused or failed the switchover."""


def validate_params(params):
    """Check option combinations the argument spec cannot express; return the desired state. Pure; raises InvalidInput."""
    validate_api_params(params)
    if params.get('leader') is not None and not params['leader'].strip():
        raise InvalidInput('leader must not be empty')
    if params.get('leader') is None and not params.get('candidate_any'):
        raise InvalidInput('set leader to the member that should lead, or candidate_any=true to move the leadership '
                           'to any healthy member')
    if params.get('leader') is not None and params.get('candidate_any'):
        raise InvalidInput('leader and candidate_any=true are mutually exclusive')
    if params.get('wait_timeout') is not None and params['wait_timeout'] < 1:
        raise InvalidInput('wait_timeout must be 1 or more')
    scheduled_at = None
    if params.get('scheduled_at'):
        scheduled_at = parse_iso8601(params['scheduled_at'])
    return dict(leader=params.get('leader'), candidate_any=bool(params.get('candidate_any')), scheduled_at=scheduled_at,
                wait=bool(params.get('wait')), wait_timeout=params.get('wait_timeout') or 120)


def _truthy(value):
    if isinstance(value, str):
        return value.strip().lower() in ('true', 'yes', 'on', '1')
    return bool(value)


def candidate_problems(cluster, name):
    """Why member ``name`` cannot be promoted by a switchover now: a list of messages, empty when it can. Pure."""
    member = member_by_name(cluster, name)
    if member is None:
        return ["member '%s' is not in the cluster (members: %s)" % (name, ', '.join(m['name'] for m in cluster['members']))]
    config = cluster['config'] or {}
    problems = []
    if member['state'] not in CANDIDATE_STATES:
        problems.append("member '%s' is in state '%s', not running or streaming" % (name, member['state']))
    if member['role'] not in REPLICA_ROLES:
        problems.append("member '%s' has role '%s', not replica, sync_standby or quorum_standby" % (name, member['role']))
    if _truthy(member['tags'].get('nofailover')):
        problems.append("member '%s' has the nofailover tag and can never be promoted (remove the tag in its patroni.yml)"
                        % name)
    maximum = config.get('maximum_lag_on_failover', 1048576)
    if member['lag'] is None:
        problems.append("member '%s' has an unknown replication lag" % name)
    elif member['lag'] > maximum:
        problems.append("member '%s' lags %d bytes, more than maximum_lag_on_failover (%d bytes)" % (name, member['lag'], maximum))
    mode = config.get('synchronous_mode')
    if mode in (True, 'quorum') and name not in cluster['sync_standbys']:
        kind = 'a quorum standby' if mode == 'quorum' else 'a synchronous standby'
        problems.append("synchronous_mode is %s and member '%s' is not %s (%s standbys: %s)"
                        % ('quorum' if mode == 'quorum' else 'on', name, kind, 'quorum' if mode == 'quorum' else 'sync',
                           ', '.join(cluster['sync_standbys']) or 'none'))
    if config.get('check_timeline') and cluster['timeline'] is not None and member['timeline'] != cluster['timeline']:
        problems.append("check_timeline is on and member '%s' is on timeline %s, not the leader's %s"
                        % (name, member['timeline'], cluster['timeline']))
    return problems


def choose_candidate(cluster):
    """The best member but the leader for candidate_any: sync standbys first, then least lag, then name. Pure."""
    others = [m for m in cluster['members'] if m['name'] != cluster['leader']]
    fit = [m for m in others if not candidate_problems(cluster, m['name'])]
    if not fit:
        reasons = ['; '.join(candidate_problems(cluster, m['name'])) for m in others] or ['the cluster has no other member']
        raise PrecheckFailed('candidate_any=true: no member can take over from %s: %s' % (cluster['leader'], ' | '.join(reasons)))
    fit.sort(key=lambda m: (m['role'] not in SYNC_ROLES, m['lag'], m['name']))
    return fit[0]['name']


def _iso(stamp):
    return stamp.astimezone(UTC).isoformat() if stamp is not None else None


def plan(cluster, desired, now=None):
    """Turn (cluster, desired) into the switchover to ask for, or None when nothing is needed. Pure.

    Raises InvalidInput (unknown member, schedule in the past), PrecheckFailed, Unsupported, Conflict.
    """
    now = now or datetime.datetime.now(UTC)
    target = desired['leader']
    if target is not None and member_by_name(cluster, target) is None:
        raise InvalidInput("leader '%s' is not a member of the cluster (members: %s)"
                           % (target, ', '.join(m['name'] for m in cluster['members']) or 'none'))
    current = cluster['leader']
    current_member = member_by_name(cluster, current) if current else None
    if target is not None and target == current:
        return None
    if current_member is None or current_member['state'] != 'running' or current_member['role'] != 'leader':
        raise Unsupported('the cluster has no running leader (leader: %s); a switchover needs one, this is a case for a '
                          'failover' % (current or 'none'))
    scheduled_at = desired['scheduled_at']
    if scheduled_at is not None:
        if cluster.get('paused'):
            raise Unsupported('the cluster is paused (maintenance mode); Patroni cannot schedule a switchover, '
                              'unset scheduled_at or resume the cluster')
        if scheduled_at <= now:
            raise InvalidInput('scheduled_at %s is in the past' % _iso(scheduled_at))
    existing = cluster.get('scheduled_switchover')
    if existing:
        same = False
        try:
            same = (scheduled_at is not None and parse_iso8601(existing.get('at')) == scheduled_at
                    and existing.get('to') == target)
        except InvalidInput:
            pass
        if same:
            return None
        raise Conflict('a switchover from %s to %s is already scheduled at %s; cancel it first (DELETE /switchover, '
                       'or patronictl flush <scope> switchover)'
                       % (existing.get('from') or '(any)', existing.get('to') or '(any)', existing.get('at')))
    if target is None:
        target = choose_candidate(cluster)
    problems = candidate_problems(cluster, target)
    if problems:
        raise PrecheckFailed("cannot switch over from %s to %s: %s" % (current, target, '; '.join(problems)))
    return {'from': current, 'to': target, 'scheduled_at': _iso(scheduled_at)}


def summary(cluster):
    """The view of a cluster returned in before/after. Pure."""
    return dict(leader=cluster['leader'], timeline=cluster['timeline'], members=cluster['members'])


def diff_view(cluster, scheduled=None):
    return dict(leader=cluster['leader'],
                scheduled_switchover=scheduled if scheduled is not None else cluster.get('scheduled_switchover'))


def predict(cluster, switchover):
    """The summary expected after ``switchover`` (check mode): the two members swap roles, the timeline is one more. Pure."""
    if switchover is None or switchover['scheduled_at']:
        return summary(cluster)
    old, new = member_by_name(cluster, switchover['from']), member_by_name(cluster, switchover['to'])
    timeline = cluster['timeline'] + 1 if cluster['timeline'] is not None else None
    members = []
    for member in cluster['members']:
        member = dict(member)
        if member['name'] == new['name']:
            member.update(role=old['role'], state='running', timeline=timeline, lag=0, receive_lag=0, replay_lag=0, lsn=None)
        elif member['name'] == old['name']:
            member.update(role=new['role'], state='streaming', timeline=timeline)
        members.append(member)
    return dict(leader=new['name'], timeline=timeline, members=members)


def predicted_scheduled(switchover):
    if switchover is None or not switchover['scheduled_at']:
        return None
    return {'at': switchover['scheduled_at'], 'from': switchover['from'], 'to': switchover['to']}


def has_running_leader(cluster):
    member = member_by_name(cluster, cluster['leader']) if cluster['leader'] else None
    return member is not None and member['state'] == 'running'


def completed(cluster, old, new):
    """Whether ``new`` leads and runs, and ``old`` is a replica streaming from it. Pure."""
    if cluster['leader'] != new or not has_running_leader(cluster):
        return False
    member = member_by_name(cluster, old)
    if member is None or member['role'] not in REPLICA_ROLES:
        return False
    return member['state'] == 'streaming' or (member['state'] == 'running' and member['timeline'] == cluster['timeline'])


def post_outcome(status, text, switchover):
    """Judge Patroni's answer to POST /switchover. Returns 'done', 'scheduled' or 'unknown'; raises SwitchoverFailed. Pure."""
    text = (text or '').strip()
    what = 'switchover from %s to %s' % (switchover['from'], switchover['to'])
    if switchover['scheduled_at']:
        if status == 202:
            return 'scheduled'
        raise SwitchoverFailed('%s at %s: unexpected answer HTTP %s (Patroni said: %s)'
                               % (what, switchover['scheduled_at'], status, text))
    if status == 200:
        if 'instead of' in text:
            raise SwitchoverFailed('%s: Patroni promoted another member (Patroni said: %s)' % (what, text))
        return 'done'
    if status == 503 and 'status unknown' in text.lower():
        return 'unknown'
    raise SwitchoverFailed('%s: unexpected answer HTTP %s (Patroni said: %s)' % (what, status, text))


def post_timeout(params, cluster):
    """Patroni answers POST /switchover after polling for up to 2 * max(10, loop_wait) seconds."""
    loop_wait = (cluster['config'] or {}).get('loop_wait', 10)
    return max(params['api_timeout'], 2 * max(10, loop_wait) + 10)


def request_switchover(client, switchover, timeout):
    """POST /switchover; return (status, text). Raises SwitchoverFailed with Patroni's message on an error answer."""
    body = {'leader': switchover['from'], 'candidate': switchover['to']}
    if switchover['scheduled_at']:
        body['scheduled_at'] = switchover['scheduled_at']
    try:
        return client.request('POST', '/switchover', body=body, timeout=timeout)
    except PatroniApiError as exc:
        if exc.status == 503 and 'status unknown' in (exc.body or '').lower():
            return exc.status, exc.body
        raise SwitchoverFailed('switchover from %s to %s failed: %s' % (switchover['from'], switchover['to'], exc.msg))


class _Poster(threading.Thread):
    """Sends the POST while the main thread watches the cluster."""

    def __init__(self, client, switchover, timeout):
        threading.Thread.__init__(self, name='patroni-switchover-post')
        self.daemon = True
        self.args = (client, switchover, timeout)
        self.result = None
        self.error = None

    def run(self):
        try:
            self.result = request_switchover(*self.args)
        except PgHaError as exc:
            self.error = exc
        except Exception as exc:  # pylint: disable=broad-except  # reported by the main thread
            self.error = SwitchoverFailed('switchover request failed: %s' % exc)


def leader_live(cluster, member_client):
    """Whether the leader's own Patroni reports PostgreSQL running as a primary right now.

    GET on the leader's api_url (its /patroni endpoint) answers from the member's live state, while GET /cluster
    shows what the member last wrote to the DCS (once per HA loop), which misses most of a demotion.
    """
    member = member_by_name(cluster, cluster['leader']) if cluster['leader'] else None
    status = member_status(member_client, member, timeout=LIVE_TIMEOUT)
    return bool(status) and status.get('state') == 'running' and status.get('role') in ('primary', 'master')


def switch_and_wait(client, switchover, post_seconds, wait_timeout, before=None, member_client=None, clock=time.monotonic,
                    sleep=time.sleep):
    """POST the switchover and poll until it completed. Returns (cluster, response text, unavailable seconds, source).

    Each poll reads GET /cluster and, when the leader's own REST API answered before the switchover (``before``,
    ``member_client``), asks the leader named there for its live state: ``source`` is then 'member', else 'dcs'.
    The interval between two polls counts as unavailable when the earlier poll saw no running leader
    (or could not read the cluster).
    """
    live = member_client is not None and before is not None and leader_live(before, member_client)
    source = 'member' if live else 'dcs'
    poster = _Poster(client, switchover, post_seconds)
    start = clock()
    poster.start()
    seen = dict(unavailable=0.0, time=start, ok=True, cluster=None, response=None)

    def read():
        """One poll: the cluster (and the leader's live state), the unavailable time so far, Patroni's answer."""
        now = clock()
        try:
            cluster = read_cluster(client, with_config=False)
            ok = has_running_leader(cluster) and (not live or leader_live(cluster, member_client))
            seen['cluster'] = cluster
        except (ConnectionFailed, PatroniApiError):
            cluster, ok = None, False
        if not seen['ok']:
            seen['unavailable'] += now - seen['time']
        seen['time'], seen['ok'] = now, ok
        if not poster.is_alive():
            if poster.error is not None:
                raise poster.error
            if seen['response'] is None:
                status, text = poster.result
                post_outcome(status, text, switchover)
                seen['response'] = text
        return ok and completed(cluster, switchover['from'], switchover['to']) and seen['response'] is not None

    dummy, done = poll(read, bool, POLL_INTERVAL, deadline=start + wait_timeout, clock=clock, sleep=sleep)
    if done:
        return seen['cluster'], seen['response'], round(seen['unavailable'], 2), source
    last = 'nothing could be read'
    if seen['cluster'] is not None:
        last = ', '.join('%s %s/%s tl %s' % (m['name'], m['role'], m['state'], m['timeline']) for m in seen['cluster']['members'])
    if poster.is_alive():
        last += '; Patroni has not answered the switchover request yet'
    raise WaitTimeout('switchover from %s to %s not completed after wait_timeout=%ss (last seen: %s)'
                      % (switchover['from'], switchover['to'], wait_timeout, last))


def run(module, client, member_client):
    """Read, plan, switch over (unless check mode), re-read. Returns the result dict.

    ``member_client(api_url)`` returns a client of one member's REST API (same credentials and TLS options).
    """
    desired = validate_params(module.params)
    cluster = read_cluster(client)
    switchover = plan(cluster, desired)
    unavailable = source = None
    result_switchover = dict(switchover, response=None) if switchover else None
    if switchover is None or module.check_mode:
        after = predict(cluster, switchover)
        after_scheduled = predicted_scheduled(switchover) if switchover else cluster.get('scheduled_switchover')
    else:
        timeout = post_timeout(module.params, cluster)
        if switchover['scheduled_at'] or not desired['wait']:
            status, text = request_switchover(client, switchover, timeout)
            outcome = post_outcome(status, text, switchover)
            if outcome == 'unknown':
                raise SwitchoverFailed('switchover from %s to %s: Patroni does not know whether it completed '
                                       '(Patroni said: %s); set wait=true to wait for it'
                                       % (switchover['from'], switchover['to'], text))
            result_switchover['response'] = text
            latest = read_cluster(client, with_config=False)
        else:
            latest, text, unavailable, source = switch_and_wait(
                client, switchover, timeout, desired['wait_timeout'], before=cluster, member_client=member_client)
            result_switchover['response'] = text
        after = summary(latest)
        after_scheduled = latest.get('scheduled_switchover')
    result = dict(changed=switchover is not None, before=summary(cluster), after=after, switchover=result_switchover,
                  unavailable_seconds=unavailable, unavailable_source=source)
    if module._diff:
        result['diff'] = dict(before=diff_view(cluster), after=dict(leader=after['leader'], scheduled_switchover=after_scheduled))
    return result


ARGUMENT_SPEC = dict(
    leader=dict(type='str'),
    candidate_any=dict(type='bool', default=False),
    scheduled_at=dict(type='str'),
    wait=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=120),
)


def main():
    frame = ModuleFrame(ARGUMENT_SPEC, groups=[PATRONI_API], validate=validate_params)
    client = PatroniClient(frame.module.params)
    frame.run(lambda module: run(module, client, client.for_member))


if __name__ == '__main__':
    main()
