# -*- coding: utf-8 -*-
# This module_utils is PRIVATE to the pgha.replication collection. It is not a public API:
# it may change or disappear without notice. Do not use it from other collections.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The frame every module of the collection runs in.

- :class:`OptionGroup`: a shared option group (connection, Patroni REST API, PgBouncer console) as one object: its
  argument spec, the constraints between its options (checked by :meth:`OptionGroup.check`, with messages that name
  the options) and the doc fragment that documents it.
- :class:`ModuleFrame`: builds the AnsibleModule from the groups and the module's own options, runs the module's
  pure option checks, then its body; closes what the body opened; turns every :class:`~._errors.PgHaError` into
  ``fail_json`` (the only place that calls it), with every secret masked in the message and in the details reported.

A module's ``main()`` is then::

    frame = ModuleFrame(ARGUMENT_SPEC, groups=[POSTGRES], validate=validate_params, report=dict(queries=[]))
    frame.run(lambda module: run(module, frame.closing(connect(module.params))))
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import copy
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.pgha.replication.plugins.module_utils._errors import (
    InvalidInput,
    MissingDependency,
    PgHaError,
    mask,
)

# In ModuleFrame(report=...): report the detail only when the error carries it.
IF_SET = object()


class OptionGroup(object):
    """Options several modules share, with the constraints between them and the doc fragment documenting them.

    ``together``: tuples of options set all or none; ``needs``: {option: the option it needs}; ``minimum``:
    {option: smallest value}; ``check``: a pure function of the params for what these cannot say (raises
    InvalidInput). ``when``: the group's constraints apply only when this option is set (an optional group).
    """

    def __init__(self, spec, doc_fragment, together=(), needs=None, minimum=None, check=None, when=None):
        self.spec = spec
        self.doc_fragment = doc_fragment
        self.together = tuple(tuple(names) for names in together)
        self.needs = dict(needs or {})
        self.minimum = dict(minimum or {})
        self.extra_check = check
        self.when = when

    def argument_spec(self):
        """A fresh copy of the group's argument spec (the caller may change it)."""
        return copy.deepcopy(self.spec)

    def optional(self, when):
        """The same group with its required options made optional, checked only when ``when`` is set."""
        spec = self.argument_spec()
        for option in spec.values():
            option.pop('required', None)
        return OptionGroup(spec, self.doc_fragment, self.together, self.needs, self.minimum, self.extra_check, when)

    def check(self, params):
        """Check the group's constraints on ``params``. Pure; raises InvalidInput naming the options."""
        if self.when is not None and not params.get(self.when):
            return
        if self.extra_check is not None:
            self.extra_check(params)
        for names in self.together:
            if len(set(bool(params.get(name)) for name in names)) > 1:
                raise InvalidInput('%s must be set together' % ' and '.join(names))
        for option, needed in sorted(self.needs.items()):
            if params.get(option) and not params.get(needed):
                raise InvalidInput('%s needs %s' % (option, needed))
        for option, smallest in sorted(self.minimum.items()):
            if params.get(option) is not None and params[option] < smallest:
                raise InvalidInput('%s must be %s or more' % (option, smallest))


def merged_argument_spec(groups, argument_spec):
    """The groups' options, then the module's own (which may override a group's). Pure."""
    spec = {}
    for group in groups:
        spec.update(group.argument_spec())
    spec.update(copy.deepcopy(argument_spec or {}))
    return spec


def failure(exc, report, secrets):
    """The fail_json arguments for ``exc``: its message and the ``report`` details, every secret masked. Pure.

    ``report`` maps a detail name to its default (IF_SET: only when the error carries it).
    """
    result = dict(msg=mask('%s' % (exc.msg,), secrets))
    for key, default in (report or {}).items():
        if key in exc.details:
            result[key] = mask(exc.details[key], secrets)
        elif default is not IF_SET:
            result[key] = copy.deepcopy(default)
    return result


class ModuleFrame(object):
    """One run of a module: argument parsing, option checks, the body, clean-up, and the report."""

    def __init__(self, argument_spec, groups=(), validate=None, report=None, **module_kwargs):
        self.groups = list(groups)
        self.validate = validate
        self.report = report or {}
        self._resources = []
        module_kwargs.setdefault('supports_check_mode', True)
        self.module = AnsibleModule(argument_spec=merged_argument_spec(self.groups, argument_spec), **module_kwargs)
        # The values of every no_log option; a module adds what it reads at run time (add_secret).
        self.secrets = sorted(value for value in self.module.no_log_values if isinstance(value, str) and value)

    def closing(self, resource):
        """Have ``resource.close()`` called when the run ends, however it ends; return ``resource``."""
        if resource is not None:
            self._resources.append(resource)
        return resource

    def add_secret(self, value):
        """Mask ``value`` too in what the frame reports (a secret read at run time, e.g. a stored password)."""
        if value:
            self.secrets.append(value)

    def all_secrets(self):
        return [value for value in list(self.module.no_log_values) + self.secrets if isinstance(value, str) and value]

    def check(self, params):
        """The module's ``validate(params)``, which checks its groups' constraints too (a module's validate_params
        is the one place its options are checked); without one, the groups' constraints. Raises InvalidInput."""
        if self.validate is not None:
            self.validate(params)
            return
        for group in self.groups:
            group.check(params)

    def run(self, body):
        """Run ``body(module)``, which returns the result dict, and exit with it; or fail with a PgHaError's report."""
        module = self.module
        try:
            try:
                self.check(module.params)
                result = body(module)
            finally:
                self._close()
        except MissingDependency as exc:
            module.fail_json(msg=missing_required_lib(exc.library), exception=exc.details.get('import_error'))
        except PgHaError as exc:
            module.fail_json(**failure(exc, self.report, self.all_secrets()))
        except Exception as exc:  # pylint: disable=broad-except  # a defect of the module: report it, masked
            secrets = self.all_secrets()
            module.fail_json(msg=mask('unexpected error (a defect of pgha.replication, please report it): %s: %s'
                                      % (type(exc).__name__, exc), secrets),
                             exception=mask(traceback.format_exc(), secrets))
        module.exit_json(**result)

    def _close(self):
        while self._resources:
            resource = self._resources.pop()
            try:
                resource.close()
            except Exception:  # pylint: disable=broad-except  # closing is best effort; the result matters
                pass
