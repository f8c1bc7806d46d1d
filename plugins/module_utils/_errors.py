# -*- coding: utf-8 -*-
# This module_utils is PRIVATE to the pgha.replication collection. It is not a public API:
# it may change or disappear without notice. Do not use it from other collections.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The collection's error hierarchy and its one secret-masking helper.

Helpers anywhere in module_utils and in the modules raise :class:`PgHaError` subclasses; only the module frame
(``_module.run_module``) turns them into ``fail_json``, after masking every secret it knows of in the message and in
the details it reports (:func:`mask`).
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

MASK = '********'


class PgHaError(Exception):
    """Base class of every error raised by the collection's helpers. ``details`` may be reported with the failure."""

    def __init__(self, msg, **details):
        super(PgHaError, self).__init__(msg)
        self.msg = msg
        self.details = details


class MissingDependency(PgHaError):
    """A Python library the module needs cannot be imported (``details['import_error']`` holds the traceback)."""

    def __init__(self, msg, library='psycopg2', **details):
        super(MissingDependency, self).__init__(msg, **details)
        self.library = library


class ConnectionFailed(PgHaError):
    """The server could not be reached or refused the login."""


class InvalidInput(PgHaError):
    """An option value is invalid; raised before anything touches the server."""


class Conflict(PgHaError):
    """Existing state conflicts with the desired state; the message names the option that resolves it."""


class Unsupported(PgHaError):
    """The server (version, role, settings) cannot do what was asked."""


class QueryFailed(PgHaError):
    """A statement failed on the server. ``pgcode`` holds the SQLSTATE when known."""

    def __init__(self, msg, pgcode=None, **details):
        super(QueryFailed, self).__init__(msg, **details)
        self.pgcode = pgcode


class WaitTimeout(PgHaError):
    """Something did not converge within its wait_timeout."""


def secret_variants(secret):
    """The forms a secret can take in a message, longest first: as it is, escaped for a libpq connection string
    value (backslash before \\ and '), and either of those inside a SQL string literal (' doubled). Pure."""
    if not secret:
        return []
    secret = '%s' % (secret,)
    escaped = secret.replace('\\', '\\\\').replace("'", "\\'")
    in_sql = escaped.replace("'", "''")
    variants = set([secret, escaped, in_sql, in_sql.replace('\\', '\\\\'), secret.replace("'", "''")])
    return sorted(variants, key=len, reverse=True)


def mask(value, secrets):
    """``value`` with every form of every secret replaced by ``********``. Pure.

    ``secrets`` is one secret or an iterable of them (empty ones are skipped). A str is masked; a list, tuple or dict
    is masked item by item (keys are kept); anything else is returned as it is.
    """
    if isinstance(secrets, str):
        secrets = [secrets]
    variants = sorted(set(v for s in (secrets or ()) if s for v in secret_variants(s)), key=len, reverse=True)
    return _mask(value, variants)


def _mask(value, variants):
    if isinstance(value, str):
        for variant in variants:
            value = value.replace(variant, MASK)
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(_mask(item, variants) for item in value)
    if isinstance(value, dict):
        return dict((key, _mask(item, variants)) for key, item in value.items())
    return value
