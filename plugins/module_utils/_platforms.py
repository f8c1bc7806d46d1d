# -*- coding: utf-8 -*-
# Copyright: pgha.replication contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The platforms the collection supports, and which one a host runs.

One table, read by the filter ``pgha.replication.platform`` (the roles' defaults and preflight)
and by the tests: a release of Debian, its code name, and the PostgreSQL major it ships (the
default of ``pgha_postgresql_version`` there). Pure: no I/O.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

# Debian major version -> the platform. The PostgreSQL major is the one the release ships (its
# only one: Debian carries one major per release); another needs postgresql_package_source=pgdg.
# pgbouncer_version is the release's PgBouncer (major.minor), what a role assumes of a node where
# PgBouncer is not installed yet (check mode); once installed, the package's own version counts.
PLATFORMS = {
    '12': dict(distribution='Debian', version='12', release='bookworm', postgresql_version=15, pgbouncer_version='1.18'),
    '13': dict(distribution='Debian', version='13', release='trixie', postgresql_version=17, pgbouncer_version='1.24'),
}


class PlatformError(Exception):
    """The host's platform is unknown (no facts) or not one the collection supports."""


def supported():
    """'Debian 12 (bookworm, PostgreSQL 15), Debian 13 (trixie, PostgreSQL 17)'."""
    return ', '.join('%(distribution)s %(version)s (%(release)s, PostgreSQL %(postgresql_version)s)' % PLATFORMS[key]
                     for key in sorted(PLATFORMS, key=int))


def platform(facts):
    """The PLATFORMS row of the host whose ``ansible_facts`` these are; PlatformError names what is supported."""
    facts = facts or {}
    distribution = facts.get('distribution')
    if not distribution:
        raise PlatformError(
            "this host's distribution facts are missing: the roles of pgha.replication choose packages and the "
            "PostgreSQL version by platform; keep gather_facts on for the play (gather_subset: [min] is enough) or "
            "run ansible.builtin.setup first")
    version = str(facts.get('distribution_major_version') or '')
    row = PLATFORMS.get(version) if distribution == 'Debian' else None
    if row is None:
        raise PlatformError(
            '%s %s (%s) is not a platform pgha.replication supports; it supports %s'
            % (distribution, facts.get('distribution_version') or version or '?',
               facts.get('distribution_release') or '?', supported()))
    return dict(row)
