# -*- coding: utf-8 -*-
# This module_utils is PRIVATE to the pgha.replication collection. It is not a public API:
# it may change or disappear without notice. Do not use it from other collections.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one deadline-bounded poll of the collection, on the monotonic clock (a wall clock stepped by NTP would end a
wait early or stretch it)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import time


def deadline_in(seconds, clock=time.monotonic):
    """The monotonic time ``seconds`` from now, for several polls that share one wait_timeout."""
    return clock() + seconds


def poll(read, done, interval, timeout=None, deadline=None, clock=time.monotonic, sleep=time.sleep):
    """Call ``read()`` until ``done(value)`` is true, or until the deadline (``timeout`` seconds from now, or the
    monotonic time ``deadline``) has passed; ``interval`` seconds between two reads.

    Returns ``(the last value read, whether done)``: the caller decides what a timeout means (an error naming its
    option, or the last value as it is). ``read`` is called at least once.
    """
    if deadline is None:
        deadline = clock() + (timeout or 0)
    while True:
        value = read()
        if done(value):
            return value, True
        if clock() >= deadline:
            return value, False
        sleep(interval)
