# -*- coding: utf-8 -*-
# This module_utils is PRIVATE to the pgha.replication collection. It is not a public API:
# it may change or disappear without notice. Do not use it from other collections.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one SQL statement type of the SQL modules, and the one ``apply`` that runs a plan of them.

A :class:`Statement` is what a pure planner returns: fixed SQL text (or a psycopg2.sql.Composable built from fixed
SQL and identifiers) whose ``{0}``, ``{1}``... are filled with the statement's identifiers by ``psycopg2.sql`` and
whose ``%s`` are bound to its values, which travel as parameters; ``shown`` are the values as ``queries`` shows them
(a connection string with its password masked). No statement text is ever built with ``%`` or ``+``.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from collections import namedtuple

from ansible_collections.pgha.replication.plugins.module_utils._errors import PgHaError
from ansible_collections.pgha.replication.plugins.module_utils._postgres import execute, render, sql


class Statement(namedtuple('Statement', ['template', 'idents', 'params', 'shown', 'kind'])):
    """One statement of a plan.

    ``template``: SQL text, or a Composable; with ``idents``, only fixed SQL (``{n}`` placeholders left for them).
    ``idents``: identifiers for ``{0}``, ``{1}``...: a name, or a list of names (joined with commas).
    ``params``: the values bound to ``%s`` (a tuple, or None). ``shown``: the values shown in ``queries``.
    ``kind``: what the statement does for the module that runs it ('sql' unless the module says otherwise).
    """

    __slots__ = ()

    @property
    def text(self):
        """The template as text, identifiers still as placeholders (for messages and tests; no connection)."""
        return self.template if isinstance(self.template, str) else self.template.as_string(None)

    @property
    def query(self):
        """The statement as a psycopg2.sql.Composable, identifiers quoted."""
        if not isinstance(self.template, str) and not self.idents:
            return self.template
        parts = []
        for ident in self.idents:
            if isinstance(ident, (list, tuple)):
                parts.append(sql.SQL(', ').join(sql.Identifier(item) for item in ident))
            else:
                parts.append(sql.Identifier(ident))
        return sql.SQL(self.text).format(*parts)

    @property
    def carries_secret(self):
        """Whether the values run differ from the values shown (a password is bound as a parameter)."""
        return self.params != self.shown


def statement(template, idents=(), params=None, shown=None, kind='sql'):
    """A Statement; ``shown`` defaults to ``params``."""
    return Statement(template, tuple(idents), params, params if shown is None else shown, kind)


def fixed(*parts):
    """A Composable of fixed SQL fragments (str) and Composables, in order; the way to assemble a template. Pure."""
    return sql.Composed([sql.SQL(part) if isinstance(part, str) else part for part in parts])


def assignments(names):
    """``name = %s, name = %s`` for option names the module fixes (never user input). Pure."""
    return sql.SQL(', ').join(fixed(name, ' = %s') for name in names)


def show(conn, st):
    """The statement as ``queries`` shows it: identifiers quoted, the shown values bound."""
    return render(conn, st.query, st.shown)


def run_statement(conn, st, ran):  # pylint: disable=unused-argument  # the signature of apply()'s execute_one
    execute(conn, st.query, st.params)


def apply(conn, statements, execute_one=run_statement, after_each=None, transaction=False):
    """Run ``statements`` in order; return them as ``queries`` shows them.

    ``execute_one(conn, statement, ran)`` runs one (it may append other statements it had to run to ``ran``);
    ``after_each(conn, statement, ran)`` follows each. With ``transaction``, all run in one transaction, rolled back
    on failure. On failure the statements that ran are attached to the exception as ``details['queries']``.
    """
    ran = []
    try:
        if transaction:
            execute(conn, 'BEGIN')
        for st in statements:
            shown = show(conn, st)
            execute_one(conn, st, ran)
            ran.append(shown)
            if after_each is not None:
                after_each(conn, st, ran)
        if transaction:
            execute(conn, 'COMMIT')
    except PgHaError as exc:
        if transaction:
            try:
                execute(conn, 'ROLLBACK')
            except PgHaError:
                pass
            exc.msg = '%s; the transaction was rolled back, nothing was changed' % exc.msg
        exc.details['queries'] = ran
        raise
    return ran
