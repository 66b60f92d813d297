"""RPC encryption (issue 5; trove-wire §6) with the real Trove client.

Further agents, each with its own guest id, run with ``[amqp] rpc_encryption_key``;
Trove's client gets the instance key from the (patched) instance-key lookup, exactly
as ``API.get_client`` does, and the stand-in conductor decodes the agent's casts with
Trove's own ``ConductorHostSerializer``.  A sniffer bound like the conductor shows
what travelled on the wire.  A wrong key or no key on the client side must be
refused (an error answer or no answer, nothing applied, a logged reason), unless
the agent is configured with ``allow_plaintext``."""

import json
import secrets
from contextlib import contextmanager

import pytest

import harness
from harness import expect_end, make_user

KEY = "it-key-" + secrets.token_hex(16)
WRONG_KEY = "it-key-" + secrets.token_hex(16)
SHORT = 4  # seconds a refused call may take (the agent answers at once, or never)


def pw():
    return "Pw" + secrets.token_hex(10)


def decrypt(blob, key=KEY):
    from trove.common import crypto_utils as cu
    text = cu.decrypt_data(cu.decode_data(blob), key)
    return json.loads(text)


@contextmanager
def client_key(gid, key):
    """The key Trove's instance lookup answers while API objects (and so their
    serializers) are built inside the block."""
    old = harness.instance_key(gid)
    harness.set_instance_key(gid, key)
    try:
        yield
    finally:
        harness.set_instance_key(gid, old)


def api_with_key(side, key):
    with client_key(side.gid, key):
        return side.trove.api()


def call_with_key(side, key, method, timeout=SHORT, **kwargs):
    with client_key(side.gid, key):
        api = side.trove.api()
    cctxt = api.client.prepare(version="1.0", timeout=timeout)
    return cctxt.call(api.context, method, **kwargs)


def refused_call(side, key, method, **kwargs):
    """The call must not succeed: an error answer or a timeout.  Returns the error."""
    try:
        result = call_with_key(side, key, method, **kwargs)
    except Exception as e:  # noqa: BLE001
        return e
    raise AssertionError(f"{method} with the wrong/no key returned {result!r}")


@pytest.fixture(scope="module")
def enc(spawn_module_agent):
    """An agent with the key (heartbeat every second)."""
    return spawn_module_agent(extra={"amqp": {"rpc_encryption_key": KEY, "report_interval": 1}},
                              key=KEY)


@pytest.fixture(scope="module")
def lenient(spawn_module_agent):
    """An agent with the key and allow_plaintext = true."""
    return spawn_module_agent(extra={"amqp": {"rpc_encryption_key": KEY,
                                              "allow_plaintext": True}}, key=KEY)


@pytest.fixture
def sniffer(conductor_topic):
    s = harness.Sniffer(conductor_topic)
    yield s
    s.close()


def assert_wire_encrypted(inner, gid, request_context=True):
    """A cast to the conductor as Trove's ConductorGuestSerializer sends it (§6):
    the context as one blob plus csz-instance-id, each argument a JSON string
    {"entity": blob, "csz-instance-id": gid}.  Returns the decrypted (context, args)."""
    ctx_keys = sorted(k for k in inner if k.startswith("_context_"))
    assert ctx_keys == ["_context_context", "_context_csz-instance-id"], ctx_keys
    assert inner["_context_csz-instance-id"] == gid
    ctx = decrypt(inner["_context_context"])
    assert isinstance(ctx, dict), ctx
    if request_context:
        assert ctx.get("request_id"), ctx
    args = {}
    for k, v in inner["args"].items():
        assert isinstance(v, str), f"argument {k} is not a wrapped JSON string: {v!r}"
        w = json.loads(v)
        assert set(w) == {"entity", "csz-instance-id"} and w["csz-instance-id"] == gid, w
        args[k] = decrypt(w["entity"])
    return ctx, args


# --------------------------------------------------------------------------- same key

def test_rpc_ping_with_the_key(enc):
    assert enc.trove.api().rpc_ping() is True


def test_create_user_cast_and_conductor_notification(enc, db, names, conductor, sniffer):
    u, p, d = names.user("e"), pw(), names.db("e")
    harness.make_db(db, d)
    users = [harness.user_dict(u, password=p, databases=[d])]
    rid = enc.trove.cast_create_user(users)
    rec = conductor.wait_outcome(rid)
    # decoded by Trove's ConductorHostSerializer and accepted by its Manager
    expect_end(enc.trove, rid, rec)
    assert db.users_named(u) == ["%"]
    harness.login(u, p, database=d).close()
    # and on the wire it was Trove's encrypted conductor format
    inner = sniffer.wait(lambda m: m.get("method") == "notify_end"
                         and m.get("_context_csz-instance-id") == enc.gid
                         and decrypt(m["_context_context"]).get("request_id") == rid,
                         10, f"notify_end for {rid}")
    ctx, args = assert_wire_encrypted(inner, enc.gid)
    assert ctx["request_id"] == rid
    assert args["serialized_notification"] == enc.trove.sent_notifications[rid]
    assert p not in json.dumps(inner)


def test_get_user_and_list_users_decrypt(enc, db, names):
    d = names.db("g")
    harness.make_db(db, d)
    u = names.user("g")
    make_user(db, u, "%", pw(), [d])
    api = enc.trove.api()
    got = api.get_user(u, "%")
    assert isinstance(got, dict) and got["_name"] == u and got["_host"] == "%", got
    assert [x["_name"] for x in got["_databases"]] == [d]
    items, _ = api.list_users(limit=100000)
    assert u in [x["_name"] for x in items]
    assert api.list_access(u, "%")[0]["_name"] == d


def test_failure_reply_is_readable_with_the_key(enc, names):
    """Failures travel unencrypted (§6) and are rebuilt as Trove's classes."""
    from trove.common import exception
    e = harness.call_error(enc.trove.raw_call, "get_user", username=names.tag + "a'b",
                           hostname="%")
    assert isinstance(e, exception.BadRequest), f"{type(e).__name__}: {e}"


def test_heartbeat_is_encrypted_and_decoded(enc, conductor, sniffer):
    rec = conductor.wait(lambda r: r.method == "heartbeat"
                         and r.kwargs.get("instance_id") == enc.gid
                         and r.received_at >= enc.agent.started_at, 10,
                         f"heartbeat from {enc.gid}")
    assert rec.kwargs["payload"] == {"service_status": "healthy"}, rec.describe()
    assert isinstance(rec.kwargs["sent"], float)
    inner = sniffer.wait(lambda m: m.get("method") == "heartbeat"
                         and m.get("_context_csz-instance-id") == enc.gid, 5,
                         "an encrypted heartbeat")
    # a heartbeat answers no request: its context may be empty (Trove's own agent
    # sends a fresh TroveContext; the conductor does not read it)
    _, args = assert_wire_encrypted(inner, enc.gid, request_context=False)
    assert args["instance_id"] == enc.gid and args["payload"] == {"service_status": "healthy"}


# --------------------------------------------------------------------------- wrong key

def test_wrong_key_call_is_refused_and_logged(enc, db, names, unchanged):
    u = names.user("w")
    make_user(db, u, "%", pw())
    d = names.db("w")
    harness.make_db(db, d)
    since = enc.agent.log_size()
    with unchanged("calls with the wrong key"):
        e = refused_call(enc, WRONG_KEY, "rpc_ping")
        refused_call(enc, WRONG_KEY, "grant_access", username=u, hostname="%", databases=[d])
        refused_call(enc, WRONG_KEY, "enable_root")
    if not harness.is_timeout(e):
        from trove.common import exception
        assert isinstance(e, exception.BadRequest), f"{type(e).__name__}: {e}"
    assert enc.log_has(r"(?i)decrypt", since), (
        "the agent did not log why it refused:\n" + enc.agent.log_text(since)[-3000:])
    assert enc.agent.alive()
    assert api_with_key(enc, KEY).rpc_ping() is True, "the right key no longer works"


def test_wrong_key_cast_applies_nothing(enc, db, names, conductor, unchanged):
    u = names.user("wc")
    since = enc.agent.log_size()
    with unchanged("create_user with the wrong key"):
        with client_key(enc.gid, WRONG_KEY):
            rid = enc.trove.cast_create_user([harness.user_dict(u, password=pw())])
        assert enc.log_has(r"(?i)decrypt", since), (
            "no refusal logged:\n" + enc.agent.log_text(since)[-3000:])
        # the cast is consumed: a call behind it is answered, and still nothing changed
        assert api_with_key(enc, KEY).rpc_ping() is True
    assert db.users_named(u) == []
    outcomes = conductor.for_request(rid)
    assert all(r.method != "notify_end" for r in outcomes), [r.describe() for r in outcomes]


# --------------------------------------------------------------------------- no key (plaintext)

def test_plaintext_client_is_refused(enc, db, names, unchanged):
    u = names.user("pl")
    make_user(db, u, "%", pw())
    since = enc.agent.log_size()
    with unchanged("plaintext calls and casts"):
        refused_call(enc, None, "rpc_ping")
        refused_call(enc, None, "get_user", username=u, hostname="%")
        refused_call(enc, None, "enable_root_with_password", root_password="Pw-" + pw())
        with client_key(enc.gid, None):
            enc.trove.cast_create_user([harness.user_dict(names.user("pc"), password=pw())])
            enc.trove.cast_delete_user(harness.user_dict(u))
        # a plaintext client sends no _context_context:
        # "cannot decrypt the context: not encrypted: absent or null"
        for method in ("create_user", "delete_user"):
            assert enc.log_has(rf'method={method} kind="cast"\}}: encrypted message refused '
                               r"without a reply reason=cannot decrypt the context: not encrypted", since, timeout=10), (
                f"no refusal logged for the plaintext {method} cast:\n"
                + enc.agent.log_text(since)[-3000:])
        assert api_with_key(enc, KEY).rpc_ping() is True
    assert db.users_named(names.user("pc")) == []
    assert db.users_named(u) == ["%"]


def test_allow_plaintext_accepts_a_plaintext_client(lenient, db, names, conductor):
    # a call: answered; the result is encrypted with the agent's key, as Trove's
    # agent does, so the plaintext client sees the blob
    result = call_with_key(lenient, None, "rpc_ping", timeout=10)
    assert result is True or (isinstance(result, str) and decrypt(result) is True), result
    # a cast: applied, and the outcome reaches the conductor (encrypted, decoded with
    # the instance key)
    u, p = names.user("lp"), pw()
    with client_key(lenient.gid, None):
        rid = lenient.trove.cast_create_user([harness.user_dict(u, password=p)])
    expect_end(lenient.trove, rid, conductor.wait_outcome(rid))
    assert db.users_named(u) == ["%"]
    harness.login(u, p).close()
    # and the key still works too
    assert lenient.trove.api().rpc_ping() is True
    got = lenient.trove.api().get_user(u, "%")
    assert got and got["_name"] == u


def test_allow_plaintext_still_refuses_a_wrong_key_context(lenient, db, names, unchanged):
    """allow_plaintext takes what does not decrypt as it is (as Trove does); a
    wrong-key context is then an unreadable string, never a command on mysqld."""
    u = names.user("lw")
    make_user(db, u, "%", pw())
    d = names.db("lw")
    harness.make_db(db, d)
    with unchanged("grant_access with the wrong key, allow_plaintext on"):
        try:
            call_with_key(lenient, WRONG_KEY, "grant_access", username=u, hostname="%",
                          databases=[d])
        except Exception:  # noqa: BLE001 - refused: fine
            pass
