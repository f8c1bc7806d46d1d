# -*- coding: utf-8 -*-
# Copyright: pgha.replication contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible_collections.pgha.replication.plugins.module_utils._platforms import PlatformError, platform as _platform


def platform(facts):
    """The supported platform a host's ansible_facts describe (module_utils/_platforms.py); fails naming the supported ones."""
    if not isinstance(facts, dict):
        raise AnsibleFilterError('platform: the input must be a host\'s ansible_facts, not %r' % (facts,))
    try:
        return _platform(facts)
    except PlatformError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {'platform': platform}
