#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r'''
---
module: pgbackrest_info
short_description: Report pgBackRest stanzas, their backups and their WAL archive
version_added: 0.1.0
description:
  - Read-only. Runs C(pgbackrest info --output=json) and returns, for each stanza, its status, its repositories,
    the database history, the WAL archive range and every backup with its type, prior backup, times, sizes,
    WAL and LSN range.
  - Also returns RV(table), a few preformatted lines a playbook can print with M(ansible.builtin.debug).
  - A stanza pgBackRest cannot report on (for example V(missing stanza path) for an unknown stanza, or
    V(no valid backups)) is not a failure of the module - pgBackRest itself succeeds - it is reported in
    RV(stanzas[].status) with RV(stanzas[].status.ok=false). Assert on it (see the examples).
  - The module fails when the pgBackRest binary is missing, when the command fails (the message carries
    pgBackRest's error text), or when its output is not the expected JSON.
  - Never changes anything; RV(ignore:changed) is always V(false).
author:
  - pgha.replication developers (@pgha)
extends_documentation_fragment:
  - pgha.replication._attributes.info_module
options:
  stanza:
    description:
      - Report only this stanza. All stanzas of the repositories when unset.
    type: str
    version_added: 0.1.0
  config:
    description:
      - Path of the pgBackRest configuration file (C(--config)).
      - When unset, pgBackRest uses its defaults (C(/etc/pgbackrest/pgbackrest.conf), else C(/etc/pgbackrest.conf),
        and the files in C(/etc/pgbackrest/conf.d)).
    type: path
    version_added: 0.1.0
  repo:
    description:
      - Report only this repository (C(--repo), the number in C(repoN-path)). All repositories when unset.
    type: int
    version_added: 0.1.0
  set:
    description:
      - Report only this backup (C(--set), a backup label such as V(20250101-010203F)). Requires O(stanza).
      - With O(set), each backup also lists its databases (RV(stanzas[].backups[].databases)).
      - An unknown label is reported as RV(stanzas[].status.message=requested backup not found), not as a failure.
    type: str
    version_added: 0.1.0
  binary:
    description:
      - The pgBackRest executable, a name looked up in E(PATH) or an absolute path.
    type: path
    default: pgbackrest
    version_added: 0.1.0
notes:
  - Run the module as the user pgBackRest runs as (C(become_user) the repository owner, usually C(postgres) or
    C(pgbackrest)). That user must be able to read the configuration file, which holds the repository cipher
    passphrase, and the repository. pgBackRest itself allows C(info) as root, but files it creates as root
    (lock files, logs) then get in the way of the other commands.
  - The repository cipher passphrase is read by pgBackRest from its configuration; it is never passed on the
    command line (pgBackRest refuses that) and never appears in the result or in an error message - values of
    C(repoN-cipher-pass) and of the other secret repository options found in the configuration files the module
    can read are masked.
  - Sizes in RV(stanzas) are bytes; only RV(table) has human-readable sizes.
requirements:
  - pgBackRest 2.x (tested with 2.45, the version in Debian 12).
seealso:
  - name: pgBackRest info command
    description: The reference of C(pgbackrest info).
    link: https://pgbackrest.org/command.html#command-info
'''

EXAMPLES = r'''
- name: Read the backups of the main stanza
  pgha.replication.pgbackrest_info:
    stanza: main
  become: true
  become_user: postgres
  register: backrest

- name: Show the backups
  ansible.builtin.debug:
    msg: "{{ backrest.table }}"

- name: Fail unless the stanza is healthy and has a full backup younger than a day
  ansible.builtin.assert:
    that:
      - backrest.stanzas[0].status.ok
      - backrest.stanzas[0].backups | selectattr('type', 'equalto', 'full') | list | length > 0
      - (backrest.stanzas[0].backups | selectattr('type', 'equalto', 'full') | last).stop_epoch
        > (now(utc=true).timestamp() - 86400)
    fail_msg: "{{ backrest.stanzas[0].name }}: {{ backrest.stanzas[0].status.message }}"

- name: Pick the newest backup of repository 2 for a restore drill
  pgha.replication.pgbackrest_info:
    stanza: main
    repo: 2
    config: /etc/pgbackrest/pgbackrest.conf
  become: true
  become_user: postgres
  register: repo2

- name: Remember its label
  ansible.builtin.set_fact:
    drill_set: "{{ (repo2.stanzas[0].backups | last).label }}"
  when: repo2.stanzas[0].backups | length > 0
'''

RETURN = r'''
stanzas:
  description: One entry per stanza, in the order pgBackRest reports them (by name).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Stanza name.
      type: str
      sample: main
    status:
      description: The stanza's status, over every repository reported.
      type: dict
      contains:
        code:
          description:
            - pgBackRest's status code - V(0) ok, V(1) missing stanza path, V(2) no valid backups,
              V(3) missing stanza data, V(4) different across repos, V(5) database mismatch across repos,
              V(6) requested backup not found, V(99) other (see RV(stanzas[].repos[].status)).
          type: int
          sample: 0
        message:
          description: pgBackRest's status message.
          type: str
          sample: ok
        ok:
          description: V(true) when RV(stanzas[].status.code) is V(0).
          type: bool
          sample: true
        backup_in_progress:
          description: Whether a backup of the stanza holds its backup lock right now.
          type: bool
          sample: false
    cipher:
      description: V(none), the cipher type such as V(aes-256-cbc), or V(mixed) when the repositories differ.
      type: str
      sample: aes-256-cbc
    repos:
      description: The repositories reported.
      type: list
      elements: dict
      contains:
        key:
          description: Repository number (the N of C(repoN-path)).
          type: int
          sample: 1
        cipher:
          description: Cipher type of the repository.
          type: str
          sample: aes-256-cbc
        status:
          description: Status of the stanza in this repository, with RV(stanzas[].status.code) and RV(stanzas[].status.message).
          type: dict
          sample: {code: 0, message: ok}
    db:
      description: The database history of the stanza (a new entry after each C(stanza-upgrade)), per repository.
      type: list
      elements: dict
      contains:
        id:
          description: History id.
          type: int
          sample: 1
        repo:
          description: Repository number.
          type: int
          sample: 1
        system_id:
          description: The cluster's system identifier, as a string (it does not fit a JSON-safe integer).
          type: str
          sample: "7350000000000000000"
        version:
          description: PostgreSQL major version.
          type: str
          sample: "15"
    archive:
      description: The WAL archive range, per database history id and repository.
      type: list
      elements: dict
      contains:
        id:
          description: Archive id (C(version-history id)).
          type: str
          sample: 15-1
        db_id:
          description: Database history id.
          type: int
          sample: 1
        repo:
          description: Repository number.
          type: int
          sample: 1
        min:
          description: Oldest WAL segment archived; V(null) when none is.
          type: str
          sample: "000000010000000000000001"
        max:
          description: Newest WAL segment archived; V(null) when none is.
          type: str
          sample: "000000010000000000000006"
    backups:
      description: The backups, oldest first.
      type: list
      elements: dict
      contains:
        label:
          description: Backup label, the value for C(--set).
          type: str
          sample: 20250101-010203F_20250102-010203I
        type:
          description: V(full), V(diff) or V(incr).
          type: str
          sample: incr
        prior:
          description: Label of the backup this one is based on; V(null) for a full backup.
          type: str
          sample: 20250101-010203F
        references:
          description: Labels of the backups this one needs files from.
          type: list
          elements: str
          sample: [20250101-010203F]
        repo:
          description: Repository number holding the backup.
          type: int
          sample: 1
        db_id:
          description: Database history id of the backup.
          type: int
          sample: 1
        start_epoch:
          description: Start time, seconds since the epoch.
          type: int
          sample: 1735693323
        start:
          description: Start time, ISO 8601 UTC.
          type: str
          sample: "2025-01-01T01:02:03Z"
        stop_epoch:
          description: Stop time, seconds since the epoch.
          type: int
          sample: 1735693326
        stop:
          description: Stop time, ISO 8601 UTC.
          type: str
          sample: "2025-01-01T01:02:06Z"
        duration_seconds:
          description: Stop minus start.
          type: int
          sample: 3
        database_size:
          description: Size of the database at backup time, bytes.
          type: int
          sample: 23582488
        backup_size:
          description: Bytes of the database this backup copied (all of them for a full backup).
          type: int
          sample: 1851658
        repo_size:
          description: Bytes in the repository of the whole backup set (this backup and what it references), compressed.
          type: int
          sample: 2879888
        repo_delta:
          description: Bytes this backup added to the repository, compressed.
          type: int
          sample: 185840
        wal_start:
          description: First WAL segment needed to make the backup consistent.
          type: str
          sample: "000000010000000000000004"
        wal_stop:
          description: Last WAL segment needed to make the backup consistent.
          type: str
          sample: "000000010000000000000004"
        lsn_start:
          description: Start LSN; V(null) when pgBackRest does not report it.
          type: str
          sample: 0/4000028
        lsn_stop:
          description: Stop LSN; V(null) when pgBackRest does not report it.
          type: str
          sample: 0/4000100
        error:
          description: Whether pgBackRest found errors (for example page checksum errors) while backing up.
          type: bool
          sample: false
        pgbackrest_version:
          description: Version of pgBackRest that made the backup.
          type: str
          sample: "2.45"
        databases:
          description: With O(set), the databases in the backup (name and oid); otherwise V(null).
          type: list
          elements: dict
          sample: [{name: postgres, oid: 5}]
table:
  description:
    - Preformatted lines - a header, then one line per backup (stanza, label, type, repository, start UTC, duration,
      database size, repository size and delta, WAL range), and one line per stanza without backups giving its status.
  returned: always
  type: list
  elements: str
  sample:
    - "STANZA  LABEL             TYPE  REPO  START (UTC)          DURATION  DB SIZE  REPO SIZE  REPO DELTA  WAL START-STOP"
    - "main    20250101-010203F  full  1     2025-01-01 01:02:03  3s        22.1MB   2.7MB      2.7MB       000000010000000000000002-000000010000000000000002"
pgbackrest_version:
  description: Output of C(pgbackrest version), for example V(pgBackRest 2.45).
  returned: always
  type: str
  sample: pgBackRest 2.45
command:
  description: The command that ran (no secret is ever on it).
  returned: always
  type: list
  elements: str
  sample: [/usr/bin/pgbackrest, --output=json, --log-level-console=off, --log-level-stderr=warn, --stanza=main, info]
'''

import os

from ansible_collections.pgha.replication.plugins.module_utils._module import IF_SET, ModuleFrame
from ansible_collections.pgha.replication.plugins.module_utils._pgbackrest import (
    PgBackRestError,
    build_command,
    collect_secrets,
    find_binary,
    parse_info,
    render_table,
    run,
    scrub,
)


def validate_params(params):
    for name in ('stanza', 'set', 'config', 'binary'):
        value = params.get(name)
        if value is not None and (value == '' or '\n' in value or '\x00' in value):
            raise PgBackRestError('%s must be a non-empty single line' % name)
    if params.get('repo') is not None and not 1 <= params['repo'] <= 256:
        raise PgBackRestError('repo must be between 1 and 256 (the N of repoN-path), not %d' % params['repo'])


def read_info(module, params, environ):
    validate_params(params)
    secrets = collect_secrets(params.get('config'), environ)
    for secret in secrets:
        module.no_log_values.add(secret)
    binary = find_binary(params['binary'])
    version, dummy = run(module, [binary, 'version'], secrets)
    argv = build_command(binary, params)
    stdout, stderr = run(module, argv, secrets)
    warnings = [scrub(line, secrets) for line in (stderr or '').splitlines() if line.strip()]
    stanzas = parse_info(stdout, secrets)
    return dict(stanzas=stanzas, table=render_table(stanzas), pgbackrest_version=version.strip(), command=argv), warnings


ARGUMENT_SPEC = dict(
    stanza=dict(type='str'),
    config=dict(type='path'),
    repo=dict(type='int'),
    set=dict(type='str'),
    binary=dict(type='path', default='pgbackrest'),
)


def info_result(module):
    info, warnings = read_info(module, module.params, os.environ)
    for warning in warnings:
        module.warn(warning)
    return dict(info, changed=False)


def main():
    frame = ModuleFrame(ARGUMENT_SPEC, validate=validate_params, report=dict(rc=IF_SET), required_by=dict(set='stanza'))
    frame.run(info_result)


if __name__ == '__main__':
    main()
