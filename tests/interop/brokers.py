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
``stop(remove=False)`` keeps the directory, for a node to start again with its
data; a node still running when the Python process exits is killed then.

:class:`Pki` makes a throw-away CA, server and client certificates with the
openssl CLI, for TLS listeners and clients.

:class:`RabbitCluster` runs three such nodes with one cookie as one cluster
(node 2 and 3 joined to node 1), and stops, starts and restarts nodes of it
keeping their data; it also says which node a process is connected to and how
the cluster holds a queue (type, durability, arguments, leader and members).
"""

import atexit
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import threading
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


# Nodes whose process this process started and has not stopped: killed at exit
# (a session interrupted before its teardown leaves no node behind).
_LIVE = set()


@atexit.register
def _kill_leftovers():
    for n in list(_LIVE):
        try:
            if n.proc is not None and n.proc.poll() is None:
                os.killpg(n.proc.pid, signal.SIGKILL)
        except Exception:  # noqa: BLE001 - at exit, best effort
            pass
        shutil.rmtree(n.dir, ignore_errors=True)


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

    def start(self, timeout=START_TIMEOUT, remove_on_failure=True):
        """Start the node and wait (bounded) until it answers AMQP (and TLS).
        A node that does not come up is stopped, and its directory removed
        unless ``remove_on_failure`` is false (a cluster member keeps its data
        for the cluster's own teardown)."""
        self.spawn()
        try:
            self.wait_ready(timeout)
        except Exception:
            self.stop(remove=remove_on_failure)
            raise

    def spawn(self):
        """Start the node's process and return at once (see wait_ready); the
        files are written again, the data directory (mnesia) kept if there."""
        self._write_files()
        with open(self.console_log, "ab") as out:
            # A session (and process group) of its own, so that stop() can kill
            # everything the node spawned (beam, erl_child_setup, inet_gethost).
            self.proc = subprocess.Popen(
                [str(RABBITMQ_SERVER)], env=self._env(server=True), cwd=str(self.dir),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        _LIVE.add(self)

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

    def stop(self, remove=True):
        """Stop the node for sure: ``rabbitmqctl stop``, then SIGKILL to its
        process group if it is still there; then delete its directory, unless
        ``remove`` is false (a node to start again with its data)."""
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
        if remove:
            _LIVE.discard(self)
            shutil.rmtree(self.dir, ignore_errors=True)

    def stop_app(self):
        """``rabbitmqctl stop_app``: the RabbitMQ application stops (every
        connection closed, non-durable queues gone), the Erlang node stays."""
        self.ctl("stop_app", timeout=STOP_TIMEOUT + CTL_TIMEOUT)

    def start_app(self, timeout=START_TIMEOUT):
        """``rabbitmqctl start_app``, then until it answers AMQP again."""
        self.ctl("start_app", timeout=timeout)
        self.wait_ready(timeout)

    def answers(self):
        """Whether an AMQP login works now (one quick try)."""
        try:
            self._probe_amqp()
            return True
        except Exception:  # noqa: BLE001 - any failure means no
            return False

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


# --------------------------------------------------------------------------- clusters

CLUSTER_TIMEOUT = 90   # every node of a (re)started cluster up and clustered


class RabbitCluster:
    """Three (``size``) :class:`RabbitNode` s of one cluster on loopback: node
    names, AMQP and distribution ports of their own, one Erlang cookie.  Node 1
    boots alone; each further node boots, then ``stop_app``, ``join_cluster``
    node 1, ``start_app``.  ``stop()`` stops every node and removes every
    directory, whatever state the cluster is in; use it as a context manager,
    or call ``stop()`` in a ``finally``.

    Restarting a node or the whole cluster keeps its data (mnesia: users,
    vhosts, durable exchanges and queues, quorum queues' logs):

    - ``stop_node(i)`` / ``start_node(i)``: the whole Erlang node down and up
      (a node that went down while others ran boots at once: its peers are up);
    - ``stop_app(i)`` / ``start_app(i)``: the RabbitMQ application only;
    - ``restart()``: every node down, then every node up.  RabbitMQ 3.10 wants
      a cluster that went down whole to come back from the node that went down
      last, but it does not need it *first*: a node that boots and finds it was
      not the last to stop waits for its peers (``mnesia_table_loading_retry_
      timeout`` 30 s x ``mnesia_table_loading_retry_limit`` 10) instead of
      failing, so starting all nodes at once (in parallel, in any order) boots
      the cluster (about 12 s here); starting them one after another and
      waiting for each to answer would hang on the first that was not the last
      down (seen on 3.10.8: node 3 of 3, stopped first and started alone, logs
      "Waiting for Mnesia tables for 30000 ms, 9 retries left" and does not
      answer AMQP for as long as it was watched, 40 s).
      ``force_boot`` (boot without waiting for peers) is only for a node whose
      peers will not come back, and is not needed here.
    """

    def __init__(self, name, base_dir, size=3, config_lines=()):
        self.cookie = new_cookie()
        self.nodes = [RabbitNode(f"{name}{i + 1}", self.cookie, base_dir,
                                 config_lines=config_lines) for i in range(size)]
        self.stop_order = []   # indices, in the order restart() stopped them

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # -- lifecycle
    def start(self, timeout=START_TIMEOUT):
        try:
            # Every node boots on its own at once (booting is the slow part),
            # then the others join node 1 one at a time.
            first = self.nodes[0]
            deadline = time.monotonic() + timeout
            for n in self.nodes:
                n.spawn()
            for n in self.nodes:
                n.wait_ready(max(1.0, deadline - time.monotonic()))
            for n in self.nodes[1:]:
                n.ctl("stop_app", timeout=STOP_TIMEOUT + CTL_TIMEOUT)
                n.ctl("join_cluster", first.node, timeout=CTL_TIMEOUT)
                n.ctl("start_app", timeout=timeout)
                n.wait_ready(timeout)
            self.wait_clustered()
        except Exception:
            self.stop()
            raise

    def stop(self):
        """Every node stopped (killed if need be) and every directory removed
        (all at once: nothing of the cluster is kept)."""
        def stop(n):
            try:
                n.stop(remove=True)
            except Exception:  # noqa: BLE001 - the others must go too
                pass
        threads = [threading.Thread(target=stop, args=(n,), daemon=True) for n in self.nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(STOP_TIMEOUT * 2 + 20)
        for n in self.nodes:   # anything a stuck thread left: killed now
            if n.proc is not None:
                try:
                    os.killpg(n.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            shutil.rmtree(n.dir, ignore_errors=True)

    def stop_node(self, i):
        """Node ``i`` (0-based) down whole (``rabbitmqctl stop``), data kept."""
        self.nodes[i].stop(remove=False)

    def start_node(self, i, timeout=CLUSTER_TIMEOUT):
        """Node ``i`` up again with its data, until it answers and is clustered."""
        self.nodes[i].start(timeout, remove_on_failure=False)
        self.wait_clustered(timeout)

    def stop_app(self, i):
        self.nodes[i].stop_app()

    def start_app(self, i, timeout=CLUSTER_TIMEOUT):
        self.nodes[i].start_app(timeout)
        self.wait_clustered(timeout)

    def stop_all(self, order=None):
        """Every node down, data kept (``order``: indices, default last first)."""
        order = list(order) if order is not None else list(reversed(range(len(self.nodes))))
        for i in order:
            self.nodes[i].stop(remove=False)
        self.stop_order = order

    def start_all(self, timeout=CLUSTER_TIMEOUT):
        """Every stopped node started at once (see the class docstring), until
        all answer AMQP and see each other."""
        deadline = time.monotonic() + timeout
        for n in self.nodes:
            if not n.alive():
                n.spawn()
        for n in self.nodes:
            n.wait_ready(max(1.0, deadline - time.monotonic()))
        self.wait_clustered(max(1.0, deadline - time.monotonic()))

    def restart(self, down_s=0.0, timeout=CLUSTER_TIMEOUT):
        """The whole cluster down, ``down_s`` seconds, then up again."""
        self.stop_all()
        time.sleep(down_s)
        self.start_all(timeout)

    def wait_clustered(self, timeout=CLUSTER_TIMEOUT):
        """Until every running node lists every running node as running."""
        deadline = time.monotonic() + timeout
        want = sorted(n.node for n in self.nodes if n.alive())
        last = None
        while True:
            try:
                seen = {n.node: self.running_nodes(n) for n in self.nodes if n.alive()}
                if all(s == want for s in seen.values()):
                    return
                last = seen
            except Exception as e:  # noqa: BLE001 - not yet: say what, at the end
                last = f"{type(e).__name__}: {e}"
            if time.monotonic() >= deadline:
                raise RuntimeError(f"cluster not formed within {timeout} s (want {want}, "
                                   f"seen {last})\n" + self.log_tails(40))
            time.sleep(0.5)

    @staticmethod
    def running_nodes(node):
        out = node.ctl("cluster_status", "--formatter", "json").stdout
        return sorted(json.loads(out).get("running_nodes", []))

    # -- using it
    def live(self):
        """A node that answers (for cluster-wide rabbitmqctl commands)."""
        for n in self.nodes:
            if n.alive() and n.answers():
                return n
        raise RuntimeError("no node of the cluster answers")

    def ctl(self, *args, **kw):
        return self.live().ctl(*args, **kw)

    def hosts(self):
        """``[(host, amqp port)]`` of every node, node 1 first."""
        return [(HOST, n.amqp_port) for n in self.nodes]

    def node_index(self, port):
        """Which node (0-based) listens for AMQP on ``port``; None if none."""
        for i, n in enumerate(self.nodes):
            if n.amqp_port == port:
                return i
        return None

    def add_user(self, user, password, vhosts=("/",), tags=()):
        self.ctl("add_user", user, password)
        if tags:
            self.ctl("set_user_tags", user, *tags)
        for v in vhosts:
            self.add_vhost(v)
            self.ctl("set_permissions", "-p", v, user, ".*", ".*", ".*")

    def add_vhost(self, vhost, users=()):
        """The vhost (if new), with full permissions for guest and ``users``."""
        r = self.ctl("add_vhost", vhost, check=False)
        if r.returncode != 0 and "already exists" not in (r.stderr + r.stdout):
            raise RuntimeError(f"add_vhost {vhost}: {r.stderr or r.stdout}")
        for u in ("guest", *users):
            self.ctl("set_permissions", "-p", vhost, u, ".*", ".*", ".*")

    def connections(self):
        """Every client connection of the cluster: {name, port, peer_port, user,
        vhost, client_properties, node} (``node`` the 0-based index of the
        node it is on, from the port it came in on)."""
        out = self.ctl("list_connections", "--formatter", "json", "name", "port",
                       "peer_port", "user", "vhost", "client_properties").stdout
        rows = json.loads(out) if out.strip() else []
        for r in rows:
            r["node"] = self.node_index(int(r["port"]))
        return rows

    def node_of_process(self, pid):
        """The nodes (0-based indices) a process has AMQP connections to, from
        its sockets (``ss``) and the ports the nodes listen on."""
        ports = {n.amqp_port: i for i, n in enumerate(self.nodes)}
        out = subprocess.run(["ss", "-Htnp", "state", "established"], capture_output=True,
                             text=True, timeout=10).stdout
        found = set()
        for line in out.splitlines():
            if f"pid={pid}," not in line:
                continue
            parts = line.split()
            # Recv-Q Send-Q Local:Port Peer:Port Process
            peer = parts[3] if len(parts) > 3 else ""
            port = int(peer.rsplit(":", 1)[1]) if ":" in peer else None
            if port in ports:
                found.add(ports[port])
        return sorted(found)

    def queue(self, name, vhost="/"):
        """The queue as the cluster holds it: {name, type, durable, auto_delete,
        arguments (a dict), leader, members, online, messages...}, or None.
        (The message and consumer counts of a quorum queue are metrics that
        rabbitmqctl shows as of the last few seconds.)"""
        return self.describe_queues(vhost).get(name)

    def describe_queues(self, vhost="/"):
        """Every queue of the vhost, described as by ``queue``, by name."""
        out = self.ctl("list_queues", "-p", vhost, "--formatter", "json", "name", "type",
                       "durable", "auto_delete", "arguments", "leader", "members",
                       "online", "messages", "messages_ready", "messages_unacknowledged",
                       "consumers").stdout
        found = {}
        for q in (json.loads(out) if out.strip() else []):
            q["arguments"] = _arguments(q.get("arguments"))
            found[q.get("name")] = q
        return found

    def consumers(self, vhost="/"):
        """Every consumer in the vhost: {queue_name, channel_pid, consumer_tag,
        prefetch_count, arguments}.  (``list_queues consumers`` of a quorum
        queue is a metric refreshed every few seconds; this is not.)"""
        out = self.ctl("list_consumers", "-p", vhost, "--formatter", "json", "queue_name",
                       "channel_pid", "consumer_tag", "prefetch_count", "arguments").stdout
        return json.loads(out) if out.strip() else []

    def queues(self, vhost="/"):
        out = self.ctl("list_queues", "-p", vhost, "--formatter", "json", "name",
                       "type", "messages").stdout
        return json.loads(out) if out.strip() else []

    def log_tails(self, lines=60):
        return "\n".join(n.log_tail(lines) for n in self.nodes)


def _arguments(value):
    """rabbitmqctl's JSON of queue arguments (a list of [name, value] pairs, or
    a map, by version) as a dict."""
    if isinstance(value, dict):
        return value
    out = {}
    for item in value or []:
        if isinstance(item, (list, tuple)) and len(item) >= 2:
            out[item[0]] = item[-1]
    return out


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
