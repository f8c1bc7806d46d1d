# -*- coding: utf-8 -*-
# This module_utils is PRIVATE to the pgha.replication collection. It is not a public API:
# it may change or disappear without notice. Do not use it from other collections.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""pgBackRest, for pgbackrest_info: its secrets (read from its configuration and environment, masked in everything
shown), its ``info`` JSON parsed and normalised, the table, and the command line, run through
``module.run_command`` with an argv list.

Helpers raise :class:`PgBackRestError` (a :class:`~._errors.PgHaError`); only the module frame turns them into
``fail_json``. No message produced here contains a secret.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import glob
import json
import os
import re
import time

from ansible.module_utils.common.process import get_bin_path
from ansible_collections.pgha.replication.plugins.module_utils._errors import MASK, PgHaError

# pgBackRest options whose values are secrets (pgBackRest marks them "secure").
SECRET_OPTION = r'repo\d*-(?:cipher-pass|s3-key|s3-key-secret|s3-token|azure-key|s3-sse-customer-key|gcs-key-secret)'


_SECRET_ASSIGNMENT_RE = re.compile(r'(%s)(\s*[=:]\s*)("[^"]*"|\'[^\']*\'|[^\s,;\'"]+)' % SECRET_OPTION, re.IGNORECASE)


_SECRET_ENV_RE = re.compile(r'(PGBACKREST_REPO\d*_(?:CIPHER_PASS|S3_KEY|S3_KEY_SECRET|S3_TOKEN|AZURE_KEY|S3_SSE_CUSTOMER_KEY))'
                            r'(\s*=\s*)(\S+)', re.IGNORECASE)


_CONFIG_LINE_RE = re.compile(r'^\s*(%s)\s*=\s*(.*?)\s*$' % SECRET_OPTION, re.IGNORECASE)


_ENV_NAME_RE = re.compile(r'^PGBACKREST_REPO\d+_(?:CIPHER_PASS|S3_KEY|S3_KEY_SECRET|S3_TOKEN|AZURE_KEY|S3_SSE_CUSTOMER_KEY)$')


_UNPRINTABLE_RE = re.compile(u'[^\t\n\x20-\x7e\u00a0-\ud7ff\ue000-\ufffc]')


DEFAULT_CONFIGS = ('/etc/pgbackrest/pgbackrest.conf', '/etc/pgbackrest.conf')


DEFAULT_INCLUDE_DIR = '/etc/pgbackrest/conf.d'


STATUS_OK = 0


class PgBackRestError(PgHaError):
    """Base class of this module's errors; messages never contain a secret."""


class BinaryNotFound(PgBackRestError):
    """The pgBackRest executable is missing or not executable."""


class CommandFailed(PgBackRestError):
    """pgBackRest exited non-zero. ``rc`` is its exit code."""

    def __init__(self, msg, rc=None, **details):
        super(CommandFailed, self).__init__(msg, rc=rc, **details)
        self.rc = rc


class InvalidOutput(PgBackRestError):
    """pgBackRest's output is not the JSON document expected."""


def secrets_from_config_text(text):
    """Values of secret options (repoN-cipher-pass...) set in a pgBackRest configuration file's text. Pure."""
    found = []
    for line in text.splitlines():
        match = _CONFIG_LINE_RE.match(line)
        if match and match.group(2):
            found.append(match.group(2))
    return found


def secrets_from_environ(environ):
    """Values of PGBACKREST_REPOn_CIPHER_PASS and the other secret options set in an environment. Pure."""
    return [value for name, value in environ.items() if _ENV_NAME_RE.match(name.upper()) and value]


def scrub(text, secrets=()):
    """Mask secret option assignments and the literal secret values in a text; drop unprintable bytes. Pure."""
    if text is None:
        return None
    text = _SECRET_ASSIGNMENT_RE.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    text = _SECRET_ENV_RE.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    for secret in sorted(set(s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _UNPRINTABLE_RE.sub('?', text)


def iso_utc(epoch):
    """Seconds since the epoch -> '2025-01-01T01:02:03Z'; None stays None. Pure."""
    if epoch is None:
        return None
    return time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(epoch))


def human_size(nbytes):
    """Bytes -> pgBackRest's own rendering (1024-based, one decimal above bytes): 181.5KB, 22.1MB. Pure."""
    if nbytes is None:
        return '-'
    if nbytes < 1024:
        return '%dB' % nbytes
    value = float(nbytes)
    for unit in ('KB', 'MB', 'GB', 'TB', 'PB'):
        value /= 1024.0
        if value < 1024 or unit == 'PB':
            break
    return '%.1f%s' % (value, unit)


def human_duration(seconds):
    """Seconds -> '3s', '2m05s', '1h02m03s', '2d03h04m'. Pure."""
    if seconds is None:
        return '-'
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return '%dd%02dh%02dm' % (days, hours, minutes)
    if hours:
        return '%dh%02dm%02ds' % (hours, minutes, secs)
    if minutes:
        return '%dm%02ds' % (minutes, secs)
    return '%ds' % secs


def _get(data, *path):
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _list(data, key, what):
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidOutput('pgBackRest info: %s is not a list' % what)
    return value


def _int(value):
    return None if value is None else int(value)


def normalise_backup(raw):
    """One element of a stanza's "backup" list -> the documented backup dict. Pure."""
    start = _int(_get(raw, 'timestamp', 'start'))
    stop = _int(_get(raw, 'timestamp', 'stop'))
    databases = raw.get('database-ref')
    return dict(
        label=raw.get('label'),
        type=raw.get('type'),
        prior=raw.get('prior'),
        references=list(raw.get('reference') or []),
        repo=_int(_get(raw, 'database', 'repo-key')),
        db_id=_int(_get(raw, 'database', 'id')),
        start_epoch=start,
        start=iso_utc(start),
        stop_epoch=stop,
        stop=iso_utc(stop),
        duration_seconds=None if start is None or stop is None else stop - start,
        database_size=_int(_get(raw, 'info', 'size')),
        backup_size=_int(_get(raw, 'info', 'delta')),
        repo_size=_int(_get(raw, 'info', 'repository', 'size')),
        repo_delta=_int(_get(raw, 'info', 'repository', 'delta')),
        wal_start=_get(raw, 'archive', 'start'),
        wal_stop=_get(raw, 'archive', 'stop'),
        lsn_start=_get(raw, 'lsn', 'start'),
        lsn_stop=_get(raw, 'lsn', 'stop'),
        error=bool(raw.get('error')),
        pgbackrest_version=_get(raw, 'backrest', 'version'),
        databases=None if databases is None else [dict(name=d.get('name'), oid=_int(d.get('oid'))) for d in databases],
    )


def _status(raw, secrets):
    code = _int(raw.get('code')) if isinstance(raw, dict) else None
    return dict(code=code, message=scrub(raw.get('message') if isinstance(raw, dict) else None, secrets))


def normalise_stanza(raw, secrets=()):
    """One element of ``pgbackrest info --output=json`` -> the documented stanza dict. Pure."""
    if not isinstance(raw, dict) or 'name' not in raw:
        raise InvalidOutput('pgBackRest info: a stanza entry has no name')
    status = _status(raw.get('status'), secrets)
    status['ok'] = status['code'] == STATUS_OK
    status['backup_in_progress'] = bool(_get(raw, 'status', 'lock', 'backup', 'held'))
    return dict(
        name=raw['name'],
        status=status,
        cipher=raw.get('cipher'),
        repos=[dict(key=_int(r.get('key')), cipher=r.get('cipher'), status=_status(r.get('status'), secrets))
               for r in _list(raw, 'repo', 'repo')],
        db=[dict(id=_int(d.get('id')), repo=_int(d.get('repo-key')),
                 system_id=None if d.get('system-id') is None else str(d.get('system-id')), version=d.get('version'))
            for d in _list(raw, 'db', 'db')],
        archive=[dict(id=a.get('id'), db_id=_int(_get(a, 'database', 'id')), repo=_int(_get(a, 'database', 'repo-key')),
                      min=a.get('min'), max=a.get('max'))
                 for a in _list(raw, 'archive', 'archive')],
        backups=[normalise_backup(b) for b in _list(raw, 'backup', 'backup')],
    )


def parse_info(stdout, secrets=()):
    """The text ``pgbackrest info --output=json`` printed -> list of stanza dicts. Pure; raises InvalidOutput."""
    try:
        # strict=False: pgBackRest copies raw control bytes (an undecryptable file's content) into messages.
        data = json.loads(stdout, strict=False)
    except ValueError as exc:
        raise InvalidOutput('pgBackRest info did not print JSON (%s): %s' % (exc, scrub(stdout[:300], secrets)))
    if not isinstance(data, list):
        raise InvalidOutput('pgBackRest info printed JSON that is not a list of stanzas: %s' % scrub(stdout[:300], secrets))
    return [normalise_stanza(stanza, secrets) for stanza in data]


TABLE_COLUMNS = ('STANZA', 'LABEL', 'TYPE', 'REPO', 'START (UTC)', 'DURATION', 'DB SIZE', 'REPO SIZE', 'REPO DELTA',
                 'WAL START-STOP')


def _wal_range(backup):
    if not backup['wal_start'] and not backup['wal_stop']:
        return '-'
    return '%s-%s' % (backup['wal_start'] or '?', backup['wal_stop'] or '?')


def render_table(stanzas):
    """Stanza dicts -> aligned lines: a header, one line per backup, one per stanza without backups. Pure."""
    rows = []
    notes = []
    for stanza in stanzas:
        for backup in stanza['backups']:
            start = backup['start'].replace('T', ' ').rstrip('Z') if backup['start'] else '-'
            rows.append((stanza['name'], backup['label'] or '-', backup['type'] or '-',
                         '-' if backup['repo'] is None else str(backup['repo']), start,
                         human_duration(backup['duration_seconds']), human_size(backup['database_size']),
                         human_size(backup['repo_size']), human_size(backup['repo_delta']), _wal_range(backup)
                         + (' (ERROR)' if backup['error'] else '')))
        status = stanza['status']
        if not stanza['backups'] or not status['ok']:
            message = (status['message'] or 'unknown').splitlines()[0] if status['message'] else 'unknown'
            notes.append('%s: %sstatus %s: %s' % (stanza['name'], '' if stanza['backups'] else 'no backups, ',
                                                  status['code'], message))
    widths = [max([len(TABLE_COLUMNS[i])] + [len(row[i]) for row in rows]) for i in range(len(TABLE_COLUMNS))]
    lines = []
    for row in [TABLE_COLUMNS] + rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append('  '.join(cells).rstrip())
    return lines + notes


def build_command(binary, params):
    """argv of ``pgbackrest info``; stdout gets only the JSON, warnings and errors go to stderr. Pure."""
    argv = [binary, '--output=json', '--log-level-console=off', '--log-level-stderr=warn']
    if params.get('config'):
        argv.append('--config=%s' % params['config'])
    if params.get('stanza'):
        argv.append('--stanza=%s' % params['stanza'])
    if params.get('repo') is not None:
        argv.append('--repo=%d' % params['repo'])
    if params.get('set'):
        argv.append('--set=%s' % params['set'])
    argv.append('info')
    return argv


def error_text(argv, rc, stdout, stderr, secrets):
    """'pgbackrest <command> failed (rc=N): ' and pgBackRest's own error lines ('ERROR: [055]: ...', HINTs), scrubbed. Pure."""
    text = (stderr or '').strip() or (stdout or '').strip() or 'no output'
    return 'pgbackrest %s failed (rc=%s): %s' % (argv[-1], rc, scrub(text, secrets))


def _read(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')
    except (IOError, OSError):
        return ''


def collect_secrets(config, environ):
    """Secret option values from the configuration files this user can read, and from the environment."""
    paths = [config] if config else list(DEFAULT_CONFIGS)
    include_dirs = [DEFAULT_INCLUDE_DIR] + ([os.path.join(os.path.dirname(config), 'conf.d')] if config else [])
    for directory in include_dirs:
        paths += sorted(glob.glob(os.path.join(directory, '*.conf')))
    secrets = []
    for path in paths:
        secrets += secrets_from_config_text(_read(path))
    return secrets + secrets_from_environ(environ)


def find_binary(binary):
    try:
        return get_bin_path(binary)
    except ValueError:
        raise BinaryNotFound('pgBackRest executable %r not found (or not executable) in PATH or as a path; install '
                             'pgBackRest or set binary' % binary)


def run(module, argv, secrets):
    try:
        rc, stdout, stderr = module.run_command(argv, expand_user_and_vars=False, errors='surrogate_then_replace',
                                                handle_exceptions=False)
    except (OSError, IOError) as exc:
        raise BinaryNotFound('cannot run %s: %s' % (argv[0], scrub(str(exc), secrets)))
    if rc != 0:
        raise CommandFailed(error_text(argv, rc, stdout, stderr, secrets), rc=rc)
    return stdout, stderr
