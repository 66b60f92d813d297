"""Extra RabbitMQ nodes for tests, and the certificates they serve.

The machine's own RabbitMQ node (``rabbit@localhost``, 127.0.0.1:5672) is shared
with everything else on the host and must never be stopped or reconfigured; a
test that needs a broker configured differently (a TLS listener, several nodes
in a cluster, a broker it may kill) runs its own with :class:`RabbitNode`:

    cookie = brokers.new_cookie()
    with brokers.RabbitNode("it-tls", cookie, base_dir, tls=TlsListener(...)) as node:
        node.amqp_port, node.tls_port, node.ctl("list_connections")

Each node lives in a directory of its own (config, mnesia, logs, HOME holding the
Erlang cookie), listens on loopback only (AMQP, TLS, Erlang distribution, the CLI's
distribution listener) on ports picked free at runtime, and has a node name of its
own (``<name>-<hex>@localhost``), so several run at once; nodes given the same
cookie can talk to each other (a cluster).  ``stop()`` asks the node to stop
(``rabbitmqctl -n NODE stop``), then kills its process group, and removes its
directory: nothing is left behind but the machine's epmd, which was already
running (the main node uses it) and which a node only registers with.

:class:`Pki` makes a throw-away CA, server and client certificates with the
openssl CLI, for TLS listeners and clients.
"""

import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
RABBITMQ_SERVER = RABBITMQ_BIN / "rabbitmq-server"
RABBITMQCTL = RABBITMQ_BIN / "rabbitmqctl"
HOST = "127.0.0.1"
# Short node names resolve their host part: "localhost" is loopback on every
# machine (the main node is rabbit@localhost too), whatever the hostname.
NODE_HOST = "localhost"
# Erlang distribution (the node's, and each rabbitmqctl's own) on loopback only.
ERL_FLAGS = "-kernel inet_dist_use_interface {127,0,0,1}"

START_TIMEOUT = 60
STOP_TIMEOUT = 20
CTL_TIMEOUT = 30


def new_cookie():
    """An Erlang cookie to share between the nodes of one cluster (and their CLI)."""
    return secrets.token_hex(20).upper()


# Ports handed out in this process: a port picked for one node is not picked again
# for another even once its probe socket is closed and before the node binds it.
_HANDED_OUT = set()


def free_ports(n):
    """``n`` distinct TCP ports free on 127.0.0.1 now (kernel-chosen)."""
    socks, ports = [], []
    try:
        while len(ports) < n:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in _HANDED_OUT:
                ports.append(port)
                _HANDED_OUT.add(port)
    finally:
        for s in socks:
            s.close()
    return ports


@dataclass
class TlsListener:
    """``listeners.ssl.default`` and its ``ssl_options`` (PEM files)."""
    cacertfile: str
    certfile: str
    keyfile: str
    verify: str = "verify_none"          # or "verify_peer": ask for a client certificate
    fail_if_no_peer_cert: bool = False   # with verify_peer: refuse clients without one


class RabbitNode:
    """One RabbitMQ node of our own (see the module docstring).

    ``config_lines`` are further rabbitmq.conf lines (e.g. ``cluster_formation.*``).
    The guest account keeps RabbitMQ's default of loopback connections only, which
    is all a test here makes."""

    def __init__(self, name, cookie, base_dir, tls=None, config_lines=()):
        self.name = f"{name}-{secrets.token_hex(3)}"
        self.node = f"{self.name}@{NODE_HOST}"
        self.cookie = cookie
        self.dir = Path(base_dir) / self.name
        self.tls = tls
        self.config_lines = list(config_lines)
        self.amqp_port, self.dist_port, tls_port = free_ports(3)
        self.tls_port = tls_port if tls else None
        self.proc = None
        self.home = self.dir / "home"
        self.log_base = self.dir / "log"
        self.log_file = self.log_base / "node.log"
        self.console_log = self.log_base / "console.log"

    # -- lifecycle
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, timeout=START_TIMEOUT):
        """Start the node and wait (bounded) until it answers AMQP (and TLS)."""
        self._write_files()
        with open(self.console_log, "ab") as out:
            # A session (and process group) of its own, so that stop() can kill
            # everything the node spawned (beam, erl_child_setup, inet_gethost).
            self.proc = subprocess.Popen(
                [str(RABBITMQ_SERVER)], env=self._env(server=True), cwd=str(self.dir),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        try:
            self.wait_ready(timeout)
        except Exception:
            self.stop()
            raise

    def wait_ready(self, timeout=START_TIMEOUT):
        """Until an AMQP login as guest works on the plain port and, with TLS, a
        TLS handshake succeeds on the TLS port; RuntimeError (with the node's log
        tail) if the node exits or the time runs out."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"RabbitMQ node {self.node} exited with code "
                                   f"{self.proc.returncode} while starting\n{self.log_tail()}")
            try:
                self._probe_amqp()
                if self.tls:
                    self._probe_tls()
                return
            except Exception as e:  # noqa: BLE001 - not up yet: what, for the message
                last = f"{type(e).__name__}: {e}"
            if time.monotonic() >= deadline:
                raise RuntimeError(f"RabbitMQ node {self.node} not answering within "
                                   f"{timeout} s ({last})\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self):
        """Stop the node for sure and delete its directory: ``rabbitmqctl stop``,
        then SIGKILL to its process group if it is still there."""
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    self.ctl("stop", timeout=STOP_TIMEOUT)
                except Exception:  # noqa: BLE001 - killed below either way
                    pass
                try:
                    self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group we started
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- using it
    def amqp_url(self, user="guest", password="guest", vhost="%2f"):
        return f"amqp://{user}:{password}@{HOST}:{self.amqp_port}/{vhost}"

    def queue_exists(self, name, vhost="/"):
        """Whether the queue exists (a passive declare over the plain port)."""
        import amqp
        conn = amqp.Connection(host=f"{HOST}:{self.amqp_port}", userid="guest",
                               password="guest", virtual_host=vhost, connect_timeout=5)
        conn.connect()
        try:
            conn.channel().queue_declare(name, passive=True)
            return True
        except amqp.exceptions.NotFound:
            return False
        finally:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a 404 closed the channel, not this
                pass

    def ctl(self, *args, timeout=CTL_TIMEOUT, check=True):
        """``rabbitmqctl -n NODE ARGS`` with this node's cookie; the completed process."""
        r = subprocess.run([str(RABBITMQCTL), "-q", "-n", self.node, *args],
                           env=self._env(server=False), capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise RuntimeError(f"rabbitmqctl -n {self.node} {' '.join(args)} failed "
                               f"({r.returncode}): {r.stderr or r.stdout}")
        return r

    def ctl_rows(self, command, *columns):
        """A rabbitmqctl ``list_*`` command as a list of {column: text} (tab-separated)."""
        out = self.ctl(command, *columns, "--no-table-headers").stdout
        return [dict(zip(columns, line.split("\t"))) for line in out.splitlines() if line]

    def log_tail(self, lines=120):
        out = []
        for path in (self.log_file, self.console_log):
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            out.append(f"----- {path} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(out) or f"(no log in {self.log_base})"

    # -- internals
    def _write_files(self):
        for d in (self.dir, self.home, self.log_base, self.dir / "mnesia"):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
        cookie = self.home / ".erlang.cookie"
        if cookie.exists():
            cookie.chmod(0o600)
        cookie.write_text(self.cookie)
        cookie.chmod(0o400)  # Erlang refuses a cookie others can read
        (self.dir / "enabled_plugins").write_text("[].\n")
        # An env file of our own, so that /etc/rabbitmq/rabbitmq-env.conf (the main
        # node's NODENAME and friends) is not read.
        (self.dir / "rabbitmq-env.conf").write_text("# interop: see brokers.py\n")
        lines = [f"listeners.tcp.default = {HOST}:{self.amqp_port}"]
        if self.tls:
            t = self.tls
            lines += [
                f"listeners.ssl.default = {HOST}:{self.tls_port}",
                f"ssl_options.cacertfile = {t.cacertfile}",
                f"ssl_options.certfile = {t.certfile}",
                f"ssl_options.keyfile = {t.keyfile}",
                f"ssl_options.verify = {t.verify}",
                f"ssl_options.fail_if_no_peer_cert = {str(t.fail_if_no_peer_cert).lower()}",
            ]
        lines += ["log.file.level = info", "log.console = false"]
        lines += self.config_lines
        (self.dir / "rabbitmq.conf").write_text("\n".join(lines) + "\n")

    def _env(self, server):
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "HOME": str(self.home),  # the cookie, for the node and for rabbitmqctl
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_USE_LONGNAME": "false",
            "ERL_EPMD_ADDRESS": HOST,
            "ERL_FLAGS": ERL_FLAGS,
        }
        if server:
            env.update({
                "RABBITMQ_NODE_IP_ADDRESS": HOST,
                "RABBITMQ_NODE_PORT": str(self.amqp_port),
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
                "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
                "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
                "RABBITMQ_LOG_BASE": str(self.log_base),
                "RABBITMQ_LOGS": str(self.log_file),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
                "RABBITMQ_PID_FILE": str(self.dir / "node.pid"),
            })
        return env

    def _probe_amqp(self):
        import amqp
        conn = amqp.Connection(host=f"{HOST}:{self.amqp_port}", userid="guest",
                               password="guest", virtual_host="/", connect_timeout=2)
        try:
            conn.connect()
        finally:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass

    def _probe_tls(self):
        ctx = ssl.create_default_context(cafile=self.tls.cacertfile)
        ctx.check_hostname = False  # the listener is up: names are the tests' business
        with socket.create_connection((HOST, self.tls_port), timeout=2) as s:
            with ctx.wrap_socket(s):
                pass


# --------------------------------------------------------------------------- PKI

class Pki:
    """Throw-away certificates made with the openssl CLI in ``directory``
    (EC P-256 keys, PKCS#8 PEM, mode 0600; valid for two days).

        pki = Pki(d)
        ca = pki.ca("ca-a")                       # -> Cert(cert=..., key=...)
        pki.issue(ca, "server", sans=["IP:127.0.0.1"], usage="serverAuth")
        pki.issue(ca, "client", cn="agent-1", usage="clientAuth")
    """

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    def ca(self, name, cn=None):
        cert, key = self.dir / f"{name}.pem", self.dir / f"{name}.key"
        self._key(key)
        self._openssl("req", "-x509", "-new", "-key", key, "-out", cert, "-days", "2",
                      "-subj", f"/CN={cn or name}",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return Cert(name, cn or name, str(cert), str(key))

    def issue(self, ca, name, cn=None, sans=(), usage="serverAuth"):
        """A leaf certificate signed by ``ca``; ``sans`` like ``["IP:127.0.0.1"]``."""
        cert, key = self.dir / f"{name}.pem", self.dir / f"{name}.key"
        csr, ext = self.dir / f"{name}.csr", self.dir / f"{name}.ext"
        self._key(key)
        self._openssl("req", "-new", "-key", key, "-out", csr, "-subj", f"/CN={cn or name}")
        lines = ["basicConstraints = critical,CA:FALSE",
                 "keyUsage = critical,digitalSignature",
                 f"extendedKeyUsage = {usage}"]
        if sans:
            lines.append("subjectAltName = " + ",".join(sans))
        ext.write_text("\n".join(lines) + "\n")
        self._openssl("x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key,
                      "-CAcreateserial", "-out", cert, "-days", "2", "-sha256",
                      "-extfile", ext)
        csr.unlink()
        return Cert(name, cn or name, str(cert), str(key))

    def _key(self, path):
        # genpkey writes PKCS#8 ("BEGIN PRIVATE KEY"); umask-independent 0600.
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-out", path)
        os.chmod(path, 0o600)

    def _openssl(self, *args):
        r = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True,
                           timeout=30, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(map(str, args))} failed: {r.stderr}")


@dataclass
class Cert:
    name: str
    cn: str
    cert: str
    key: str
