# -*- coding: utf-8 -*-
# Copyright: pgha.replication contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Filters the pki role uses to compare the CA a node trusts with the CA at hand, to tell
which CA issued a certificate and when a certificate expires. They run on the controller
and need the Python library cryptography there (community.crypto needs it too)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import datetime
import re

from ansible.errors import AnsibleFilterError

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    HAS_CRYPTOGRAPHY = True
except ImportError:
    HAS_CRYPTOGRAPHY = False

PEM_BLOCK = re.compile(r'-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----', re.DOTALL)


def pem_certificates(text):
    """Split PEM text (a file of one or more certificates) into a list of certificates, each
    one block ending in a newline; anything between the blocks is dropped."""
    if text is None:
        return []
    if not isinstance(text, str):
        raise AnsibleFilterError('pem_certificates: expected PEM text, got %s' % type(text).__name__)
    return [block.replace('\r\n', '\n') + '\n' for block in PEM_BLOCK.findall(text)]


def _load(pem, filter_name):
    if not HAS_CRYPTOGRAPHY:
        raise AnsibleFilterError('%s: the Python library cryptography is required on the controller' % filter_name)
    blocks = pem_certificates(pem)
    if not blocks:
        raise AnsibleFilterError('%s: no PEM certificate in the input' % filter_name)
    try:
        return x509.load_pem_x509_certificate(blocks[0].encode('ascii'))
    except ValueError as exc:
        raise AnsibleFilterError('%s: cannot parse the certificate: %s' % (filter_name, exc))


def x509_issued_by(cert_pem, ca_pem):
    """True when the certificate's issuer is the CA's subject and its signature verifies with
    the CA's public key (a second CA of the same name does not pass)."""
    cert = _load(cert_pem, 'x509_issued_by')
    ca = _load(ca_pem, 'x509_issued_by')
    if cert.issuer != ca.subject:
        return False
    key = ca.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
        else:
            key.verify(cert.signature, cert.tbs_certificate_bytes)
    except InvalidSignature:
        return False
    return True


def _not_after(cert):
    value = getattr(cert, 'not_valid_after_utc', None)
    if value is None:  # cryptography < 42
        value = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return value


def x509_days_left(cert_pem, now=None):
    """Days (a float) from now (UTC, or the given aware datetime) until the certificate expires;
    negative once it has expired."""
    cert = _load(cert_pem, 'x509_days_left')
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return (_not_after(cert) - now).total_seconds() / 86400.0


def x509_fingerprint(cert_pem):
    """SHA-256 fingerprint of the certificate, colon-separated upper-case hex."""
    cert = _load(cert_pem, 'x509_fingerprint')
    return ':'.join('%02X' % b for b in bytearray(cert.fingerprint(hashes.SHA256())))


class FilterModule(object):
    def filters(self):
        return {
            'pem_certificates': pem_certificates,
            'x509_issued_by': x509_issued_by,
            'x509_days_left': x509_days_left,
            'x509_fingerprint': x509_fingerprint,
        }
