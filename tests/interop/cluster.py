"""The control plane and the agent on a three-node RabbitMQ cluster (issue 14).

The cluster is a ``brokers.RabbitCluster`` of the session (conftest's
``rabbit_cluster``: started on first use, stopped at the end of the session).
Each *profile* is one ``[oslo_messaging_rabbit]`` configuration of a deployment
and lives in a vhost of its own, because the profiles declare the same exchange
(``trove``) with different flags and RabbitMQ lets only one set live in a vhost:

| profile | vhost | broker user | options |
| --- | --- | --- | --- |
| classic | it-classic | guest | oslo's defaults |
| durable | it-durable | guest | ``amqp_durable_queues = true`` |
| quorum_limits | it-qlimits | guest | quorum, ``rabbit_quorum_delivery_limit = 5``, ``rabbit_quorum_max_memory_length = 100`` |
| kolla | ``/`` | openstack | fixtures/kolla-2025.1/trove-guestagent.conf |
| osa | trove | trove | fixtures/osa-2025.1/trove-guestagent.conf |

For each profile the rig builds (lazily, once per session):

- an oslo.messaging transport with the multi-host URL of the cluster and the
  profile's options in its query (oslo's ``ConfigOptsProxy`` takes any option of
  ``[oslo_messaging_rabbit]`` there, per transport), on Trove's ``cfg.CONF``
  (so ``rabbit_retry_interval`` is the harness's, the rest oslo's defaults);
- a stand-in conductor (``harness.Conductor``: Trove's Manager checks) on that
  transport, topic = the session's conductor topic;
- the guest's Trove files: ``guest_info.conf`` and ``trove-guestagent.conf``
  (mode 0600: the broker password), with the same transport URL and the same
  options, for ``guestagent run --trove-config DIR --config overlay.toml`` (the
  overlay gives only the conductor topic, the state dir and the log level, as
  test_drop_in.py does).

``create_guest_queue`` runs Trove's own ``API._create_guest_queue()`` (what the
taskmanager does before ``prepare``: an oslo RPC server on
``Target(topic="guestagent.<id>", server="<id>")`` started and stopped) on the
profile's transport; ``oslo_declaration`` says, from oslo's own functions, how
oslo declares the guest's queues under the profile.
"""

import configparser
import json
import os
import re
import secrets
import threading
import time
from pathlib import Path
from unittest import mock

import harness

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPORT_INTERVAL = 5
UNAVAILABLE = "broker unavailable; retrying with back-off"
MISMATCH = "exists with other flags or arguments"


# --------------------------------------------------------------------------- profiles

class Profile:
    """One deployment's ``[oslo_messaging_rabbit]``, for the guest and the
    control plane alike."""

    def __init__(self, name, vhost, user, rabbit=None, fixture=None):
        self.name = name
        self.vhost = vhost
        self.user = user
        self.rabbit = dict(rabbit or {})   # the guest file's section, as written
        self.fixture = fixture             # a directory under fixtures/, or None

    def __repr__(self):
        return f"Profile({self.name})"


PROFILES = {
    "classic": Profile("classic", "it-classic", "guest"),
    "durable": Profile("durable", "it-durable", "guest", {"amqp_durable_queues": "true"}),
    "quorum_limits": Profile("quorum_limits", "it-qlimits", "guest", {
        "rabbit_quorum_queue": "true",
        "rabbit_quorum_delivery_limit": "5",
        "rabbit_quorum_max_memory_length": "100"}),
    "kolla": Profile("kolla", "/", "openstack", fixture="kolla-2025.1"),
    "osa": Profile("osa", "trove", "trove", fixture="osa-2025.1"),
}


def render_fixture(fixture, hosts, password, hostname="infra1"):
    """A fixture's trove-guestagent.conf with its placeholders filled in:
    ``{{ rabbit_host_N }}`` / ``{{ rabbit_port_N }}`` (N = 1..3),
    ``{{ rabbit_password }}``, ``{{ inventory_hostname }}``."""
    text = (FIXTURES / fixture / "trove-guestagent.conf").read_text()
    values = {"rabbit_password": password, "inventory_hostname": hostname}
    for i, (host, port) in enumerate(hosts, 1):
        values[f"rabbit_host_{i}"] = host
        values[f"rabbit_port_{i}"] = str(port)

    def fill(m):
        name = m.group(1)
        if name not in values:
            raise KeyError(f"{fixture}: unknown placeholder {{{{ {name} }}}}")
        return values[name]

    return re.sub(r"\{\{\s*(\w+)\s*\}\}", fill, text)


def read_ini(text):
    p = configparser.RawConfigParser(strict=False, interpolation=None)
    p.optionxform = str
    p.read_string(text)
    return p


def oslo_knows(name):
    """Whether oslo.messaging 18.3.1 has this ``[oslo_messaging_rabbit]`` option
    (oslo.config ignores the others in a file; in a URL query they are an error)."""
    from oslo_messaging._drivers import amqp, impl_rabbit
    return any(o.name == name for o in list(impl_rabbit.rabbit_opts) + list(amqp.amqp_opts))


# --------------------------------------------------------------------------- transports

class ClusterTrove(harness.TransportTrove):
    """harness.TransportTrove on a profile's transport."""

    def uncapped_client(self):
        with harness.on_transport(self.transport):
            return super().uncapped_client()


class Side:
    """One profile's control-plane end: URL, transport, conductor, guest files."""

    def __init__(self, rig, profile):
        self.rig = rig
        self.profile = profile
        self.password = rig.passwords[profile.user]
        hosts = rig.cluster.hosts()
        if profile.fixture:
            self.guest_conf = render_fixture(profile.fixture, hosts, self.password)
            ini = read_ini(self.guest_conf)
            self.transport_url = ini.get("DEFAULT", "transport_url")
            self.rabbit = dict(ini.items("oslo_messaging_rabbit")) if ini.has_section(
                "oslo_messaging_rabbit") else {}
        else:
            vhost = profile.vhost
            netloc = ",".join(f"{profile.user}:{self.password}@{h}:{p}" for h, p in hosts)
            self.transport_url = f"rabbit://{netloc}/{vhost}"
            self.rabbit = dict(profile.rabbit)
            self.guest_conf = (
                "[DEFAULT]\n"
                f"transport_url = {self.transport_url}\n"
                "control_exchange = trove\n"
                "\n[oslo_messaging_rabbit]\n"
                + "".join(f"{k} = {v}\n" for k, v in self.rabbit.items()))
        self.transport = None
        self.conductor = None

    # -- the control plane
    def client_url(self):
        """The guest's transport URL with every option of its section that oslo
        knows appended to the query (the URL's own query wins, as for oslo)."""
        base, _, query = self.transport_url.partition("?")
        given = [p.split("=", 1)[0] for p in query.split("&") if p]
        extra = [f"{k}={v}" for k, v in self.rabbit.items()
                 if oslo_knows(k) and k not in given]
        pairs = [p for p in query.split("&") if p] + extra
        return base + ("?" + "&".join(pairs) if pairs else "")

    def start(self):
        import oslo_messaging
        from trove import rpc
        from trove.common import cfg
        if self.profile.user != "guest":   # "guest" is in every agent log ("guestagent")
            harness.register_secret(self.password, f"broker password of {self.profile.user}")
        self.transport = oslo_messaging.get_rpc_transport(
            cfg.CONF, url=self.client_url(), allowed_remote_exmods=rpc.get_allowed_exmods())
        self.conductor = harness.Conductor(self.rig.conductor_topic)
        with harness.on_transport(self.transport):
            self.conductor.start()

    def close(self):
        if self.conductor is not None:
            self.conductor.stop()
            self.conductor = None
        if self.transport is not None:
            try:
                self.transport.cleanup()
            except Exception:  # noqa: BLE001 - the cluster goes next anyway
                pass
            self.transport = None

    def trove(self, gid):
        return ClusterTrove(gid, self.conductor, self.transport)

    def create_guest_queue(self, gid):
        """Trove's ``API._create_guest_queue()`` for this guest, as the taskmanager
        runs it (Trove's database, which it asks for the instance's key, is a
        stub saying there is no such instance: no key)."""
        from trove.instance.models import DBInstance
        api = self.trove(gid).api()
        with harness.on_transport(self.transport), \
                mock.patch.object(DBInstance, "get_by", return_value=None):
            api._create_guest_queue()

    def oslo_declaration(self):
        """How oslo 18.3.1 declares an RPC server's topic queues (``T``, ``T.S``)
        under this transport's options, from oslo's own code: {type, durable,
        auto_delete, arguments}."""
        from oslo_messaging._drivers import impl_rabbit
        dc = self.transport._driver.conf.oslo_messaging_rabbit
        quorum = impl_rabbit.QuorumMemConfig(dc.rabbit_quorum_delivery_limit,
                                             dc.rabbit_quorum_max_memory_length,
                                             dc.rabbit_quorum_max_memory_bytes)
        # declare_topic_consumer: Consumer(durable=self.durable, queue_auto_delete=
        # amqp_auto_delete, no queue TTL, no stream) -> _get_queue_arguments.
        args = impl_rabbit._get_queue_arguments(dc.rabbit_ha_queues, 0, dc.rabbit_quorum_queue,
                                                quorum, False)
        durable = impl_rabbit.Connection.durable.fget(dc)
        return {"type": "quorum" if args.get("x-queue-type") == "quorum" else "classic",
                "durable": bool(durable), "auto_delete": bool(dc.amqp_auto_delete),
                "arguments": dict(args)}

    # -- the guest
    def write_guest_files(self, d, gid):
        """guest_info.conf + trove-guestagent.conf in ``d/trove-conf.d``, 0600."""
        conf = Path(d) / "trove-conf.d"
        conf.mkdir(mode=0o700, exist_ok=True)
        files = {
            "guest_info.conf": f"[DEFAULT]\nguest_id={gid}\ndatastore_manager=mariadb\n",
            "trove-guestagent.conf": self.guest_conf,
        }
        for name, text in files.items():
            path = conf / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(path, 0o600)
        return conf

    def agent_args(self, rabbit_override=None):
        """For ``spawn_agent(args=...)``: Trove's files plus an overlay TOML (the
        conductor topic, state dir, log level, report interval)."""
        def args(gid, d):
            conf = self.write_guest_files(d, gid)
            if rabbit_override is not None:
                p = conf / "trove-guestagent.conf"
                p.write_text(_replace_section(p.read_text(), "oslo_messaging_rabbit",
                                              rabbit_override))
            state = Path(d) / "state"
            state.mkdir(mode=0o700, exist_ok=True)
            overlay = Path(d) / "overlay.toml"
            harness.write_config(str(overlay), {
                "amqp": {"conductor_topic": self.rig.conductor_topic,
                         "report_interval": REPORT_INTERVAL},
                "state": {"dir": str(state)},
                "log": {"level": "debug"},
            })
            return ["run", "--trove-config", str(conf), "--config", str(overlay)]
        return args

    # -- raw AMQP on the profile's vhost
    def kombu(self, node=0):
        import kombu
        host, port = self.rig.cluster.hosts()[node]
        return kombu.Connection(hostname=host, port=port, userid=self.profile.user,
                                password=self.password, virtual_host=self.profile.vhost,
                                connect_timeout=5, transport_options={"max_retries": 1})

    def publish_raw(self, routing_key, body, exchange="trove"):
        with self.kombu() as conn:
            ch = conn.channel()
            msg = ch.prepare_message(body, priority=0, content_type="application/json",
                                     content_encoding="utf-8",
                                     properties={"delivery_mode": 2})
            ch.basic_publish(msg, exchange=exchange, routing_key=routing_key)
            ch.close()

    def ready_count(self, queue):
        """Messages ready in the queue, from a passive declare (asked of the
        queue itself, unlike rabbitmqctl's counts of a quorum queue)."""
        with self.kombu() as conn:
            ch = conn.channel()
            _, ready, _ = ch.queue_declare(queue=queue, passive=True)
            ch.close()
            return ready

    def delete_guest(self, gid):
        """Every queue and exchange of this guest in the profile's vhost."""
        names = [q["name"] for q in self.rig.cluster.queues(self.profile.vhost)
                 if gid in q.get("name", "")]
        try:
            with self.kombu() as conn:
                for name in names:
                    ch = conn.channel()
                    try:
                        ch.queue_delete(queue=name)
                    except Exception:  # noqa: BLE001 - best effort
                        pass
                ch = conn.channel()
                try:
                    ch.exchange_delete(exchange=f"guestagent.{gid}_fanout")
                except Exception:  # noqa: BLE001
                    pass
        except Exception:  # noqa: BLE001 - the cluster goes at the end anyway
            pass


def _replace_section(text, section, values):
    out, skipping = [], False
    for line in text.splitlines():
        m = re.match(r"\s*\[([^\]]+)\]", line)
        if m:
            skipping = m.group(1).strip() == section
            if skipping:
                out.append(f"[{section}]")
                out.extend(f"{k} = {v}" for k, v in values.items())
                continue
        if not skipping:
            out.append(line)
    return "\n".join(out) + "\n"


class Rig:
    """The cluster with the session's users and vhosts, and one Side per profile."""

    def __init__(self, cluster, conductor_topic, lock_dir):
        self.cluster = cluster
        # oslo's queue manager (use_queue_manager, kolla and OSA) keeps its
        # counter under [oslo_concurrency] lock_path, as on a control node.
        from oslo_concurrency import lockutils
        Path(lock_dir).mkdir(mode=0o700, parents=True, exist_ok=True)
        lockutils.set_defaults(lock_path=str(lock_dir))
        self.conductor_topic = conductor_topic
        self.passwords = {"guest": "guest",
                          "openstack": "it-os-" + secrets.token_hex(8),
                          "trove": "it-trove-" + secrets.token_hex(8)}
        self.sides = {}
        self._lock = threading.RLock()
        self._vhosts = set()
        self._users = {"guest"}

    def _prepare(self, profile):
        """The profile's vhost and user on the broker (once)."""
        if profile.vhost not in self._vhosts:
            self.cluster.add_vhost(profile.vhost)
            self._vhosts.add(profile.vhost)
        if profile.user not in self._users:
            self.cluster.add_user(profile.user, self.passwords[profile.user],
                                  vhosts=(profile.vhost,))
            self._users.add(profile.user)

    def side(self, name, profile=None):
        """The profile's Side (``profile``: a Profile of a test's own, used the
        first time ``name`` is asked for)."""
        with self._lock:
            s = self.sides.get(name)
            if s is None:
                p = profile or PROFILES[name]
                self._prepare(p)
                s = Side(self, p)
                s.start()
                self.sides[name] = s
            return s

    def custom_side(self, name, vhost, rabbit):
        """A profile of a test's own (its own vhost, guest's credentials)."""
        return self.side(name, Profile(name, vhost, "guest", rabbit))

    def close(self):
        """Every conductor and transport closed (at once: an oslo server takes a
        few seconds to stop)."""
        threads = [threading.Thread(target=s.close, daemon=True) for s in self.sides.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.sides = {}


# --------------------------------------------------------------------------- mysqld

class Held:
    """Account changes held in mysqld: ``LOCK TABLES mysql.global_priv READ`` on a
    root session of its own, until ``release()``."""

    def __init__(self):
        import pymysql
        self.conn = pymysql.connect(unix_socket=harness.MYSQL_SOCKET, user="root",
                                    autocommit=True, connect_timeout=5, read_timeout=30)
        self.id = self.conn.thread_id()
        with self.conn.cursor() as cur:
            cur.execute("LOCK TABLES mysql.global_priv READ")

    def wait_blocked(self, timeout=15):
        """Until a statement (the agent's) waits for the lock: a command is in the
        agent's hands.  (Checked in mysqld: a quorum queue's message counts in
        rabbitmqctl are metrics refreshed every few seconds.)"""
        deadline = time.monotonic() + timeout
        while True:
            with self.conn.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                            "WHERE ID != %s AND STATE LIKE 'Waiting for table%%'", (self.id,))
                n = cur.fetchone()[0]
            if n:
                return n
            assert time.monotonic() < deadline, f"no statement waited for the lock within {timeout} s"
            time.sleep(0.05)

    def release(self):
        if self.conn is None:
            return
        try:
            with self.conn.cursor() as cur:
                cur.execute("UNLOCK TABLES")
        finally:
            self.conn.close()
            self.conn = None


# --------------------------------------------------------------------------- agents' logs

LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")


def log_time(line):
    """The UTC timestamp of an agent log line, as epoch seconds (or None)."""
    import calendar
    m = LOG_TIME.match(line)
    if not m:
        return None
    whole, _, frac = m.group(1).partition(".")
    t = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return t + float("0." + frac)


def consuming_lines(agent, since=0):
    """The agent's "consuming" lines from byte ``since``: [{at, broker, away_s}]."""
    out = []
    for line in agent.log_text(since).splitlines():
        if " consuming " not in line and not line.rstrip().endswith(" consuming"):
            continue
        if "INFO" not in line:
            continue
        broker = re.search(r"\bbroker=(\S+)", line)
        away = re.search(r"\baway_s=([0-9.]+)", line)
        out.append({"at": log_time(line), "broker": broker.group(1) if broker else None,
                    "away_s": float(away.group(1)) if away else None, "line": line})
    return out


def wait_log(agent, pattern, since=0, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        m = re.search(pattern, agent.log_text(since))
        if m or time.monotonic() >= deadline:
            return m
        time.sleep(0.1)


def dump(value):
    return json.dumps(value, sort_keys=True, default=str)
