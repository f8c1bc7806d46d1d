#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2026, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
---
module: failover_drill_report
short_description: Measure a failover drill (RTO, RPO, timeline, verdict) and write it as JSON and as a picture
version_added: 0.1.0
description:
  - Reads what M(pgha.replication.pg_write_probe) recorded during a drill, the ids the new leader has and the drill's
    events, and measures - B(RTO), the client-visible write unavailability (the longest gap between two acknowledged
    commits that ends after the failure was induced); B(RPO), the acknowledged writes missing on the new leader; the
    client errors; a timeline of the events. The verdict passes when RTO is at most O(rto_target) and RPO at most
    O(rpo_target).
  - Writes C(<name>.json) (the report) and C(<name>.png) (acknowledged writes per second with the events marked,
    drawn with matplotlib) into O(dest). Runs where the files go - on the controller with C(delegate_to=localhost).
  - In check mode it checks that O(dest) can be written and that matplotlib imports, and writes nothing.
author:
  - pgha.replication developers (@pgha)
extends_documentation_fragment:
  - pgha.replication._attributes
options:
  dest:
    description: The directory the report goes to; created when missing.
    type: path
    required: true
    version_added: 0.1.0
  name:
    description: The base name of the two files.
    type: str
    default: failover-drill
    version_added: 0.1.0
  writer:
    description: The result of M(pgha.replication.pg_write_probe) (C(acked_ids), C(acked_at), C(errors), C(started_at),
      C(ended_at)).
    type: dict
    default: {}
    version_added: 0.1.0
  present_ids:
    description: The ids of the drill's rows on the new leader, read after the old leader rejoined.
    type: list
    elements: int
    default: []
    version_added: 0.1.0
  events:
    description: The drill's events - C(name) and C(at) (seconds since the epoch). The one named C(induced) marks the
      failure; RTO is measured from it.
    type: list
    elements: dict
    default: []
    version_added: 0.1.0
  rto_target:
    description: The longest write unavailability, in seconds, that passes.
    type: float
    default: 30
    version_added: 0.1.0
  rpo_target:
    description: The most acknowledged writes that may be missing and pass (V(0) for synchronous replication).
    type: int
    default: 0
    version_added: 0.1.0
  details:
    description: Anything else to keep in the report (cluster, mode, leaders); copied as it is under C(drill).
    type: dict
    default: {}
    version_added: 0.1.0
  plot:
    description: Draw the picture (needs matplotlib where the module runs).
    type: bool
    default: true
    version_added: 0.1.0
attributes:
  check_mode:
    description: Checks O(dest) and matplotlib; writes nothing.
    support: partial
    details: In check mode the module only checks that O(dest) can be written and that matplotlib imports.
  diff_mode:
    description: It records or reports rather than manage a state, so there is no diff.
    support: none
requirements:
  - matplotlib (with O(plot=true)), on the host the module runs on
seealso:
  - module: pgha.replication.pg_write_probe
'''

EXAMPLES = r'''
- name: Write the drill report
  pgha.replication.failover_drill_report:
    dest: /srv/drills
    name: drill-20261207T210000Z
    writer: "{{ writer_result }}"
    present_ids: "{{ rows.query_result | map(attribute='id') | list }}"
    events: "{{ drill_events }}"
    rto_target: 30
  delegate_to: localhost
'''

RETURN = r'''
report:
  description: The report as written to C(<name>.json).
  returned: always
  type: dict
  contains:
    verdict:
      description: V(pass) or V(fail) (V(null) in check mode).
      type: str
    reasons:
      description: Why it failed, one sentence each (empty when it passed).
      type: list
      elements: str
    rto_seconds:
      description: The longest gap between two acknowledged commits that ends after the induced failure; V(null) when
        no write was acknowledged after it.
      type: float
    rto_gap:
      description: The last acknowledged commit before that gap and the first after it (seconds since the epoch).
      type: dict
    rpo_writes:
      description: Acknowledged writes missing on the new leader.
      type: int
    missing_ids:
      description: The first 100 of them.
      type: list
      elements: int
    acknowledged:
      description: Writes acknowledged.
      type: int
    errors:
      description: Client errors - C(count), C(first_at), C(last_at), C(messages) (distinct, with counts).
      type: dict
    timeline:
      description: The events with C(offset) (seconds from the start of the writes), in order.
      type: list
      elements: dict
    per_second:
      description: Acknowledged writes in each second from the start of the writes.
      type: list
      elements: int
json_path:
  description: The report file (V(null) in check mode).
  returned: always
  type: str
png_path:
  description: The picture (V(null) in check mode or without O(plot)).
  returned: always
  type: str
'''

import json
import os
import traceback

from ansible_collections.pgha.replication.plugins.module_utils._errors import InvalidInput, PgHaError
from ansible_collections.pgha.replication.plugins.module_utils._module import ModuleFrame

try:
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot
    HAS_MATPLOTLIB = True
    MATPLOTLIB_ERROR = None
except ImportError:
    HAS_MATPLOTLIB = False
    MATPLOTLIB_ERROR = traceback.format_exc()
    pyplot = None

ARGUMENT_SPEC = dict(
    dest=dict(type='path', required=True),
    name=dict(type='str', default='failover-drill'),
    writer=dict(type='dict', default={}),
    present_ids=dict(type='list', elements='int', default=[]),
    events=dict(type='list', elements='dict', default=[]),
    rto_target=dict(type='float', default=30),
    rpo_target=dict(type='int', default=0),
    details=dict(type='dict', default={}),
    plot=dict(type='bool', default=True),
)
MISSING_SHOWN = 100


class ReportFailed(PgHaError):
    """The report could not be written."""


def validate_params(params):
    """Check what the argument spec cannot express. Pure; raises InvalidInput."""
    name = params.get('name') or ''
    if not name or '/' in name or name.startswith('.'):
        raise InvalidInput("name must be a file name without '/' (got '%s')" % name)
    if params.get('rto_target') is not None and params['rto_target'] <= 0:
        raise InvalidInput('rto_target must be more than 0 seconds')
    if params.get('rpo_target') is not None and params['rpo_target'] < 0:
        raise InvalidInput('rpo_target must be 0 or more writes')
    for event in params.get('events') or []:
        if not event.get('name') or not isinstance(event.get('at'), (int, float)):
            raise InvalidInput('each event needs a name and an at (seconds since the epoch): %r' % (event,))


def longest_gap(acked_at, since):
    """(seconds, before, after): the longest gap between two consecutive acknowledged commits whose second one is at
    or after ``since``, counting a gap that starts before it; (None, last, None) when nothing was acknowledged after
    ``since``. Pure."""
    times = sorted(acked_at)
    before = [t for t in times if t < since]
    after = [t for t in times if t >= since]
    if not after:
        return None, (before[-1] if before else None), None
    best = (None, None, None)
    previous = before[-1] if before else None
    for current in after:
        if previous is not None and (best[0] is None or current - previous > best[0]):
            best = (round(current - previous, 3), previous, current)
        previous = current
    if best[0] is None:
        best = (0.0, after[0], after[0])
    return best


def per_second(acked_at, start, end):
    """Acknowledged commits in each whole second from ``start`` to ``end``. Pure."""
    seconds = max(int(end - start) + 1, 1)
    counts = [0] * seconds
    for at in acked_at:
        index = int(at - start)
        if 0 <= index < seconds:
            counts[index] += 1
    return counts


def error_summary(errors):
    """count, first_at, last_at and the distinct messages with their counts (most frequent first). Pure."""
    messages = {}
    for error in errors:
        messages[error.get('error')] = messages.get(error.get('error'), 0) + 1
    ordered = sorted(messages.items(), key=lambda item: (-item[1], item[0] or ''))
    return dict(count=len(errors), first_at=errors[0]['at'] if errors else None,
                last_at=errors[-1]['at'] if errors else None,
                messages=[dict(error=text, count=count) for text, count in ordered[:10]])


def build_report(writer, present_ids, events, rto_target, rpo_target, details):
    """The drill report. Pure."""
    acked_ids = list(writer.get('acked_ids') or [])
    acked_at = list(writer.get('acked_at') or [])
    if len(acked_ids) != len(acked_at):
        raise InvalidInput('writer: acked_ids and acked_at differ in length (%d, %d): pass the result of '
                           'pgha.replication.pg_write_probe' % (len(acked_ids), len(acked_at)))
    start = writer.get('started_at') or (acked_at[0] if acked_at else 0)
    end = writer.get('ended_at') or (acked_at[-1] if acked_at else start)
    induced = next((e['at'] for e in events if e['name'] == 'induced'), None)
    reasons = []
    if induced is None:
        raise InvalidInput("events: name the induced failure 'induced' (RTO is measured from it)")
    rto, last_before, first_after = longest_gap(acked_at, induced)
    present = set(present_ids)
    missing = sorted(i for i in acked_ids if i not in present)
    if not acked_ids:
        reasons.append('no write was acknowledged at all: check the endpoint and the credentials')
    if rto is None:
        reasons.append('no write was acknowledged after the failure was induced')
    elif rto > rto_target:
        reasons.append('writes stopped for %.1f s, more than the target of %.1f s' % (rto, rto_target))
    if len(missing) > rpo_target:
        reasons.append('%d acknowledged write(s) missing on the new leader, more than the target of %d'
                       % (len(missing), rpo_target))
    timeline = sorted((dict(name=e['name'], at=round(e['at'], 3), offset=round(e['at'] - start, 3)) for e in events),
                      key=lambda e: e['at'])
    return dict(
        verdict='fail' if reasons else 'pass',
        reasons=reasons,
        rto_seconds=rto,
        rto_target=rto_target,
        rto_gap=dict(last_ack_before=last_before, first_ack_after=first_after),
        rpo_writes=len(missing),
        rpo_target=rpo_target,
        missing_ids=missing[:MISSING_SHOWN],
        acknowledged=len(acked_ids),
        errors=error_summary(writer.get('errors') or []),
        started_at=start,
        ended_at=end,
        timeline=timeline,
        per_second=per_second(acked_at, start, end),
        drill=details,
    )


def draw(report, path):
    """The picture: acknowledged commits per second, the events as vertical lines, the RTO gap shaded."""
    figure, axes = pyplot.subplots(figsize=(10, 4), dpi=100)
    try:
        counts = report['per_second']
        axes.step(range(len(counts)), counts, where='post', color='tab:blue', label='acknowledged writes per second')
        gap = report['rto_gap']
        if report['rto_seconds'] and gap['last_ack_before'] is not None:
            axes.axvspan(gap['last_ack_before'] - report['started_at'], gap['first_ack_after'] - report['started_at'],
                         color='tab:red', alpha=0.15, label='RTO %.1f s' % report['rto_seconds'])
        top = max(counts or [1]) or 1
        for index, event in enumerate(report['timeline']):
            axes.axvline(event['offset'], color='tab:gray', linestyle='--', linewidth=1)
            axes.text(event['offset'], top * (0.95 - 0.09 * (index % 4)), ' ' + event['name'], fontsize=8,
                      verticalalignment='top')
        drill = report.get('drill') or {}
        axes.set_title('%s drill on %s: %s - RTO %s s (target %s), RPO %d write(s), %d client error(s)' % (
            drill.get('mode', 'failover'), drill.get('cluster', 'the cluster'), report['verdict'].upper(),
            '%.1f' % report['rto_seconds'] if report['rto_seconds'] is not None else 'n/a',
            '%g' % report['rto_target'], report['rpo_writes'], report['errors']['count']), fontsize=9)
        axes.set_xlabel('seconds from the start of the writes')
        axes.set_ylabel('commits per second')
        axes.set_ylim(bottom=0, top=top * 1.05)
        axes.legend(loc='lower right', fontsize=8)
        figure.tight_layout()
        figure.savefig(path)
    finally:
        pyplot.close(figure)


def check_destination(dest):
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise ReportFailed('dest %s exists and is not a directory' % dest)
    parent = dest if os.path.isdir(dest) else os.path.dirname(os.path.abspath(dest))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.access(parent, os.W_OK):
        raise ReportFailed('dest %s cannot be written (%s is not writable)' % (dest, parent))


def run(module):
    params = module.params
    validate_params(params)
    if params['plot'] and not HAS_MATPLOTLIB:
        raise ReportFailed('matplotlib is needed to draw the picture where this module runs (pip install matplotlib, '
                           'or apt install python3-matplotlib), or set plot=false', error=MATPLOTLIB_ERROR)
    check_destination(params['dest'])
    if module.check_mode:
        return dict(changed=False, report=dict(verdict=None), json_path=None, png_path=None)
    report = build_report(params['writer'], params['present_ids'], params['events'], params['rto_target'],
                          params['rpo_target'], params['details'])
    if not os.path.isdir(params['dest']):
        os.makedirs(params['dest'])
    json_path = os.path.join(params['dest'], params['name'] + '.json')
    png_path = None
    with open(json_path, 'w') as handle:
        json.dump(report, handle, indent=2, sort_keys=True)
        handle.write('\n')
    if params['plot']:
        png_path = os.path.join(params['dest'], params['name'] + '.png')
        draw(report, png_path)
    return dict(changed=True, report=report, json_path=json_path, png_path=png_path)


def main():
    frame = ModuleFrame(ARGUMENT_SPEC, validate=validate_params)
    frame.run(run)


if __name__ == '__main__':
    main()
