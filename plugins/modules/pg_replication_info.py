#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pg_replication_info
short_description: Report PostgreSQL replication state and diagnose lagging standbys
version_added: 0.1.0
description:
  - Read-only. Reports whether the server is a primary or a standby, its connected standbys
    (C(pg_stat_replication)), its replication slots and, on a standby, its upstream and replay state.
  - Each connected standby gets a RV(standbys[].diagnosis) telling where lag comes from - the
    network, the standby's disk, or replay - computed from the lag columns and the thresholds.
  - Works on a cascading standby too, which reports both its own upstream and its own standbys.
author:
  - pgha.replication developers (@pgha)
extends_documentation_fragment:
  - pgha.replication._attributes.info_module
  - pgha.replication._attributes.postgresql_group
  - pgha.replication._postgres
options:
  lag_threshold_bytes:
    description:
      - A standby whose replay position is more than this many bytes behind is lagging.
    type: int
    default: 16777216
    version_added: 0.1.0
  lag_threshold_seconds:
    description:
      - A standby whose replay lag (C(replay_lag)) is longer than this many seconds is lagging.
    type: float
    default: 5.0
    version_added: 0.1.0
notes:
  - A superuser is not needed. A role that is a member of C(pg_monitor) sees everything reported here,
    for example C(CREATE ROLE monitor LOGIN IN ROLE pg_monitor). Without C(pg_monitor) (or
    C(pg_read_all_stats)), PostgreSQL hides the columns of other roles' walsenders and of the WAL receiver.
seealso:
  - module: pgha.replication.pg_replication_slot
  - name: Monitoring replication
    description: The pg_stat_replication view.
    link: https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-REPLICATION-VIEW
'''

EXAMPLES = r'''
- name: Read replication state
  pgha.replication.pg_replication_info:
  become: true
  become_user: postgres
  register: repl

- name: Fail when a standby is not healthy
  ansible.builtin.assert:
    that: repl.standbys | rejectattr('diagnosis', 'equalto', 'healthy') | list | length == 0
    fail_msg: "{{ repl.standbys | map(attribute='reason') | join('; ') }}"

- name: Warn about slots that keep WAL for nobody
  ansible.builtin.debug:
    msg: "Slot {{ item.slot_name }} retains {{ item.retained_bytes }} bytes while inactive"
  loop: "{{ repl.slots | selectattr('inactive_retaining') | list }}"

- name: Read as a monitoring role over TCP, with a stricter threshold
  pgha.replication.pg_replication_info:
    login_host: db1.example.com
    login_user: monitor
    login_password: "{{ monitor_password }}"
    lag_threshold_seconds: 1
'''

RETURN = r'''
role:
  description: V(primary), or V(standby) when the server is in recovery.
  returned: always
  type: str
  sample: primary
server_version:
  description: The server version.
  returned: always
  type: str
  sample: "15.8"
server_version_num:
  description: The server version as a number.
  returned: always
  type: int
  sample: 150008
system_identifier:
  description: The cluster's system identifier, shared by a primary and its physical standbys.
  returned: always
  type: str
  sample: "7350000000000000000"
timeline:
  description: The timeline of the last checkpoint (the current timeline on a primary).
  returned: always
  type: int
  sample: 1
current_lsn:
  description:
    - The WAL position lags are measured from - C(pg_current_wal_lsn()) on a primary, the latest received
      or replayed position on a standby.
  returned: always
  type: str
  sample: 0/3000148
synchronous_standby_names:
  description: The C(synchronous_standby_names) setting.
  returned: always
  type: str
  sample: "ANY 1 (standby1, standby2)"
synchronous_commit:
  description: The C(synchronous_commit) setting.
  returned: always
  type: str
  sample: "on"
standbys:
  description: Clients streaming from this server (C(pg_stat_replication)), including C(pg_receivewal).
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: PID of the walsender.
      type: int
    application_name:
      description: The client's C(application_name).
      type: str
      sample: standby1
    usename:
      description: The role the client logged in as.
      type: str
    client_addr:
      description: The client's address; V(null) for unix sockets.
      type: str
      sample: 10.0.0.12
    state:
      description: Walsender state, for example V(streaming) or V(catchup).
      type: str
      sample: streaming
    sync_state:
      description: V(async), V(potential), V(sync) or V(quorum).
      type: str
      sample: async
    sync_priority:
      description: Priority as a synchronous standby.
      type: int
    sent_lsn:
      description: Last position sent.
      type: str
    write_lsn:
      description: Last position written by the standby.
      type: str
    flush_lsn:
      description: Last position flushed by the standby.
      type: str
    replay_lsn:
      description: Last position replayed by the standby; V(null) for clients that do not replay.
      type: str
    sent_lag_bytes:
      description: RV(current_lsn) minus RV(standbys[].sent_lsn).
      type: int
    write_lag_bytes:
      description: RV(current_lsn) minus RV(standbys[].write_lsn).
      type: int
    flush_lag_bytes:
      description: RV(current_lsn) minus RV(standbys[].flush_lsn).
      type: int
    replay_lag_bytes:
      description: RV(current_lsn) minus RV(standbys[].replay_lsn).
      type: int
    write_lag:
      description: C(write_lag) in seconds; V(null) when PostgreSQL reports none (idle or caught up).
      type: float
    flush_lag:
      description: C(flush_lag) in seconds, or V(null).
      type: float
    replay_lag:
      description: C(replay_lag) in seconds, or V(null).
      type: float
    ssl:
      description: Whether the connection uses SSL.
      type: bool
    diagnosis:
      description:
        - V(healthy) - within both thresholds.
        - V(network) - lagging, mostly before WAL is written on the standby (network or sender).
        - V(disk) - lagging, mostly between write and flush (the standby's storage).
        - V(replay) - lagging, mostly between flush and replay (apply on the standby, conflicts, a paused replay).
        - V(not_streaming) - the walsender is not in state V(streaming).
      type: str
      sample: healthy
    reason:
      description: One line explaining RV(standbys[].diagnosis).
      type: str
      sample: "replay lag 0.001s and 0 bytes are within thresholds (5.0s, 16777216 bytes)"
slots:
  description: Every replication slot of the server.
  returned: always
  type: list
  elements: dict
  contains:
    slot_name:
      description: Slot name.
      type: str
    slot_type:
      description: V(physical) or V(logical).
      type: str
    plugin:
      description: Output plugin of a logical slot.
      type: str
    database:
      description: Database of a logical slot.
      type: str
    active:
      description: Whether a process uses the slot.
      type: bool
    active_pid:
      description: PID of that process.
      type: int
    temporary:
      description: Whether the slot is temporary.
      type: bool
    wal_status:
      description: C(wal_status) (PostgreSQL 13 or later, else V(null)).
      type: str
    safe_wal_size:
      description: C(safe_wal_size) in bytes (PostgreSQL 13 or later, else V(null)).
      type: int
    two_phase:
      description: C(two_phase) (PostgreSQL 14 or later, else V(null)).
      type: bool
    failover:
      description: Whether the slot is a failover slot, synchronised to the standbys (PostgreSQL 17 or later, else V(null)).
      type: bool
      version_added: 0.1.0
    synced:
      description: On a standby, whether the slot is a copy synchronised from the primary (PostgreSQL 17 or later, else V(null)).
      type: bool
      version_added: 0.1.0
    conflicting:
      description: Whether a logical slot was invalidated by a conflict with recovery (PostgreSQL 16 or later, else V(null)).
      type: bool
      version_added: 0.1.0
    failover_ready:
      description:
        - On a standby, whether its synchronised copy of a failover slot would survive a promotion - C(synced), not
          C(temporary) and not C(conflicting), PostgreSQL's own check. The slot sync worker keeps a new copy
          temporary until the primary's slot has passed what the standby needs, and a promotion drops a temporary
          copy, so the subscription of that slot breaks after a failover to this standby.
        - V(null) on a primary, on a slot that is not a synchronised copy, and before PostgreSQL 17.
      type: bool
      version_added: 0.1.0
    restart_lsn:
      description: Oldest WAL position the slot keeps.
      type: str
    confirmed_flush_lsn:
      description: Confirmed position of a logical slot.
      type: str
    retained_bytes:
      description: RV(current_lsn) minus RV(slots[].restart_lsn); V(null) when the slot reserves no WAL.
      type: int
    inactive_retaining:
      description: V(true) when the slot is not active and retains WAL - a common cause of full disks.
      type: bool
standby:
  description: On a standby, its replication from upstream; V(null) on a primary.
  returned: always
  type: dict
  contains:
    receive_lsn:
      description: C(pg_last_wal_receive_lsn()).
      type: str
    replay_lsn:
      description: C(pg_last_wal_replay_lsn()).
      type: str
    last_replay_timestamp:
      description: Commit time of the last replayed transaction (ISO 8601), or V(null).
      type: str
    replay_delay_seconds:
      description: Seconds since RV(standby.last_replay_timestamp); V(null) when nothing was replayed yet.
      type: float
    is_delayed:
      description: Whether C(recovery_min_apply_delay) is set.
      type: bool
    recovery_min_apply_delay_ms:
      description: C(recovery_min_apply_delay) in milliseconds.
      type: int
    paused:
      description: Whether replay is paused (or a pause is requested).
      type: bool
    pause_state:
      description:
        - C(pg_get_wal_replay_pause_state()) - V(not paused), V(pause requested) or V(paused) (on PostgreSQL 13,
          V(paused) or V(not paused) from C(pg_is_wal_replay_paused())).
        - On a delayed standby a requested pause stays V(pause requested) while the startup process waits out
          C(recovery_min_apply_delay) (RV(standby.startup_wait_event) is V(RecoveryApplyDelay)), and nothing more is
          applied; see M(pgha.replication.pg_wal_replay).
      type: str
      sample: not paused
    startup_wait_event:
      description: What the startup process (replay) waits on, from C(pg_stat_activity), for example V(RecoveryApplyDelay) or V(RecoveryPause).
      type: str
      version_added: 0.1.0
    upstream:
      description: The WAL receiver (C(pg_stat_wal_receiver)); V(null) when none is running.
      type: dict
      contains:
        status:
          description: WAL receiver status, for example V(streaming).
          type: str
        sender_host:
          description: Upstream host.
          type: str
        sender_port:
          description: Upstream port.
          type: int
        slot_name:
          description: Slot used on the upstream.
          type: str
        conninfo:
          description: Connection string, with any password removed.
          type: str
'''


from ansible_collections.pgha.replication.plugins.module_utils._module import ModuleFrame
from ansible_collections.pgha.replication.plugins.module_utils._postgres import (
    POSTGRES,
    InvalidInput,
    connect,
    fetch_all,
    fetch_one,
    server_facts,
    sql,
)
from ansible_collections.pgha.replication.plugins.module_utils._replay import read_standby_state
from ansible_collections.pgha.replication.plugins.module_utils._slots import CURRENT_LSN, read_slots

HEALTHY = 'healthy'
NETWORK = 'network'
DISK = 'disk'
REPLAY = 'replay'
NOT_STREAMING = 'not_streaming'


def _parts(cumulative):
    """(write, flush, replay) cumulative lags -> (network, disk, replay) components; None counts as no progress lag."""
    parts = []
    previous = 0
    for value in cumulative:
        value = previous if value is None else value
        parts.append(max(value - previous, 0))
        previous = max(value, previous)
    return parts, previous


def diagnose(state, lags_seconds, lags_bytes, threshold_seconds, threshold_bytes):
    """Classify one standby. Pure.

    ``lags_seconds`` is (write_lag, flush_lag, replay_lag) in seconds and ``lags_bytes`` the same positions as
    bytes behind the current LSN; each value may be None. Lags are cumulative (write <= flush <= replay), so
    the components are network = write, disk = flush - write, replay = replay - flush.
    Returns (diagnosis, reason).
    """
    if state != 'streaming':
        return NOT_STREAMING, 'walsender state is %s, not streaming' % (state or 'unknown')
    names = (NETWORK, DISK, REPLAY)
    seconds, total_seconds = _parts(lags_seconds)
    nbytes, total_bytes = _parts(lags_bytes)
    if total_seconds > threshold_seconds:
        parts, total, limit, fmt = seconds, total_seconds, threshold_seconds, '%.3fs'
    elif total_bytes > threshold_bytes:
        parts, total, limit, fmt = nbytes, total_bytes, threshold_bytes, '%d bytes'
    else:
        return HEALTHY, 'lag %.3fs and %d bytes are within thresholds (%gs, %d bytes)' % (
            total_seconds, total_bytes, threshold_seconds, threshold_bytes)
    dominant = max(range(3), key=lambda i: parts[i])
    explain = {
        NETWORK: 'WAL is slow to reach the standby (network or sender)',
        DISK: 'the standby is slow to flush WAL to disk',
        REPLAY: 'the standby is slow to replay WAL (apply load, recovery conflicts or paused replay)',
    }
    return names[dominant], 'lag %s exceeds %s; %s of it is %s: %s' % (
        fmt % total, fmt % limit, fmt % parts[dominant], names[dominant], explain[names[dominant]])


def _seconds(interval):
    return None if interval is None else interval.total_seconds()


def read_standbys(conn, threshold_seconds, threshold_bytes):
    rows = fetch_all(conn, sql.SQL(
        'SELECT r.pid, r.application_name, r.usename, host(r.client_addr) AS client_addr, r.state, r.sync_state, '
        'r.sync_priority, r.sent_lsn::text AS sent_lsn, r.write_lsn::text AS write_lsn, r.flush_lsn::text AS flush_lsn, '
        'r.replay_lsn::text AS replay_lsn, '
        'pg_wal_lsn_diff(c.lsn, r.sent_lsn)::bigint AS sent_lag_bytes, '
        'pg_wal_lsn_diff(c.lsn, r.write_lsn)::bigint AS write_lag_bytes, '
        'pg_wal_lsn_diff(c.lsn, r.flush_lsn)::bigint AS flush_lag_bytes, '
        'pg_wal_lsn_diff(c.lsn, r.replay_lsn)::bigint AS replay_lag_bytes, '
        'r.write_lag, r.flush_lag, r.replay_lag, s.ssl '
        'FROM pg_catalog.pg_stat_replication r '
        'CROSS JOIN (SELECT {0} AS lsn) c '
        'LEFT JOIN pg_catalog.pg_stat_ssl s ON s.pid = r.pid '
        'ORDER BY r.application_name, r.pid').format(sql.SQL(CURRENT_LSN)))
    for row in rows:
        for key in ('write_lag', 'flush_lag', 'replay_lag'):
            row[key] = _seconds(row[key])
        row['diagnosis'], row['reason'] = diagnose(
            row['state'],
            (row['write_lag'], row['flush_lag'], row['replay_lag']),
            (row['write_lag_bytes'], row['flush_lag_bytes'], row['replay_lag_bytes']),
            threshold_seconds, threshold_bytes)
    return rows


def read_info(conn, params):
    facts = server_facts(conn)
    version = facts['version_num']
    base = fetch_one(conn, sql.SQL(
        'SELECT (SELECT system_identifier::text FROM pg_catalog.pg_control_system()) AS system_identifier, '
        '(SELECT timeline_id FROM pg_catalog.pg_control_checkpoint()) AS checkpoint_timeline, '
        '{0}::text AS current_lsn, '
        "current_setting('synchronous_standby_names') AS synchronous_standby_names, "
        "current_setting('synchronous_commit') AS synchronous_commit").format(sql.SQL(CURRENT_LSN)))
    in_recovery = facts['in_recovery']
    timeline = base.pop('checkpoint_timeline')
    if not in_recovery:
        # The WAL file name of the insert position starts with the current timeline, which may be newer than the checkpoint's.
        row = fetch_one(conn, "SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int AS tli")
        timeline = row['tli']
    else:
        receiver = fetch_one(conn, 'SELECT received_tli FROM pg_catalog.pg_stat_wal_receiver')
        if receiver is not None and receiver['received_tli']:
            timeline = receiver['received_tli']
    result = dict(
        role='standby' if in_recovery else 'primary',
        server_version=facts['version'],
        server_version_num=version,
        timeline=timeline,
        standbys=read_standbys(conn, params['lag_threshold_seconds'], params['lag_threshold_bytes']),
        slots=read_slots(conn, version),
        standby=read_standby_state(conn, version) if in_recovery else None,
    )
    result.update(base)
    return result


def validate_params(params):
    if params['lag_threshold_bytes'] < 0:
        raise InvalidInput('lag_threshold_bytes must be 0 or more')
    if params['lag_threshold_seconds'] < 0:
        raise InvalidInput('lag_threshold_seconds must be 0 or more')


ARGUMENT_SPEC = dict(
    lag_threshold_bytes=dict(type='int', default=16777216),
    lag_threshold_seconds=dict(type='float', default=5.0),
)


def main():
    frame = ModuleFrame(ARGUMENT_SPEC, groups=[POSTGRES], validate=validate_params)
    frame.run(lambda module: dict(read_info(frame.closing(connect(module.params)), module.params), changed=False))


if __name__ == '__main__':
    main()
