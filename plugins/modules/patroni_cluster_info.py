#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
---
module: patroni_cluster_info
short_description: Report the members, leader and dynamic configuration of a Patroni cluster
version_added: 0.1.0
description:
  - Read-only. Reads C(GET /cluster) and C(GET /config) from the REST API of one Patroni member and returns
    every member with its role, state, timeline and replication lag, the leader, the synchronous standbys,
    a scheduled switchover, and the dynamic configuration that decides whether a member may be promoted
    (C(synchronous_mode), C(maximum_lag_on_failover), C(ttl), C(loop_wait), C(retry_timeout)).
  - Never changes anything; RV(ignore:changed) is always V(false).
author:
  - pgha.replication developers (@pgha)
extends_documentation_fragment:
  - pgha.replication._attributes.info_module
  - pgha.replication._attributes.patroni_group
  - pgha.replication._patroni
options: {}
notes:
  - C(GET /cluster) and C(GET /config) do not need authentication in Patroni; O(api_username) and O(api_password)
    are sent when set.
seealso:
  - module: pgha.replication.patroni_switchover
  - name: Patroni REST API
    description: The C(/cluster) and C(/config) endpoints.
    link: https://patroni.readthedocs.io/en/latest/rest_api.html
'''

EXAMPLES = r'''
- name: Read the Patroni cluster
  pgha.replication.patroni_cluster_info:
    api_url: http://127.0.0.1:8008
  register: patroni

- name: Show the leader and its synchronous standbys
  ansible.builtin.debug:
    msg: "{{ patroni.leader }} leads on timeline {{ patroni.timeline }}, sync: {{ patroni.sync_standbys | join(', ') }}"

- name: Fail when a replica is not streaming or lags more than Patroni allows for a failover
  ansible.builtin.assert:
    that:
      - item.state == 'streaming'
      - item.lag is not none and item.lag <= patroni.config.maximum_lag_on_failover
    fail_msg: "{{ item.name }} is {{ item.state }}, {{ item.lag }} bytes behind"
  loop: "{{ patroni.members | rejectattr('name', 'equalto', patroni.leader) | list }}"
  loop_control:
    label: "{{ item.name }}"

- name: Read through an HTTPS API with a client certificate
  pgha.replication.patroni_cluster_info:
    api_url: https://db1.example.com:8008
    api_ca_path: /etc/patroni/ca.pem
    api_client_cert: /etc/patroni/client.pem
    api_client_key: /etc/patroni/client.key
'''

RETURN = r'''
members:
  description: The cluster members, sorted by name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Member name (C(name) in C(patroni.yml)).
      type: str
      sample: pg1
    role:
      description: V(leader), V(standby_leader), V(sync_standby), V(quorum_standby) or V(replica).
      type: str
      sample: sync_standby
    state:
      description:
        - Patroni's state of the member, for example V(running), V(streaming) (a replica receiving WAL
          from its upstream, Patroni 3.0.4 or later), V(in archive recovery), V(starting), V(stopped)
          or V(start failed).
      type: str
      sample: streaming
    api_url:
      description: REST API URL of the member.
      type: str
      sample: http://10.0.0.2:8008/patroni
    host:
      description: PostgreSQL host of the member (C(postgresql.connect_address)).
      type: str
      sample: 10.0.0.2
    port:
      description: PostgreSQL port of the member.
      type: int
      sample: 5432
    timeline:
      description: Timeline of the member, V(null) when Patroni does not report it.
      type: int
      sample: 3
    lag:
      description:
        - Bytes of WAL the member is behind the leader's last known position; V(0) for the leader,
          V(null) when Patroni reports it as unknown.
      type: int
      sample: 0
    receive_lag:
      description: Bytes between the leader's position and the member's received position; V(null) when unknown.
      type: int
      sample: 0
    replay_lag:
      description: Bytes between the leader's position and the member's replayed position; V(null) when unknown.
      type: int
      sample: 0
    lsn:
      description: WAL position of the member as Patroni reports it, V(null) for the leader or when unknown.
      type: str
      sample: 0/5000060
    tags:
      description: Tags of the member, for example C(nofailover) or C(noloadbalance).
      type: dict
      sample: {nofailover: true}
    pending_restart:
      description: Whether PostgreSQL must be restarted to apply a changed setting.
      type: bool
      sample: false
    pending_restart_reason:
      description: The settings waiting for a restart (Patroni 3.3 or later), V(null) when none or not reported.
      type: dict
      sample: null
    scheduled_restart:
      description: A scheduled restart of the member, V(null) when there is none.
      type: dict
      sample: null
leader:
  description: Name of the leader, V(null) when the cluster has none (for example during a failover).
  returned: always
  type: str
  sample: pg1
sync_standbys:
  description: Names of the synchronous (or quorum) standbys.
  returned: always
  type: list
  elements: str
  sample: [pg2]
scheduled_switchover:
  description: A scheduled switchover, with keys C(at), C(from) and C(to); V(null) when there is none.
  returned: always
  type: dict
  sample: {at: '2030-01-31T02:00:00+00:00', from: pg1, to: pg2}
timeline:
  description: Timeline of the leader, V(null) when there is no leader.
  returned: always
  type: int
  sample: 3
paused:
  description: Whether the cluster is in maintenance mode (C(patronictl pause)).
  returned: always
  type: bool
  sample: false
scope:
  description: Name of the cluster (C(scope) in C(patroni.yml)).
  returned: always
  type: str
  sample: main
config:
  description: The dynamic configuration keys that matter for switchover and failover, with Patroni's defaults filled in.
  returned: always
  type: dict
  contains:
    ttl:
      description: Leader key time to live, in seconds.
      type: int
      sample: 30
    loop_wait:
      description: Seconds between two runs of Patroni's HA loop.
      type: int
      sample: 10
    retry_timeout:
      description: Seconds before DCS and PostgreSQL operations are given up.
      type: int
      sample: 10
    maximum_lag_on_failover:
      description: Bytes a replica may lag and still be promoted.
      type: int
      sample: 1048576
    synchronous_mode:
      description: V(true), V(false), or V(quorum) (Patroni 4 quorum commit).
      type: raw
      sample: true
    synchronous_mode_strict:
      description: Whether writes stop when no synchronous standby is available.
      type: bool
      sample: false
    synchronous_node_count:
      description: Number of synchronous standbys Patroni maintains.
      type: int
      sample: 1
    check_timeline:
      description: Whether a replica on another timeline than the leader may not be promoted.
      type: bool
      sample: false
    pause:
      description: Maintenance mode as stored in the dynamic configuration.
      type: bool
      sample: false
'''

from ansible_collections.pgha.replication.plugins.module_utils._module import ModuleFrame
from ansible_collections.pgha.replication.plugins.module_utils._patroni import (
    PATRONI_API,
    PatroniClient,
    read_cluster,
)


def main():
    frame = ModuleFrame({}, groups=[PATRONI_API])
    frame.run(lambda module: dict(read_cluster(PatroniClient(module.params)), changed=False))


if __name__ == '__main__':
    main()
