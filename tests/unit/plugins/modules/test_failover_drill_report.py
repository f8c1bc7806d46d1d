# -*- coding: utf-8 -*-
# Copyright: (c) 2026, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""failover_drill_report: the measures (RTO gap, RPO, errors, per-second counts), the verdict, the option checks and
the files it writes (a real PNG drawn by matplotlib). The ha scenario runs a real drill."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

import pytest

from ansible_collections.pgha.replication.plugins.module_utils._errors import InvalidInput
from ansible_collections.pgha.replication.plugins.modules import failover_drill_report as mod

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def writer(times, start=100.0, end=None, errors=()):
    return dict(acked_ids=list(range(1, len(times) + 1)), acked_at=list(times), started_at=start,
                ended_at=end if end is not None else (times[-1] if times else start), errors=list(errors))


@pytest.mark.parametrize('times, since, expected', [
    ([1.0, 2.0, 3.0, 9.5, 10.0], 3.5, (6.5, 3.0, 9.5)),
    # The longest gap after the failure counts, not an earlier one.
    ([1.0, 8.0, 9.0, 9.2, 12.2], 8.5, (3.0, 9.2, 12.2)),
    ([1.0, 2.0], 5.0, (None, 2.0, None)),
    ([], 5.0, (None, None, None)),
    ([6.0, 6.5], 5.0, (0.5, 6.0, 6.5)),
    ([6.0], 5.0, (0.0, 6.0, 6.0)),
])
def test_longest_gap(times, since, expected):
    assert mod.longest_gap(times, since) == expected


def test_per_second_counts_each_second_from_the_start():
    assert mod.per_second([100.1, 100.5, 101.0, 103.9], 100.0, 104.0) == [2, 1, 0, 1, 0]


def test_error_summary_counts_distinct_messages():
    summary = mod.error_summary([dict(at=1.0, error='a'), dict(at=2.0, error='b'), dict(at=3.0, error='a')])
    assert summary == dict(count=3, first_at=1.0, last_at=3.0, messages=[dict(error='a', count=2), dict(error='b', count=1)])


def test_a_drill_within_its_targets_passes():
    times = [100.0 + 0.1 * i for i in range(50)] + [110.0 + 0.1 * i for i in range(50)]
    events = [dict(name='induced', at=105.0), dict(name='new leader pg2', at=109.5)]
    report = mod.build_report(writer(times), list(range(1, 101)), events, 30, 0, {})
    assert report['verdict'] == 'pass' and report['reasons'] == []
    assert report['rto_seconds'] == pytest.approx(5.1) and report['rpo_writes'] == 0 and report['acknowledged'] == 100
    assert [(e['name'], e['offset']) for e in report['timeline']] == [('induced', 5.0), ('new leader pg2', 9.5)]


def test_lost_writes_and_a_long_gap_fail_with_both_reasons():
    times = [100.0, 100.5, 140.0]
    report = mod.build_report(writer(times), [1, 3], [dict(name='induced', at=100.7)], 30, 0, dict(mode='kill'))
    assert report['verdict'] == 'fail'
    assert report['reasons'] == ['writes stopped for 39.5 s, more than the target of 30.0 s',
                                 '1 acknowledged write(s) missing on the new leader, more than the target of 0']
    assert report['missing_ids'] == [2] and report['drill'] == dict(mode='kill')


def test_no_write_after_the_failure_fails():
    report = mod.build_report(writer([100.0, 101.0]), [1, 2], [dict(name='induced', at=102.0)], 30, 0, {})
    assert report['rto_seconds'] is None and report['reasons'] == ['no write was acknowledged after the failure was induced']


def test_the_induced_event_is_required():
    with pytest.raises(InvalidInput, match="name the induced failure 'induced'"):
        mod.build_report(writer([100.0]), [1], [dict(name='new leader', at=101.0)], 30, 0, {})


def test_a_writer_result_that_does_not_add_up_is_refused():
    bad = dict(writer([100.0]), acked_ids=[1, 2])
    with pytest.raises(InvalidInput, match='acked_ids and acked_at differ in length'):
        mod.build_report(bad, [1], [dict(name='induced', at=100.0)], 30, 0, {})


@pytest.mark.parametrize('overrides, message', [
    (dict(name='../x'), "name must be a file name without '/'"),
    (dict(rto_target=0), 'rto_target must be more than 0 seconds'),
    (dict(rpo_target=-1), 'rpo_target must be 0 or more writes'),
    (dict(events=[dict(name='induced')]), 'each event needs a name and an at'),
])
def test_invalid_options(overrides, message):
    params = dict(dest='/tmp', name='drill', rto_target=30, rpo_target=0, events=[])
    params.update(overrides)
    with pytest.raises(InvalidInput, match=message):
        mod.validate_params(params)


class FakeModule(object):
    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode


def params(dest, **extra):
    times = [100.0 + 0.02 * i for i in range(200)] + [108.0 + 0.02 * i for i in range(200)]
    values = dict(dest=str(dest), name='drill-1', writer=writer(times, errors=[dict(at=105.0, error='server closed')]),
                  present_ids=list(range(1, 401)), events=[dict(name='induced', at=104.5), dict(name='pg3 rejoined', at=111.0)],
                  rto_target=30.0, rpo_target=0, details=dict(cluster='pgha', mode='kill'), plot=True)
    values.update(extra)
    return values


def test_it_writes_the_report_and_a_png(tmp_path):
    dest = tmp_path / 'drills'
    result = mod.run(FakeModule(params(dest)))
    assert result['changed'] and result['report']['verdict'] == 'pass'
    with open(result['json_path']) as handle:
        assert json.load(handle)['rto_seconds'] == pytest.approx(4.02)
    with open(result['png_path'], 'rb') as handle:
        assert handle.read(8) == PNG_MAGIC


def test_check_mode_writes_nothing(tmp_path):
    dest = tmp_path / 'drills'
    result = mod.run(FakeModule(params(dest), check_mode=True))
    assert result == dict(changed=False, report=dict(verdict=None), json_path=None, png_path=None)
    assert not dest.exists()


def test_a_destination_that_is_a_file_is_refused(tmp_path):
    target = tmp_path / 'file'
    target.write_text('x')
    with pytest.raises(mod.ReportFailed, match='exists and is not a directory'):
        mod.run(FakeModule(params(target), check_mode=True))
