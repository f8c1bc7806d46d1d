"""The pki filters on real certificates made with cryptography: a CA, a second CA of the
same name, and certificates each signs."""
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ansible.errors import AnsibleFilterError
from ansible_collections.pgha.replication.plugins.filter import pki

NOW = datetime.datetime.now(datetime.timezone.utc)


def make_cert(common_name, key, issuer_name=None, issuer_key=None, days=30, ca=False):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=days)))
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    cert = builder.sign(issuer_key or key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope='module')
def pems():
    ca_key = ec.generate_private_key(ec.SECP384R1())
    other_key = ec.generate_private_key(ec.SECP384R1())
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = make_cert('pgha.replication CA', ca_key, days=3650, ca=True)
    other = make_cert('pgha.replication CA', other_key, days=3650, ca=True)   # same name, another key
    rsa_ca = make_cert('rsa CA', rsa_key, days=3650, ca=True)
    issuer = x509.load_pem_x509_certificate(ca.encode()).subject
    member_key = ec.generate_private_key(ec.SECP256R1())
    return dict(
        ca=ca, other=other, rsa_ca=rsa_ca,
        member=make_cert('pg1', member_key, issuer, ca_key, days=10),
        member_of_other=make_cert('pg1', member_key, issuer, other_key, days=10),
        member_of_rsa=make_cert('pg1', member_key, x509.load_pem_x509_certificate(rsa_ca.encode()).subject, rsa_key),
    )


def test_pem_certificates_splits_a_bundle(pems):
    bundle = pems['ca'] + 'comment between\n' + pems['other'].replace('\n', '\r\n')
    blocks = pki.pem_certificates(bundle)
    assert blocks == [pems['ca'], pems['other']]
    assert pki.pem_certificates('') == [] and pki.pem_certificates(None) == []


@pytest.mark.parametrize('cert, ca, expected', [
    ('member', 'ca', True),
    ('member', 'other', False),          # same subject, signature does not verify
    ('member_of_other', 'ca', False),
    ('member_of_other', 'other', True),
    ('member_of_rsa', 'rsa_ca', True),
    ('member', 'rsa_ca', False),         # issuer name differs
])
def test_x509_issued_by(pems, cert, ca, expected):
    assert pki.x509_issued_by(pems[cert], pems[ca]) is expected


def test_x509_days_left(pems):
    assert 9.9 < pki.x509_days_left(pems['member']) < 10.1
    later = NOW + datetime.timedelta(days=20)
    assert -10.1 < pki.x509_days_left(pems['member'], now=later) < -9.9


def test_x509_fingerprint(pems):
    fingerprint = pki.x509_fingerprint(pems['ca'])
    cert = x509.load_pem_x509_certificate(pems['ca'].encode())
    assert fingerprint == ':'.join('%02X' % b for b in cert.fingerprint(hashes.SHA256()))
    assert fingerprint != pki.x509_fingerprint(pems['other'])


def test_not_a_certificate():
    with pytest.raises(AnsibleFilterError, match='no PEM certificate'):
        pki.x509_fingerprint('hello')
