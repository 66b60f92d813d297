"""Trove 26's own control plane for the interop suite (test_control_plane.py):
trove-api, trove-taskmanager and trove-conductor from the pinned trove 26.0.0
package (the console scripts of the suite's venv), on a SQLite database made by
``trove-manage db_sync``, on a RabbitMQ vhost of their own, with fake nova,
cinder and glance (fakecloud.py), Trove's own fake neutron
(``trove.tests.fakes.neutron``) and fake keystone (``trove.tests.fakes.keystone``
in api-paste.ini), so that only the guest agent is real.

Everything lives in one run directory under the test session's temp dir:

    trove.conf, api-paste.ini, trove-guestagent.conf   rendered from controlplane/
    trove.sqlite                                      Trove's database
    py/fakecloud.py                                   on the services' PYTHONPATH
    fake/                                             the fake cloud's servers, volumes and
                                                      injected/<instance id>/conf.d/ (the
                                                      files the taskmanager injected)
    volume/                                           the guest's mount_point (a 64 MiB tmpfs
                                                      when mount works, else a plain dir)
    logs/                                             the services' logs (copied to
                                                      target/interop-logs/controlplane-<vhost>/
                                                      at the end)
    guest-<instance id>/                              the agent's overlay TOML, state dir and
                                                      prepare markers

Every process is started in a session (process group) of its own, with a
parent-death signal, and stopped by its process group: SIGTERM, then SIGKILL
after a bounded grace.  Every wait is bounded and fails with the tails of the
services' logs (and the agent's).
"""

import ast
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import harness

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "controlplane"
REPO = HERE.parents[1]
LOG_DIR = REPO / "target" / "interop-logs"

TENANT = "admin"        # fake keystone: token == user == tenant; "admin*" => role admin
DATASTORE = "mariadb"
DS_VERSION = "10.11"
IMAGE_ID = "00000000-0000-4000-8000-00000000cafe"   # fakecloud.FAKE_IMAGE_ID
FLAVOR = "10"                                       # fakecloud: ds1G, 1024 MB
SERVICES = ("api", "taskmanager", "conductor")

# Trove's timeouts for the test (trove.conf / the injected trove-guestagent.conf).
USAGE_TIMEOUT = 60          # [DEFAULT] usage_timeout: create waits this long for the guest
HB_EXPIRY = 20              # agent_heartbeat_expiry
GUEST_REPORT_INTERVAL = 2   # report_interval in the injected trove-guestagent.conf
CALL_LOW_TIMEOUT = 5        # agent_call_low_timeout (in trove.conf)
CALL_HIGH_TIMEOUT = 20      # agent_call_high_timeout (in trove.conf)

SERVICE_READY_TIMEOUT = 90
STOP_GRACE = 10
VOLUME_MB = 64
HTTP_TIMEOUT = 60

_PR_SET_PDEATHSIG = 1
try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not glibc
    _LIBC = None


def _die_with_parent():
    """preexec_fn: SIGTERM when the test process dies, whatever kills it."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _render(src, dst, subs, mode=0o644):
    text = Path(src).read_text()
    for k, v in subs.items():
        text = text.replace("@%s@" % k, str(v))
    left = re.findall(r"@[A-Z_]+@", text)
    assert not left, f"{src}: placeholders left unfilled: {left}"
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(dst, mode)


def _run(argv, timeout, env=None, cwd=None):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, text=True, timeout=timeout,
                          env=env, cwd=cwd)


# --------------------------------------------------------------------------- processes

class Proc:
    """One process in a session of its own; output to ``log_path``."""

    def __init__(self, name, argv, log_path, env=None, cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = str(log_path)
        self.env = env
        self.cwd = cwd
        self.proc = None

    def start(self):
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== controlplane: starting {' '.join(self.argv)} at "
                      f"{time.strftime('%H:%M:%S')} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self.env, cwd=self.cwd, start_new_session=True,
                preexec_fn=_die_with_parent)
        self.started_at = time.time()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def terminate(self):
        """SIGTERM to the process group (its own session: pgid == pid)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, grace=STOP_GRACE):
        """SIGTERM to the process group, SIGKILL after ``grace`` s; the exit code."""
        if self.proc is None:
            return None
        self.terminate()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        # The leader may be gone while its children (an API worker) are not.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        return self.proc.returncode


def stop_all(procs, grace=STOP_GRACE):
    """Stop several processes at once (each takes up to oslo's
    graceful_shutdown_timeout): SIGTERM to all, then each waited for."""
    for p in procs:
        p.terminate()
    errors = []
    for p in procs:
        try:
            p.stop(grace)
        except Exception as e:  # noqa: BLE001 - go on stopping the rest
            errors.append(f"stopping {p.name}: {e}")
    return errors


# --------------------------------------------------------------------------- API log

class ApiLog:
    """Every trove-api request troveclient made, as ``METHOD /path`` with the
    instance id, user and database names replaced by placeholders."""

    def __init__(self):
        self.calls = {}

    @staticmethod
    def template(method, url):
        path = urllib.parse.urlparse(url).path
        if not path.startswith("/v1.0/"):
            path = "/v1.0/{tenant}" + path     # troveclient's URLs are relative
        path = re.sub(r"^/v1\.0/[^/]+", "/v1.0/{tenant}", path)
        path = re.sub(r"/instances/[0-9a-f-]{36}", "/instances/{id}", path)
        path = re.sub(r"/users/[^/]+", "/users/{user}", path)
        path = re.sub(r"/databases/[^/]+", "/databases/{database}", path)
        query = urllib.parse.urlparse(url).query
        if query:
            keys = sorted({kv.split("=")[0] for kv in query.split("&")})
            path += "?" + "&".join(k + "=" for k in keys)
        return f"{method.upper()} {path}"

    def add(self, method, url, status):
        key = (self.template(method, url), status)
        self.calls[key] = self.calls.get(key, 0) + 1

    def lines(self):
        return [f"{k[0]} -> {k[1]} (x{n})" for k, n in sorted(self.calls.items())]


# --------------------------------------------------------------------------- control plane

class ControlPlane:
    def __init__(self, root, secure=True):
        self.dir = Path(root)
        self.secure = secure
        self.vhost = "guestagent-cp-" + uuid.uuid4().hex[:8]
        self.port = _free_port()
        self.procs = {}
        self.vhost_created = False
        self.volume = self.dir / "volume"
        self.volume_is_tmpfs = False
        self.api_log = ApiLog()
        self.times = {}
        self._client = None
        self._saved_env = {}

    def path(self, *p):
        return self.dir.joinpath(*p)

    # -- environment of the services
    def env(self):
        e = dict(os.environ)
        e["PYTHONPATH"] = str(self.path("py"))
        e["GUESTAGENT_FAKECLOUD_STATE"] = str(self.path("fake"))
        e["HOME"] = str(self.dir)
        return e

    def bin(self, name):
        """A console script of the venv running this suite (trove-api, ...)."""
        p = Path(sys.executable).parent / name
        if not os.access(p, os.X_OK):
            raise AssertionError(f"{p} not found: the suite's venv has no trove 26 "
                                 f"(run it through scripts/interop)")
        return str(p)

    def _subs(self):
        return {"RUN": self.dir, "PORT": self.port, "VHOST": self.vhost,
                "SECURE": str(bool(self.secure)), "USAGE_TIMEOUT": USAGE_TIMEOUT,
                "HB_EXPIRY": HB_EXPIRY, "GUEST_REPORT_INTERVAL": GUEST_REPORT_INTERVAL,
                "MOUNT_POINT": self.volume}

    def _render_all(self):
        subs = self._subs()
        _render(TEMPLATES / "trove.conf", self.path("trove.conf"), subs, 0o600)
        _render(TEMPLATES / "api-paste.ini", self.path("api-paste.ini"), subs)
        _render(TEMPLATES / "trove-guestagent.conf", self.path("trove-guestagent.conf"),
                subs, 0o600)

    # -- up
    def up(self):
        t0 = time.monotonic()
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        for d in ("logs", "locks", "fake", "py", "cloudinit"):
            self.path(d).mkdir(exist_ok=True)
        shutil.copy2(HERE / "fakecloud.py", self.path("py", "fakecloud.py"))
        self._mount_volume()
        self._render_all()

        self._rabbitmqctl("add_vhost", self.vhost)
        self.vhost_created = True
        self._rabbitmqctl("set_permissions", "-p", self.vhost, harness.AMQP_USER,
                          ".*", ".*", ".*")

        manage = [self.bin("trove-manage"), "--config-file", str(self.path("trove.conf"))]
        for step in (["db_sync"],
                     ["datastore_update", DATASTORE, ""],
                     ["datastore_version_update", DATASTORE, DS_VERSION, DATASTORE,
                      IMAGE_ID, "", "1", "--version", DS_VERSION],
                     ["datastore_update", DATASTORE, DS_VERSION]):
            r = _run(manage + step, timeout=120, env=self.env(), cwd=str(self.dir))
            with open(self.path("logs", "manage.log"), "a") as f:
                f.write(f"$ trove-manage {' '.join(step)}\n{r.stdout}\n")
            if r.returncode != 0:
                raise AssertionError(f"trove-manage {' '.join(step)} exited {r.returncode}:\n"
                                     f"{r.stdout[-4000:]}")
        self.times["db_ready"] = time.monotonic() - t0
        for name in SERVICES:
            self._start_service(name)
        self.wait_ready(SERVICES)
        self.times["up"] = time.monotonic() - t0
        return self

    def _mount_volume(self):
        self.volume.mkdir(mode=0o755, exist_ok=True)
        if os.geteuid() == 0 and shutil.which("mount"):
            r = _run(["mount", "-t", "tmpfs", "-o", f"size={VOLUME_MB}m,mode=0755",
                      "guestagent-interop-volume", str(self.volume)], timeout=20)
            self.volume_is_tmpfs = r.returncode == 0

    def _rabbitmqctl(self, *args):
        r = _run(["rabbitmqctl", "-q"] + list(args), timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"rabbitmqctl {' '.join(args)} exited {r.returncode}: "
                                 f"{r.stdout.strip()}")
        return r.stdout

    def _start_service(self, name):
        p = Proc(name, [self.bin("trove-" + name), "--config-file", self.path("trove.conf"),
                        "--log-file", self.path("logs", name + ".log")],
                 self.path("logs", name + ".out"), env=self.env(), cwd=str(self.dir))
        self.procs[name] = p.start()

    def wait_ready(self, names):
        def api_up():
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2) as r:
                return r.status == 200
        if "api" in names:
            self.wait("trove-api answering", api_up, SERVICE_READY_TIMEOUT)
        queues = {"taskmanager": "taskmanager", "conductor": "trove-conductor"}
        for name in names:
            if name in queues:
                q = queues[name]
                self.wait(f"trove-{name} consuming from queue {q}",
                          lambda: (self.queue_state(q) or (0, 0))[1] > 0,
                          SERVICE_READY_TIMEOUT)

    def set_secure(self, secure):
        """enable_secure_rpc_messaging: read by trove-api (a new instance gets a key)
        and trove-taskmanager (its own RPC), so both restart; the conductor looks
        every instance's key up in the database and stays."""
        if bool(secure) == bool(self.secure):
            return
        self.secure = secure
        stop_all([self.procs.pop(name) for name in ("api", "taskmanager")])
        self._render_all()
        for name in ("api", "taskmanager"):
            self._start_service(name)
        self.wait_ready(("api", "taskmanager"))

    # -- down
    def down(self):
        errors = stop_all([self.procs.pop(name) for name in list(self.procs)])
        if self.vhost_created:
            try:
                self._rabbitmqctl("delete_vhost", self.vhost)
                self.vhost_created = False
            except Exception as e:  # noqa: BLE001
                errors.append(f"deleting vhost {self.vhost}: {e}")
        if self.volume_is_tmpfs:
            r = _run(["umount", str(self.volume)], timeout=30)
            if r.returncode != 0:
                r = _run(["umount", "-l", str(self.volume)], timeout=30)
            if r.returncode == 0:
                self.volume_is_tmpfs = False
            else:
                errors.append(f"umount {self.volume}: {r.stdout.strip()}")
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env = {}
        self._keep_logs()
        return errors

    def _keep_logs(self):
        dest = LOG_DIR / f"controlplane-{self.vhost}"
        try:
            dest.mkdir(parents=True, exist_ok=True)
            for p in self.path("logs").iterdir():
                shutil.copy2(p, dest / p.name)
            runs = sorted(LOG_DIR.glob("controlplane-*"), key=lambda p: p.stat().st_mtime)
            for old in runs[:-4]:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass

    # -- diagnostics
    def log_tails(self, lines=25, extra=()):
        out = []
        for name in SERVICES:
            for suffix in (".log", ".out"):
                p = self.path("logs", name + suffix)
                t = tail(p, lines if suffix == ".log" else 8)
                if t.strip():
                    out.append(f"----- {p.name} (tail) -----\n{t}")
        for title, path in extra:
            out.append(f"----- {title} (tail) -----\n{tail(path, 60)}")
        return "\n".join(out)

    def fail(self, msg, extra=()):
        raise AssertionError(f"{msg}\n{self.log_tails(extra=extra)}")

    def wait(self, what, fn, timeout, interval=0.5, extra=()):
        """Poll ``fn`` until truthy (its value is returned), failing after
        ``timeout`` s, or at once when a service has died, with the log tails."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            for name, p in self.procs.items():
                if not p.alive():
                    self.fail(f"trove-{name} exited ({p.proc.returncode}) while waiting "
                              f"for {what}", extra)
            try:
                v = fn()
                if v:
                    return v
                last = v
            except AssertionError:
                raise
            except Exception as e:  # noqa: BLE001 - retried until the deadline
                last = f"{type(e).__name__}: {e}"
            if time.monotonic() >= deadline:
                self.fail(f"timed out after {timeout} s waiting for {what} (last: {last!r})",
                          extra)
            time.sleep(interval)

    # -- RabbitMQ (the vhost)
    def amqp(self):
        import kombu
        return kombu.Connection(
            f"amqp://{harness.AMQP_USER}:{harness.AMQP_PASSWORD}@{harness.AMQP_HOST}:"
            f"{harness.AMQP_PORT}/{self.vhost}", connect_timeout=5,
            transport_options={"max_retries": 1})

    def queue_state(self, queue):
        """(messages ready, consumers) of a queue of the vhost, None if absent."""
        with self.amqp() as conn:
            ch = conn.channel()
            try:
                _, ready, consumers = ch.queue_declare(queue=queue, passive=True)
                return ready, consumers
            except Exception:  # noqa: BLE001 - absent
                return None
            finally:
                try:
                    ch.close()
                except Exception:  # noqa: BLE001
                    pass

    def take_message(self, queue):
        """One message off a queue, or None: (body bytes, properties dict).  It is
        acknowledged (removed) only once read: on a failure it goes back."""
        with self.amqp() as conn:
            ch = conn.channel()
            try:
                m = ch.basic_get(queue=queue, no_ack=False)
                if m is None:
                    return None
                body = m.body
                if isinstance(body, str):
                    body = body.encode(m.content_encoding or "utf-8")
                props = {"content_type": m.content_type,
                         "content_encoding": m.content_encoding,
                         "headers": dict(m.headers or {}),
                         "delivery_mode": m.properties.get("delivery_mode", 2),
                         "priority": m.properties.get("priority", 0)}
                ch.basic_ack(m.delivery_tag)
                return bytes(body), props
            finally:
                ch.close()

    def publish(self, routing_key, body, props, exchange="trove"):
        """Publish a message as taken by take_message, unchanged."""
        with self.amqp() as conn:
            ch = conn.channel()
            try:
                msg = ch.prepare_message(body, priority=props["priority"],
                                         content_type=props["content_type"],
                                         content_encoding=props["content_encoding"],
                                         headers=props["headers"],
                                         properties={"delivery_mode": props["delivery_mode"]})
                ch.basic_publish(msg, exchange=exchange, routing_key=routing_key)
            finally:
                ch.close()

    # -- the conductor's log: what it did with each heartbeat
    _HB = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3}) .*?Instance ID: "
                     r"([0-9a-f-]{36}), Payload: (\{[^{}]*\})")

    def heartbeats(self, instance_id):
        """[(unix time, service_status)] of every heartbeat the conductor received
        from this instance, oldest first (its debug line "Instance ID: ..., Payload: ...")."""
        out = []
        try:
            with open(self.path("logs", "conductor.log"), errors="replace") as f:
                for line in f:
                    m = self._HB.match(line)
                    if not m or m.group(3) != instance_id:
                        continue
                    t = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
                    try:
                        payload = ast.literal_eval(m.group(4))
                    except (ValueError, SyntaxError):
                        payload = {"service_status": m.group(4)}
                    out.append((t + int(m.group(2)) / 1000.0, payload.get("service_status")))
        except OSError:
            pass
        return out

    def conductor_lines(self, needle):
        try:
            with open(self.path("logs", "conductor.log"), errors="replace") as f:
                return [l.rstrip("\n") for l in f if needle in l]
        except OSError:
            return []

    # -- the client
    def client(self):
        """python-troveclient (v1) on trove-api, authenticated by the fake keystone
        (the token is the tenant), every request recorded in ``api_log``."""
        if self._client is None:
            from keystoneauth1 import session, token_endpoint
            from troveclient.v1 import client
            cache = self.path("troveclient-cache")
            cache.mkdir(exist_ok=True)
            if "TROVECLIENT_UUID_CACHE_DIR" not in self._saved_env:
                self._saved_env["TROVECLIENT_UUID_CACHE_DIR"] = os.environ.get(
                    "TROVECLIENT_UUID_CACHE_DIR")
            os.environ["TROVECLIENT_UUID_CACHE_DIR"] = str(cache)
            api_log = self.api_log

            class RecordingSession(session.Session):
                def request(self, url, method, *args, **kwargs):
                    try:
                        resp = super().request(url, method, *args, **kwargs)
                    except Exception as e:
                        api_log.add(method, url, getattr(e, "http_status", type(e).__name__))
                        raise
                    api_log.add(method, url, resp.status_code)
                    return resp

            auth = token_endpoint.Token(f"http://127.0.0.1:{self.port}/v1.0/{TENANT}", TENANT)
            self._client = client.Client(session=RecordingSession(auth=auth,
                                                                  timeout=HTTP_TIMEOUT))
        return self._client

    def listed(self, instance_id):
        """(status, operating_status) from instances.list (no guest RPC, unlike show)."""
        for i in self.client().instances.list():
            if i.id == instance_id:
                return i.status, getattr(i, "operating_status", None)
        return None

    def injected_dir(self, instance_id):
        return self.path("fake", "injected", instance_id)


# --------------------------------------------------------------------------- a guest

class Guest:
    """The real guest agent for one Trove instance, started on exactly the files
    the taskmanager injected (``run --trove-config <conf.d> --config overlay``);
    the overlay only moves the agent's state, log level and Trove's prepare
    markers into the run directory."""

    def __init__(self, cp, instance_id, binary):
        self.cp = cp
        self.instance_id = instance_id
        self.binary = binary
        self.dir = cp.path(f"guest-{instance_id}")
        self.dir.mkdir(mode=0o700, exist_ok=True)
        self.state = self.dir / "state"
        self.state.mkdir(mode=0o700, exist_ok=True)
        self.markers = self.dir / "markers"
        self.markers.mkdir(mode=0o700, exist_ok=True)
        self.conf_d = cp.injected_dir(instance_id) / "conf.d"
        self.overlay = self.dir / "overlay.toml"
        harness.write_config(str(self.overlay), {
            "state": {"dir": str(self.state)},
            "log": {"level": "debug"},
            # Trove's prepare markers (default /opt/trove-guestagent), per instance.
            "trove": {"prepare_marker_dir": str(self.markers)},
        })
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.log_path = LOG_DIR / f"guestagent-cp-{instance_id}.log"
        harness.AGENT_LOGS.add(str(self.log_path))
        self.proc = Proc("guestagent", [binary, "run", "--trove-config", self.conf_d,
                                        "--config", self.overlay], self.log_path)

    def start(self):
        self.proc.start()
        return self

    def stop(self):
        code = self.proc.stop()
        with open(self.log_path, "ab") as f:
            f.write(f"\n===== controlplane: agent stopped, exit code {code} =====\n".encode())
        return code

    def alive(self):
        return self.proc.alive()

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def extra_logs(self):
        """For ControlPlane.wait/fail: the agent's log tail too."""
        return [(f"guestagent {self.log_path.name}", self.log_path)]


# --------------------------------------------------------------------------- an instance

class Instance:
    """One Trove instance made through trove-api, with its real guest.

    ``create()`` follows Trove's own order and watches it: instance create (with
    a database and a user) -> the taskmanager injects the files into the fake
    server and casts ``prepare`` to ``guestagent.<id>`` -> the prepare is taken
    off that queue before the agent runs -> the agent is started on the injected
    files and watched for ``hold`` seconds without a prepare (Trove's agent sends
    no heartbeat then, so the instance stays BUILD) -> the very same message is
    published again -> the instance must reach ACTIVE/HEALTHY through the
    conductor's handling of the agent's heartbeats."""

    def __init__(self, cp, name, tag, binary):
        self.cp = cp
        self.name = name
        self.tag = tag                  # every user/database name starts with it
        self.binary = binary
        self.id = None
        self.guest = None
        self.db_name = tag + "db"
        self.user = tag + "u"
        self.password = "Pw" + uuid.uuid4().hex[:16]
        harness.register_secret(self.password, f"control-plane user of {name}")
        self.prepare = None
        self.times = {}

    def extra(self):
        return self.guest.extra_logs() if self.guest else []

    def wait(self, what, fn, timeout, interval=0.5):
        return self.cp.wait(what, fn, timeout, interval, extra=self.extra())

    def create(self, hold):
        c = self.cp.client()
        t0 = time.monotonic()
        inst = c.instances.create(
            self.name, FLAVOR, volume={"size": 1},
            databases=[{"name": self.db_name}],
            users=[{"name": self.user, "password": self.password,
                    "databases": [{"name": self.db_name}]}],
            datastore=DATASTORE, datastore_version=DS_VERSION)
        self.id = inst.id
        self.created_status = inst.status
        conf_d = self.cp.injected_dir(self.id) / "conf.d"
        self.wait("the files injected into the new server",
                  lambda: (self.cp.injected_dir(self.id) / "server_create.json").exists(), 30)
        queue = f"guestagent.{self.id}"
        self.wait(f"the prepare cast in queue {queue}",
                  lambda: (self.cp.queue_state(queue) or (0, 0))[0] >= 1, 30)
        self.prepare = self.cp.take_message(queue)
        assert self.prepare is not None, f"the message in {queue} went away"
        self.times["prepare_cast"] = time.monotonic() - t0

        self.guest = Guest(self.cp, self.id, self.binary).start()
        self.wait(f"the agent consuming from {queue}",
                  lambda: (self.cp.queue_state(queue) or (0, 0))[1] >= 1, 30)
        self.times["agent_consuming"] = time.monotonic() - t0
        hold_start = time.time()
        deadline = time.monotonic() + hold
        while time.monotonic() < deadline:
            if not self.guest.alive():
                self.cp.fail(f"guestagent exited ({self.guest.proc.proc.returncode}) while "
                             f"waiting for its prepare", self.extra())
            time.sleep(0.25)
        self.hold_window = (hold_start, time.time())
        self.hold_heartbeats = self.cp.heartbeats(self.id)
        self.hold_listed = self.cp.listed(self.id)

        self.released_at = time.time()
        self.cp.publish(queue, *self.prepare)
        t1 = time.monotonic()
        self.wait_listed("ACTIVE", "HEALTHY", USAGE_TIMEOUT + 15)
        self.times["active_after_prepare"] = time.monotonic() - t1
        self.times["create_total"] = time.monotonic() - t0
        return self

    def wait_listed(self, status, operating_status, timeout, interval=0.5):
        seen = []

        def check():
            st = self.cp.listed(self.id)
            if not seen or seen[-1] != st:
                seen.append(st)
            if st and st[0] == "ERROR" and status != "ERROR":
                self.cp.fail(f"instance {self.id} went to ERROR (seen: {seen}; fault: "
                             f"{self.fault()})", self.extra())
            return st == (status, operating_status)
        try:
            self.wait(f"instance {status}/{operating_status}", check, timeout, interval)
        except AssertionError as e:
            raise AssertionError(f"statuses seen {seen}; fault {self.fault()}\n{e}") from None
        return seen

    def show(self):
        return self.cp.client().instances.get(self.id)._info

    def fault(self):
        try:
            return self.show().get("fault")
        except Exception as e:  # noqa: BLE001 - for failure messages only
            return f"(instance show failed: {e})"

    def injected(self, name):
        import configparser
        cp = configparser.ConfigParser(interpolation=None)
        cp.read(self.cp.injected_dir(self.id) / "conf.d" / name)
        return cp

    def delete(self, timeout=USAGE_TIMEOUT + 30):
        """instances.delete, then wait until trove-api no longer lists it.  Trove
        refuses to delete an instance still building (after a failed create):
        then reset_status + delete (force_delete), again until the taskmanager
        has given up on it (usage_timeout)."""
        if self.id is None:
            return
        c = self.cp.client()
        from troveclient import exceptions as tce
        deadline = time.monotonic() + timeout
        while True:
            try:
                c.instances.delete(self.id)
                break
            except tce.NotFound:
                return
            except tce.UnprocessableEntity:
                try:
                    c.instances.force_delete(self.id)
                    break
                except tce.UnprocessableEntity:
                    if time.monotonic() >= deadline:
                        raise
                    time.sleep(2)
        self.cp.wait(f"instance {self.id} deleted",
                     lambda: all(i.id != self.id for i in c.instances.list()),
                     max(10, deadline - time.monotonic()), interval=1, extra=self.extra())
