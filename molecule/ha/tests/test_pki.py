"""Verify the PKI against a second controller: the converged cluster's certificates are never
replaced by a run from a fresh $HOME (another DBA's laptop, an AWX job).

1. converge from a fresh HOME: changed=0 and every node's certificate fingerprints unchanged;
2. the same, the CA left at its default (~/.pgha/pki, a controller directory with no CA):
   the run fails naming pki_ca_dir, makes no CA, changes nothing;
3. a different CA at hand (same name, another key): fails naming both fingerprints and pki_ca_dir;
4. the CA as files (pki_ca_mode=files) and on a CA host (pki_ca_mode=host): changed=0;
5. renewal: with pki_renew_before_days above the certificates' days left, every node
   certificate is issued again by the same CA (the CA files untouched), etcd restarts one member
   at a time, the cluster stays healthy, and the next run changes nothing;
6. rotation in its three runs (trust, reissue, finish) to a new CA, the out-of-order run
   refused in between, the cluster healthy and HAProxy routing after each phase, then a plain
   run with the new CA changes nothing. The lab's CA directory then holds the new CA (as an
   operator points the inventory at it), the old one kept beside it as ca.crt.previous.

Nodes and groups come from the scenario's inventory, so the test runs on any HA-shaped lab.
"""
import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest
import testinfra
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pgha_lab import Lab, wait_for

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


def inventory():
    out = subprocess.run(["ansible-inventory", "-i", INVENTORY, "--list"], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    return json.loads(out)


def groups():
    data = inventory()
    return {name: data[name].get("hosts", []) for name in ("etcd", "patroni", "haproxy") if name in data}


def patroni_lab():
    """The lab's Patroni members as a pgha_lab.Lab (its API checked against the lab's CA file)."""
    data = inventory()
    hostvars = data["_meta"]["hostvars"]
    return Lab({name: hostvars[name]["pgha_node_address"] for name in data["patroni"]["hosts"]})


def fingerprint(pem):
    cert = x509.load_pem_x509_certificate(pem.encode())
    return ":".join("%02X" % b for b in cert.fingerprint(hashes.SHA256()))


def node_fingerprints():
    """{(node, path): [fingerprints]} of every certificate file the roles keep on the nodes."""
    return {key: [fingerprint(pem) for pem in pems] for key, pems in node_certificates().items()}


def node_certificates():
    """{(node, path): [PEM blocks]} of every certificate file the roles keep on the nodes
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
            found[(node, path.strip())] = blocks
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
    for mode in ((), ("--check",)):  # check mode fails where the real run does
        rc, out = converge(fresh_home, "-e", "pki_ca_dir=" + other_dir, *NO_ROLE_CA_DIRS, *mode)[::2]
        assert rc != 0
        assert ("trusts the CA %s (/etc/etcd/pki/ca.crt), not the CA at hand %s in the controller directory %s "
                "(pki_ca_dir)" % (fingerprint(lab_ca), fingerprint(other), other_dir)) in out, out[-3000:]
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


# --- renewal and rotation: these replace the node certificates, so they come last.

def read(path):
    with open(path, encoding="ascii") as handle:
        return handle.read()


def member_certificates(found):
    return {key: pems for key, pems in found.items() if key[1].endswith("/member.crt")}


def ca_files(found):
    return {key: pems for key, pems in found.items() if key[1].endswith("/ca.crt")}


def days_left(pem):
    cert = x509.load_pem_x509_certificate(pem.encode())
    return (cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 86400


def issued_by(pem, ca_pem):
    cert = x509.load_pem_x509_certificate(pem.encode())
    try:
        cert.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem.encode()))
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def etcd_outages():
    """{node: (stopped, started)} of each etcd member's last restart, in microseconds of the
    host's monotonic clock (the containers share the host kernel's clock)."""
    outages = {}
    for node in groups()["etcd"]:
        out = subprocess.run(["ansible", node, "-i", INVENTORY, "--become", "-m", "ansible.builtin.command", "-a",
                              "systemctl show etcd.service -p ActiveExitTimestampMonotonic "
                              "-p ActiveEnterTimestampMonotonic"],
                             capture_output=True, text=True, check=True, timeout=120).stdout
        values = dict(re.findall(r"(Active\w+TimestampMonotonic)=(\d+)", out))
        outages[node] = (int(values["ActiveExitTimestampMonotonic"]), int(values["ActiveEnterTimestampMonotonic"]))
    return outages


def through_haproxy(lab):
    """(in recovery, address) of the server HAProxy routes the read-write port (straight to
    PostgreSQL over TLS, checked against lab.ca) to; None when it does not connect."""
    import psycopg2  # only these tests connect to PostgreSQL

    proxy = inventory()["_meta"]["hostvars"][groups()["haproxy"][0]]["pgha_node_address"]
    try:
        return lab.served_by(proxy, 5010)
    except psycopg2.OperationalError as err:
        print("through HAProxy: %s" % err)
        return None


def assert_serving(lab, phase):
    """A healthy cluster (one leader, the replicas streaming, a synchronous standby) whose REST
    API verifies against lab.ca, and HAProxy routing the read-write port to the leader."""
    size = len(lab.nodes)
    assert wait_for(lambda: lab.healthy(size, sync_standby=True), 120), (phase, lab.cluster())
    served = wait_for(lambda: through_haproxy(lab), 30, step=2)
    assert served, phase
    in_recovery, address = served
    assert in_recovery is False and address == lab.nodes[lab.leader()], phase


def test_renewal_under_the_threshold_issues_again_from_the_same_ca(fresh_home):
    before_run = node_certificates()
    lab = patroni_lab()
    started = time.monotonic() * 1e6
    # A threshold above every certificate's days left, and new certificates valid beyond it.
    threshold = int(max(days_left(pems[0]) for pems in member_certificates(before_run).values())) + 1
    renew = ("-e", "pki_renew_before_days=%d" % threshold, "-e", "pki_cert_not_after=+%dd" % (threshold + 100))
    rc, changed, out = converge(fresh_home, *renew)
    assert rc == 0, out[-3000:]
    # The expiry report: the new days left, and why it was renewed.
    assert re.search(r"/etc/etcd/pki/member\.crt: %d\.\d days left, renewed \(under pki_renew_before_days=%d\)"
                     % (threshold + 99, threshold), out) or re.search(
        r"/etc/etcd/pki/member\.crt: %d\.0 days left, renewed \(under pki_renew_before_days=%d\)"
        % (threshold + 100, threshold), out), out[-3000:]
    after = node_certificates()
    assert ca_files(after) == ca_files(before_run)
    lab_ca = read(LAB_CA + "/ca.crt")
    for key, pems in member_certificates(after).items():
        assert pems != before_run[key], key
        assert issued_by(pems[0], lab_ca) and days_left(pems[0]) > threshold + 99, key
    # etcd restarted on every member, one at a time: no two members were down together.
    outages = sorted(etcd_outages().values())
    print("etcd restarts (s after the run started: down .. up): %s" % ", ".join(
        "%.1f .. %.1f" % ((down - started) / 1e6, (up - started) / 1e6) for down, up in outages))
    assert all(down > started for down, _up in outages), outages
    assert all(earlier[1] < later[0] for earlier, later in zip(outages, outages[1:])), outages
    assert_serving(lab, "after the renewal")
    rc, changed, out = converge(fresh_home, *renew)
    assert rc == 0 and changed == 0, out[-6000:]
    assert node_certificates() == after


def test_rotation_in_three_runs(fresh_home):
    lab = patroni_lab()
    old_ca = read(LAB_CA + "/ca.crt")
    new_dir = os.path.join(fresh_home, "ca-next")  # empty: the trust phase creates the CA there
    to_new = ("-e", "pki_ca_dir=" + new_dir, *NO_ROLE_CA_DIRS)
    start = node_certificates()
    reissued = False
    try:
        rc, _changed, out = converge(fresh_home, "-e", "pki_rotate=trust", *to_new)
        assert rc == 0, out[-3000:]
        new_ca = read(new_dir + "/ca.crt")
        assert fingerprint(new_ca) != fingerprint(old_ca)
        trusting = node_certificates()
        assert member_certificates(trusting) == member_certificates(start)
        assert all(pems == [old_ca.strip(), new_ca.strip()] for pems in ca_files(trusting).values()), trusting
        assert_serving(lab, "trust")
        # From here on the servers show certificates of either CA: check them against both.
        lab.ca = os.path.join(fresh_home, "both-cas.crt")
        with open(lab.ca, "w", encoding="ascii") as handle:
            handle.write(old_ca + new_ca)

        rc, _changed, out = converge(fresh_home, *to_new)  # a plain run in the middle of a rotation
        assert rc != 0 and "Go on with pki_rotate=reissue" in out, out[-3000:]
        assert node_certificates() == trusting

        rc, _changed, out = converge(fresh_home, "-e", "pki_rotate=reissue", *to_new)
        reissued = rc == 0
        assert rc == 0, out[-3000:]
        reissuing = node_certificates()
        assert ca_files(reissuing) == ca_files(trusting)
        assert all(issued_by(pems[0], new_ca) for pems in member_certificates(reissuing).values()), reissuing
        assert_serving(lab, "reissue")

        rc, _changed, out = converge(fresh_home, "-e", "pki_rotate=finish", *to_new)
        assert rc == 0, out[-3000:]
        finished = node_certificates()
        assert all(pems == [new_ca.strip()] for pems in ca_files(finished).values()), finished
        assert member_certificates(finished) == member_certificates(reissuing)
        lab.ca = new_dir + "/ca.crt"
        assert_serving(lab, "finish")

        rc, changed, out = converge(fresh_home, *to_new)
        assert rc == 0 and changed == 0, out[-6000:]
        assert node_certificates() == finished
    finally:
        if reissued:
            # The nodes' certificates are the new CA's now: point the lab at it, as an
            # operator points the inventory at the new CA after "finish".
            shutil.copy(LAB_CA + "/ca.crt", LAB_CA + "/ca.crt.previous")
            for name in ("ca.crt", "ca.key"):
                shutil.copy(os.path.join(new_dir, name), os.path.join(LAB_CA, name))
