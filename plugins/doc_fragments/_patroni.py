# -*- coding: utf-8 -*-
# This doc fragment is PRIVATE to the pgha.replication collection; it documents
# plugins/module_utils/_patroni.py:PATRONI_API and must stay in step with it.

# Copyright: (c) 2025, pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r'''
options:
  api_url:
    description:
      - Base URL of the REST API of any member of the Patroni cluster, for example V(http://127.0.0.1:8008).
      - The cluster view is read from the DCS through that member, so any reachable member will do.
    type: str
    required: true
    version_added: 0.1.0
  api_username:
    description:
      - User name of the REST API's basic authentication (C(restapi.authentication.username) in C(patroni.yml)).
      - Patroni requires it for requests that change the cluster, such as a switchover. Set it together with O(api_password).
    type: str
    version_added: 0.1.0
  api_password:
    description:
      - Password of O(api_username).
      - Never shown in results or error messages.
    type: str
    version_added: 0.1.0
  api_ca_path:
    description:
      - File of certificate authorities used to verify the certificate of an V(https) O(api_url).
    type: path
    version_added: 0.1.0
  api_validate_certs:
    description:
      - Verify the certificate of an V(https) O(api_url). Only set to V(false) on a test system.
    type: bool
    default: true
    version_added: 0.1.0
  api_client_cert:
    description:
      - Client certificate (PEM) presented to a REST API that requires one (C(restapi.verify_client)).
    type: path
    version_added: 0.1.0
  api_client_key:
    description:
      - Private key (PEM) of O(api_client_cert), when it is not in the same file.
    type: path
    version_added: 0.1.0
  api_timeout:
    description:
      - Seconds to wait for an answer to each REST API request.
      - Every REST API option is named C(api_*).
    type: int
    default: 10
    version_added: 0.1.0
notes:
  - The module talks to the Patroni REST API from the host it runs on; it does not need Patroni, C(patronictl)
    or PostgreSQL there. Run it with C(delegate_to) or on the controller when the API is reachable from there.
'''
