# -*- coding: utf-8 -*-
# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pure unit tests of _pgbackrest (pgbackrest_info's backend): the JSON parser, the table, secret scrubbing, the command line. No pgBackRest.

The samples are verbatim ``pgbackrest info --output=json`` output of pgBackRest 2.45 (Debian 12), captured from a
throw-away PostgreSQL 15 with a posix repository (repo1 aes-256-cbc, zst) and, for some, a second unencrypted one.
"""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import json

import pytest

from ansible_collections.pgha.replication.plugins.module_utils import _pgbackrest

PASSPHRASE = 'Sup3rSecretPassphrase-xyzzy'

SINGLE_REPO = (
    '[{"archive":[{"database":{"id":1,"repo-key":1},"id":"15-1","max":"000000010000000000000006","min":"00000001000'
    '0000000000001"}],"backup":[{"archive":{"start":"000000010000000000000002","stop":"000000010000000000000002"},"'
    'backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":2321384'
    '8,"repository":{"delta":2849248,"size":2849248},"size":23213848},"label":"20261126-013244F","lsn":{"start":"0/'
    '2000028","stop":"0/2000100"},"prior":null,"reference":null,"timestamp":{"start":1795656764,"stop":1795656767},'
    '"type":"full"},{"archive":{"start":"000000010000000000000004","stop":"000000010000000000000004"},"backrest":{"'
    'format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":1851658,"repository'
    '":{"delta":185840,"size":2879888},"size":23582488},"label":"20261126-013244F_20261126-013247I","lsn":{"start":'
    '"0/4000028","stop":"0/4000100"},"prior":"20261126-013244F","reference":["20261126-013244F"],"timestamp":{"star'
    't":1795656767,"stop":1795656769},"type":"incr"},{"archive":{"start":"000000010000000000000005","stop":"0000000'
    '10000000000000006"},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"error":false,"i'
    'nfo":{"delta":1851658,"repository":{"delta":185840,"size":2879888},"size":23582488},"label":"20261126-013244F_'
    '20261126-013250D","lsn":{"start":"0/5000028","stop":"0/6000050"},"prior":"20261126-013244F","reference":["2026'
    '1126-013244F"],"timestamp":{"start":1795656770,"stop":1795656772},"type":"diff"}],"cipher":"aes-256-cbc","db":'
    '[{"id":1,"repo-key":1,"system-id":7712287071593664167,"version":"15"}],"name":"test","repo":[{"cipher":"aes-25'
    '6-cbc","key":1,"status":{"code":0,"message":"ok"}}],"status":{"code":0,"lock":{"backup":{"held":false}},"messa'
    'ge":"ok"}}]'
)

SET = (
    '[{"archive":[{"database":{"id":1,"repo-key":1},"id":"15-1","max":"00000001000000000000000B","min":"00000001000'
    '0000000000002"},{"database":{"id":1,"repo-key":2},"id":"15-1","max":"00000001000000000000000B","min":"00000001'
    '0000000000000009"}],"backup":[{"archive":{"start":"000000010000000000000004","stop":"000000010000000000000004"'
    '},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"database-ref":[{"name":"postgres"'
    ',"oid":5}],"error":false,"info":{"delta":1851658,"repository":{"delta":185840,"size":2879888},"size":23582488}'
    ',"label":"20261126-013244F_20261126-013247I","link":null,"lsn":{"start":"0/4000028","stop":"0/4000100"},"prior'
    '":"20261126-013244F","reference":["20261126-013244F"],"tablespace":null,"timestamp":{"start":1795656767,"stop"'
    ':1795656769},"type":"incr"}],"cipher":"mixed","db":[{"id":1,"repo-key":1,"system-id":7712287071593664167,"vers'
    'ion":"15"},{"id":1,"repo-key":2,"system-id":7712287071593664167,"version":"15"}],"name":"test","repo":[{"ciphe'
    'r":"aes-256-cbc","key":1,"status":{"code":0,"message":"ok"}},{"cipher":"none","key":2,"status":{"code":0,"mess'
    'age":"ok"}}],"status":{"code":0,"lock":{"backup":{"held":false}},"message":"ok"}}]'
)

MISSING_STANZA = (
    '[{"archive":[],"backup":[],"cipher":"aes-256-cbc","db":[],"name":"nope","repo":[{"cipher":"aes-256-cbc","key":'
    '1,"status":{"code":1,"message":"missing stanza path"}}],"status":{"code":1,"lock":{"backup":{"held":false}},"m'
    'essage":"missing stanza path"}}]'
)

TWO_STANZAS_TWO_REPOS = (
    '[{"archive":[{"database":{"id":1,"repo-key":1},"id":"15-1","max":null,"min":null},{"database":{"id":1,"repo-ke'
    'y":2},"id":"15-1","max":null,"min":null}],"backup":[],"cipher":"mixed","db":[{"id":1,"repo-key":1,"system-id":'
    '7712287071593664167,"version":"15"},{"id":1,"repo-key":2,"system-id":7712287071593664167,"version":"15"}],"nam'
    'e":"empty","repo":[{"cipher":"aes-256-cbc","key":1,"status":{"code":2,"message":"no valid backups"}},{"cipher"'
    ':"none","key":2,"status":{"code":2,"message":"no valid backups"}}],"status":{"code":2,"lock":{"backup":{"held"'
    ':false}},"message":"no valid backups"}},{"archive":[{"database":{"id":1,"repo-key":1},"id":"15-1","max":"00000'
    '001000000000000000B","min":"000000010000000000000002"},{"database":{"id":1,"repo-key":2},"id":"15-1","max":"00'
    '000001000000000000000B","min":"000000010000000000000009"}],"backup":[{"archive":{"start":"00000001000000000000'
    '0002","stop":"000000010000000000000002"},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-key'
    '":1},"error":false,"info":{"delta":23213848,"repository":{"delta":2849248,"size":2849248},"size":23213848},"la'
    'bel":"20261126-013244F","lsn":{"start":"0/2000028","stop":"0/2000100"},"prior":null,"reference":null,"timestam'
    'p":{"start":1795656764,"stop":1795656767},"type":"full"},{"archive":{"start":"000000010000000000000004","stop"'
    ':"000000010000000000000004"},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"error"'
    ':false,"info":{"delta":1851658,"repository":{"delta":185840,"size":2879888},"size":23582488},"label":"20261126'
    '-013244F_20261126-013247I","lsn":{"start":"0/4000028","stop":"0/4000100"},"prior":"20261126-013244F","referenc'
    'e":["20261126-013244F"],"timestamp":{"start":1795656767,"stop":1795656769},"type":"incr"},{"archive":{"start":'
    '"000000010000000000000005","stop":"000000010000000000000006"},"backrest":{"format":5,"version":"2.45"},"databa'
    'se":{"id":1,"repo-key":1},"error":false,"info":{"delta":1851658,"repository":{"delta":185840,"size":2879888},"'
    'size":23582488},"label":"20261126-013244F_20261126-013250D","lsn":{"start":"0/5000028","stop":"0/6000050"},"pr'
    'ior":"20261126-013244F","reference":["20261126-013244F"],"timestamp":{"start":1795656770,"stop":1795656772},"t'
    'ype":"diff"},{"archive":{"start":"000000010000000000000009","stop":"000000010000000000000009"},"backrest":{"fo'
    'rmat":5,"version":"2.45"},"database":{"id":1,"repo-key":2},"error":false,"info":{"delta":23697176,"repository"'
    ':{"delta":2861005,"size":2861005},"size":23697176},"label":"20261126-013507F","lsn":{"start":"0/9000028","stop'
    '":"0/9000100"},"prior":null,"reference":null,"timestamp":{"start":1795656907,"stop":1795656909},"type":"full"}'
    ',{"archive":{"start":"00000001000000000000000B","stop":"00000001000000000000000B"},"backrest":{"format":5,"ver'
    'sion":"2.45"},"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":23697176,"repository":{"delta":28'
    '82608,"size":2882608},"size":23697176},"label":"20261126-013514F","lsn":{"start":"0/B000028","stop":"0/B000100'
    '"},"prior":null,"reference":null,"timestamp":{"start":1795656914,"stop":1795656917},"type":"full"}],"cipher":"'
    'mixed","db":[{"id":1,"repo-key":1,"system-id":7712287071593664167,"version":"15"},{"id":1,"repo-key":2,"system'
    '-id":7712287071593664167,"version":"15"}],"name":"test","repo":[{"cipher":"aes-256-cbc","key":1,"status":{"cod'
    'e":0,"message":"ok"}},{"cipher":"none","key":2,"status":{"code":0,"message":"ok"}}],"status":{"code":0,"lock":'
    '{"backup":{"held":false}},"message":"ok"}}]'
)

MIXED = (
    '[{"archive":[{"database":{"id":1,"repo-key":1},"id":"15-1","max":"00000001000000000000000B","min":"00000001000'
    '0000000000002"},{"database":{"id":1,"repo-key":2},"id":"15-1","max":"00000001000000000000000B","min":"00000001'
    '0000000000000009"}],"backup":[{"archive":{"start":"000000010000000000000002","stop":"000000010000000000000002"'
    '},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":2321'
    '3848,"repository":{"delta":2849248,"size":2849248},"size":23213848},"label":"20261126-013244F","lsn":{"start":'
    '"0/2000028","stop":"0/2000100"},"prior":null,"reference":null,"timestamp":{"start":1795656764,"stop":179565676'
    '7},"type":"full"},{"archive":{"start":"000000010000000000000004","stop":"000000010000000000000004"},"backrest"'
    ':{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":1851658,"reposit'
    'ory":{"delta":185840,"size":2879888},"size":23582488},"label":"20261126-013244F_20261126-013247I","lsn":{"star'
    't":"0/4000028","stop":"0/4000100"},"prior":"20261126-013244F","reference":["20261126-013244F"],"timestamp":{"s'
    'tart":1795656767,"stop":1795656769},"type":"incr"},{"archive":{"start":"000000010000000000000005","stop":"0000'
    '00010000000000000006"},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"error":false'
    ',"info":{"delta":1851658,"repository":{"delta":185840,"size":2879888},"size":23582488},"label":"20261126-01324'
    '4F_20261126-013250D","lsn":{"start":"0/5000028","stop":"0/6000050"},"prior":"20261126-013244F","reference":["2'
    '0261126-013244F"],"timestamp":{"start":1795656770,"stop":1795656772},"type":"diff"},{"archive":{"start":"00000'
    '0010000000000000009","stop":"000000010000000000000009"},"backrest":{"format":5,"version":"2.45"},"database":{"'
    'id":1,"repo-key":2},"error":false,"info":{"delta":23697176,"repository":{"delta":2861005,"size":2861005},"size'
    '":23697176},"label":"20261126-013507F","lsn":{"start":"0/9000028","stop":"0/9000100"},"prior":null,"reference"'
    ':null,"timestamp":{"start":1795656907,"stop":1795656909},"type":"full"},{"archive":{"start":"00000001000000000'
    '000000B","stop":"00000001000000000000000B"},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-'
    'key":1},"error":false,"info":{"delta":23697176,"repository":{"delta":2882608,"size":2882608},"size":23697176},'
    '"label":"20261126-013514F","lsn":{"start":"0/B000028","stop":"0/B000100"},"prior":null,"reference":null,"times'
    'tamp":{"start":1795656914,"stop":1795656917},"type":"full"}],"cipher":"mixed","db":[{"id":1,"repo-key":1,"syst'
    'em-id":7712287071593664167,"version":"15"},{"id":1,"repo-key":2,"system-id":7712287071593664167,"version":"15"'
    '}],"name":"test","repo":[{"cipher":"aes-256-cbc","key":1,"status":{"code":0,"message":"ok"}},{"cipher":"none",'
    '"key":2,"status":{"code":0,"message":"ok"}},{"cipher":"none","key":3,"status":{"code":1,"message":"missing sta'
    'nza path"}}],"status":{"code":4,"lock":{"backup":{"held":false}},"message":"different across repos"}}]'
)

BACKUP_RUNNING = (
    '[{"archive":[{"database":{"id":1,"repo-key":1},"id":"15-1","max":"00000001000000000000000B","min":"00000001000'
    '0000000000001"},{"database":{"id":1,"repo-key":2},"id":"15-1","max":"00000001000000000000000B","min":"00000001'
    '0000000000000009"}],"backup":[{"archive":{"start":"000000010000000000000002","stop":"000000010000000000000002"'
    '},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":2321'
    '3848,"repository":{"delta":2849248,"size":2849248},"size":23213848},"label":"20261126-013244F","lsn":{"start":'
    '"0/2000028","stop":"0/2000100"},"prior":null,"reference":null,"timestamp":{"start":1795656764,"stop":179565676'
    '7},"type":"full"},{"archive":{"start":"000000010000000000000004","stop":"000000010000000000000004"},"backrest"'
    ':{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"error":false,"info":{"delta":1851658,"reposit'
    'ory":{"delta":185840,"size":2879888},"size":23582488},"label":"20261126-013244F_20261126-013247I","lsn":{"star'
    't":"0/4000028","stop":"0/4000100"},"prior":"20261126-013244F","reference":["20261126-013244F"],"timestamp":{"s'
    'tart":1795656767,"stop":1795656769},"type":"incr"},{"archive":{"start":"000000010000000000000005","stop":"0000'
    '00010000000000000006"},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-key":1},"error":false'
    ',"info":{"delta":1851658,"repository":{"delta":185840,"size":2879888},"size":23582488},"label":"20261126-01324'
    '4F_20261126-013250D","lsn":{"start":"0/5000028","stop":"0/6000050"},"prior":"20261126-013244F","reference":["2'
    '0261126-013244F"],"timestamp":{"start":1795656770,"stop":1795656772},"type":"diff"},{"archive":{"start":"00000'
    '0010000000000000009","stop":"000000010000000000000009"},"backrest":{"format":5,"version":"2.45"},"database":{"'
    'id":1,"repo-key":2},"error":false,"info":{"delta":23697176,"repository":{"delta":2861005,"size":2861005},"size'
    '":23697176},"label":"20261126-013507F","lsn":{"start":"0/9000028","stop":"0/9000100"},"prior":null,"reference"'
    ':null,"timestamp":{"start":1795656907,"stop":1795656909},"type":"full"},{"archive":{"start":"00000001000000000'
    '000000B","stop":"00000001000000000000000B"},"backrest":{"format":5,"version":"2.45"},"database":{"id":1,"repo-'
    'key":1},"error":false,"info":{"delta":23697176,"repository":{"delta":2882608,"size":2882608},"size":23697176},'
    '"label":"20261126-013514F","lsn":{"start":"0/B000028","stop":"0/B000100"},"prior":null,"reference":null,"times'
    'tamp":{"start":1795656914,"stop":1795656917},"type":"full"}],"cipher":"mixed","db":[{"id":1,"repo-key":1,"syst'
    'em-id":7712287071593664167,"version":"15"},{"id":1,"repo-key":2,"system-id":7712287071593664167,"version":"15"'
    '}],"name":"test","repo":[{"cipher":"aes-256-cbc","key":1,"status":{"code":0,"message":"ok"}},{"cipher":"none",'
    '"key":2,"status":{"code":0,"message":"ok"}}],"status":{"code":0,"lock":{"backup":{"held":true}},"message":"ok"'
    '}}]'
)

WRONG_PASSPHRASE_BYTES = (
    b'[{"archive":[],"backup":[],"cipher":'
    b'"aes-256-cbc","db":[],"name":"test",'
    b'"repo":[{"cipher":"aes-256-cbc","key'
    b'":1,"status":{"code":99,"message":"['
    b'FormatError] unable to load info fil'
    b"e '/tmp/pgbr-sbx-9lBK/repo/backup/te"
    b"st/backup.info' or '/tmp/pgbr-sbx-9l"
    b'BK/repo/backup/test/backup.info.copy'
    b"':\\nFormatError: key/value found out"
    b'side of section at line 1: \xb2\x8b%\x90\xc1/2\xf3\xf7'
    b'<P,C\xd6\xb0d\x87pJ\xe5\xf1 \xd8#\x93n\x98Z\xa4\x83\x07\xb2`\xe63\x8c\xd5<\xb5\\f\x1epF\xda'
    b'\xf2\xda5\x0e\xa8w\xe9G\x96\x19\x9f \x92\x16\xb0\xfb\xf9\x9c\xc9\xd7Yd\x1b\xc50\xf5nB\xa7*\\f\xdb\xb2\xac\xad'
    b'g\x8e\xc4\xa0\x89\xfd\x1b2w/b\xde\x11\xaa\\"!0\xe7\x967@\xe0\x0b\x8fE\xec\xbd\\nFormat'
    b'Error: key/value found outside of se'
    b'ction at line 1: \xb2\x8b%\x90\xc1/2\xf3\xf7<P,C\xd6\xb0d\x87pJ'
    b'\xe5\xf1 \xd8#\x93n\x98Z\xa4\x83\x07\xb2`\xe63\x8c\xd5<\xb5\\f\x1epF\xda\xf2\xda5\x0e\xa8w\xe9G\x96\x19'
    b'\x9f \x92\x16\xb0\xfb\xf9\x9c\xc9\xd7Yd\x1b\xc50\xf5nB\xa7*\\f\xdb\xb2\xac\xadg\x8e\xc4\xa0\x89\xfd\x1b2w/'
    b'b\xde\x11\xaa\\"!0\xe7\x967@\xe0\x0b\x8fE\xec\xbd\\nHINT: backup.inf'
    b'o cannot be opened and is required t'
    b'o perform a backup.\\nHINT: has a sta'
    b'nza-create been performed?"}}],"stat'
    b'us":{"code":99,"lock":{"backup":{"he'
    b'ld":false}},"message":"other"}}]'
)

# run_command decodes with errors='surrogate_then_replace', i.e. surrogateescape: the bytes survive as lone surrogates.
WRONG_PASSPHRASE = WRONG_PASSPHRASE_BYTES.decode('utf-8', 'surrogateescape')

FULL = '20261126-013244F'
INCR = '20261126-013244F_20261126-013247I'
DIFF = '20261126-013244F_20261126-013250D'

# Table-driven: sample, expected [(name, code, message, ok, in_progress, cipher, [(label, type, prior, repo)], repos)]
PARSE_CASES = [
    ('single repo: full, incr, diff', SINGLE_REPO, [
        ('test', 0, 'ok', True, False, 'aes-256-cbc',
         [(FULL, 'full', None, 1), (INCR, 'incr', FULL, 1), (DIFF, 'diff', FULL, 1)], [(1, 'aes-256-cbc', 0)])]),
    ('--set of the incr, two repos', SET, [
        ('test', 0, 'ok', True, False, 'mixed', [(INCR, 'incr', FULL, 1)], [(1, 'aes-256-cbc', 0), (2, 'none', 0)])]),
    ('unknown stanza', MISSING_STANZA, [
        ('nope', 1, 'missing stanza path', False, False, 'aes-256-cbc', [], [(1, 'aes-256-cbc', 1)])]),
    ('two stanzas, two repos, one without backups', TWO_STANZAS_TWO_REPOS, [
        ('empty', 2, 'no valid backups', False, False, 'mixed', [], [(1, 'aes-256-cbc', 2), (2, 'none', 2)]),
        ('test', 0, 'ok', True, False, 'mixed',
         [(FULL, 'full', None, 1), (INCR, 'incr', FULL, 1), (DIFF, 'diff', FULL, 1), ('20261126-013507F', 'full', None, 2),
          ('20261126-013514F', 'full', None, 1)], [(1, 'aes-256-cbc', 0), (2, 'none', 0)])]),
    ('a repo without the stanza', MIXED, [
        ('test', 4, 'different across repos', False, False, 'mixed',
         [(FULL, 'full', None, 1), (INCR, 'incr', FULL, 1), (DIFF, 'diff', FULL, 1), ('20261126-013507F', 'full', None, 2),
          ('20261126-013514F', 'full', None, 1)], [(1, 'aes-256-cbc', 0), (2, 'none', 0), (3, 'none', 1)])]),
    ('wrong passphrase', WRONG_PASSPHRASE, [
        ('test', 99, 'other', False, False, 'aes-256-cbc', [], [(1, 'aes-256-cbc', 99)])]),
]


@pytest.mark.parametrize('text, expected', [c[1:] for c in PARSE_CASES], ids=[c[0] for c in PARSE_CASES])
def test_parse_info(text, expected):
    stanzas = _pgbackrest.parse_info(text, [PASSPHRASE])
    assert [(s['name'], s['status']['code'], s['status']['message'], s['status']['ok'], s['status']['backup_in_progress'],
             s['cipher'], [(b['label'], b['type'], b['prior'], b['repo']) for b in s['backups']],
             [(r['key'], r['cipher'], r['status']['code']) for r in s['repos']]) for s in stanzas] == expected
    for stanza in stanzas:
        for backup in stanza['backups']:
            assert backup['references'] == ([] if backup['type'] == 'full' else [backup['prior']])
            for key in ('database_size', 'backup_size', 'repo_size', 'repo_delta'):
                assert isinstance(backup[key], int) and backup[key] > 0, (key, backup)
            assert backup['backup_size'] <= backup['database_size'] and backup['repo_delta'] <= backup['repo_size']
            assert backup['duration_seconds'] == backup['stop_epoch'] - backup['start_epoch'] >= 0
            assert backup['wal_start'] <= backup['wal_stop'] and len(backup['wal_start']) == 24
            assert backup['lsn_start'] and backup['lsn_stop'] and backup['error'] is False
            assert backup['pgbackrest_version'] == '2.45' and backup['db_id'] == 1
    json.dumps(stanzas)  # serialisable as the module returns it


def test_backup_fields_incr():
    incr = _pgbackrest.parse_info(SINGLE_REPO)[0]['backups'][1]
    assert incr == dict(
        label=INCR, type='incr', prior=FULL, references=[FULL], repo=1, db_id=1,
        start_epoch=1795656767, start='2026-11-26T01:32:47Z', stop_epoch=1795656769, stop='2026-11-26T01:32:49Z',
        duration_seconds=2, database_size=23582488, backup_size=1851658, repo_size=2879888, repo_delta=185840,
        wal_start='000000010000000000000004', wal_stop='000000010000000000000004', lsn_start='0/4000028',
        lsn_stop='0/4000100', error=False, pgbackrest_version='2.45', databases=None)


def test_set_lists_databases():
    assert _pgbackrest.parse_info(SET)[0]['backups'][0]['databases'] == [dict(name='postgres', oid=5)]


def test_db_and_archive_per_repo():
    stanza = _pgbackrest.parse_info(TWO_STANZAS_TWO_REPOS)[1]
    # The system identifier does not fit a JSON-safe integer: a string, digit for digit.
    assert stanza['db'] == [dict(id=1, repo=1, system_id='7712287071593664167', version='15'),
                            dict(id=1, repo=2, system_id='7712287071593664167', version='15')]
    assert stanza['archive'] == [
        dict(id='15-1', db_id=1, repo=1, min='000000010000000000000002', max='00000001000000000000000B'),
        dict(id='15-1', db_id=1, repo=2, min='000000010000000000000009', max='00000001000000000000000B')]
    empty = _pgbackrest.parse_info(TWO_STANZAS_TWO_REPOS)[0]
    assert [(a['min'], a['max']) for a in empty['archive']] == [(None, None), (None, None)]
    assert empty['backups'] == []


def test_backup_in_progress():
    assert _pgbackrest.parse_info(BACKUP_RUNNING)[0]['status']['backup_in_progress'] is True
    assert _pgbackrest.parse_info(SINGLE_REPO)[0]['status']['backup_in_progress'] is False


def test_wrong_passphrase_message_is_printable():
    # pgBackRest puts raw bytes of the undecryptable file into the message, unescaped control characters included.
    repo = _pgbackrest.parse_info(WRONG_PASSPHRASE)[0]['repos'][0]
    message = repo['status']['message']
    assert message.startswith("[FormatError] unable to load info file '/tmp/pgbr-sbx-9lBK/repo/backup/test/backup.info'")
    assert 'HINT: has a stanza-create been performed?' in message
    assert all(ch in '\t\n' or 0x20 <= ord(ch) < 0xd800 or 0xe000 <= ord(ch) < 0xfffd for ch in message), repr(message)
    json.dumps(message).encode('utf-8')


@pytest.mark.parametrize('text, fragment', [
    ('', 'did not print JSON'),
    ('ERROR: [055]: unable to open missing file', 'did not print JSON'),
    ('{"name": "test"}', 'not a list of stanzas'),
    ('[{"status": {}}]', 'has no name'),
    ('[{"name": "x", "backup": {"label": 1}}]', 'backup is not a list'),
], ids=['empty', 'text', 'object', 'no name', 'backup not a list'])
def test_parse_info_rejects(text, fragment):
    with pytest.raises(_pgbackrest.InvalidOutput) as err:
        _pgbackrest.parse_info(text)
    assert fragment in err.value.msg


def test_parse_info_error_scrubs():
    with pytest.raises(_pgbackrest.InvalidOutput) as err:
        _pgbackrest.parse_info('repo1-cipher-pass=%s oops' % PASSPHRASE)
    assert PASSPHRASE not in err.value.msg and 'repo1-cipher-pass=********' in err.value.msg


def test_minimal_stanza_tolerates_missing_keys():
    stanza = _pgbackrest.parse_info('[{"name": "x", "status": {"code": 3, "message": "missing stanza data"}}]')[0]
    assert stanza == dict(name='x', status=dict(code=3, message='missing stanza data', ok=False, backup_in_progress=False),
                          cipher=None, repos=[], db=[], archive=[], backups=[])


SCRUB_CASES = [
    ('plain text', 'ERROR: [055]: unable to open missing file', (), 'ERROR: [055]: unable to open missing file'),
    ('config line', 'at line 4: repo1-cipher-pass=%s' % PASSPHRASE, (), 'at line 4: repo1-cipher-pass=********'),
    ('spaces, repo 12', 'repo12-cipher-pass = %s rest' % PASSPHRASE, (), 'repo12-cipher-pass = ******** rest'),
    ('option form', "option '--repo1-cipher-pass=%s'" % PASSPHRASE, (), "option '--repo1-cipher-pass=********'"),
    ('s3 secret', 'repo2-s3-key-secret=abc/def', (), 'repo2-s3-key-secret=********'),
    ('env', 'PGBACKREST_REPO1_CIPHER_PASS=%s' % PASSPHRASE, (), 'PGBACKREST_REPO1_CIPHER_PASS=********'),
    ('literal value', 'decrypt with %s failed' % PASSPHRASE, (PASSPHRASE,), 'decrypt with ******** failed'),
    ('longest first', 'ab abc', ('ab', 'abc'), '******** ********'),
    ('empty secret ignored', 'text', ('',), 'text'),
    ('option name alone kept', "option 'repo1-cipher-pass' is not allowed", (), "option 'repo1-cipher-pass' is not allowed"),
    ('unprintable', u'bad \x01\x7f\udcb2 bytes\nHINT', (), u'bad ??? bytes\nHINT'),
]


@pytest.mark.parametrize('text, secrets, expected', [c[1:] for c in SCRUB_CASES], ids=[c[0] for c in SCRUB_CASES])
def test_scrub(text, secrets, expected):
    assert _pgbackrest.scrub(text, secrets) == expected


def test_secrets_from_config_text():
    text = ('[global]\nrepo1-path=/var/lib/pgbackrest\nrepo1-cipher-type=aes-256-cbc\nrepo1-cipher-pass=%s\n'
            '[global:archive-push]\n  repo2-cipher-pass = two words  \nrepo3-s3-key=AKIA\nrepo3-s3-key-secret=sek/ret\n'
            '#repo4-cipher-pass=commented\nrepo5-cipher-pass=\n' % PASSPHRASE)
    assert _pgbackrest.secrets_from_config_text(text) == [PASSPHRASE, 'two words', 'AKIA', 'sek/ret']


def test_secrets_from_environ():
    assert _pgbackrest.secrets_from_environ({'PGBACKREST_REPO1_CIPHER_PASS': 'a', 'PGBACKREST_REPO2_S3_KEY_SECRET': 'b',
                                             'PGBACKREST_REPO1_PATH': '/x', 'PATH': '/bin', 'PGBACKREST_REPO3_CIPHER_PASS': ''}) \
        in (['a', 'b'], ['b', 'a'])


@pytest.mark.parametrize('nbytes, expected', [
    (None, '-'), (0, '0B'), (1023, '1023B'), (1024, '1.0KB'), (185840, '181.5KB'), (2849248, '2.7MB'),
    (23213848, '22.1MB'), (5 * 1024 ** 3, '5.0GB'), (3 * 1024 ** 4 + 1, '3.0TB'), (2048 * 1024 ** 5, '2048.0PB'),
])
def test_human_size(nbytes, expected):
    assert _pgbackrest.human_size(nbytes) == expected


@pytest.mark.parametrize('seconds, expected', [
    (None, '-'), (0, '0s'), (3, '3s'), (59, '59s'), (60, '1m00s'), (125, '2m05s'), (3723, '1h02m03s'),
    (86400 + 3 * 3600 + 4 * 60 + 5, '1d03h04m'),
])
def test_human_duration(seconds, expected):
    assert _pgbackrest.human_duration(seconds) == expected


@pytest.mark.parametrize('epoch, expected', [
    (None, None), (0, '1970-01-01T00:00:00Z'), (1795656764, '2026-11-26T01:32:44Z'),
])
def test_iso_utc(epoch, expected):
    assert _pgbackrest.iso_utc(epoch) == expected


def test_table_single_repo():
    assert _pgbackrest.render_table(_pgbackrest.parse_info(SINGLE_REPO)) == [
        'STANZA  LABEL                              TYPE  REPO  START (UTC)          DURATION  DB SIZE  REPO SIZE  '
        'REPO DELTA  WAL START-STOP',
        'test    20261126-013244F                   full  1     2026-11-26 01:32:44  3s        22.1MB   2.7MB      '
        '2.7MB       000000010000000000000002-000000010000000000000002',
        'test    20261126-013244F_20261126-013247I  incr  1     2026-11-26 01:32:47  2s        22.5MB   2.7MB      '
        '181.5KB     000000010000000000000004-000000010000000000000004',
        'test    20261126-013244F_20261126-013250D  diff  1     2026-11-26 01:32:50  2s        22.5MB   2.7MB      '
        '181.5KB     000000010000000000000005-000000010000000000000006',
    ]


def test_table_notes_stanzas_without_backups_or_not_ok():
    lines = _pgbackrest.render_table(_pgbackrest.parse_info(TWO_STANZAS_TWO_REPOS))
    assert len(lines) == 1 + 5 + 1
    assert lines[-1] == 'empty: no backups, status 2: no valid backups'
    assert _pgbackrest.render_table(_pgbackrest.parse_info(MIXED))[-1] == 'test: status 4: different across repos'
    assert _pgbackrest.render_table(_pgbackrest.parse_info(MISSING_STANZA)) == [
        'STANZA  LABEL  TYPE  REPO  START (UTC)  DURATION  DB SIZE  REPO SIZE  REPO DELTA  WAL START-STOP',
        'nope: no backups, status 1: missing stanza path']
    # Only the first line of a multi-line message.
    assert _pgbackrest.render_table(_pgbackrest.parse_info(WRONG_PASSPHRASE))[-1] == 'test: no backups, status 99: other'
    assert _pgbackrest.render_table([]) == ['STANZA  LABEL  TYPE  REPO  START (UTC)  DURATION  DB SIZE  REPO SIZE  REPO DELTA  WAL START-STOP']


def test_table_marks_error_backups():
    stanzas = _pgbackrest.parse_info(SINGLE_REPO)
    stanzas[0]['backups'][0]['error'] = True
    assert _pgbackrest.render_table(stanzas)[1].endswith('000000010000000000000002 (ERROR)')


@pytest.mark.parametrize('params, expected_tail', [
    (dict(), ['info']),
    (dict(stanza='main'), ['--stanza=main', 'info']),
    (dict(config='/etc/pgbackrest/pgbackrest.conf', stanza='main', repo=2, set=FULL),
     ['--config=/etc/pgbackrest/pgbackrest.conf', '--stanza=main', '--repo=2', '--set=%s' % FULL, 'info']),
    (dict(stanza='main', repo=None, set=None, config=None), ['--stanza=main', 'info']),
], ids=['all', 'stanza', 'everything', 'explicit nulls'])
def test_build_command(params, expected_tail):
    assert _pgbackrest.build_command('/usr/bin/pgbackrest', params) == [
        '/usr/bin/pgbackrest', '--output=json', '--log-level-console=off', '--log-level-stderr=warn'] + expected_tail


def test_error_text_keeps_pgbackrest_message_and_scrubs():
    stderr = ('ERROR: [031]: option \'repo1-cipher-pass\' is not allowed on the command-line\n'
              '       HINT: this option could expose secrets in the process list.\n')
    text = _pgbackrest.error_text(['pgbackrest', 'info'], 31, '', stderr, [PASSPHRASE])
    assert text.startswith("pgbackrest info failed (rc=31): ERROR: [031]: option 'repo1-cipher-pass' is not allowed")
    assert 'HINT: this option could expose secrets' in text
    assert _pgbackrest.error_text(['pgbackrest', 'info'], 1, '', '', ()) == 'pgbackrest info failed (rc=1): no output'
    leaked = _pgbackrest.error_text(['pgbackrest', 'info'], 29, '', 'bad line: repo1-cipher-pass=%s' % PASSPHRASE, [PASSPHRASE])
    assert PASSPHRASE not in leaked


def test_errors_are_pghaerrors():
    from ansible_collections.pgha.replication.plugins.module_utils._postgres import PgHaError
    for cls in (_pgbackrest.BinaryNotFound, _pgbackrest.CommandFailed, _pgbackrest.InvalidOutput):
        assert issubclass(cls, _pgbackrest.PgBackRestError) and issubclass(cls, PgHaError)
    assert _pgbackrest.CommandFailed('x', rc=55).rc == 55


def test_no_sample_contains_the_passphrase():
    for sample in (SINGLE_REPO, SET, MISSING_STANZA, TWO_STANZAS_TWO_REPOS, MIXED, BACKUP_RUNNING, WRONG_PASSPHRASE):
        assert PASSPHRASE not in json.dumps(_pgbackrest.parse_info(sample, [PASSPHRASE]))
