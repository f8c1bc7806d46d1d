# -*- coding: utf-8 -*-
# This module_utils is PRIVATE to the pgha.replication collection. It is not a public API:
# it may change or disappear without notice. Do not use it from other collections.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Convergence of concurrent identical runs of the SQL modules (two AWX jobs, a retried play).

Two means, both used by every SQL module that creates or drops objects:

- :func:`lock_object` serialises runs of the collection's modules on one object: a session-level advisory lock taken
  before the module reads the object in apply mode, released when its connection closes. The second run then reads
  what the first one made, and has nothing to do.
- :func:`converge` covers everything else (another tool, or a run connected to another database): when a create
  fails because the object now exists, or a drop because it is already gone, the object is read again; if it is now
  what the run wanted, the run succeeds without a change, otherwise it fails with a Conflict.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible_collections.pgha.replication.plugins.module_utils._postgres import Conflict, QueryFailed, execute

DUPLICATE_OBJECT = '42710'      # publication, subscription or replication slot already exists
UNIQUE_VIOLATION = '23505'      # a concurrent CREATE committed first (e.g. pg_subscription_subname_index)
UNDEFINED_OBJECT = '42704'      # dropped concurrently
RACE_CODES = (DUPLICATE_OBJECT, UNIQUE_VIOLATION, UNDEFINED_OBJECT)

# First key of the advisory locks of the collection ('pgha' in ASCII); the second is hashtext('<kind> <name>').
LOCK_CLASS = 0x70676861


def lock_object(conn, kind, name):
    """Wait for, then hold until the connection closes, the collection's advisory lock on object ``kind name``.

    Advisory locks are per database: runs connected to different databases are not serialised (converge() then
    covers them).
    """
    execute(conn, 'SELECT pg_catalog.pg_advisory_lock(%s, pg_catalog.hashtext(%s))', (LOCK_CLASS, ' '.join((kind, name))))


def converge(apply, reread, reached, what):
    """Run ``apply()`` and return ``(its result, False)``.

    When it raises QueryFailed with an "already exists" or "does not exist" SQLSTATE, the object was created or
    dropped by someone else between our read and our statement: ``reread()`` reads it again and ``reached(state)``
    tells whether it is now what the run wanted. Then return ``(the statements that ran before the race, True)``
    (``details['queries']`` of the exception); otherwise raise Conflict (``what`` names the object). ``reached`` may
    itself raise Conflict with a better message.
    """
    try:
        return apply(), False
    except QueryFailed as exc:
        if exc.pgcode not in RACE_CODES:
            raise
        if reached(reread()):
            return exc.details.get('queries', []), True
        raise Conflict('%s was changed by someone else while this run changed it (%s), and is now not what this run '
                       'asks for; nothing was changed by this run - run it again to reconcile' % (what, exc.msg),
                       queries=exc.details.get('queries', []))
