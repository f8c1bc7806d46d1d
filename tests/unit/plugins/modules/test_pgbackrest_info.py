# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure unit tests of pgbackrest_info's option checks (its parser and command line: test__pgbackrest.py)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.pgha.replication.plugins.modules import pgbackrest_info as mod

FULL = '20261126-013244F'


@pytest.mark.parametrize('params, fragment', [
    (dict(stanza=''), 'stanza must be a non-empty single line'),
    (dict(stanza='a\nb'), 'stanza must be'),
    (dict(set='x\x00'), 'set must be'),
    (dict(repo=0), 'repo must be between 1 and 256'),
    (dict(repo=257), 'repo must be between 1 and 256'),
])
def test_validate_params_rejects(params, fragment):
    with pytest.raises(mod.PgBackRestError) as err:
        mod.validate_params(params)
    assert fragment in err.value.msg


def test_validate_params_accepts():
    mod.validate_params(dict(stanza='main', set=FULL, config='/etc/pgbackrest.conf', binary='pgbackrest', repo=256))
