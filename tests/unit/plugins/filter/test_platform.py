# -*- coding: utf-8 -*-
# Copyright: pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The platform filter and its table (module_utils/_platforms.py): what each supported release gets, and the
words an unsupported platform or a play without facts is refused with."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.pgha.replication.plugins.filter.platform import FilterModule, platform
from ansible_collections.pgha.replication.plugins.module_utils._platforms import PLATFORMS, supported


def facts(distribution, version, release):
    """The keys of ansible_facts (gather_subset min) the filter reads, as setup returns them."""
    return dict(distribution=distribution, distribution_major_version=version.split('.')[0],
                distribution_version=version, distribution_release=release, os_family='Debian')


@pytest.mark.parametrize('given, release, postgresql, pgbouncer', [
    (facts('Debian', '12.12', 'bookworm'), 'bookworm', 15, '1.18'),
    (facts('Debian', '13.2', 'trixie'), 'trixie', 17, '1.24'),
])
def test_each_supported_release_gets_its_own_postgresql(given, release, postgresql, pgbouncer):
    row = platform(given)
    assert (row['release'], row['postgresql_version'], row['pgbouncer_version']) == (release, postgresql, pgbouncer)
    row['postgresql_version'] = 0  # a copy: the table itself is not changed
    assert PLATFORMS[given['distribution_major_version']]['postgresql_version'] == postgresql


@pytest.mark.parametrize('given, named', [
    (facts('Debian', '11.11', 'bullseye'), 'Debian 11.11 (bullseye) is not a platform pgha.replication supports'),
    (facts('Ubuntu', '24.04', 'noble'), 'Ubuntu 24.04 (noble) is not a platform pgha.replication supports'),
    (dict(facts('Debian', 'n/a', 'forky'), distribution_major_version='n/a'), 'Debian n/a (forky) is not'),
])
def test_an_unsupported_platform_is_refused_naming_the_supported_ones(given, named):
    with pytest.raises(AnsibleFilterError) as err:
        platform(given)
    assert named in str(err.value)
    assert str(err.value).endswith('it supports ' + supported())
    assert supported() == 'Debian 12 (bookworm, PostgreSQL 15), Debian 13 (trixie, PostgreSQL 17)'


@pytest.mark.parametrize('given', [{}, dict(ansible_local={})])
def test_missing_facts_say_how_to_gather_them(given):
    with pytest.raises(AnsibleFilterError, match=r"distribution facts are missing.*gather_facts on.*gather_subset: \[min\]"):
        platform(given)


def test_the_input_must_be_facts():
    with pytest.raises(AnsibleFilterError, match='must be a host'):
        platform('bookworm')
    assert FilterModule().filters() == {'platform': platform}
