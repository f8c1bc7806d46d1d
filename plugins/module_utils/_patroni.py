# -*- coding: utf-8 -*-
# This module_utils is PRIVATE to the pgha.replication collection. It is not a public API:
# it may change or disappear without notice. Do not use it from other collections.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Patroni REST API options, client and parsers shared by the Patroni modules.

Helpers raise :class:`~._postgres.PgHaError` subclasses; only a module's ``main()`` turns them into
``fail_json``. No message produced here ever contains the API password.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import json
import re
import socket
import time

from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url
from ansible_collections.pgha.replication.plugins.module_utils._errors import (  # pylint: disable=unused-import
    Conflict,
    ConnectionFailed,
    InvalidInput,
    PgHaError,
    Unsupported,
    WaitTimeout,
    mask,
)
from ansible_collections.pgha.replication.plugins.module_utils._module import OptionGroup
from ansible_collections.pgha.replication.plugins.module_utils._poll import poll

# Patroni's defaults for the dynamic configuration keys the modules read (patroni/config.py).
CONFIG_DEFAULTS = dict(
    ttl=30,
    loop_wait=10,
    retry_timeout=10,
    maximum_lag_on_failover=1048576,
    synchronous_mode=False,
    synchronous_mode_strict=False,
    synchronous_node_count=1,
    check_timeline=False,
    pause=False,
)

# Seconds between two GET /config while a PATCH settles.
SETTLE_INTERVAL = 0.1

LEADER_ROLES = ('leader', 'standby_leader', 'master', 'primary')
SYNC_ROLES = ('sync_standby', 'quorum_standby')
REPLICA_ROLES = ('replica',) + SYNC_ROLES

UTC = datetime.timezone.utc

ISO8601_RE = re.compile(
    r'^(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,6})\d*)?)?'
    r'\s*(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)$')


class PatroniApiError(PgHaError):
    """The Patroni REST API answered with an error status. ``status`` and ``body`` hold the answer."""

    def __init__(self, msg, status=None, body=None, **details):
        super(PatroniApiError, self).__init__(msg, **details)
        self.status = status
        self.body = body


def _check_api_url(params):
    if not re.match(r'^https?://[^/\s]+', params.get('api_url') or ''):
        raise InvalidInput('api_url must be an http:// or https:// URL of a Patroni REST API, for example http://127.0.0.1:8008')


# REST API options, every one named api_* (one vocabulary, no aliases). Documented by the
# ``pgha.replication._patroni`` doc fragment.
PATRONI_API = OptionGroup(
    dict(
        api_url=dict(type='str', required=True),
        api_username=dict(type='str'),
        api_password=dict(type='str', no_log=True),
        api_ca_path=dict(type='path'),
        api_validate_certs=dict(type='bool', default=True),
        api_client_cert=dict(type='path'),
        api_client_key=dict(type='path', no_log=False),
        api_timeout=dict(type='int', default=10),
    ),
    doc_fragment='pgha.replication._patroni',
    check=_check_api_url,
    together=[('api_username', 'api_password')],
    needs=dict(api_client_key='api_client_cert'),
    minimum=dict(api_timeout=1),
)


def patroni_argument_spec():
    """REST API options (PATRONI_API's argument spec)."""
    return PATRONI_API.argument_spec()


def validate_api_params(params):
    """Check the REST API options that the argument spec cannot express. Pure; raises InvalidInput."""
    PATRONI_API.check(params)


def status_message(status, body, method, path):
    """A clear message for a Patroni error answer (status code, response text). Pure."""
    text = to_text(body or '', errors='surrogate_or_replace').strip()
    what = '%s %s' % (method, path)
    if status == 401:
        hint = 'authentication failed: check api_username and api_password (restapi.authentication in patroni.yml)'
    elif status == 403:
        hint = ('access denied: the client address is not in restapi.allowlist, or the API requires a client certificate '
                '(api_client_cert, api_client_key)')
    elif status == 412:
        hint = 'Patroni refused the request, a precondition does not hold'
    elif status == 503:
        hint = 'Patroni could not complete the request'
    elif status in (400, 422):
        hint = 'Patroni rejected the request as invalid'
    elif status == 404:
        hint = 'no such endpoint: is api_url the Patroni REST API'
    elif status is not None and status >= 500:
        hint = 'Patroni failed to handle the request'
    else:
        hint = 'unexpected answer'
    msg = '%s: HTTP %s, %s' % (what, status, hint)
    if text:
        msg += ' (Patroni said: %s)' % text[:500]
    return msg


class PatroniClient(object):
    """A small client of one Patroni REST API endpoint. Never puts the password in a message."""

    def __init__(self, params, opener=None):
        self.base = params['api_url'].rstrip('/')
        self.username = params.get('api_username')
        self.password = params.get('api_password')
        self.ca_path = params.get('api_ca_path')
        self.validate_certs = params.get('api_validate_certs', True)
        self.client_cert = params.get('api_client_cert')
        self.client_key = params.get('api_client_key')
        self.timeout = params.get('api_timeout') or 10
        self._params = params
        self._open = opener or open_url

    def for_member(self, api_url):
        """A client of another member's REST API (``api_url``), with the same credentials and TLS options."""
        return PatroniClient(dict(self._params, api_url=api_url), opener=self._open)

    def _scrub(self, text):
        return mask(text, self.password)

    def request(self, method, path, body=None, timeout=None):
        """Send a request; return (status, text). Raises ConnectionFailed, or PatroniApiError for non-2xx answers."""
        data = None
        headers = {'Accept': 'application/json'}
        if body is not None:
            data = json.dumps(body)
            headers['Content-Type'] = 'application/json'
        kwargs = dict(data=data, headers=headers, method=method, timeout=timeout or self.timeout,
                      validate_certs=self.validate_certs, ca_path=self.ca_path, client_cert=self.client_cert,
                      client_key=self.client_key, follow_redirects='none', use_proxy=True, use_netrc=False,
                      http_agent='pgha.replication')
        if self.username:
            kwargs.update(url_username=self.username, url_password=self.password, force_basic_auth=True)
        url = self.base + path
        try:
            resp = self._open(url, **kwargs)
            try:
                return resp.getcode(), to_text(resp.read(), errors='surrogate_or_replace')
            finally:
                resp.close()
        except HTTPError as exc:
            try:
                text = to_text(exc.read(), errors='surrogate_or_replace')
            except Exception:  # pylint: disable=broad-except  # the body is only a courtesy
                text = ''
            raise PatroniApiError(self._scrub(status_message(exc.code, text, method, path)), status=exc.code,
                                  body=self._scrub(text))
        except (URLError, socket.error, socket.timeout, ValueError) as exc:
            reason = getattr(exc, 'reason', exc)
            raise ConnectionFailed(self._scrub('cannot reach the Patroni REST API at %s (%s %s): %s'
                                               % (self.base, method, path, to_text(reason))))

    def patch_config(self, patch, settle_timeout):
        """PATCH /config; see :func:`patch_config`."""
        return patch_config(self, patch, settle_timeout)

    def get_json(self, path, timeout=None):
        status, text = self.request('GET', path, timeout=timeout)
        try:
            return json.loads(text)
        except ValueError:
            raise PatroniApiError('GET %s: HTTP %s, the answer is not JSON: %s' % (path, status, self._scrub(text[:200])),
                                  status=status, body=self._scrub(text))


def read_config(client):
    """GET /config, checked to be a dynamic configuration. Raises PatroniApiError."""
    config = client.get_json('/config')
    if not isinstance(config, dict):
        raise PatroniApiError('GET /config: the answer is not a Patroni dynamic configuration')
    return config


def patch_config(client, patch, settle_timeout, clock=time.monotonic, sleep=time.sleep):
    """PATCH /config with ``patch``; return ``(stored, seen)``: the configuration Patroni answered it stored (None when
    the answer is not JSON), and the last GET /config.

    The member answers GET /config from its cache of the DCS, which follows a write after a moment: GET /config is
    repeated until it shows what was stored, for ``settle_timeout`` seconds at most, so that the next run reads what
    this one wrote.
    """
    dummy, text = client.request('PATCH', '/config', body=patch)
    try:
        stored = json.loads(text)
    except ValueError:
        stored = None
    seen, dummy = poll(lambda: read_config(client), lambda config: not isinstance(stored, dict) or config == stored,
                       SETTLE_INTERVAL, timeout=settle_timeout, clock=clock, sleep=sleep)
    return stored, seen


def member_status(member_client, member, timeout=None):
    """A member's live state from its own REST API (GET on its ``api_url``, Patroni's /patroni), or None when it has
    no api_url, cannot be reached or answers an error. ``member_client(api_url)`` is PatroniClient.for_member."""
    if not member or not member.get('api_url'):
        return None
    try:
        status = member_client(member['api_url']).get_json('', timeout=timeout)
    except (ConnectionFailed, PatroniApiError):
        return None
    return status if isinstance(status, dict) else None


def timing_problems(ttl, loop_wait, retry_timeout):
    """The HA timing rule of Patroni, in one place: what is wrong with (ttl, loop_wait, retry_timeout), as a list of
    sentences (empty when Patroni takes them as they are). Patroni silently raises values under its minimums and
    shortens loop_wait and retry_timeout when loop_wait + 2 * retry_timeout exceeds ttl. Pure.

    Used by patroni_config and, through the ``patroni_timing_problems`` filter, by the patroni role's preflight.
    """
    problems = []
    if ttl < 20:
        problems.append('ttl (%d) must be 20 or more' % ttl)
    if loop_wait < 1:
        problems.append('loop_wait (%d) must be 1 or more' % loop_wait)
    if retry_timeout < 3:
        problems.append('retry_timeout (%d) must be 3 or more' % retry_timeout)
    if loop_wait + 2 * retry_timeout > ttl:
        problems.append('loop_wait + 2 * retry_timeout (%d + 2 * %d = %d) must not exceed ttl (%d)'
                        % (loop_wait, retry_timeout, loop_wait + 2 * retry_timeout, ttl))
    return problems


def _int_or_none(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def normalise_member(raw, leader_name=None):
    """One member of GET /cluster as the modules return it. Pure.

    Lag values are bytes, or None when Patroni reports them as ``unknown``. The leader's lag is 0.
    """
    role = raw.get('role')
    if role in ('master', 'primary'):
        role = 'leader'
    is_leader = role in LEADER_ROLES or (leader_name is not None and raw.get('name') == leader_name)
    member = dict(
        name=raw.get('name'),
        role=role,
        state=raw.get('state'),
        api_url=raw.get('api_url'),
        host=raw.get('host'),
        port=_int_or_none(raw.get('port')),
        timeline=_int_or_none(raw.get('timeline')),
        lag=0 if is_leader else _int_or_none(raw.get('lag')),
        receive_lag=0 if is_leader else _int_or_none(raw.get('receive_lag')),
        replay_lag=0 if is_leader else _int_or_none(raw.get('replay_lag')),
        lsn=raw.get('lsn') if raw.get('lsn') != 'unknown' else None,
        tags=dict(raw.get('tags') or {}),
        pending_restart=bool(raw.get('pending_restart', False)),
        pending_restart_reason=raw.get('pending_restart_reason'),
        scheduled_restart=raw.get('scheduled_restart'),
    )
    return member


def normalise_config(raw):
    """The dynamic configuration (GET /config) keys the modules use, with Patroni's defaults. Pure."""
    raw = raw or {}
    config = dict(CONFIG_DEFAULTS)
    for key in CONFIG_DEFAULTS:
        if raw.get(key) is not None:
            config[key] = raw[key]
    # synchronous_mode is a bool, or the string 'quorum' (Patroni 4); 'on'/'off' strings are accepted by Patroni too.
    mode = config['synchronous_mode']
    if isinstance(mode, str) and mode.lower() in ('on', 'true', 'yes'):
        config['synchronous_mode'] = True
    elif isinstance(mode, str) and mode.lower() in ('off', 'false', 'no', ''):
        config['synchronous_mode'] = False
    for key in ('ttl', 'loop_wait', 'retry_timeout', 'maximum_lag_on_failover', 'synchronous_node_count'):
        value = _int_or_none(config[key])
        config[key] = CONFIG_DEFAULTS[key] if value is None else value
    return config


def normalise_cluster(cluster_json, config_json=None):
    """GET /cluster (and GET /config) as the view returned by the modules. Pure."""
    cluster_json = cluster_json or {}
    raw_members = cluster_json.get('members') or []
    leaders = [m.get('name') for m in raw_members if m.get('role') in LEADER_ROLES]
    leader = leaders[0] if leaders else None
    members = [normalise_member(m, leader) for m in raw_members]
    members.sort(key=lambda m: m['name'] or '')
    leader_member = [m for m in members if m['name'] == leader]
    scheduled = cluster_json.get('scheduled_switchover')
    return dict(
        members=members,
        leader=leader,
        sync_standbys=[m['name'] for m in members if m['role'] in SYNC_ROLES],
        scheduled_switchover=dict(scheduled) if scheduled else None,
        timeline=leader_member[0]['timeline'] if leader_member else None,
        paused=bool(cluster_json.get('pause', False)),
        scope=cluster_json.get('scope'),
        config=normalise_config(config_json) if config_json is not None else None,
    )


def member_base(api_url):
    """The REST API root of a member from its api_url in GET /cluster (which ends in /patroni). Pure."""
    return re.sub(r'/patroni/?$', '', api_url.rstrip('/'))


def post_to_member(client, member, path, body, failure, what, timeout=None):
    """POST ``path`` with ``body`` on a member's own REST API (its api_url in GET /cluster, with the client's
    credentials and TLS options). A member without api_url, or an error answer, raises ``failure`` (a PgHaError
    class) saying ``what`` was asked: "Patroni refused or failed to <what> '<member>': <Patroni's answer>"."""
    if not member.get('api_url'):
        raise failure("member '%s' has no api_url in GET /cluster: its Patroni cannot be asked" % member['name'])
    try:
        return client.for_member(member_base(member['api_url'])).request('POST', path, body=body, timeout=timeout)
    except PatroniApiError as exc:
        raise failure("Patroni refused or failed to %s '%s': %s" % (what, member['name'], exc.msg))


def member_by_name(cluster, name):
    """The member called ``name`` in a normalised cluster, or None. Pure."""
    return next((m for m in cluster['members'] if m['name'] == name), None)


def read_cluster(client, with_config=True):
    """GET /cluster and, unless told otherwise, GET /config; return normalise_cluster()."""
    cluster_json = client.get_json('/cluster')
    if not isinstance(cluster_json, dict) or not isinstance(cluster_json.get('members', []), list):
        raise PatroniApiError('GET /cluster: the answer is not a Patroni cluster description')
    config_json = None
    if with_config:
        config_json = read_config(client)
    return normalise_cluster(cluster_json, config_json)


def parse_iso8601(value):
    """Parse an ISO 8601 date and time with a time zone into an aware UTC datetime. Pure; raises InvalidInput."""
    match = ISO8601_RE.match((value or '').strip())
    if not match:
        raise InvalidInput('scheduled_at %r is not an ISO 8601 date and time with a time zone, '
                           'for example 2030-01-31T02:00:00+00:00' % (value,))
    parts = match.groupdict()
    tz = parts['tz']
    if tz in ('Z', 'z'):
        offset = 0
    else:
        digits = tz[1:].replace(':', '')
        hours = int(digits[:2])
        minutes = int(digits[2:4] or 0)
        if hours > 23 or minutes > 59:
            raise InvalidInput('scheduled_at %r has an invalid time zone offset' % (value,))
        offset = (hours * 60 + minutes) * (1 if tz[0] == '+' else -1)
    try:
        year, month, day = [int(x) for x in parts['date'].split('-')]
        stamp = datetime.datetime(year, month, day, int(parts['h']), int(parts['m']), int(parts['s'] or 0),
                                  int((parts['f'] or '0').ljust(6, '0')))
    except ValueError as exc:
        raise InvalidInput('scheduled_at %r is not a valid date and time: %s' % (value, exc))
    utc = stamp - datetime.timedelta(minutes=offset)
    return utc.replace(tzinfo=UTC)
