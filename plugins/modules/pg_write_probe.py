#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_write_probe
short_description: Write numbered rows through a PostgreSQL endpoint and record which commits were acknowledged
version_added: 0.1.0
description:
  - The client side of a failover drill. The module commits one row after another into O(table) - C(run) is O(run_id),
    C(id) counts up from 1 - through the connection options (for example HAProxy's read-write endpoint), and records
    the time of every acknowledged commit and of every error. After an error it reconnects and goes on.
  - It stops after O(duration) seconds, or as soon as O(stop_file) exists. Run it as an asynchronous task
    (C(async), C(poll=0)) while the failure is induced, then read its result with C(async_status).
  - Comparing the acknowledged ids with the rows the new leader has gives the writes lost (RPO); the longest gap between
    two acknowledged commits gives the client-visible write unavailability (RTO). Module
    M(pgha.replication.failover_drill_report) does both.
  - The table must exist, with columns C(run text) and C(id bigint) (a primary key on both); the playbook
    C(pgha.replication.failover_drill) creates it.
author:
  - pgha.replication developers (@pgha)
extends_documentation_fragment:
  - pgha.replication._attributes
  - pgha.replication._attributes.postgresql_group
  - pgha.replication._postgres
options:
  table:
    description: The table the rows go to, optionally schema-qualified (C(schema.table)).
    type: str
    default: pgha_drill
    version_added: 0.1.0
  run_id:
    description: The value of the C(run) column of every row written, naming this drill.
    type: str
    required: true
    version_added: 0.1.0
  duration:
    description: Seconds after which the module stops writing at the latest.
    type: int
    default: 300
    version_added: 0.1.0
  stop_file:
    description: The module stops as soon as this file exists (checked before every write).
    type: path
    version_added: 0.1.0
  interval:
    description: Seconds between two writes (and between two connection attempts after an error).
    type: float
    default: 0.02
    version_added: 0.1.0
attributes:
  check_mode:
    description: Writes nothing and returns empty lists (what it would acknowledge cannot be predicted).
    support: partial
    details: In check mode the module connects to nothing and writes no row; its lists are empty.
  diff_mode:
    description: It records or reports rather than manage a state, so there is no diff.
    support: none
notes:
  - Use a short O(connect_timeout) (for example 2) so that a connection attempt to a dead endpoint does not hide how
    soon writes could resume.
seealso:
  - module: pgha.replication.failover_drill_report
'''

EXAMPLES = r'''
- name: Write through HAProxy until the drill creates the stop file
  pgha.replication.pg_write_probe:
    login_host: 127.0.1.10
    login_port: 5000
    login_user: app
    login_password: "{{ vault_app_password }}"
    connect_timeout: 2
    run_id: drill-20261207
    stop_file: /tmp/drill.stop
  async: 330
  poll: 0
  register: writer
'''

RETURN = r'''
acked_ids:
  description: The ids whose commit was acknowledged, in order.
  returned: always
  type: list
  elements: int
  sample: [1, 2, 3]
acked_at:
  description: When each of RV(acked_ids) was acknowledged (seconds since the epoch, the controller's clock).
  returned: always
  type: list
  elements: float
errors:
  description: Each failed write or connection attempt - C(at) (seconds since the epoch) and C(error) (the first line
    of the message).
  returned: always
  type: list
  elements: dict
started_at:
  description: When the module began writing (seconds since the epoch).
  returned: always
  type: float
ended_at:
  description: When it stopped.
  returned: always
  type: float
stopped_by:
  description: V(stop_file), V(duration), or V(check_mode).
  returned: always
  type: str
'''

import os
import time

from ansible_collections.pgha.replication.plugins.module_utils._errors import InvalidInput, PgHaError
from ansible_collections.pgha.replication.plugins.module_utils._module import ModuleFrame
from ansible_collections.pgha.replication.plugins.module_utils._postgres import POSTGRES, connect, psycopg2, sql

ARGUMENT_SPEC = dict(
    table=dict(type='str', default='pgha_drill'),
    run_id=dict(type='str', required=True),
    duration=dict(type='int', default=300),
    stop_file=dict(type='path'),
    interval=dict(type='float', default=0.02),
)
MAX_ERRORS = 2000


def validate_params(params):
    """Check what the argument spec cannot express; return (schema, table). Pure; raises InvalidInput."""
    POSTGRES.check(params)
    parts = (params.get('table') or '').split('.')
    if not 1 <= len(parts) <= 2 or not all(parts):
        raise InvalidInput("table must be a table name or schema.table (got '%s')" % params.get('table'))
    if not (params.get('run_id') or '').strip():
        raise InvalidInput('run_id must name the drill')
    if params.get('duration') is not None and params['duration'] < 1:
        raise InvalidInput('duration must be 1 or more seconds')
    if params.get('interval') is not None and params['interval'] < 0:
        raise InvalidInput('interval must be 0 or more seconds')
    return tuple(parts)


def first_line(exc):
    text = ('%s' % (exc,)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Probe(object):
    """The write loop, with the clock, the sleep and the connection factory given (so that it can be tested)."""

    def __init__(self, open_connection, statement, run_id, clock=time.time, sleep=time.sleep, exists=os.path.exists):
        self.open_connection = open_connection
        self.statement = statement
        self.run_id = run_id
        self.clock = clock
        self.sleep = sleep
        self.exists = exists
        self.acked_ids = []
        self.acked_at = []
        self.errors = []

    def error(self, exc):
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(dict(at=round(self.clock(), 3), error=first_line(exc)))

    def run(self, duration, stop_file, interval):
        started = self.clock()
        conn = None
        next_id = 1
        stopped_by = 'duration'
        while self.clock() - started < duration:
            if stop_file and self.exists(stop_file):
                stopped_by = 'stop_file'
                break
            try:
                if conn is None:
                    conn = self.open_connection()
                with conn.cursor() as cur:
                    cur.execute(self.statement, (self.run_id, next_id))
                self.acked_ids.append(next_id)
                self.acked_at.append(round(self.clock(), 3))
            except (PgHaError, psycopg2.Error) as exc:
                self.error(getattr(exc, 'msg', exc))
                if conn is not None:
                    try:
                        conn.close()
                    except psycopg2.Error:
                        pass
                conn = None
            next_id += 1
            self.sleep(interval)
        if conn is not None:
            conn.close()
        return dict(acked_ids=self.acked_ids, acked_at=self.acked_at, errors=self.errors, started_at=round(started, 3),
                    ended_at=round(self.clock(), 3), stopped_by=stopped_by)


def run(module):
    parts = validate_params(module.params)
    params = module.params
    if module.check_mode:
        now = round(time.time(), 3)
        return dict(changed=False, acked_ids=[], acked_at=[], errors=[], started_at=now, ended_at=now,
                    stopped_by='check_mode')
    statement = sql.SQL('INSERT INTO {} (run, id) VALUES (%s, %s)').format(sql.Identifier(*parts))
    probe = Probe(lambda: connect(params), statement, params['run_id'])
    result = probe.run(params['duration'], params.get('stop_file'), params['interval'])
    result['changed'] = bool(result['acked_ids'])
    return result


def main():
    frame = ModuleFrame(ARGUMENT_SPEC, groups=[POSTGRES], validate=validate_params)
    frame.run(run)


if __name__ == '__main__':
    main()
