# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pgbackrest_info against a real pgBackRest repository of a real PostgreSQL, checked against the repository and
the server. Every result is also checked for the repository cipher passphrase."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json
import os
import stat

import pytest

from .conftest import run_module
from .pgbackrest_fixture import pgbackrest_binary, pgbackrest_stanza  # noqa: F401  pylint: disable=unused-import

MODULE = 'pgbackrest_info'


def info(args, check_mode=False, secrets=()):
    rc, res = run_module(MODULE, args, check_mode=check_mode)
    dumped = json.dumps(res)
    for secret in secrets:
        assert secret not in dumped, 'secret leaked into the result'
    return rc, res


def independent_info(stanza):
    """pgBackRest's own view of the repository, read by the test, not by the module."""
    return json.loads(stanza.run('--output=json', 'info'))


@pytest.mark.parametrize('check_mode', [False, True], ids=['run', 'check_mode'])
def test_stanza_lists_full_and_incr(pgbackrest_stanza, check_mode):
    stanza = pgbackrest_stanza
    rc, res = info(stanza.module_args(), check_mode=check_mode, secrets=[stanza.passphrase])
    assert rc == 0, res
    assert res['changed'] is False
    assert res['pgbackrest_version'].startswith('pgBackRest 2.')
    assert [s['name'] for s in res['stanzas']] == ['test']
    got = res['stanzas'][0]
    assert got['status'] == dict(code=0, message='ok', ok=True, backup_in_progress=False)
    assert got['cipher'] == 'aes-256-cbc'
    assert got['repos'] == [dict(key=1, cipher='aes-256-cbc', status=dict(code=0, message='ok'))]

    full, incr = got['backups']
    assert (full['type'], full['prior'], full['references']) == ('full', None, [])
    assert (incr['type'], incr['prior'], incr['references']) == ('incr', full['label'], [full['label']])
    assert incr['label'].startswith(full['label'] + '_') and incr['label'].endswith('I') and full['label'].endswith('F')

    # Against the repository on disk and pgBackRest's own report.
    on_disk = sorted(name for name in os.listdir(os.path.join(stanza.repo, 'backup', stanza.name)) if name[:2] == '20')
    assert on_disk == [full['label'], incr['label']]
    own = independent_info(stanza)[0]['backup']
    assert [(b['label'], b['type'], b['prior'], b['archive']['start'], b['info']['size']) for b in own] == [
        (b['label'], b['type'], b['prior'], b['wal_start'], b['database_size']) for b in got['backups']]

    # Against the server.
    server = stanza.cluster.query("SELECT system_identifier::text AS sysid, current_setting('server_version_num')::int / 10000 "
                                  "AS major, pg_database_size('postgres') AS dbsize FROM pg_control_system()")[0]
    assert got['db'] == [dict(id=1, repo=1, system_id=server['sysid'], version=str(server['major']))]
    for backup in (full, incr):
        assert backup['database_size'] >= server['dbsize']
        assert 0 < backup['repo_delta'] <= backup['repo_size'] and 0 < backup['backup_size'] <= backup['database_size']
        assert backup['wal_start'] and backup['wal_stop'] and backup['wal_start'] <= backup['wal_stop']
        assert backup['lsn_start'] and backup['lsn_stop'] and backup['error'] is False
        assert backup['start'].endswith('Z') and backup['duration_seconds'] >= 0
    # The incremental copied less than the full: only what changed.
    assert incr['backup_size'] < full['backup_size'] and incr['repo_delta'] < full['repo_delta']
    assert incr['start_epoch'] >= full['stop_epoch']

    archived = got['archive']
    assert len(archived) == 1 and archived[0]['repo'] == 1 and archived[0]['id'] == '%s-1' % server['major']
    assert archived[0]['min'] <= full['wal_start'] and incr['wal_stop'] <= archived[0]['max']
    assert os.path.isdir(os.path.join(stanza.repo, 'archive', stanza.name, archived[0]['id']))

    table = res['table']
    assert len(table) == 3 and table[0].startswith('STANZA')
    for line, backup in zip(table[1:], (full, incr)):
        assert line.split()[:4] == ['test', backup['label'], backup['type'], '1']
        assert line.endswith('%s-%s' % (backup['wal_start'], backup['wal_stop']))
        assert 'KB' in line or 'MB' in line


def test_all_stanzas_when_unset(pgbackrest_stanza):
    args = pgbackrest_stanza.module_args()
    del args['stanza']
    rc, res = info(args, secrets=[pgbackrest_stanza.passphrase])
    assert rc == 0, res
    assert [(s['name'], len(s['backups'])) for s in res['stanzas']] == [('test', 2)]
    assert '--stanza=test' not in res['command']


def test_set_reports_one_backup_with_its_databases(pgbackrest_stanza):
    stanza = pgbackrest_stanza
    full_label = independent_info(stanza)[0]['backup'][0]['label']
    rc, res = info(stanza.module_args(set=full_label, repo=1), secrets=[stanza.passphrase])
    assert rc == 0, res
    backups = res['stanzas'][0]['backups']
    assert [b['label'] for b in backups] == [full_label]
    assert 'postgres' in [d['name'] for d in backups[0]['databases']]

    rc, res = info(stanza.module_args(set='20000101-000000F'), secrets=[stanza.passphrase])
    assert rc == 0, res
    assert res['stanzas'][0]['status']['code'] == 6 and res['stanzas'][0]['backups'] == []


def test_unknown_stanza_is_a_status_not_a_failure(pgbackrest_stanza):
    rc, res = info(pgbackrest_stanza.module_args(stanza='nosuchstanza'), secrets=[pgbackrest_stanza.passphrase])
    assert rc == 0 and not res.get('failed'), res
    got = res['stanzas'][0]
    assert got['name'] == 'nosuchstanza' and got['backups'] == []
    assert got['status'] == dict(code=1, message='missing stanza path', ok=False, backup_in_progress=False)
    assert res['table'][-1] == 'nosuchstanza: no backups, status 1: missing stanza path'
    assert not os.path.exists(os.path.join(pgbackrest_stanza.repo, 'backup', 'nosuchstanza'))


def test_unknown_repo_fails_with_pgbackrest_message(pgbackrest_stanza):
    rc, res = info(pgbackrest_stanza.module_args(repo=2), secrets=[pgbackrest_stanza.passphrase])
    assert rc != 0 and res['failed'], res
    assert res['rc'] == 32
    assert "key '2' is not valid for 'repo' option" in res['msg']


def test_missing_config_fails_cleanly(pgbackrest_stanza):
    missing = os.path.join(pgbackrest_stanza.base, 'nonexistent.conf')
    rc, res = info(pgbackrest_stanza.module_args(config=missing), secrets=[pgbackrest_stanza.passphrase])
    assert rc != 0 and res['failed'], res
    assert res['rc'] == 55
    assert res['msg'] == "pgbackrest info failed (rc=55): ERROR: [055]: unable to open missing file '%s' for read" % missing
    assert 'Traceback' not in res['_raw']


@pytest.mark.parametrize('binary', ['/nonexistent/bin/pgbackrest', 'pgbackrest-not-installed'])
def test_missing_binary_fails_cleanly(pgbackrest_stanza, binary):
    rc, res = info(pgbackrest_stanza.module_args(binary=binary), secrets=[pgbackrest_stanza.passphrase])
    assert rc != 0 and res['failed'], res
    assert res['msg'].startswith("pgBackRest executable '%s' not found" % binary)
    assert 'Traceback' not in res['_raw']


def test_set_requires_stanza(pgbackrest_stanza):
    args = pgbackrest_stanza.module_args(set='20000101-000000F')
    del args['stanza']
    rc, res = info(args)
    assert rc != 0 and "missing parameter(s) required by 'set': stanza" in res['msg'], res


def _variant_config(stanza, name, edit):
    """A copy of the stanza's configuration, edited, owned like the original."""
    with open(stanza.config) as handle:
        text = edit(handle.read())
    path = os.path.join(stanza.base, name)
    with open(path, 'w') as handle:
        handle.write(text)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    original = os.stat(stanza.config)
    if os.geteuid() == 0:
        os.chown(path, original.st_uid, original.st_gid)
    return path


def test_wrong_passphrase_is_a_status_and_masks_both_passphrases(pgbackrest_stanza):
    stanza = pgbackrest_stanza
    wrong = 'Wrong-Passphrase-0d2b6c'
    config = _variant_config(stanza, 'wrong-pass.conf', lambda text: text.replace(stanza.passphrase, wrong))
    rc, res = info(stanza.module_args(config=config), secrets=[stanza.passphrase, wrong])
    assert rc == 0, res
    got = res['stanzas'][0]
    assert got['status']['code'] == 99 and got['status']['ok'] is False and got['backups'] == []
    message = got['repos'][0]['status']['message']
    assert 'unable to load info file' in message and 'backup.info' in message
    # pgBackRest prints the undecryptable bytes; the module keeps the message printable.
    assert all(ch in '\t\n' or 0x20 <= ord(ch) < 0xd800 or 0xe000 <= ord(ch) < 0xfffd for ch in message)
    assert wrong not in res['_raw'] and stanza.passphrase not in res['_raw']


def test_config_warning_is_returned(pgbackrest_stanza):
    stanza = pgbackrest_stanza
    config = _variant_config(stanza, 'warn.conf', lambda text: text + 'not-a-pgbackrest-option=1\n')
    rc, res = info(stanza.module_args(config=config), secrets=[stanza.passphrase])
    assert rc == 0, res
    assert len(res['stanzas'][0]['backups']) == 2
    # ansible-core 2.19 returns warnings as structured objects, older versions as strings: look in the text.
    assert "WARN: configuration file contains invalid option 'not-a-pgbackrest-option'" in json.dumps(res.get('warnings')), res


@pytest.mark.skipif(os.geteuid() != 0, reason='only meaningful as root')
def test_info_as_root_leaves_no_root_owned_files(pgbackrest_stanza):
    """`info` is the one command that is harmless as root: it writes nothing (no log file, no lock)."""
    stanza = pgbackrest_stanza
    rc, res = info(stanza.module_args(binary=stanza.binary), secrets=[stanza.passphrase])
    assert rc == 0, res
    assert len(res['stanzas'][0]['backups']) == 2
    owned_by_root = []
    for directory in ('repo', 'log', 'lock', 'spool'):
        for root, dirs, files in os.walk(os.path.join(stanza.base, directory)):
            owned_by_root += [os.path.join(root, n) for n in dirs + files if os.lstat(os.path.join(root, n)).st_uid == 0]
    assert owned_by_root == []
