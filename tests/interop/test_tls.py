"""TLS to the broker (``amqps://``) with real TLS from RabbitMQ's own listener.

One RabbitMQ node of our own for the module (brokers.RabbitNode: plain AMQP and
TLS listeners on free loopback ports; ``verify_peer`` without
``fail_if_no_peer_cert``, so that clients may but need not present a
certificate), and a PKI made now with the openssl CLI:

- CA-A, which signed the broker's certificate (subjectAltName ``IP:127.0.0.1``
  only, so ``localhost`` is a wrong name) and a client certificate;
- CA-B, which signed nothing the broker shows.

The control plane is the real Trove client on an oslo.messaging transport of its
own to that node over TLS (``rabbit://...?ssl=1&ssl_ca_file=CA-A``), with a
stand-in conductor on the same transport; the session's client and conductor
stay on the machine's broker.  Every refusal is checked from outside the agent
(no queue on the node, the real client's ``rpc_ping`` unanswered) and in its log
(the "broker unavailable" line naming the broker and the reason); a listener that
records what it is sent shows that ``amqps://`` in front of a plaintext port
sends a TLS ClientHello and never the password.  Trove's own files
(``[oslo_messaging_rabbit] ssl``/``ssl_*``, ``?ssl=1&ssl_*`` in transport_url)
must give the same, and ``check-config`` shows the TLS files but no secret.
"""

import os
import re
import secrets
import socket
import struct
import subprocess
import threading
import time
from types import SimpleNamespace
from urllib.parse import quote

import oslo_messaging
import pytest

import brokers
import harness
from conftest import agent_binary

REPORT_INTERVAL = 1
REFUSED_PING_TIMEOUT = 2   # a refused agent has no queue: the call can only time out
LOG_TIMEOUT = 10           # the first connection attempt is made at once
UNAVAILABLE = "broker unavailable; retrying with back-off"


# --------------------------------------------------------------------------- the broker

@pytest.fixture(scope="module")
def pki(workdir):
    p = brokers.Pki(workdir / f"pki-{secrets.token_hex(3)}")
    ca_a, ca_b = p.ca("ca-a", cn="interop CA-A"), p.ca("ca-b", cn="interop CA-B")
    return SimpleNamespace(
        ca_a=ca_a, ca_b=ca_b,
        server=p.issue(ca_a, "server", cn="interop-broker", sans=["IP:127.0.0.1"]),
        client=p.issue(ca_a, "client", cn="it-agent-" + secrets.token_hex(4),
                       usage="clientAuth"),
        dir=p.dir)


@pytest.fixture(scope="module")
def node(pki, workdir):
    n = brokers.RabbitNode("it-tls", brokers.new_cookie(), workdir, tls=brokers.TlsListener(
        cacertfile=pki.ca_a.cert, certfile=pki.server.cert, keyfile=pki.server.key,
        verify="verify_peer", fail_if_no_peer_cert=False))
    try:
        n.start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    yield n
    n.stop()


def amqps(node, host="127.0.0.1", port=None, password="guest"):
    return f"amqps://guest:{password}@{host}:{port or node.tls_port}/%2f"


# --------------------------------------------------------------------------- Trove over TLS

@pytest.fixture(scope="module")
def tls_transport(trove_rpc, node, pki):
    """oslo.messaging's rabbit driver to the node's TLS listener, verifying it
    against CA-A (oslo takes ``ssl_*`` query parameters as option overrides)."""
    from trove.common import cfg
    from trove import rpc
    url = (f"rabbit://guest:guest@127.0.0.1:{node.tls_port}/"
           f"?ssl=1&ssl_ca_file={quote(pki.ca_a.cert, safe='/')}")
    t = oslo_messaging.get_rpc_transport(cfg.CONF, url=url,
                                         allowed_remote_exmods=rpc.get_allowed_exmods())
    yield t
    t.cleanup()




@pytest.fixture(scope="module")
def tls_conductor(tls_transport, conductor_topic):
    """The stand-in conductor (Trove's Manager checks) on the TLS node: where the
    agents there send cast outcomes and heartbeats."""
    c = harness.Conductor(conductor_topic)
    with harness.on_transport(tls_transport):
        c.start()
    yield c
    c.stop()


def tls_trove(side, tls_conductor, tls_transport):
    return harness.TransportTrove(side.gid, tls_conductor, tls_transport)


def ready_over_tls(side, tls_conductor, tls_transport):
    """Wait until the agent answers the real client's rpc_ping over TLS."""
    t = tls_trove(side, tls_conductor, tls_transport)
    try:
        harness.wait_ready(t, side.agent)
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    return t


@pytest.fixture(scope="module")
def served(spawn_module_agent, node, pki, tls_conductor, tls_transport):
    """An agent on ``amqps://127.0.0.1:<tls>`` trusting CA-A, and its TLS client."""
    side = spawn_module_agent(extra={"amqp": {
        "url": amqps(node), "tls_ca_file": pki.ca_a.cert,
        "report_interval": REPORT_INTERVAL}}, wait=False)
    return SimpleNamespace(side=side, trove=ready_over_tls(side, tls_conductor, tls_transport))


# --------------------------------------------------------------------------- checks

def lapin_connections(node):
    """The node's connections made by the agent's AMQP library (lapin)."""
    rows = node.ctl_rows("list_connections", "name", "ssl", "peer_cert_subject",
                         "client_properties")
    return [r for r in rows if '{"product","lapin"}' in r["client_properties"]]


def unavailable_line(side, since=0, timeout=LOG_TIMEOUT):
    """The agent's "broker unavailable" warning as {broker, error}; fails if none."""
    m = side.log_has(re.escape(UNAVAILABLE) + r"[^\n]*", since=since, timeout=timeout)
    assert m, (f"no '{UNAVAILABLE}' line within {timeout} s; log tail:\n"
               f"{side.agent.log_tail(since)}")
    line = m.group(0)
    broker = re.search(r"\bbroker=(\S+)", line)
    tls = re.search(r"\btls=(true|false)\b", line)
    error = re.search(r"\berror=(.*)$", line)
    assert broker and tls and error, f"the line lacks broker=/tls=/error= fields: {line}"
    return SimpleNamespace(line=line, broker=broker.group(1), tls=tls.group(1) == "true",
                           error=error.group(1))


def assert_refused(side, node, tls_conductor, tls_transport, host, port, reason,
                   password="guest"):
    """The agent made no connection, says why, names the broker (host and port,
    no credentials) and that it meant TLS, and keeps running."""
    seen = unavailable_line(side)
    assert seen.broker == f"{host}:{port}", f"the broker is not named: {seen.line}"
    assert seen.tls, f"the line does not say tls=true: {seen.line}"
    assert password not in seen.line, f"the broker password is in the log: {seen.line}"
    assert re.search(reason, seen.error, re.IGNORECASE), (
        f"the reason {seen.error!r} does not match {reason!r}")
    # Outside the agent: nothing on the node, and the real client gets no answer
    # (retries keep failing for these seconds too: a fallback would answer).
    topic = "guestagent." + side.gid
    with pytest.raises(oslo_messaging.MessagingTimeout):
        tls_trove(side, tls_conductor, tls_transport).raw_call(
            "rpc_ping", timeout=REFUSED_PING_TIMEOUT)
    assert not node.queue_exists(topic), f"{topic} was declared on the TLS node"
    assert side.agent.alive(), (f"the agent exited (code {side.agent.proc.returncode}); "
                                f"log tail:\n{side.agent.log_tail()}")
    return seen


# --------------------------------------------------------------------------- a. served over TLS

def test_real_client_pings_the_agent_over_tls(served, node):
    assert served.trove.api().rpc_ping() is True
    conns = lapin_connections(node)
    assert conns, "no connection of the agent on the TLS node"
    for c in conns:
        assert c["ssl"] == "true", f"an agent connection is not TLS: {c}"
        assert c["name"].endswith(f":{node.tls_port}"), f"not on the TLS listener: {c}"


def test_create_user_cast_over_tls_is_applied(served, tls_conductor, db, names):
    harness.create_user_by_cast(served.trove, tls_conductor, db, names.user("tls"))


def test_heartbeat_over_tls_reaches_the_conductor(served, tls_conductor):
    rec = tls_conductor.wait(
        lambda r: r.method == "heartbeat" and r.kwargs.get("instance_id") == served.side.gid,
        REPORT_INTERVAL * 3 + 2, f"heartbeat from {served.side.gid} over TLS")
    assert rec.signature_error is None, rec.describe()
    assert rec.kwargs["payload"] == {"service_status": "healthy"}, rec.describe()


# --------------------------------------------------------------------------- b-d. refused

def test_wrong_ca_is_refused(spawn_agent, node, pki, tls_conductor, tls_transport,
                             monkeypatch):
    # CA-A in the environment's bundle variables must not widen the trust: the
    # configured file is the only bundle.
    monkeypatch.setenv("SSL_CERT_FILE", pki.ca_a.cert)
    monkeypatch.setenv("SSL_CERT_DIR", str(pki.dir))
    side = spawn_agent(extra={"amqp": {"url": amqps(node), "tls_ca_file": pki.ca_b.cert}},
                       wait=False)
    seen = assert_refused(side, node, tls_conductor, tls_transport, "127.0.0.1",
                          node.tls_port, r"certificate")
    assert re.search(r"UnknownIssuer|unknown (issuer|ca)", seen.error, re.I), seen.line


def test_wrong_host_name_is_refused(spawn_agent, node, pki, tls_conductor, tls_transport):
    side = spawn_agent(extra={"amqp": {"url": amqps(node, host="localhost"),
                                       "tls_ca_file": pki.ca_a.cert}}, wait=False)
    seen = assert_refused(side, node, tls_conductor, tls_transport, "localhost",
                          node.tls_port, r"certificate")
    assert "localhost" in seen.error and re.search(r"name", seen.error, re.I), seen.line


def test_plaintext_listener_behind_amqps_is_refused(spawn_agent, node, pki, tls_conductor,
                                                    tls_transport):
    side = spawn_agent(extra={"amqp": {"url": amqps(node, port=node.amqp_port),
                                       "tls_ca_file": pki.ca_a.cert}}, wait=False)
    assert_refused(side, node, tls_conductor, tls_transport, "127.0.0.1", node.amqp_port,
                   r"corrupt|InvalidContentType|handshake|tls|ssl")


def test_renewed_ca_file_is_read_on_the_next_attempt(spawn_agent, node, pki, tmp_path,
                                                     tls_conductor, tls_transport):
    """The bundle is read at every connection: refused while it holds CA-B only,
    connected without a restart once it is a bundle of CA-B and CA-A."""
    bundle = tmp_path / "bundle.pem"
    ca_a, ca_b = (open(c.cert).read() for c in (pki.ca_a, pki.ca_b))
    bundle.write_text(ca_b)
    side = spawn_agent(extra={"amqp": {"url": amqps(node), "tls_ca_file": str(bundle)}},
                       wait=False)
    seen = unavailable_line(side)
    assert re.search(r"UnknownIssuer|unknown (issuer|ca)", seen.error, re.I), seen.line
    renewed = tmp_path / "bundle.pem.new"
    renewed.write_text(ca_b + ca_a)
    os.replace(renewed, bundle)
    ready_over_tls(side, tls_conductor, tls_transport)
    assert side.agent.starts == 1 and side.agent.alive()


class Recorder:
    """A TCP listener on a free loopback port that keeps every byte each connection
    sends.  It answers like a plaintext AMQP 0-9-1 broker: a client that opens with
    the AMQP header gets connection.start (so a plaintext client goes on to send
    its credentials in start-ok); anything else gets the protocol header back, as
    RabbitMQ answers a bad header, and is closed."""

    HEADER = b"AMQP\x00\x00\x09\x01"

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @staticmethod
    def connection_start():
        def longstr(b):
            return struct.pack(">I", len(b)) + b
        payload = (struct.pack(">HHBB", 10, 10, 0, 9) + struct.pack(">I", 0)
                   + longstr(b"PLAIN AMQPLAIN") + longstr(b"en_US"))
        return struct.pack(">BHI", 1, 0, len(payload)) + payload + b"\xce"

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                data = self._read(conn, 1.0)
                if data.startswith(self.HEADER):
                    conn.sendall(self.connection_start())
                    data += self._read(conn, 1.0)
                else:
                    try:
                        conn.sendall(self.HEADER)
                    except OSError:
                        pass
            with self._lock:
                self.received.append(data)

    @staticmethod
    def _read(conn, quiet):
        """What arrives until ``quiet`` seconds pass without a byte (or 64 KiB)."""
        conn.settimeout(quiet)
        data = b""
        while len(data) < 65536:
            try:
                chunk = conn.recv(65536)
            except (socket.timeout, OSError):
                break
            if not chunk:
                break
            data += chunk
        return data

    def wait(self, connections, timeout):
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                got = list(self.received)
            if len(got) >= connections or time.monotonic() >= deadline:
                return got
            time.sleep(0.1)

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def recorder():
    r = Recorder()
    yield r
    r.close()


def test_amqps_sends_a_client_hello_and_never_the_password(spawn_agent, recorder, pki):
    password = harness.register_secret("itpw-" + secrets.token_hex(12), "broker password")
    side = spawn_agent(extra={"amqp": {
        "url": f"amqps://guest:{password}@127.0.0.1:{recorder.port}/%2f",
        "tls_ca_file": pki.ca_a.cert}}, wait=False)
    # Two connections: the first attempt and a retry (back-off starts at 0.25 s);
    # a fallback to plaintext on retry would show in the second.
    got = recorder.wait(2, timeout=10)
    assert len(got) >= 2, f"{len(got)} connection(s) seen; log:\n{side.agent.log_tail()}"
    for i, data in enumerate(got):
        assert data[:2] == b"\x16\x03", (
            f"connection {i} did not open with a TLS handshake record: {data[:16]!r}")
        assert data[5:6] == b"\x01", f"connection {i}: not a ClientHello: {data[:16]!r}"
        assert not data.startswith(Recorder.HEADER), f"connection {i} spoke plain AMQP"
        assert password.encode() not in data, f"connection {i} carried the password"
    seen = unavailable_line(side)
    assert seen.broker == f"127.0.0.1:{recorder.port}" and password not in seen.line
    assert side.agent.alive()


def test_the_recorder_sees_a_plaintext_password(spawn_agent, recorder):
    """The control for the test above: over amqp:// the same listener does get the
    password (in start-ok), so its absence under amqps:// means something."""
    password = harness.register_secret("itpw-" + secrets.token_hex(12), "broker password")
    side = spawn_agent(extra={"amqp": {
        "url": f"amqp://guest:{password}@127.0.0.1:{recorder.port}/%2f"}}, wait=False)
    got = recorder.wait(1, timeout=10)
    assert got, f"no connection seen; log:\n{side.agent.log_tail()}"
    assert got[0].startswith(Recorder.HEADER), got[0][:16]
    assert password.encode() in got[0], "the recorder did not capture the plaintext login"


# --------------------------------------------------------------------------- e. Trove's files

def write_trove_files(d, gid, transport_url, rabbit):
    """guest_info.conf + trove-guestagent.conf (mode 0600: the broker password),
    ``rabbit`` the lines of ``[oslo_messaging_rabbit]``; and an overlay TOML for
    the conductor topic, state dir and log level, as test_drop_in.py does."""
    conf = d / "trove-conf.d"
    conf.mkdir(mode=0o700)
    files = {
        "guest_info.conf": f"[DEFAULT]\nguest_id={gid}\n",
        "trove-guestagent.conf": (
            "[DEFAULT]\n"
            f"transport_url = {transport_url}\n"
            "control_exchange = trove\n"
            f"report_interval = {REPORT_INTERVAL}\n"
            "\n[oslo_messaging_rabbit]\n" + "".join(line + "\n" for line in rabbit)),
    }
    for name, text in files.items():
        path = conf / name
        path.write_text(text)
        path.chmod(0o600)
    return conf


def trove_args(conductor_topic, transport_url, rabbit):
    def args(gid, d):
        conf = write_trove_files(d, gid, transport_url, rabbit)
        (d / "state").mkdir(mode=0o700, exist_ok=True)
        overlay = d / "overlay.toml"
        harness.write_config(str(overlay), {
            "amqp": {"conductor_topic": conductor_topic},
            "state": {"dir": str(d / "state")},
            "log": {"level": "debug"},
        })
        return ["run", "--trove-config", str(conf), "--config", str(overlay)]
    return args


def test_trove_files_with_ssl_serve_over_tls(spawn_agent, node, pki, conductor_topic,
                                             tls_conductor, tls_transport):
    side = spawn_agent(args=trove_args(
        conductor_topic, f"rabbit://guest:guest@127.0.0.1:{node.tls_port}/",
        ["ssl = True", f"ssl_ca_file = {pki.ca_a.cert}"]), wait=False)
    t = ready_over_tls(side, tls_conductor, tls_transport)
    assert t.api().rpc_ping() is True


def test_trove_url_query_overrides_the_section(spawn_agent, node, pki, conductor_topic,
                                               tls_conductor, tls_transport):
    """``?ssl=1&ssl_ca_file=CA-B`` in transport_url beats ``ssl_ca_file = CA-A`` in
    [oslo_messaging_rabbit] (oslo's ConfigOptsProxy): refused for the issuer."""
    url = (f"rabbit://guest:guest@127.0.0.1:{node.tls_port}/"
           f"?ssl=1&ssl_ca_file={quote(pki.ca_b.cert, safe='/')}")
    side = spawn_agent(args=trove_args(conductor_topic, url,
                                       [f"ssl_ca_file = {pki.ca_a.cert}"]), wait=False)
    seen = assert_refused(side, node, tls_conductor, tls_transport, "127.0.0.1",
                          node.tls_port, r"certificate")
    assert re.search(r"UnknownIssuer|unknown (issuer|ca)", seen.error, re.I), seen.line


def test_trove_ssl_without_ca_file_still_verifies(spawn_agent, node, conductor_topic,
                                                 tls_conductor, tls_transport):
    """oslo verifies nothing for ``ssl = True`` without ``ssl_ca_file``; the agent
    verifies against the system bundle, which does not hold CA-A."""
    side = spawn_agent(args=trove_args(
        conductor_topic, f"rabbit://guest:guest@127.0.0.1:{node.tls_port}/", ["ssl = True"]),
        wait=False)
    seen = assert_refused(side, node, tls_conductor, tls_transport, "127.0.0.1",
                          node.tls_port, r"certificate")
    assert re.search(r"UnknownIssuer|unknown (issuer|ca)", seen.error, re.I), seen.line


# --------------------------------------------------------------------------- f. mutual TLS

def test_client_certificate_is_presented(spawn_agent, node, pki, served, tls_conductor,
                                         tls_transport):
    side = spawn_agent(extra={"amqp": {
        "url": amqps(node), "tls_ca_file": pki.ca_a.cert,
        "tls_cert_file": pki.client.cert, "tls_key_file": pki.client.key}}, wait=False)
    ready_over_tls(side, tls_conductor, tls_transport)
    conns = lapin_connections(node)
    subjects = [c["peer_cert_subject"] for c in conns]
    assert subjects.count(f"CN={pki.client.cn}") == 1, (
        f"the agent's client certificate is not on exactly one connection: {conns}")
    # ... and an agent without tls_cert_file presents none (the served one).
    assert "" in subjects, f"every agent connection presented a certificate: {conns}"


# --------------------------------------------------------------------------- g. check-config

def check_config(*args):
    r = subprocess.run([agent_binary(), "check-config", *map(str, args)],
                       capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout + r.stderr


def key_body(path):
    """The base64 body of a PEM key (what must never be printed)."""
    lines = open(path).read().splitlines()
    return "".join(l for l in lines if l and not l.startswith("-----"))


def tls_toml(tmp_path, amqp):
    state = tmp_path / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    path = tmp_path / "guestagent.toml"
    harness.write_config(str(path), {
        "guest_id": "it-tls-" + secrets.token_hex(4), "amqp": amqp,
        "mysql": {"socket": harness.MYSQL_SOCKET, "user": "root"},
        "state": {"dir": str(state)}})
    return path


def test_check_config_shows_the_tls_files_and_no_secret(tmp_path, node, pki):
    password = harness.register_secret("itpw-" + secrets.token_hex(12), "broker password")
    code, out = check_config("--config", tls_toml(tmp_path, {
        "url": amqps(node, password=password), "tls_ca_file": pki.ca_a.cert,
        "tls_cert_file": pki.client.cert, "tls_key_file": pki.client.key}))
    assert code == 0, out
    assert f'tls_ca_file = "{pki.ca_a.cert}"' in out, out
    assert f'tls_cert_file = "{pki.client.cert}"' in out, out
    assert f'tls_key_file = "{pki.client.key}"' in out, out
    assert f"amqps://guest:<redacted>@127.0.0.1:{node.tls_port}/" in out, out
    assert password not in out, "the broker password was printed"
    assert key_body(pki.client.key) not in out, "the client key was printed"


def test_check_config_names_the_system_bundle(tmp_path, node):
    code, out = check_config("--config", tls_toml(tmp_path, {"url": amqps(node)}))
    assert code == 0, out
    assert "tls_ca_file =" not in out, out
    assert re.search(r"#.*system", out), f"no comment about the system bundle:\n{out}"


def test_check_config_refuses_a_world_readable_client_key(tmp_path, node, pki):
    key = tmp_path / "client.key"
    key.write_bytes(open(pki.client.key, "rb").read())
    key.chmod(0o644)
    code, out = check_config("--config", tls_toml(tmp_path, {
        "url": amqps(node), "tls_ca_file": pki.ca_a.cert,
        "tls_cert_file": pki.client.cert, "tls_key_file": str(key)}))
    assert code == 2, out
    assert str(key) in out, f"the key file is not named:\n{out}"
    assert key_body(pki.client.key) not in out, "the client key was printed"


def test_check_config_on_trove_files_takes_the_query_ca(tmp_path, node, pki, conductor_topic):
    url = (f"rabbit://guest:guest@127.0.0.1:{node.tls_port}/"
           f"?ssl=1&ssl_ca_file={quote(pki.ca_b.cert, safe='/')}")
    args = trove_args(conductor_topic, url, [f"ssl_ca_file = {pki.ca_a.cert}"])(
        "it-tls-" + secrets.token_hex(4), tmp_path)
    code, out = check_config(*args[1:])
    assert code == 0, out
    assert f'tls_ca_file = "{pki.ca_b.cert}"' in out, out
    assert f"amqps://guest:<redacted>@127.0.0.1:{node.tls_port}/" in out, out
    assert "guest:guest" not in out, "the broker password was printed"


@pytest.mark.parametrize("version,ok", [("TLSv1", False), ("TLSv1_1", False),
                                        ("TLSv1_2", True), ("SSLv23", True)])
def test_check_config_on_trove_ssl_versions(tmp_path, node, pki, conductor_topic,
                                            version, ok):
    """TLS 1.2 and later only: older ssl_version values are refused, naming the
    option and the file; TLSv1_2 and SSLv23 ("the best both speak") are accepted."""
    args = trove_args(conductor_topic, f"rabbit://guest:guest@127.0.0.1:{node.tls_port}/",
                      ["ssl = True", f"ssl_ca_file = {pki.ca_a.cert}",
                       f"ssl_version = {version}"])("it-tls-" + secrets.token_hex(4), tmp_path)
    code, out = check_config(*args[1:])
    if ok:
        assert code == 0, out
        assert f'tls_ca_file = "{pki.ca_a.cert}"' in out and "amqps://" in out, out
    else:
        assert code == 2, out
        assert "ssl_version" in out and "trove-guestagent.conf" in out, out


def test_check_config_refuses_tls_files_without_amqps(tmp_path, pki):
    """A CA file with a plaintext amqp:// URL is a configuration error, not a
    silently plaintext connection."""
    code, out = check_config("--config", tls_toml(tmp_path, {
        "url": harness.AGENT_AMQP_URL, "tls_ca_file": pki.ca_a.cert}))
    assert code == 2, out
    assert "tls_ca_file" in out and "amqps://" in out, out
