# -*- coding: utf-8 -*-
# Copyright: pgha.replication contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

from ansible.errors import AnsibleFilterError


def node_address(host, hostvars):
    """Return the address a cluster node serves on: pgha_node_address, else ansible_host, else its name."""
    try:
        host_vars = hostvars[host]
    except KeyError:
        raise AnsibleFilterError("node_address: %r is not a host of the inventory" % (host,))
    for name in ('pgha_node_address', 'ansible_host'):
        if name in host_vars and host_vars[name]:
            return str(host_vars[name])
    return str(host)


class FilterModule(object):
    def filters(self):
        return {'node_address': node_address}
