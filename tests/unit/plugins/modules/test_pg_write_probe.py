# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pg_write_probe's write loop with a scripted connection and clock: acknowledged ids and times, errors and
reconnects, the stop file and the duration; and its option checks. The ha scenario writes through a real HAProxy."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import psycopg2
import pytest

from ansible_collections.pgha.replication.plugins.module_utils._errors import InvalidInput
from ansible_collections.pgha.replication.plugins.modules import pg_write_probe as mod


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class Cursor(object):
    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def execute(self, statement, args):
        self.conn.log.append(args)
        if args[1] in self.conn.failing:
            raise psycopg2.OperationalError('server closed the connection unexpectedly\n\tThis probably means ...')


class Connection(object):
    def __init__(self, log, failing):
        self.log = log
        self.failing = failing
        self.closed = False

    def cursor(self):
        return Cursor(self)

    def close(self):
        self.closed = True


def test_it_records_acknowledged_commits_reconnects_after_an_error_and_stops_after_the_duration():
    clock, log, opened = Clock(), [], []

    def open_connection():
        conn = Connection(log, failing={3, 4})
        opened.append(conn)
        return conn
    probe = mod.Probe(open_connection, 'INSERT', 'run-1', clock=clock, sleep=clock.sleep, exists=lambda path: False)
    result = probe.run(duration=1, stop_file=None, interval=0.1)
    assert result['acked_ids'] == [1, 2, 5, 6, 7, 8, 9, 10]
    assert result['acked_at'][0] == 1000.0 and len(result['acked_at']) == 8
    assert [e['error'] for e in result['errors']] == ['server closed the connection unexpectedly'] * 2
    assert len(opened) == 3 and opened[0].closed and opened[1].closed
    assert all(args[0] == 'run-1' for args in log) and result['stopped_by'] == 'duration'


def test_a_failed_connection_is_an_error_and_is_tried_again():
    clock, attempts = Clock(), []

    def open_connection():
        attempts.append(clock())
        if len(attempts) < 3:
            raise psycopg2.OperationalError('connection refused')
        return Connection([], failing=set())
    probe = mod.Probe(open_connection, 'INSERT', 'r', clock=clock, sleep=clock.sleep, exists=lambda path: False)
    result = probe.run(duration=0.5, stop_file=None, interval=0.1)
    assert [e['error'] for e in result['errors']] == ['connection refused', 'connection refused']
    assert result['acked_ids'] == [3, 4, 5]


def test_the_stop_file_ends_the_run():
    clock, seen = Clock(), []

    def exists(path):
        seen.append(path)
        return len(seen) > 3
    probe = mod.Probe(lambda: Connection([], set()), 'INSERT', 'r', clock=clock, sleep=clock.sleep, exists=exists)
    result = probe.run(duration=60, stop_file='/tmp/stop', interval=0.1)
    assert result['acked_ids'] == [1, 2, 3] and result['stopped_by'] == 'stop_file' and seen[0] == '/tmp/stop'


@pytest.mark.parametrize('overrides, message', [
    (dict(table='a.b.c'), 'table must be a table name or schema.table'),
    (dict(table='.x'), 'table must be a table name or schema.table'),
    (dict(run_id=' '), 'run_id must name the drill'),
    (dict(duration=0), 'duration must be 1 or more seconds'),
    (dict(interval=-1), 'interval must be 0 or more seconds'),
])
def test_invalid_options(overrides, message):
    params = dict(table='pgha_drill', run_id='r', duration=10, interval=0.02, login_host='127.0.0.1', login_port=5432)
    params.update(overrides)
    with pytest.raises(InvalidInput, match=message):
        mod.validate_params(params)


def test_a_schema_qualified_table_is_split():
    assert mod.validate_params(dict(table='drills.pgha', run_id='r', duration=10, interval=0)) == ('drills', 'pgha')
