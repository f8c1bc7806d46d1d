# -*- coding: utf-8 -*-
# This doc fragment is PRIVATE to the pgha.replication collection; it documents
# plugins/module_utils/_postgres.py:POSTGRES and must stay in step with it.

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
      - The role to connect as.
      - The default suits a task run with C(become_user=postgres) over the local socket (peer authentication).
    type: str
    default: postgres
    version_added: 0.1.0
  login_password:
    description:
      - Password of O(login_user). Not needed for peer or trust authentication.
      - Never shown in results, SQL or error messages.
    type: str
    version_added: 0.1.0
  login_host:
    description:
      - Host name or IP address of the server.
      - When empty, connect over a unix socket (see O(login_unix_socket)).
    type: str
    default: ''
    version_added: 0.1.0
  login_unix_socket:
    description:
      - Directory of the server's unix socket, used when O(login_host) is empty.
      - When empty, libpq's compiled-in default is used (V(/var/run/postgresql) on Debian and Ubuntu).
    type: str
    default: ''
    version_added: 0.1.0
  login_port:
    description:
      - Server port (TCP) or socket file suffix (unix socket).
      - The alias O(port) is kept for playbooks written for earlier versions of this collection.
    type: int
    default: 5432
    aliases: [port]
    version_added: 0.1.0
  login_db:
    description:
      - Database to connect to.
      - Logical replication slots belong to a database; modules that manage them act in this database.
    type: str
    default: postgres
    version_added: 0.1.0
  connect_timeout:
    description:
      - Seconds to wait for the connection to be established.
    type: int
    default: 10
    version_added: 0.1.0
  ssl_mode:
    description:
      - libpq C(sslmode) for TCP connections; ignored for unix sockets.
    type: str
    default: prefer
    choices: [allow, disable, prefer, require, verify-ca, verify-full]
    version_added: 0.1.0
  ca_cert:
    description:
      - File of certificate authorities used to verify the server certificate (libpq C(sslrootcert)).
      - Needed with O(ssl_mode=verify-ca) or O(ssl_mode=verify-full) unless libpq's default file exists.
      - The alias O(ssl_rootcert) is community.postgresql's.
    type: path
    aliases: [ssl_rootcert]
    version_added: 0.1.0
  ssl_cert:
    description:
      - Client certificate file, for certificate authentication (libpq C(sslcert)).
    type: path
    version_added: 0.1.0
  ssl_key:
    description:
      - Key of the client certificate O(ssl_cert) (libpq C(sslkey)).
    type: path
    version_added: 0.1.0
  connect_params:
    description:
      - Further libpq connection keywords, such as C(target_session_attrs) or C(keepalives_idle), passed as they are.
      - Keywords with an option of their own (C(host), C(port), C(user), C(password), C(dbname), C(sslmode), C(sslrootcert),
        C(sslcert), C(sslkey), C(connect_timeout)) are refused with the name of the option to use, and so is C(application_name).
    type: dict
    default: {}
    version_added: 0.1.0
requirements:
  - psycopg2 >= 2.8 on the managed host
notes:
  - Run the module on the database host with C(become_user=postgres) to use the default peer authentication over the local socket.
  - The connection options have the names community.postgresql gives them, so C(module_defaults) written for
    C(group/community.postgresql.all) work for C(group/pgha.replication.postgresql) too.
'''
