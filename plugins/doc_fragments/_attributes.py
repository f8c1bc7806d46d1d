# -*- coding: utf-8 -*-
# This doc fragment is PRIVATE to the pgha.replication collection. It states the attributes every module
# shares; a module overrides a description where it has more to say (its own attributes: block is merged
# over these, key by key).

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):

    # A module that changes state: full check mode (same planner, same changed, queries and diff) and diff mode.
    DOCUMENTATION = r'''
attributes:
  check_mode:
    description: Can run in check mode and predict the same changes, queries and diff as a real run.
    support: full
  diff_mode:
    description: Returns the managed state before and after in RV(diff).
    support: full
'''

    # A module that only reads.
    INFO_MODULE = r'''
attributes:
  check_mode:
    description: Never changes anything, so it runs the same in check mode.
    support: full
  diff_mode:
    description: Never changes anything, so there is no diff.
    support: none
'''

    POSTGRESQL_GROUP = r'''
attributes:
  action_group:
    description: Use C(group/pgha.replication.postgresql) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - pgha.replication.postgresql
'''

    PATRONI_GROUP = r'''
attributes:
  action_group:
    description: Use C(group/pgha.replication.patroni) in C(module_defaults) to set the REST API options once.
    support: full
    membership:
      - pgha.replication.patroni
'''

    PGBOUNCER_GROUP = r'''
attributes:
  action_group:
    description: Use C(group/pgha.replication.pgbouncer) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - pgha.replication.pgbouncer
'''
