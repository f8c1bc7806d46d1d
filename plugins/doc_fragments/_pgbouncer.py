# -*- coding: utf-8 -*-
# This doc fragment is PRIVATE to the pgha.replication collection; it documents
# plugins/module_utils/_pgbouncer.py:PGBOUNCER_CONSOLE and must stay in step with it.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  login_user:
    description:
      - The user to log in to PgBouncer's admin console (the special database C(pgbouncer)) as.
      - It must be listed in PgBouncer's C(admin_users), except for the default.
      - PgBouncer lets the user V(pgbouncer) in without a password over the unix socket when the client runs as
        the same OS user as PgBouncer, so the default suits a task run with C(become_user) set to that user
        (C(postgres) on Debian and Ubuntu).
    type: str
    default: pgbouncer
    version_added: 0.1.0
  login_password:
    description:
      - Password of O(login_user). Not needed over the unix socket with the default O(login_user), nor with
        C(auth_type=trust) or C(peer).
      - Never shown in results or error messages.
    type: str
    version_added: 0.1.0
  login_host:
    description:
      - Host name or IP address PgBouncer listens on (its C(listen_addr)).
      - When empty, connect over a unix socket (see O(login_unix_socket)).
    type: str
    default: ''
    version_added: 0.1.0
  login_unix_socket:
    description:
      - Directory of PgBouncer's unix socket (its C(unix_socket_dir)), used when O(login_host) is empty.
      - When empty, libpq's compiled-in default is used (V(/var/run/postgresql) on Debian and Ubuntu, where
        PgBouncer's packaged configuration uses the same directory).
    type: str
    default: ''
    version_added: 0.1.0
  login_port:
    description:
      - PgBouncer's C(listen_port) (TCP port, or socket file suffix for the unix socket).
      - Named C(login_port) rather than C(port) so that modules can use C(port) for PgBouncer's C(port=) settings.
    type: int
    default: 6432
    version_added: 0.1.0
  connect_timeout:
    description:
      - Seconds to wait for the admin console connection to be established.
    type: int
    default: 10
    version_added: 0.1.0
requirements:
  - psycopg2 >= 2.8 on the managed host
notes:
  - The admin console accepts only its own commands (C(SHOW), C(RELOAD), C(PAUSE), C(RESUME)...) over the simple
    query protocol; the module sends them as plain text, never with parameters.
'''
