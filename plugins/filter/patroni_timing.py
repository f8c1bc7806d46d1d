# -*- coding: utf-8 -*-
# Copyright: pgha.replication contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.validation import check_type_int
from ansible_collections.pgha.replication.plugins.module_utils._patroni import timing_problems

KEYS = ('ttl', 'loop_wait', 'retry_timeout')


def patroni_timing_problems(timing):
    """What Patroni would adjust in {ttl, loop_wait, retry_timeout} (_patroni.timing_problems); [] when nothing."""
    if not isinstance(timing, dict) or sorted(timing) != sorted(KEYS):
        raise AnsibleFilterError('patroni_timing_problems: the input must be a dict of exactly %s, not %r'
                                 % (', '.join(KEYS), timing))
    try:
        values = [check_type_int(timing[key]) for key in KEYS]
    except TypeError as exc:
        raise AnsibleFilterError('patroni_timing_problems: %s' % exc)
    return timing_problems(*values)


class FilterModule(object):
    def filters(self):
        return {'patroni_timing_problems': patroni_timing_problems}
