# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one secret-masking helper: every form of every secret, in strings and in nested results."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import pytest

from ansible_collections.pgha.replication.plugins.module_utils._errors import MASK, mask, secret_variants

QUOTED = "it's \\ secret"


@pytest.mark.parametrize('text, secrets, expected', [
    ('password=hunter2 x', 'hunter2', 'password=******** x'),
    ('password=hunter2 x', ['hunter2', None, ''], 'password=******** x'),
    ('nothing here', [None, ''], 'nothing here'),
    ('a b', ['a', 'a b'], MASK),                                  # the longer secret first
    ("conninfo password='it\\'s \\\\ secret'", [QUOTED], "conninfo password='********'"),
    ("SQL 'password=''it\\''s \\\\ secret'''", [QUOTED], "SQL 'password=''********'''"),
])
def test_mask_text(text, secrets, expected):
    assert mask(text, secrets) == expected


def test_mask_nested_values_keeps_keys_and_other_types():
    value = dict(queries=['SET x = hunter2', 'SELECT 1'], hunter2=3, n=None, pair=('hunter2', 1))
    assert mask(value, ['hunter2']) == dict(queries=['SET x = ********', 'SELECT 1'], hunter2=3, n=None, pair=(MASK, 1))


def test_every_variant_is_masked():
    for variant in secret_variants(QUOTED):
        assert mask('<%s>' % variant, QUOTED) == '<%s>' % MASK
    assert secret_variants('') == []
