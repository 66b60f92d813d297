"""Machinery of the interoperability suite: the real Trove 26 control-plane client,
a stand-in conductor, the agent process and a direct line to mysqld.

Nothing here builds oslo messages by hand for normal traffic: calls and casts go
through ``trove.guestagent.api.API`` exactly as Trove's API/taskmanager send them,
and the agent's casts to the conductor are received by an ``oslo_messaging`` RPC
server with Trove's own ``ConductorHostSerializer`` and checked against Trove's own
``trove.conductor.manager.Manager`` (trove-wire.md §5, §7).  Raw kombu is used only
to send what the real client never would (malformed messages).
"""

import copy
import inspect
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
import traceback
import uuid
from dataclasses import dataclass, field

AMQP_HOST = "127.0.0.1"
AMQP_PORT = 5672
AMQP_USER = "guest"
AMQP_PASSWORD = "guest"
# oslo.messaging form (for the Trove client) and plain AMQP form (for the agent).
OSLO_TRANSPORT_URL = f"rabbit://{AMQP_USER}:{AMQP_PASSWORD}@{AMQP_HOST}:{AMQP_PORT}/"
AGENT_AMQP_URL = f"amqp://{AMQP_USER}:{AMQP_PASSWORD}@{AMQP_HOST}:{AMQP_PORT}/%2f"
KOMBU_URL = f"amqp://{AMQP_USER}:{AMQP_PASSWORD}@{AMQP_HOST}:{AMQP_PORT}//"
EXCHANGE = "trove"
MYSQL_SOCKET = "/run/mysqld/mysqld.sock"
MYSQL_TCP = ("127.0.0.1", 3306)

# Short timeouts for tests (Trove's defaults are 15 s / 180 s).
CALL_LOW_TIMEOUT = 10
CALL_HIGH_TIMEOUT = 30
CAST_OUTCOME_TIMEOUT = 30
AGENT_READY_TIMEOUT = 30
AGENT_STOP_GRACE = 10

SYSTEM_USERS = ("root", "os_admin", "mariadb.sys", "mysql")
SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")


# --------------------------------------------------------------------------- secrets

# What test_zz_secrets.py checks at the end of the session: every password and RPC
# key the suite sent or received (registered by the helpers below, and by a hook on
# oslo.messaging's client for every call and cast Trove's client makes) must appear
# in no agent log and in no failure text the client or the conductor received.
SECRETS = {}        # secret -> where it was first seen
FAILURE_TEXTS = []  # (where, text): failures raised to the client / raw replies
AGENT_LOGS = set()  # log files of every agent started in this session

_PASSWORD_KEY = re.compile(r"password", re.IGNORECASE)


def register_secret(value, where=""):
    """Remember a password or key (str or bytes; others ignored); returns it."""
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    else:
        text = value
    if isinstance(text, str) and text:
        SECRETS.setdefault(text, where)
    return value


def register_secrets_in(value, where="", under_password=False):
    """Register every string found under a key naming a password (``_password``,
    ``password``, ``root_password``, ``passwords``) anywhere in a JSON-like value."""
    if isinstance(value, dict):
        for k, v in value.items():
            register_secrets_in(v, where, under_password or bool(
                isinstance(k, str) and _PASSWORD_KEY.search(k)))
    elif isinstance(value, (list, tuple)):
        for v in value:
            register_secrets_in(v, where, under_password)
    elif under_password:
        register_secret(value, where)


def record_failure_text(where, text):
    FAILURE_TEXTS.append((where, text))


def failure_text(e):
    """Everything an exception raised to the client says."""
    parts = [type(e).__name__, str(e), repr(getattr(e, "args", ()))]
    for attr in ("value", "traceback", "message", "kwargs", "original_message"):
        v = getattr(e, attr, None)
        if v:
            parts.append(str(v))
    return "\n".join(parts)


def _hook_client():
    """Wrap oslo.messaging's client call/cast (used by every Trove API method and
    by raw_call): passwords in the arguments and in call results are registered,
    and every failure raised to the caller is kept for the final grep."""
    from oslo_messaging.rpc import client as rpc_client
    base = rpc_client._BaseCallContext
    if getattr(base, "_interop_secret_hook", False):
        return
    orig_call, orig_cast = base.call, base.cast

    def call(self, ctxt, method, **kwargs):
        register_secrets_in(kwargs, f"call {method}")
        try:
            result = orig_call(self, ctxt, method, **kwargs)
        except Exception as e:
            record_failure_text(f"client: call {method}", failure_text(e))
            raise
        register_secrets_in(result, f"result of {method}")
        return result

    def cast(self, ctxt, method, **kwargs):
        register_secrets_in(kwargs, f"cast {method}")
        return orig_cast(self, ctxt, method, **kwargs)

    base.call, base.cast = call, cast
    base._interop_secret_hook = True


# --------------------------------------------------------------------------- Trove

_BOOTSTRAPPED = False
_KEY = {"value": None}
# Per-instance keys, for tests that run further agents with their own key
# (Trove keeps one key per instance); instances not listed get _KEY["value"].
_INSTANCE_KEYS = {}


def set_instance_key(instance_id, key):
    """What Trove's database would answer for this instance's RPC key, both for the
    client (API.get_client, read when an API object is built) and for the
    conductor's ConductorHostSerializer (read per message).  None = plaintext."""
    register_secret(key, f"instance key of {instance_id}")
    _INSTANCE_KEYS[instance_id] = key


def forget_instance_key(instance_id):
    _INSTANCE_KEYS.pop(instance_id, None)


def instance_key(instance_id):
    return _INSTANCE_KEYS.get(instance_id, _KEY["value"])


def bootstrap_trove(conductor_topic, key=None):
    """Register Trove's options and build Trove's RPC transport (trove-wire §7).

    Idempotent per process.  ``key`` is the instance RPC encryption key that Trove
    would look up in its database for this instance (None = plaintext)."""
    global _BOOTSTRAPPED
    register_secret(key, "instance_rpc_encr_key")
    _KEY["value"] = key
    if _BOOTSTRAPPED:
        from trove.common import cfg
        cfg.CONF.set_override("conductor_queue", conductor_topic)
        cfg.CONF.set_override("instance_rpc_encr_key", key)
        return
    import oslo_messaging
    import oslo_messaging.opts
    from trove.common import cfg

    conf = cfg.CONF
    conf(args=[], project="trove", default_config_files=[], default_config_dirs=[])
    # transport_url/control_exchange are oslo.messaging options, registered by the
    # library only when a transport is built: register them now to set them.
    for group, opts in oslo_messaging.opts.list_opts():
        conf.register_opts(opts, group=None if group in (None, "DEFAULT") else group)
    conf.set_override("transport_url", OSLO_TRANSPORT_URL)
    conf.set_override("control_exchange", EXCHANGE)
    conf.set_override("agent_call_low_timeout", CALL_LOW_TIMEOUT)
    conf.set_override("agent_call_high_timeout", CALL_HIGH_TIMEOUT)
    conf.set_override("conductor_queue", conductor_topic)
    conf.set_override("instance_rpc_encr_key", key)
    # Bounded reconnects: a test must fail, not hang, when the broker is away.
    conf.set_override("rabbit_retry_interval", 1, group="oslo_messaging_rabbit")

    # Trove looks the per-instance key up in its database; there is none here.
    import trove.instance.models as instance_models
    import trove.common.rpc.conductor_host_serializer as chs

    def get_instance_encryption_key(instance_id):
        return instance_key(instance_id)

    instance_models.get_instance_encryption_key = get_instance_encryption_key
    chs.get_instance_encryption_key = get_instance_encryption_key

    from trove import rpc
    rpc.init(conf)
    _hook_client()
    _BOOTSTRAPPED = True


def shutdown_trove():
    global _BOOTSTRAPPED
    if _BOOTSTRAPPED:
        from trove import rpc
        # oslo's reply queue outlives the transport (x-expires 30 min): drop it.
        reply_q = getattr(getattr(rpc.TRANSPORT, "_driver", None), "_reply_q", None)
        try:
            rpc.cleanup()
        except Exception:
            pass
        if reply_q:
            try:
                delete_queues([reply_q])
            except Exception:
                pass
        _BOOTSTRAPPED = False


class FakeRequest:
    """What ``DBaaSAPINotification(context, request=req)`` reads from a WSGI request."""
    remote_addr = "127.0.0.1"
    host = "127.0.0.1:8779"


def new_context(project_id="it-project", user_id="it-user"):
    from trove.common.context import TroveContext
    return TroveContext(user_id=user_id, project_id=project_id, is_admin=True)


class Trove:
    """The control plane's view of one guest: Trove's own API class, one fresh
    TroveContext (and so one fresh request_id) per operation."""

    def __init__(self, guest_id, conductor):
        self.guest_id = guest_id
        self.conductor = conductor
        self.cast_request_ids = []
        self.sent_notifications = {}

    # -- building blocks
    def api(self, context=None):
        from trove.guestagent import api as guest_api
        return guest_api.API(context or new_context(), self.guest_id)

    def notifying_api(self, notification_cls, **start_payload):
        """API whose context carries a DBaaS notification, as Trove's API sets it:
        ``context.notification = DBaaSUserCreate(context, request=req)`` then
        ``StartNotification(context, instance_id=..., username=...)`` adds the
        payload (we skip notify_start itself: no notifier here)."""
        ctx = new_context()
        ctx.notification = notification_cls(ctx, request=FakeRequest())
        ctx.notification.payload.update(instance_id=self.guest_id, **start_payload)
        return self.api(ctx)

    def raw_call(self, method, timeout=CALL_LOW_TIMEOUT, version="1.0", **kwargs):
        """What ``API._call`` does, without its catch-all that turns every failure
        into GuestError: the exception raised is the one oslo rebuilt from the
        agent's failure reply (a trove.common.exception class or RemoteError)."""
        api = self.api()
        cctxt = api.client.prepare(version=version, timeout=timeout)
        return cctxt.call(api.context, method, **kwargs)

    def uncapped_client(self):
        """Trove's client for this guest but without the version cap, so that a
        version the real API would never send (2.0) reaches the agent."""
        import oslo_messaging
        from trove import rpc
        target = oslo_messaging.Target(topic="guestagent.%s" % self.guest_id)
        return rpc.get_client(target, key=instance_key(self.guest_id), version_cap=None)

    # -- casts, each answered by the conductor
    def _cast(self, api_method, notification_cls, start_payload, **kwargs):
        api = self.notifying_api(notification_cls, **start_payload)
        request_id = api.context.request_id
        self.cast_request_ids.append(request_id)
        getattr(api, api_method)(**kwargs)
        # What went out as _context_trove_notification (NotificationCastWrapper sets
        # server_type "guest" for the duration of the cast).
        sent = dict(api.context.notification.payload, server_type="guest")
        sent["notification_classname"] = "%s.%s" % (
            notification_cls.__module__, notification_cls.__name__)
        self.sent_notifications[request_id] = sent
        return request_id

    def cast_create_user(self, users):
        from trove.common import notification as n
        names = ",".join(str(u.get("_name")) for u in users)
        return self._cast("create_user", n.DBaaSUserCreate, {"username": names},
                          users=users)

    def cast_delete_user(self, user):
        from trove.common import notification as n
        return self._cast("delete_user", n.DBaaSUserDelete,
                          {"username": str(user.get("_name"))}, user=user)

    def cast_create_database(self, databases):
        from trove.common import notification as n
        names = ".".join(str(d.get("_name")) for d in databases)
        return self._cast("create_database", n.DBaaSDatabaseCreate,
                          {"dbname": names}, databases=databases)

    def cast_delete_database(self, database):
        from trove.common import notification as n
        return self._cast("delete_database", n.DBaaSDatabaseDelete,
                          {"dbname": str(database.get("_name"))}, database=database)

    def cast_update_attributes(self, username, hostname, user_attrs):
        """As Trove's UserController.update: DBaaSUserUpdateAttributes, username."""
        from trove.common import notification as n
        return self._cast("update_attributes", n.DBaaSUserUpdateAttributes,
                          {"username": str(username)}, username=username,
                          hostname=hostname, user_attrs=user_attrs)

    def cast_change_passwords(self, users):
        """As Trove's UserController.update_all: DBaaSUserChangePassword, the names
        joined with ','; users as models.User.change_password builds them."""
        from trove.common import notification as n
        names = ",".join(str(u.get("name")) for u in users)
        return self._cast("change_passwords", n.DBaaSUserChangePassword,
                          {"username": names}, users=users)

    def update_attributes(self, username, hostname, user_attrs, timeout=CAST_OUTCOME_TIMEOUT):
        return self.conductor.wait_outcome(
            self.cast_update_attributes(username, hostname, user_attrs), timeout)

    def change_passwords(self, users, timeout=CAST_OUTCOME_TIMEOUT):
        return self.conductor.wait_outcome(self.cast_change_passwords(users), timeout)

    def create_user(self, users, timeout=CAST_OUTCOME_TIMEOUT):
        return self.conductor.wait_outcome(self.cast_create_user(users), timeout)

    def delete_user(self, user, timeout=CAST_OUTCOME_TIMEOUT):
        return self.conductor.wait_outcome(self.cast_delete_user(user), timeout)

    def create_database(self, databases, timeout=CAST_OUTCOME_TIMEOUT):
        return self.conductor.wait_outcome(self.cast_create_database(databases), timeout)

    def delete_database(self, database, timeout=CAST_OUTCOME_TIMEOUT):
        return self.conductor.wait_outcome(self.cast_delete_database(database), timeout)


@contextmanager
def on_transport(transport):
    """Trove's global transport swapped while clients/servers are built: each keeps
    the transport it was built with."""
    from trove import rpc
    saved = rpc.TRANSPORT
    rpc.TRANSPORT = transport
    try:
        yield
    finally:
        rpc.TRANSPORT = saved


class TransportTrove(Trove):
    """Trove whose API objects (Trove's own) use a transport of their own (the
    TLS listener's, a cluster profile's) instead of the suite's default one."""

    def __init__(self, guest_id, conductor, transport):
        super().__init__(guest_id, conductor)
        self.transport = transport

    def api(self, context=None):
        with on_transport(self.transport):
            return super().api(context)


def user_dict(name, host="%", password=None, databases=()):
    """A user exactly as Trove's API serializes it (trove.common.db.models.
    DatastoreUser.serialize()), built by hand so that hostile values survive."""
    register_secret(password, "user_dict")
    return {"_name": name, "_password": password, "_host": host,
            "_databases": [db_dict(d) for d in databases], "_is_root": False}


def db_dict(name, character_set=None, collate=None):
    """A database exactly as DatastoreSchema.serialize() gives it."""
    return {"_name": name, "_collate": collate, "_character_set": character_set}


# --------------------------------------------------------------------------- outcomes

def expect_end(trove, request_id, rec):
    """The cast succeeded: notify_end carrying the context and notification as sent
    (trove-wire §5), accepted by Trove's own conductor Manager."""
    assert rec.method == "notify_end", f"cast failed at the agent: {rec.describe()}"
    _expect_common(trove, request_id, rec)
    assert rec.kwargs.get("notification_args") == {}, rec.describe()
    assert rec.kwargs["serialized_notification"] == trove.sent_notifications[request_id], (
        "serialized_notification is not the trove_notification as sent")


def create_user_by_cast(trove, conductor, db, name):
    """A create_user cast through the real client: notify_end at ``conductor``,
    the account in mysqld, and its password logging in.  Returns the password."""
    import secrets as _secrets
    password = "Pw" + _secrets.token_hex(10)
    rid = trove.cast_create_user([user_dict(name, password=password)])
    expect_end(trove, rid, conductor.wait_outcome(rid))
    assert db.users_named(name) == ["%"]
    login(name, password).close()
    return password


def expect_exc(trove, request_id, rec, secrets=()):
    """The cast was refused/failed: notify_exc_info as trove-wire §5, no secrets."""
    assert rec.method == "notify_exc_info", (
        f"expected a failure notification, the agent reported success: {rec.describe()}")
    _expect_common(trove, request_id, rec)
    sn = rec.kwargs["serialized_notification"]
    want = dict(trove.sent_notifications[request_id], instance_id=trove.guest_id)
    assert sn == want, f"serialized_notification {sn!r} != {want!r}"
    assert isinstance(rec.kwargs.get("message"), str) and rec.kwargs["message"], rec.describe()
    exc = rec.kwargs.get("exception")
    assert isinstance(exc, list) and all(isinstance(x, str) for x in exc), rec.describe()
    text = rec.kwargs["message"] + "\n".join(exc)
    for s in secrets:
        if s:
            assert s not in text, "a secret appears in the failure notification"


def _expect_common(trove, request_id, rec):
    assert rec.signature_error is None, (
        f"{rec.method} args do not fit trove.conductor.manager.Manager: {rec.signature_error}")
    assert rec.request_id == request_id, (
        f"context request_id {rec.request_id!r} is not the cast's {request_id!r}")
    assert rec.notification_request_id == request_id, (
        f"notification request_id {rec.notification_request_id!r} != {request_id!r}")
    assert rec.conductor_error is None, (
        f"Trove's conductor Manager could not process it:\n{rec.conductor_error}")


def is_timeout(e):
    import oslo_messaging
    from trove.common import exception
    return isinstance(e, (oslo_messaging.MessagingTimeout, exception.GuestTimeout))


def call_error(fn, *args, **kwargs):
    """Run a call that must fail with an answer (not a timeout); return the error."""
    try:
        result = fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - the point is to inspect it
        assert not is_timeout(e), f"no answer from the agent (timeout: {type(e).__name__})"
        return e
    raise AssertionError(f"expected an error, the call returned {result!r}")


# --------------------------------------------------------------------------- conductor

@dataclass
class Record:
    method: str
    kwargs: dict
    context: dict
    request_id: object
    notification_request_id: object
    received_at: float
    signature_error: object = None
    conductor_error: object = None

    def describe(self):
        kw = dict(self.kwargs)
        return (f"{self.method}(request_id={self.request_id!r}, "
                f"kwargs={json.dumps(kw, default=str)[:2000]})"
                + (f"\n  signature_error: {self.signature_error}" if self.signature_error else "")
                + (f"\n  conductor_error: {self.conductor_error}" if self.conductor_error else ""))


class ConductorEndpoint:
    """Receives what Trove's conductor receives.  Each call is recorded, checked
    against the signature of ``trove.conductor.manager.Manager``'s method of the
    same name, and (for notifications) handed to the real Manager, whose
    deserialization of ``serialized_notification`` and trait validation must pass."""

    def __init__(self, sink):
        import oslo_messaging
        from trove.conductor.manager import Manager
        self.target = oslo_messaging.Target(version="1.0")
        self._sink = sink
        self._manager_cls = Manager
        self._manager = Manager()

    def _handle(self, method, context, kwargs):
        try:
            ctx_dict = context.to_dict() if hasattr(context, "to_dict") else dict(context)
        except Exception:
            ctx_dict = {"<unreadable>": repr(context)}
        sn = kwargs.get("serialized_notification")
        rec = Record(method=method, kwargs=copy.deepcopy(kwargs), context=ctx_dict,
                     request_id=getattr(context, "request_id", None),
                     notification_request_id=sn.get("request_id") if isinstance(sn, dict) else None,
                     received_at=time.time())
        try:
            inspect.signature(getattr(self._manager_cls, method)).bind(
                self._manager, context, **kwargs)
        except TypeError as e:
            rec.signature_error = str(e)
        if method != "heartbeat" and rec.signature_error is None:
            try:
                getattr(self._manager, method)(context, **copy.deepcopy(kwargs))
            except Exception:
                rec.conductor_error = traceback.format_exc(limit=6)
        self._sink.add(rec)

    def notify_end(self, context, **kwargs):
        self._handle("notify_end", context, kwargs)

    def notify_exc_info(self, context, **kwargs):
        self._handle("notify_exc_info", context, kwargs)

    def heartbeat(self, context, **kwargs):
        self._handle("heartbeat", context, kwargs)


class Conductor:
    """An oslo_messaging RPC server on the session's conductor topic, set up as
    trove/cmd/conductor.py does (ConductorHostSerializer, DefaultRPCAccessPolicy),
    with a threading executor instead of eventlet."""

    def __init__(self, topic):
        self.topic = topic
        self.records = []
        self._cond = threading.Condition()
        self._server = None

    def add(self, rec):
        with self._cond:
            self.records.append(rec)
            self._cond.notify_all()

    def start(self):
        import oslo_messaging
        from oslo_messaging.rpc import dispatcher
        from trove import rpc
        from trove.common.rpc import conductor_host_serializer as chs
        from trove.common.rpc import serializer as sz
        target = oslo_messaging.Target(topic=self.topic, server="interop-conductor",
                                       version="1.0")
        serializer = chs.ConductorHostSerializer(sz.TroveRequestContextSerializer(None), None)
        self._server = oslo_messaging.get_rpc_server(
            rpc.TRANSPORT, target, [ConductorEndpoint(self)], executor="threading",
            serializer=serializer, access_policy=dispatcher.DefaultRPCAccessPolicy)
        self._server.start()

    def stop(self):
        if self._server is not None:
            try:
                self._server.stop()
                self._server.wait()
            except Exception:
                pass
            self._server = None

    def snapshot(self):
        with self._cond:
            return list(self.records)

    def for_request(self, request_id, methods=("notify_end", "notify_exc_info")):
        with self._cond:
            return [r for r in self.records if r.method in methods and
                    (r.request_id == request_id or r.notification_request_id == request_id)]

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for r in self.records:
                    if predicate(r):
                        return r
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no {what} reached the conductor within {timeout} s; "
                        f"records so far: {[r.method + ':' + str(r.request_id) for r in self.records][-10:]}")
                self._cond.wait(left)

    def wait_outcome(self, request_id, timeout=CAST_OUTCOME_TIMEOUT):
        """The notify_end/notify_exc_info for the cast with this request_id.

        Correlation: Trove's API gives every request a fresh context whose
        request_id ("req-<uuid>") travels as _context_request_id and inside the
        trove_notification payload; the agent must send the context back as
        received.  Either carrying it is enough to find the record; tests then
        check that both do."""
        return self.wait(
            lambda r: r.method in ("notify_end", "notify_exc_info") and
            (r.request_id == request_id or r.notification_request_id == request_id),
            timeout, f"notification for request {request_id}")


# --------------------------------------------------------------------------- agent

def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return json.dumps(str(v))  # TOML basic strings accept JSON escapes


def write_config(path, config):
    """config: {key: value | {key: value}}; top-level scalars first, then tables."""
    if isinstance(config.get("amqp"), dict):
        register_secret(config["amqp"].get("rpc_encryption_key"), f"config {path}")
    lines = []
    for k, v in config.items():
        if not isinstance(v, dict):
            lines.append(f"{k} = {toml_value(v)}")
    for k, v in config.items():
        if isinstance(v, dict):
            lines.append(f"\n[{k}]")
            for kk, vv in v.items():
                lines.append(f"{kk} = {toml_value(vv)}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)


class Agent:
    def __init__(self, binary, config_path, log_path, args=None):
        """``args``: the command line after the binary (default ``run --config
        config_path``), e.g. ``["run", "--trove-config", DIR, "--config", TOML]``."""
        self.binary = binary
        self.config_path = config_path
        self.log_path = log_path
        self.args = list(args) if args is not None else ["run", "--config", config_path]
        self.proc = None
        self.starts = 0
        AGENT_LOGS.add(log_path)

    def start(self):
        log = open(self.log_path, "ab")
        log.write(f"\n===== interop: starting {self.binary} {' '.join(self.args)} "
                  f"at {time.strftime('%H:%M:%S')} =====\n".encode())
        log.flush()
        env = dict(os.environ)
        env.setdefault("RUST_BACKTRACE", "1")
        self.proc = subprocess.Popen(
            [self.binary] + self.args,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        self.starts += 1
        self.started_at = time.time()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, then SIGKILL after AGENT_STOP_GRACE seconds.  Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(AGENT_STOP_GRACE)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_text(self, since=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, since=0, lines=120):
        return "\n".join(self.log_text(since).splitlines()[-lines:])


def wait_ready(trove, agent, timeout=AGENT_READY_TIMEOUT):
    """Ping (the real client's rpc_ping call, short per-try timeout) until True."""
    import oslo_messaging
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if not agent.alive():
            raise RuntimeError(
                f"guestagent exited with code {agent.proc.returncode} before answering "
                f"rpc_ping; log tail:\n{agent.log_tail()}")
        try:
            if trove.raw_call("rpc_ping", timeout=2) is True:
                return
            last = "rpc_ping answered something other than true"
        except oslo_messaging.MessagingTimeout:
            last = "rpc_ping timed out"
        except Exception as e:  # an error reply: the agent is up but wrong
            last = f"rpc_ping failed: {type(e).__name__}: {e}"
            time.sleep(0.5)
    raise RuntimeError(f"guestagent not ready within {timeout} s ({last}); log tail:\n"
                       f"{agent.log_tail()}")


# --------------------------------------------------------------------------- raw AMQP

def kombu_connection():
    import kombu
    return kombu.Connection(KOMBU_URL, connect_timeout=5, transport_options={"max_retries": 1})


def publish_raw(routing_key, body, properties=None, exchange=EXCHANGE):
    """Publish bytes as they are (no serializer), to the exchange the agent binds."""
    props = {"content_type": "application/json", "content_encoding": "utf-8",
             "delivery_mode": 2}
    props.update(properties or {})
    with kombu_connection() as conn:
        ch = conn.channel()
        msg = ch.prepare_message(body if isinstance(body, bytes) else body.encode("utf-8"),
                                 priority=0, content_type=props.pop("content_type"),
                                 content_encoding=props.pop("content_encoding"),
                                 properties=props)
        ch.basic_publish(msg, exchange=exchange, routing_key=routing_key)
        ch.close()


def oslo_envelope(inner):
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(inner)})


class PrivateQueue:
    """An exclusive, auto-deleted queue on a connection of its own."""

    def __init__(self, name):
        self.name = name
        self.conn = kombu_connection()
        self.conn.connect()
        self.ch = self.conn.channel()
        self.ch.queue_declare(queue=self.name, durable=False, exclusive=True, auto_delete=True)

    def close(self):
        try:
            self.ch.queue_delete(queue=self.name)
        except Exception:
            pass
        try:
            self.conn.release()
        except Exception:
            pass


class ReplyQueue(PrivateQueue):
    """An exclusive reply_<hex> queue for raw calls (replies come on the default
    exchange with routing key = _reply_q, trove-wire §1)."""

    def __init__(self):
        super().__init__("reply_" + uuid.uuid4().hex)

    def get(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.ch.basic_get(queue=self.name, no_ack=True)
            if m is not None:
                _record_raw_reply(m)
                return m
            time.sleep(0.1)
        return None



def _record_raw_reply(m):
    """A raw reply's failure (or, if unreadable, the whole body) for the final grep."""
    body = m.body if isinstance(m.body, (bytes, str)) else bytes(m.body)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        failure = json.loads(json.loads(body)["oslo.message"]).get("failure")
    except Exception:
        failure = body
    if failure:
        record_failure_text("raw reply", str(failure))


def delete_queues(names):
    with kombu_connection() as conn:
        for name in names:
            ch = conn.channel()
            try:
                ch.queue_delete(queue=name)
            except Exception:
                pass
            try:
                ch.close()
            except Exception:
                pass


def delete_exchanges(names):
    with kombu_connection() as conn:
        for name in names:
            ch = conn.channel()
            try:
                ch.exchange_delete(exchange=name)
            except Exception:
                pass
            try:
                ch.close()
            except Exception:
                pass


def list_queue_names(contains, timeout=30):
    """Queue names containing a string, via rabbitmqctl (best effort; [] if absent)."""
    try:
        out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name"],
                             capture_output=True, text=True, timeout=timeout).stdout
    except Exception:
        return []
    return [l.strip() for l in out.splitlines() if contains in l]


# --------------------------------------------------------------------------- mysqld

def quote_ident(name):
    return "`" + name.replace("`", "``") + "`"


class Db:
    """root over the unix socket, autocommit: the oracle for what mysqld holds."""

    def __init__(self, prefix):
        import pymysql
        self.prefix = prefix
        self.conn = pymysql.connect(unix_socket=MYSQL_SOCKET, user="root", autocommit=True,
                                    charset="utf8mb4", connect_timeout=5,
                                    read_timeout=30, write_timeout=30)

        # A second root session kept open for repairs: a session keeps its
        # privileges even if its account is dropped under it, so a buggy agent
        # that drops root@localhost cannot lock the suite (and the machine) out.
        self.rescue = pymysql.connect(unix_socket=MYSQL_SOCKET, user="root", autocommit=True,
                                      charset="utf8mb4", connect_timeout=5,
                                      read_timeout=30, write_timeout=30)
        self.protected = self._protected_rows()

    def close(self):
        for c in (self.conn, self.rescue):
            try:
                c.close()
            except Exception:
                pass

    # -- protection of the system accounts
    _PROTECTED_WHERE = ("(Host IN ('localhost', '127.0.0.1', '::1') OR User IN ({}) "
                        "OR User LIKE 'mysql.%%')").format(
                            ", ".join("'%s'" % u for u in SYSTEM_USERS))

    def _rescue_query(self, sql, args=None):
        # Reconnect only if the session is gone (mysqld restarted by another suite):
        # a live session keeps its privileges even if root@localhost was dropped.
        self.rescue.ping(reconnect=True)
        with self.rescue.cursor() as cur:
            cur.execute(sql, args)
            return [tuple(r) for r in cur.fetchall()], [d[0] for d in (cur.description or [])]

    def _protected_rows(self):
        out = {}
        if not self._has_global_priv():
            return out
        for table in ("global_priv", "proxies_priv", "db", "tables_priv", "roles_mapping"):
            rows, cols = self._rescue_query(
                f"SELECT * FROM mysql.{table} WHERE {self._PROTECTED_WHERE}")
            out[table] = (cols, set(rows))
        return out

    def heal(self):
        """Put the system accounts back as they were at session start (rows of
        mysql.global_priv, proxies_priv, db, tables_priv, roles_mapping for
        @localhost/127.0.0.1/::1, root, os_admin, mariadb.sys, mysql.*), and drop such
        accounts that appeared since.  Returns what was repaired ([] if nothing)."""
        if not self.protected:
            return []
        repairs = []
        now = self._protected_rows()
        for table, (cols, saved) in self.protected.items():
            current = now[table][1]
            for row in current - saved:
                where = " AND ".join(f"`{c}` <=> %s" for c in cols)
                self._rescue_query(f"DELETE FROM mysql.{table} WHERE {where}", row)
                repairs.append(f"mysql.{table}: removed {row[:3]!r}")
            for row in saved - current:
                marks = ", ".join(["%s"] * len(cols))
                collist = ", ".join(f"`{c}`" for c in cols)
                self._rescue_query(f"REPLACE INTO mysql.{table} ({collist}) VALUES ({marks})", row)
                repairs.append(f"mysql.{table}: restored {row[:3]!r}")
        if repairs:
            self._rescue_query("FLUSH PRIVILEGES")
        return repairs

    def query(self, sql, args=None):
        self.conn.ping(reconnect=True)
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def scalar(self, sql, args=None):
        rows = self.query(sql, args)
        return rows[0][0] if rows else None

    def execute(self, sql, args=None):
        self.conn.ping(reconnect=True)
        with self.conn.cursor() as cur:
            cur.execute(sql, args)

    # -- facts
    def user_exists(self, name, host):
        return bool(self.scalar("SELECT COUNT(*) FROM mysql.user WHERE User=%s AND Host=%s",
                                (name, host)))

    def users_named(self, name):
        return sorted(r[0] for r in self.query("SELECT Host FROM mysql.user WHERE User=%s", (name,)))

    def database_exists(self, name):
        return bool(self.scalar(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s", (name,)))

    def schema_charset(self, name):
        rows = self.query("SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                          "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME=%s", (name,))
        return tuple(rows[0]) if rows else None

    def grants(self, name, host):
        return [r[0] for r in self.query("SHOW GRANTS FOR %s@%s", (name, host))]

    def privileges_on(self, name, host):
        """{database: set of privileges} from SHOW GRANTS (GRANT escapes `\\_` undone)."""
        out = {}
        for g in self.grants(name, host):
            m = re.match(r"GRANT (.+?) ON `((?:[^`]|``)+)`\.\* TO ", g)
            if m:
                db = re.sub(r"\\([_%])", r"\1", m.group(2).replace("``", "`"))
                out[db] = {p.strip() for p in m.group(1).split(",")}
        return out

    def auth_of(self, name, host):
        """The account's stored credentials/privileges row (changes if touched)."""
        if self._has_global_priv():
            return self.scalar("SELECT Priv FROM mysql.global_priv WHERE User=%s AND Host=%s",
                               (name, host))
        return self.scalar("SELECT authentication_string FROM mysql.user WHERE User=%s AND Host=%s",
                           (name, host))

    def _has_global_priv(self):
        if not hasattr(self, "_gp"):
            self._gp = bool(self.scalar(
                "SELECT COUNT(*) FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA='mysql' AND TABLE_NAME='global_priv'"))
        return self._gp

    def server_default_charset(self):
        return tuple(self.query("SELECT @@character_set_server, @@collation_server")[0])

    def default_collation(self, charset):
        return self.scalar("SELECT DEFAULT_COLLATE_NAME FROM information_schema.CHARACTER_SETS "
                           "WHERE CHARACTER_SET_NAME=%s", (charset,))

    # -- snapshots: everything an account/database command could change
    _FOREIGN = re.compile(r"^it[0-9a-f]{6}_")

    def snapshot(self):
        def keep(row, cols):
            for c in cols:
                v = row[c]
                if isinstance(v, bytes):
                    v = v.decode("utf-8", "replace")
                if isinstance(v, str) and self._FOREIGN.match(v) and not v.startswith(self.prefix):
                    return False  # another concurrent test session's object
            return True

        def rows(sql, cols):
            return tuple(sorted((tuple(r) for r in self.query(sql) if keep(r, cols)), key=repr))

        users = (rows("SELECT Host, User, Priv FROM mysql.global_priv", [1])
                 if self._has_global_priv() else rows("SELECT * FROM mysql.user", [1]))
        return {
            "mysql.user": users,
            "mysql.db": rows("SELECT * FROM mysql.db", [1, 2]),
            "mysql.tables_priv": rows("SELECT Host, Db, User, Table_name, Table_priv, Column_priv "
                                      "FROM mysql.tables_priv", [1, 2]),
            "mysql.roles_mapping": rows("SELECT * FROM mysql.roles_mapping", [1, 2]),
            "databases": rows("SHOW DATABASES", [0]),
        }

    # -- cleanup
    def drop_prefixed(self, prefix):
        like = prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"
        for user, host in self.query("SELECT User, Host FROM mysql.user WHERE User LIKE %s", (like,)):
            try:
                self.execute("DROP USER %s@%s", (user, host))
            except Exception:
                pass
        for (name,) in self.query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA "
                                  "WHERE SCHEMA_NAME LIKE %s", (like,)):
            try:
                self.execute("DROP DATABASE " + quote_ident(name))
            except Exception:
                pass


# Objects made directly in mysqld (independent of the agent under test).

def make_user(db, name, host="%", password=None, databases=(), escape=True):
    """Create an account directly (independent of the agent's create_user); ALL on
    each database, the name GRANT-escaped (`\_`) unless escape=False."""
    register_secret(password, "make_user")
    if password:
        db.execute("CREATE USER %s@%s IDENTIFIED BY %s", (name, host, password))
    else:
        db.execute("CREATE USER %s@%s", (name, host))
    for d in databases:
        pattern = d.replace("_", "\\_").replace("%", "\\%") if escape else d
        db.execute("GRANT ALL PRIVILEGES ON %s.* TO %%s@%%s" % quote_ident(pattern),
                   (name, host))


def make_user_grant(db, name, host, database, escape=True):
    pattern = database.replace("_", "\\_") if escape else database
    db.execute("GRANT ALL PRIVILEGES ON %s.* TO %%s@%%s" % quote_ident(pattern),
               (name, host))


def make_db(db, name, charset=None, collate=None):
    sql = "CREATE DATABASE " + quote_ident(name)
    if charset:
        sql += " CHARACTER SET " + charset
    if collate:
        sql += " COLLATE " + collate
    db.execute(sql)



def login(user, password, database=None, bind_address=None):
    """A PyMySQL session over TCP as this user (proves the password).
    ``bind_address`` picks the client's source address, i.e. the host part mysqld
    matches accounts against (127.0.0.2 is loopback but not 127.0.0.1)."""
    import pymysql
    register_secret(password, "login")
    return pymysql.connect(host=MYSQL_TCP[0], port=MYSQL_TCP[1], user=user,
                           password=password, database=database, connect_timeout=5,
                           read_timeout=10, charset="utf8mb4", bind_address=bind_address)


def socket_login(user="root"):
    """A fresh PyMySQL session over the unix socket (unix_socket authentication)."""
    import pymysql
    return pymysql.connect(unix_socket=MYSQL_SOCKET, user=user, connect_timeout=5,
                           read_timeout=10, charset="utf8mb4")


def session_query(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return list(cur.fetchall())


def diff_snapshots(before, after):
    out = []
    for k in before:
        b, a = set(before[k]), set(after[k])
        for r in sorted(b - a, key=repr):
            out.append(f"{k}: removed {r!r}")
        for r in sorted(a - b, key=repr):
            out.append(f"{k}: added {r!r}")
    return out


class Sniffer(PrivateQueue):
    """A private queue bound like the conductor's (exchange ``trove``, routing key =
    the conductor topic): a raw copy of every cast the agents send the conductor,
    to see what travelled on the wire (e.g. that it was encrypted)."""

    def __init__(self, routing_key, exchange=EXCHANGE):
        super().__init__("interop-sniff-" + uuid.uuid4().hex[:12])
        self.ch.queue_bind(queue=self.name, exchange=exchange, routing_key=routing_key)
        self.seen = []

    def drain(self):
        """Inner oslo messages received so far (dicts), oldest first."""
        while True:
            m = self.ch.basic_get(queue=self.name, no_ack=True)
            if m is None:
                return self.seen
            body = m.body if isinstance(m.body, (bytes, str)) else bytes(m.body)
            outer = json.loads(body)
            self.seen.append(json.loads(outer["oslo.message"]))

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            for inner in self.drain():
                if predicate(inner):
                    return inner
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {what} seen on the wire within {timeout} s")
            time.sleep(0.1)

