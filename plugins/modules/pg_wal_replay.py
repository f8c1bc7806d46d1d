#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_wal_replay
short_description: Pause or resume WAL replay on a PostgreSQL standby
version_added: 0.1.0
description:
  - Declarative replay control on a standby. O(state=paused) calls C(pg_wal_replay_pause()) unless a pause is already
    requested; O(state=resumed) calls C(pg_wal_replay_resume()) unless replay runs. The standby keeps receiving WAL while
    replay is paused; it only stops applying it, so its data stays as of the last record it replayed.
  - The usual use is a delayed standby (C(recovery_min_apply_delay)) after an accident on the primary - a table dropped,
    rows deleted - to stop replay before the delay runs out and read the data from before the accident.
  - With O(wait=true), after a pause the module waits until replay has stopped. On a delayed standby whose startup
    process waits out the delay before the next record (wait event C(RecoveryApplyDelay)), PostgreSQL shows
    V(pause requested) until that delay has passed and then pauses before applying the record, so nothing more is
    applied; the module counts that as paused and does not wait out the delay.
  - A primary (a server not in recovery) is refused; nothing is run then.
author:
  - pgha.replication developers (@pgha)
extends_documentation_fragment:
  - pgha.replication._attributes
  - pgha.replication._attributes.postgresql_group
  - pgha.replication._postgres
options:
  state:
    description:
      - V(paused) stops replay (C(pg_wal_replay_pause())); V(resumed) continues it (C(pg_wal_replay_resume())).
    type: str
    required: true
    choices: [paused, resumed]
    version_added: 0.1.0
  wait:
    description:
      - With O(state=paused), wait until replay has stopped (see the description for a delayed standby).
    type: bool
    default: true
    version_added: 0.1.0
  wait_timeout:
    description: Upper bound, in seconds, of that wait.
    type: int
    default: 30
    version_added: 0.1.0
notes:
  - Needs a superuser, or a role granted EXECUTE on C(pg_wal_replay_pause()) and C(pg_wal_replay_resume())
    (PostgreSQL grants it to no one else by default).
  - A paused standby cannot be promoted (PostgreSQL 14 and later refuse C(pg_promote()) while paused) and keeps WAL on
    its disk until replay resumes. On a member of a Patroni cluster, Patroni does not resume replay itself; resume
    before a switchover to that member.
  - PostgreSQL forgets the pause when the standby restarts.
seealso:
  - module: pgha.replication.pg_replication_info
  - name: Recovery control functions
    description: pg_wal_replay_pause(), pg_wal_replay_resume() and pg_get_wal_replay_pause_state().
    link: https://www.postgresql.org/docs/current/functions-admin.html#FUNCTIONS-RECOVERY-CONTROL
'''

EXAMPLES = r'''
- name: Stop replay on the delayed standby before the accident reaches it
  pgha.replication.pg_wal_replay:
    state: paused
  become: true
  become_user: postgres
  register: replay

- name: Show what the standby holds
  ansible.builtin.debug:
    msg: "replay {{ replay.standby.pause_state }}; last replayed transaction {{ replay.standby.last_replay_timestamp }}"

- name: Continue replay once the data is saved
  pgha.replication.pg_wal_replay:
    state: resumed
  become: true
  become_user: postgres
'''

RETURN = r'''
standby:
  description:
    - The standby's replay state after the run (predicted in check mode), as
      M(pgha.replication.pg_replication_info) reports it in its RV(standby).
  returned: success
  type: dict
  contains:
    pause_state:
      description: V(not paused), V(pause requested) or V(paused).
      type: str
      sample: paused
    paused:
      description: Whether replay is paused or a pause is requested.
      type: bool
    last_replay_timestamp:
      description: Commit time of the last replayed transaction (ISO 8601), or V(null).
      type: str
    replay_delay_seconds:
      description: Seconds since RV(standby.last_replay_timestamp).
      type: float
    receive_lsn:
      description: C(pg_last_wal_receive_lsn()).
      type: str
    replay_lsn:
      description: C(pg_last_wal_replay_lsn()).
      type: str
    is_delayed:
      description: Whether C(recovery_min_apply_delay) is set.
      type: bool
    recovery_min_apply_delay_ms:
      description: C(recovery_min_apply_delay) in milliseconds.
      type: int
    startup_wait_event:
      description: What the startup process waits on, for example V(RecoveryApplyDelay) or V(RecoveryPause).
      type: str
    upstream:
      description: The WAL receiver (C(pg_stat_wal_receiver)), its connection string without a password; V(null) when none runs.
      type: dict
queries:
  description: The statements run, or that would run in check mode.
  returned: always
  type: list
  elements: str
  sample: ["SELECT pg_catalog.pg_wal_replay_pause()"]
diff:
  description: The replay state before and after.
  returned: when diff mode is enabled
  type: dict
  contains:
    before:
      description: Whether replay was paused (or a pause requested) before the run.
      type: dict
      sample: {paused: false}
    after:
      description: The same after the run.
      type: dict
      sample: {paused: true}
'''

from ansible_collections.pgha.replication.plugins.module_utils._errors import InvalidInput
from ansible_collections.pgha.replication.plugins.module_utils._module import ModuleFrame
from ansible_collections.pgha.replication.plugins.module_utils._postgres import POSTGRES, connect, server_facts
from ansible_collections.pgha.replication.plugins.module_utils._replay import (
    check_standby,
    plan,
    predict,
    read_standby_state,
    wait_for_pause,
)
from ansible_collections.pgha.replication.plugins.module_utils._sql import apply, show


def validate_params(params):
    if params['wait_timeout'] < 0:
        raise InvalidInput('wait_timeout must be 0 or more')


def server_name(params):
    """How messages name the server: its host (or socket directory) and port."""
    return 'the server at %s port %s' % (params.get('login_host') or params.get('login_unix_socket') or 'the default socket',
                                         params.get('login_port'))


def run(module, conn):
    """Read, plan, apply (unless check mode), re-read. Returns the result dict."""
    params = module.params
    facts = server_facts(conn)
    check_standby(facts, server_name(params))
    version = facts['version_num']
    before = read_standby_state(conn, version)
    steps = plan(before, params['state'])
    if module.check_mode:
        queries = [show(conn, step) for step in steps]
        after = predict(before, params['state'], steps)
    else:
        queries = apply(conn, steps)

        def read():
            return read_standby_state(conn, version)

        if params['state'] == 'paused' and params['wait']:
            after = wait_for_pause(read, params['wait_timeout'])
        else:
            after = read()
    result = dict(changed=bool(steps), standby=after, queries=queries)
    if module._diff:
        result['diff'] = dict(before=dict(paused=before['paused']), after=dict(paused=after['paused'] if steps else before['paused']))
    return result


ARGUMENT_SPEC = dict(
    state=dict(type='str', required=True, choices=['paused', 'resumed']),
    wait=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=30),
)


def main():
    frame = ModuleFrame(ARGUMENT_SPEC, groups=[POSTGRES], validate=validate_params, report=dict(queries=[]))
    frame.run(lambda module: run(module, frame.closing(connect(module.params))))


if __name__ == '__main__':
    main()
