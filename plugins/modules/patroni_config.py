#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
---
module: patroni_config
short_description: Set the dynamic configuration of a Patroni cluster
version_added: 0.1.0
description:
  - Declarative dynamic configuration through the Patroni REST API. O(config) is the wanted subset of the
    configuration stored in the DCS (C(GET /config)); only the keys it names are managed, every other key is left alone.
  - The module reads C(GET /config), computes the smallest patch that makes the named keys match, and sends it with
    C(PATCH /config) (nested dictionaries are merged key by key, as Patroni does). When nothing differs, nothing is sent.
  - After a change it re-reads C(GET /config) and, with O(wait=true), waits until the members have applied the change
    and reports the members that need a PostgreSQL restart in RV(pending_restart).
  - Never runs C(patronictl) and never restarts anything.
author:
  - pgha.replication developers (@pgha)
extends_documentation_fragment:
  - pgha.replication._attributes
  - pgha.replication._attributes.patroni_group
  - pgha.replication._patroni
options:
  config:
    description:
      - 'The wanted part of the dynamic configuration, for example
        C({ttl: 30, loop_wait: 10, postgresql: {parameters: {max_connections: 200}}}).'
      - Dictionaries are compared key by key, recursively; a key that is not given is not managed.
        Lists are compared as a whole and replaced as a whole.
      - A V(null) value removes the key from the dynamic configuration (Patroni's C(PATCH /config) semantics);
        Patroni then uses its default or the member's C(patroni.yml).
      - Values are compared after normalising the types Patroni may store - a number given as a string equals the
        number (V('100') equals V(100)), and V(true)/V(false) equal the strings V(on)/V(off), V(yes)/V(no),
        V(true)/V(false). Nothing else is normalised. In particular PostgreSQL units are not - V(8MB) and V(8192kB)
        differ, as they do for Patroni; give a parameter in the same form each time.
      - The resulting C(ttl), C(loop_wait) and C(retry_timeout) are checked before anything is sent when the patch
        changes any of them - C(ttl) at least 20, C(loop_wait) at least 1, C(retry_timeout) at least 3, and
        C(loop_wait + 2 * retry_timeout) not more than C(ttl). Patroni would otherwise adjust them silently.
    type: dict
    required: true
    version_added: 0.1.0
  wait:
    description:
      - After a change to the C(postgresql) section, wait until every member has applied it (each member picks up a
        change of the dynamic configuration in its next HA loop, within C(loop_wait) seconds), so that
        RV(pending_restart) is accurate.
      - Not used in check mode or when nothing changed.
    type: bool
    default: true
    version_added: 0.1.0
  wait_timeout:
    description:
      - Upper bound, in seconds, of the wait (see O(wait)). The module does not fail when it is reached; it reports
        what the members show at that moment.
    type: int
    default: 30
    version_added: 0.1.0
attributes:
  check_mode:
    description:
      - Reads the configuration and runs the same planner and checks; returns the patch that would be sent in
        RV(patch), the predicted configuration in RV(config) and the same RV(ignore:changed), without sending it.
  diff_mode:
    description: Returns the managed keys before and after in RV(diff).
notes:
  - C(PATCH /config) needs the REST API's basic authentication when Patroni has C(restapi.authentication); set
    O(api_username) and O(api_password).
  - A parameter that needs a restart (for example C(max_connections)) is applied by Patroni only at the next restart of
    each member; the module reports it in RV(pending_restart) and leaves the restart to you.
seealso:
  - module: pgha.replication.patroni_cluster_info
  - name: Patroni dynamic configuration
    description: The keys of the dynamic configuration and their defaults.
    link: https://patroni.readthedocs.io/en/latest/dynamic_configuration.html
  - name: Patroni REST API, config endpoint
    description: C(GET /config) and C(PATCH /config).
    link: https://patroni.readthedocs.io/en/latest/rest_api.html#config-endpoint
'''

EXAMPLES = r'''
- name: Set the HA timings and two PostgreSQL parameters
  pgha.replication.patroni_config:
    api_url: http://10.0.0.1:8008
    api_username: patroni
    api_password: "{{ patroni_api_password }}"
    config:
      ttl: 30
      loop_wait: 10
      retry_timeout: 10
      maximum_lag_on_failover: 1048576
      synchronous_mode: true
      postgresql:
        use_pg_rewind: true
        parameters:
          max_connections: 200
          work_mem: 8MB
  register: patroni_config

- name: Show the members that must be restarted
  ansible.builtin.debug:
    msg: "restart needed on {{ patroni_config.pending_restart | join(', ') }}: {{ patroni_config.pending_restart_reason }}"
  when: patroni_config.pending_restart | length > 0

- name: Remove a parameter from the dynamic configuration
  pgha.replication.patroni_config:
    api_url: http://10.0.0.1:8008
    api_username: patroni
    api_password: "{{ patroni_api_password }}"
    config:
      postgresql:
        parameters:
          work_mem: null
'''

RETURN = r'''
config:
  description: The whole dynamic configuration after the run (C(GET /config)); predicted in check mode.
  returned: always
  type: dict
  sample: {ttl: 30, loop_wait: 10, retry_timeout: 10, postgresql: {parameters: {max_connections: 200}}}
patch:
  description: The body sent with C(PATCH /config), or that would be sent in check mode; V({}) when nothing differs.
  returned: always
  type: dict
  sample: {postgresql: {parameters: {max_connections: 200}}}
diff:
  description: The managed keys (those named in O(config)) before and after; a key absent from the configuration is left out.
  returned: when diff mode is enabled
  type: dict
  contains:
    before:
      description: The managed keys before the run.
      type: dict
      sample: {postgresql: {parameters: {max_connections: 100}}}
    after:
      description: The managed keys after the run (predicted in check mode).
      type: dict
      sample: {postgresql: {parameters: {max_connections: 200}}}
pending_restart:
  description:
    - Names of the members whose PostgreSQL must be restarted to apply a setting, sorted.
    - Read from C(GET /cluster) after the change has been applied (see O(wait)); in check mode and when nothing changed,
      the current state.
  returned: always
  type: list
  elements: str
  sample: [pg1, pg2]
pending_restart_reason:
  description:
    - For each member in RV(pending_restart), the settings waiting for a restart as Patroni 4 reports them
      (C(pending_restart_reason) of the member's C(GET /patroni)), a dictionary of parameter names, each with
      C(old_value) and C(new_value).
      A member is left out when its Patroni does not report a reason.
  returned: always
  type: dict
  sample: {pg1: {max_connections: {old_value: '100', new_value: '200'}}}
'''

import time

from ansible_collections.pgha.replication.plugins.module_utils._module import ModuleFrame
from ansible_collections.pgha.replication.plugins.module_utils._poll import poll
from ansible_collections.pgha.replication.plugins.module_utils._patroni import (
    CONFIG_DEFAULTS,
    InvalidInput,
    PATRONI_API,
    PatroniClient,
    member_status,
    patch_config,
    read_cluster,
    read_config,
    timing_problems,
    validate_api_params,
)

TIMING_KEYS = ('ttl', 'loop_wait', 'retry_timeout')
TRUE_STRINGS = ('on', 'true', 'yes')
FALSE_STRINGS = ('off', 'false', 'no')
POLL_INTERVAL = 0.5
_MISSING = object()


def normalise_value(value):
    """A scalar as compared: numeric strings as numbers, boolean words as booleans; lists element by element. Pure."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, list):
        return [normalise_value(v) for v in value]
    if isinstance(value, dict):
        return dict((k, normalise_value(v)) for k, v in value.items())
    text = str(value).strip()
    if text.lower() in TRUE_STRINGS:
        return True
    if text.lower() in FALSE_STRINGS:
        return False
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return value


def same_value(have, want):
    """Whether a stored value equals a wanted one after normalising (1 == 1.0, but True != 1). Pure."""
    have, want = normalise_value(have), normalise_value(want)
    if isinstance(have, bool) != isinstance(want, bool):
        return False
    return have == want


def strip_nulls(value):
    """A wanted dict without its null keys (what Patroni stores when it replaces a missing or scalar key). Pure."""
    if not isinstance(value, dict):
        return value
    return dict((k, strip_nulls(v)) for k, v in value.items() if v is not None)


def plan(current, desired):
    """The minimal PATCH /config body that makes ``current`` match ``desired``; {} when nothing differs. Pure."""
    current = current if isinstance(current, dict) else {}
    patch = {}
    for key, want in desired.items():
        have = current.get(key, _MISSING)
        if want is None:
            if have is not _MISSING:
                patch[key] = None
        elif isinstance(want, dict):
            if isinstance(have, dict):
                sub = plan(have, want)
                if sub:
                    patch[key] = sub
            else:
                clean = strip_nulls(want)
                if clean or have is not _MISSING:
                    patch[key] = clean
        elif have is _MISSING or not same_value(have, want):
            patch[key] = want
    return patch


def apply_patch(current, patch):
    """The configuration Patroni stores after PATCH /config with ``patch`` (patroni.utils.patch_config). Pure."""
    result = dict(current or {})
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = apply_patch(result[key], value)
        else:
            result[key] = strip_nulls(value)
    return result


def managed_subset(config, desired):
    """The keys of ``config`` named in ``desired``, recursively; absent keys left out. Pure."""
    out = {}
    for key, want in desired.items():
        if key not in config:
            continue
        if isinstance(want, dict) and isinstance(config[key], dict):
            out[key] = managed_subset(config[key], want)
        else:
            out[key] = config[key]
    return out


def _timing_value(config, key):
    value = config.get(key)
    if value is None:
        return CONFIG_DEFAULTS[key]
    number = normalise_value(value)
    if isinstance(number, bool) or not isinstance(number, int):
        raise InvalidInput('config.%s must be a whole number of seconds, not %r' % (key, value))
    return number


def validate_timing(merged, patch):
    """Refuse HA timings that Patroni would silently adjust, judged on the merged configuration. Pure; raises InvalidInput.

    Only checked when ``patch`` touches ttl, loop_wait or retry_timeout.
    """
    if not any(key in patch for key in TIMING_KEYS):
        return
    ttl, loop_wait, retry_timeout = [_timing_value(merged, key) for key in TIMING_KEYS]
    problems = timing_problems(ttl, loop_wait, retry_timeout)
    if problems:
        raise InvalidInput('config: invalid HA timings (ttl=%d, loop_wait=%d, retry_timeout=%d): %s; Patroni would adjust '
                           'them silently, so nothing was sent. Change config.ttl, config.loop_wait or config.retry_timeout'
                           % (ttl, loop_wait, retry_timeout, '; '.join(problems)))


def validate_params(params):
    """Check the options. Pure; raises InvalidInput."""
    validate_api_params(params)
    if not isinstance(params.get('config'), dict):
        raise InvalidInput('config must be a dictionary of dynamic configuration keys')
    if params.get('wait_timeout') is not None and params['wait_timeout'] < 1:
        raise InvalidInput('wait_timeout must be 1 or more')


def changed_parameters(patch):
    """Names of the PostgreSQL parameters in ``patch``. Pure."""
    postgresql = patch.get('postgresql')
    if not isinstance(postgresql, dict):
        return []
    parameters = postgresql.get('parameters')
    return sorted(parameters) if isinstance(parameters, dict) else []


def pending_view(cluster, reasons=None):
    """(names with pending_restart, {name: reason}) from a normalised cluster and extra reasons by member. Pure."""
    reasons = reasons or {}
    names, out = [], {}
    for member in cluster['members']:
        if not member['pending_restart']:
            continue
        names.append(member['name'])
        reason = member.get('pending_restart_reason') or reasons.get(member['name'])
        if reason:
            out[member['name']] = reason
    return sorted(names), out


def member_reasons(cluster, member_client):
    """pending_restart_reason from each pending member's own GET /patroni (Patroni 4); members that do not answer are skipped."""
    reasons = {}
    for member in cluster['members']:
        if not member['pending_restart'] or member.get('pending_restart_reason'):
            continue
        status = member_status(member_client, member)
        if status and status.get('pending_restart_reason'):
            reasons[member['name']] = status['pending_restart_reason']
    return reasons


def patch_and_reread(client, patch, wait_timeout, clock=time.monotonic, sleep=time.sleep):
    """PATCH /config, then GET /config until it shows what Patroni stored (its answer to the PATCH), for at most
    ``wait_timeout`` seconds; return the last GET /config (_patroni.patch_config)."""
    dummy, seen = patch_config(client, patch, wait_timeout, clock=clock, sleep=sleep)
    return seen


def settle(client, member_client, parameters, loop_wait, wait_timeout, clock=time.monotonic, sleep=time.sleep):
    """Poll until every member has applied the patched PostgreSQL ``parameters``; return (cluster, reasons).

    Done early when every member reports each parameter in its pending_restart_reason; otherwise when two HA loops
    (2 * loop_wait + 1 seconds) have passed, in which every member has applied the new configuration; never later than
    ``wait_timeout``.
    """
    def read():
        cluster = read_cluster(client, with_config=False)
        return cluster, member_reasons(cluster, member_client)

    def applied(state):
        cluster, reasons = state
        dummy, by_member = pending_view(cluster, reasons)
        return bool(cluster['members']) and all(set(parameters) <= set(by_member.get(m['name']) or {})
                                                for m in cluster['members'])

    state, dummy = poll(read, applied, POLL_INTERVAL, timeout=min(wait_timeout, 2 * loop_wait + 1), clock=clock,
                        sleep=sleep)
    return state


def run(module, client, member_client):
    """Read, plan, validate, patch (unless check mode), re-read. Returns the result dict."""
    params = module.params
    validate_params(params)
    desired = params['config']
    current = read_config(client)
    patch = plan(current, desired)
    merged = apply_patch(current, patch)
    validate_timing(merged, patch)
    if patch and not module.check_mode:
        after = patch_and_reread(client, patch, params['wait_timeout'])
        parameters = changed_parameters(patch)
        if parameters and params['wait']:
            loop_wait = _timing_value(after, 'loop_wait')
            cluster, reasons = settle(client, member_client, parameters, loop_wait, params['wait_timeout'])
        else:
            cluster = read_cluster(client, with_config=False)
            reasons = member_reasons(cluster, member_client)
    else:
        after = merged
        cluster = read_cluster(client, with_config=False)
        reasons = member_reasons(cluster, member_client)
    names, by_member = pending_view(cluster, reasons)
    result = dict(changed=bool(patch), config=after, patch=patch, pending_restart=names, pending_restart_reason=by_member)
    if module._diff:
        result['diff'] = dict(before=managed_subset(current, desired), after=managed_subset(after, desired))
    return result


ARGUMENT_SPEC = dict(
    config=dict(type='dict', required=True),
    wait=dict(type='bool', default=True),
    wait_timeout=dict(type='int', default=30),
)


def main():
    frame = ModuleFrame(ARGUMENT_SPEC, groups=[PATRONI_API], validate=validate_params)
    client = PatroniClient(frame.module.params)
    frame.run(lambda module: run(module, client, client.for_member))


if __name__ == '__main__':
    main()
