"""Verify the PKI against a second controller: the converged cluster's certificates are never
replaced by a run from a fresh $HOME (another DBA's laptop, an AWX job).

1. converge from a fresh HOME: changed=0 and every node's certificate fingerprints unchanged;
2. the same, the CA left at its default (~/.pgha/pki, a controller directory with no CA):
   the run fails naming pki_ca_dir, makes no CA, changes nothing;
3. a different CA at hand (same name, another key): fails naming both fingerprints and pki_ca_dir;
4. the CA as files (pki_ca_mode=files) and on a CA host (pki_ca_mode=host): changed=0.

Nodes and groups come from the scenario's inventory, so the test runs on any HA-shaped lab.
"""
import datetime
import json
import os
import re
import subprocess
import tempfile

import pytest
import testinfra
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

LAB = os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")
INVENTORY = os.path.join(LAB, "inventory")
CONVERGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "converge.yml")
LAB_CA = os.path.join(LAB, "pki")
# Files the roles issue or install: (group, path).
FILES = (("etcd", "/etc/etcd/pki/member.crt"), ("etcd", "/etc/etcd/pki/ca.crt"),
         ("patroni", "/etc/patroni/pki/member.crt"), ("patroni", "/etc/patroni/pki/ca.crt"),
         ("haproxy", "/etc/haproxy/pki/ca.crt"))
# Clear the CA directory the lab sets (the cluster description's pgha_ca_dir, .config/molecule/config.yml), so that
# the one setting (pki_ca_*) decides.
NO_ROLE_CA_DIRS = ["-e", "pgha_ca_dir="]


def groups():
    out = subprocess.run(["ansible-inventory", "-i", INVENTORY, "--list"], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    data = json.loads(out)
    return {name: data[name].get("hosts", []) for name in ("etcd", "patroni", "haproxy") if name in data}


def fingerprint(pem):
    cert = x509.load_pem_x509_certificate(pem.encode())
    return ":".join("%02X" % b for b in cert.fingerprint(hashes.SHA256()))


def node_fingerprints():
    """{(node, path): [fingerprints]} of every certificate file the roles keep on the nodes
    (one command a node)."""
    by_node = {}
    for group, path in FILES:
        for node in groups().get(group, []):
            by_node.setdefault(node, []).append(path)
    found = {}
    for node, paths in sorted(by_node.items()):
        host = testinfra.get_host("ansible://%s?ansible_inventory=%s" % (node, INVENTORY), sudo=True)
        text = host.check_output("for f in %s; do echo \"=== $f\"; cat \"$f\"; done" % " ".join(paths))
        for chunk in text.split("=== ")[1:]:
            path, body = chunk.split("\n", 1)
            blocks = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", body, re.S)
            found[(node, path.strip())] = [fingerprint(b) for b in blocks]
    assert len(found) == sum(len(p) for p in by_node.values()) and all(found.values()), found
    return found


def converge(home, *args):
    env = dict(os.environ, HOME=home, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env.pop("ANSIBLE_LOCAL_TEMP", None)
    proc = subprocess.run(["ansible-playbook", "-i", INVENTORY, CONVERGE, *args], capture_output=True, text=True,
                          env=env, timeout=1800, check=False)
    out = proc.stdout + proc.stderr
    recap = re.findall(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", out, re.M)
    changed = sum(int(r[2]) for r in recap)
    print("converge %s: exit %d, changed=%d (%s)" % (" ".join(args) or "(as the scenario)", proc.returncode, changed,
                                                     ", ".join("%s changed=%s" % (r[0], r[2]) for r in recap)))
    return proc.returncode, changed, " ".join(out.split())


def make_ca(directory):
    """A second CA with the collection's CA name but its own key."""
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pgha.replication CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    os.makedirs(directory, mode=0o700)
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    with open(os.path.join(directory, "ca.crt"), "w", encoding="ascii") as handle:
        handle.write(pem)
    with open(os.path.join(directory, "ca.key"), "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return pem


@pytest.fixture(scope="module")
def before():
    return node_fingerprints()


@pytest.fixture()
def fresh_home():
    with tempfile.TemporaryDirectory(prefix="pgha-fresh-home-") as home:
        yield home


def test_fresh_home_changes_nothing(before, fresh_home):
    rc, changed, out = converge(fresh_home)
    assert rc == 0, out[-3000:]
    assert changed == 0, out[-6000:]
    assert node_fingerprints() == before


def test_fresh_home_with_the_default_ca_dir_fails_and_makes_no_ca(before, fresh_home):
    rc, out = converge(fresh_home, *NO_ROLE_CA_DIRS)[::2]
    assert rc != 0
    ca_dir = os.path.join(fresh_home, ".pgha", "pki")
    assert "There is no CA in the controller directory %s (pki_ca_dir)" % ca_dir in out, out[-3000:]
    assert "already trust a CA" in out and "Point pki_ca_dir" in out and "Nothing was changed." in out
    assert not os.path.exists(os.path.join(ca_dir, "ca.key"))
    assert node_fingerprints() == before


def test_another_ca_fails_naming_both_and_the_variable(before, fresh_home):
    other_dir = os.path.join(fresh_home, "other-ca")
    other = make_ca(other_dir)
    with open(os.path.join(LAB_CA, "ca.crt"), encoding="ascii") as handle:
        lab_ca = handle.read()
    rc, out = converge(fresh_home, "-e", "pki_ca_dir=" + other_dir, *NO_ROLE_CA_DIRS)[::2]
    assert rc != 0
    assert ("trusts the CA %s (/etc/etcd/pki/ca.crt), not the CA at hand %s in the controller directory %s (pki_ca_dir)"
            % (fingerprint(lab_ca), fingerprint(other), other_dir)) in out, out[-3000:]
    assert "Point pki_ca_dir (or pki_ca_mode=host with pki_ca_host" in out
    assert node_fingerprints() == before


def test_ca_as_files_changes_nothing(before, fresh_home):
    rc, changed, out = converge(fresh_home, "--tags", "etcd", "-e", "pki_ca_mode=files",
                                "-e", "pki_ca_cert_file=" + os.path.join(LAB_CA, "ca.crt"),
                                "-e", "pki_ca_key_file=" + os.path.join(LAB_CA, "ca.key"), *NO_ROLE_CA_DIRS)
    assert rc == 0, out[-3000:]
    assert changed == 0, out[-6000:]
    assert node_fingerprints() == before


def test_ca_on_a_ca_host_changes_nothing(before, fresh_home):
    ca_host = groups()["haproxy"][0]
    ansible = ["ansible", ca_host, "-i", INVENTORY, "--become"]
    try:
        # The CA host as an operator prepares it: the CA's files, and the library it signs with
        # (which the role would install on a first run, as one change).
        subprocess.run(ansible + ["-m", "ansible.builtin.apt", "-a", "name=python3-cryptography state=present"],
                       check=True, capture_output=True, timeout=600)
        subprocess.run(ansible + ["-m", "ansible.builtin.file", "-a", "path=/etc/pgha/ca state=directory mode=0700"],
                       check=True, capture_output=True, timeout=300)
        for name, mode in (("ca.crt", "0644"), ("ca.key", "0600")):
            subprocess.run(ansible + ["-m", "ansible.builtin.copy", "-a", "src=%s dest=/etc/pgha/ca/%s mode=%s"
                                      % (os.path.join(LAB_CA, name), name, mode)],
                           check=True, capture_output=True, timeout=300)
        rc, changed, out = converge(fresh_home, "--tags", "etcd", "-e", "pki_ca_mode=host",
                                    "-e", "pki_ca_host=" + ca_host, *NO_ROLE_CA_DIRS)
        assert rc == 0, out[-3000:]
        assert changed == 0, out[-6000:]
        assert "-> %s" % ca_host in out  # the requests were signed on the CA host
        assert node_fingerprints() == before
    finally:
        subprocess.run(ansible + ["-m", "ansible.builtin.file", "-a", "path=/etc/pgha state=absent"],
                       check=False, capture_output=True, timeout=300)
