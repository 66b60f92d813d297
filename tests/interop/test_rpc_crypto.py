"""What Trove's RPC encryption (AES-CBC, no MAC; trove-wire §6) lets an attacker on
the broker do, and that the agent no longer allows:

- a decryption oracle: every way an encrypted value can fail gives the same
  observable behaviour, no reply at all, the delivery rejected; only the agent's
  own log says why;
- forgery: a heartbeat's context is the one-block encryption of ``{}``, so
  changing its IV makes a blob of any 16-byte plaintext without the key; the
  agent remembers every ciphertext block it received or sent and refuses a
  message that reuses one;
- replay: a captured command re-sent under a fresh ``_unique_id`` or another
  method is refused; re-sent unchanged it is a broker redelivery, answered from
  the journal, not applied again.

Messages are built from the real client's own (captured with a sniffer bound to
the agent's topic) or with Trove's ``crypto_utils``.  Also ``allow_root_enable =
false``."""

import re
import secrets
import time
import uuid

import pymysql
import pytest

import harness
import rawmsg
from harness import call_error, expect_end, make_user
from rawmsg import REUSED, b64, decrypt, encrypt, expect_silent, raw, xor

KEY = "it-key-" + secrets.token_hex(16)


def pw():
    return harness.register_secret("Pw" + secrets.token_hex(10), "test_rpc_crypto")


@pytest.fixture(scope="module")
def enc(spawn_module_agent):
    """An agent with the key, heartbeat every second."""
    return spawn_module_agent(extra={"amqp": {"rpc_encryption_key": KEY, "report_interval": 1}},
                              key=KEY)


@pytest.fixture
def target(enc):
    return rawmsg.Target("encrypted", enc.agent, enc.trove, KEY)


@pytest.fixture
def guest_wire(enc):
    """A raw copy of every message sent to the agent's topic (the real client's)."""
    s = harness.Sniffer("guestagent." + enc.gid)
    yield s
    s.close()


@pytest.fixture
def conductor_wire(conductor_topic):
    s = harness.Sniffer(conductor_topic)
    yield s
    s.close()


def captured_ping(enc, wire):
    assert enc.trove.api().rpc_ping() is True
    return wire.wait(lambda m: m.get("method") == "rpc_ping", 5, "the client's rpc_ping")


def retarget(inner, reply_queue=None, **fields):
    """A captured message with a fresh identity (and our reply queue, for a call)."""
    m = dict(inner, _unique_id=uuid.uuid4().hex, **fields)
    if reply_queue is not None:
        m.update(_msg_id=uuid.uuid4().hex, _reply_q=reply_queue.name, _timeout=None)
    else:
        for k in ("_msg_id", "_reply_q", "_timeout"):
            m.pop(k, None)
    return m


def bad_padding(blob):
    """The blob with the last byte of its second-to-last ciphertext block flipped:
    the last plaintext byte, the padding length, becomes > 16."""
    r = bytearray(raw(blob))
    assert len(r) >= 48, "need two ciphertext blocks"
    r[-17] ^= 0xFF
    assert rawmsg.padded_plaintext(r, KEY)[-1] > 16, "the padding is not bad"
    return b64(r)


# --------------------------------------------------------------------------- the oracle

@pytest.mark.parametrize("kind", ["call", "cast"])
def test_padding_and_json_failures_are_indistinguishable(target, enc, guest_wire, kind):
    """Bad padding and not-JSON (the two answers a padding oracle needs told apart)
    both get no reply, leave nothing queued; the log alone has the real reasons."""
    real = captured_ping(enc, guest_wire)
    context = decrypt(real["_context_context"], KEY)  # the client's own context
    assert isinstance(context, dict) and context.get("request_id"), context
    cases = [("cannot decrypt the context: bad padding",  # fresh blocks, then tampered
              bad_padding(encrypt(context, KEY))),
             ("cannot decrypt the context: decrypted text is not JSON",
              rawmsg.encrypt_bytes("{not json", KEY)),
             # the client's own blob tampered: its blocks were seen, so not even decrypted
             (REUSED, bad_padding(real["_context_context"]))]
    seen = []
    for reason, blob in cases:
        rq = harness.ReplyQueue() if kind == "call" else None
        try:
            since = target.agent.log_size()
            m = retarget(real, rq, _context_context=blob)
            target.publish(m)
            line = expect_silent(target, since, m, reason, rq)
        finally:
            if rq:
                rq.close()
        seen.append(re.sub(r'^\S+\s+WARN delivery\{id="[^"]*"', "", line).split(" reason=")[0])
    assert len(set(seen)) == 1, f"the refusals differ beyond their reason: {seen}"


UNDECRYPTABLE = [  # (id, context blob or a function of the key, argument, logged reason)
    ("not-base64", "!!not base64!!", None, "the context: not base64"),
    ("shorter-than-iv", b64(b"x" * 8), None, "the context: shorter than its IV"),
    ("iv-only", b64(b"x" * 16), None, "the context: no ciphertext after the IV"),
    ("not-whole-blocks", b64(b"x" * 36), None, "the context: ciphertext is not a multiple of 16"),
    ("not-utf8", lambda: rawmsg.encrypt_bytes(b"\xff\xfe{}", KEY), None,
     "the context: decrypted text is not JSON"),
    ("context-list", lambda: encrypt([1, 2], KEY), None,
     "the context: decrypted context is not a JSON object"),
    ("context-missing", None, None, "the context: not encrypted: absent or null"),
    ("context-number", 42, None, "the context: not encrypted"),
    ("argument-number", "ctx", 5, 'argument "username": not encrypted'),
    ("argument-plain", "ctx", "plainuser", 'argument "username": not base64'),
    ("argument-bad-padding", "ctx", lambda: bad_padding(encrypt("x" * 20, KEY)),
     'argument "username": bad padding'),
]


@pytest.mark.parametrize("ctx,arg,reason", [c[1:] for c in UNDECRYPTABLE],
                         ids=[c[0] for c in UNDECRYPTABLE])
def test_every_undecryptable_value_gets_no_reply(target, ctx, arg, reason):
    rq = harness.ReplyQueue()
    try:
        m = target.call(rq.name, "get_user", args={"username": "itnobody", "hostname": "%"})
        if callable(ctx):
            ctx = ctx()
        if ctx is None:
            del m["_context_context"]
        elif ctx != "ctx":
            m["_context_context"] = ctx
        if arg is not None:
            m["args"]["username"] = arg() if callable(arg) else arg
        since = target.agent.log_size()
        target.publish(m)
        expect_silent(target, since, m, "cannot decrypt " + reason, rq)
    finally:
        rq.close()


# --------------------------------------------------------------------------- forgery

def heartbeat_context(wire, gid, not_ids=()):
    hb = wire.wait(lambda m: m.get("method") == "heartbeat"
                   and m.get("_context_csz-instance-id") == gid
                   and m.get("_unique_id") not in not_ids, 10, "a heartbeat")
    blob = hb["_context_context"]
    assert len(raw(blob)) == 32 and decrypt(blob, KEY) == {}, (
        "a heartbeat's context is no longer the one-block encryption of {}")
    return hb["_unique_id"], blob


def iv_flip(blob, plaintext):
    """A blob of the 16-byte ``plaintext`` (padding included) made from the one-block
    encryption of ``{}`` without the key: IV' = IV ^ P ^ P'."""
    r = raw(blob)
    return b64(xor(r[:16], b"{}" + b"\x0e" * 14, plaintext) + r[16:])


def remote_root(db):
    return [h for h in db.users_named("root") if h not in ("localhost", "127.0.0.1", "::1")]


@pytest.fixture
def no_remote_root(enc, db):
    """No remote root before; none left after, whatever happened."""
    assert remote_root(db) == [], "remote root is enabled before the test"
    yield
    try:
        enc.trove.api().disable_root()
    finally:
        for host in remote_root(db):
            db.execute("DROP USER %s@%s", ("root", host))


def test_iv_flipped_heartbeat_cannot_set_the_root_password(target, enc, db, conductor_wire,
                                                          no_remote_root):
    forged_pw = harness.register_secret("attacker-pw1", "forged root password")
    uid1, hb1 = heartbeat_context(conductor_wire, enc.gid)
    uid2, hb2 = heartbeat_context(conductor_wire, enc.gid, {uid1})
    forged = iv_flip(hb1, b'"attacker-pw1"' + b"\x02\x02")
    # the forgery is real: Trove's own decryption reads it as that password
    assert rawmsg.decrypt_text(forged, KEY) == b'"attacker-pw1"'
    assert decrypt(forged, KEY) == forged_pw
    attempts = [("a valid context", encrypt(rawmsg.context_dict(), KEY)),
                ("another heartbeat's context", hb2)]
    for what, context in attempts:
        rq = harness.ReplyQueue()
        try:
            m = target.call(rq.name, "enable_root_with_password")
            m["args"] = {"root_password": forged}
            m["_context_context"] = context
            since = target.agent.log_size()
            target.publish(m)
            expect_silent(target, since, m, REUSED, rq)
        finally:
            rq.close()
        assert remote_root(db) == [], f"the forged password enabled root (with {what})"
    # control: the same message with a real encryption of the password is served,
    # so the refusals above are the memory of ciphertext at work, nothing else
    rq = harness.ReplyQueue()
    try:
        m = target.call(rq.name, "enable_root_with_password")
        m["args"] = {"root_password": encrypt(forged_pw, KEY)}
        target.publish(m)
        got = rq.get(10)
    finally:
        rq.close()
    assert got is not None, "the genuine message was not answered"
    reply = rawmsg.inner_of(got)
    assert reply.get("failure") is None and target.result(reply)["_name"] == "root", reply
    assert remote_root(db) == ["%"]
    # from 127.0.0.2: 127.0.0.1 would match root@127.0.0.1, not root@%
    conn = harness.login("root", forged_pw, bind_address="127.0.0.2")
    assert harness.session_query(conn, "SELECT CURRENT_USER()")[0][0] == "root@%"
    conn.close()
    assert enc.trove.api().disable_root() is None
    assert remote_root(db) == []


# --------------------------------------------------------------------------- replay

def logs_in(user, password):
    try:
        harness.login(user, password).close()
        return True
    except pymysql.err.OperationalError as e:
        assert e.args[0] == 1045, e
        return False


def test_captured_change_passwords_cannot_be_replayed(target, enc, db, names, conductor,
                                                     guest_wire):
    u, p0, p1, p2 = names.user("rp"), pw(), pw(), pw()
    make_user(db, u, "%", p0)
    change = lambda p: enc.trove.cast_change_passwords([{"name": u, "host": "%", "password": p}])
    rid1 = change(p1)
    expect_end(enc.trove, rid1, conductor.wait_outcome(rid1))
    captured = guest_wire.wait(
        lambda m: m.get("method") == "change_passwords"
        and decrypt(m["_context_context"], KEY).get("request_id") == rid1, 5, "the P1 cast")
    assert logs_in(u, p1)
    rid2 = change(p2)
    expect_end(enc.trove, rid2, conductor.wait_outcome(rid2))
    assert logs_in(u, p2) and not logs_in(u, p1)

    # re-sent under a fresh _unique_id: a replay, refused without a word
    since = target.agent.log_size()
    replay = dict(captured, _unique_id=uuid.uuid4().hex)
    target.publish(replay)
    expect_silent(target, since, replay, REUSED)
    assert logs_in(u, p2) and not logs_in(u, p1), "the replay was applied"
    assert len(conductor.for_request(rid1)) == 1

    # re-sent unchanged: a redelivery, recognised from the journal, not applied,
    # and (its outcome already reported) not reported a second time
    since = target.agent.log_size()
    target.publish(captured)
    uid = re.escape(captured["_unique_id"])
    done = rawmsg.wait_lines(target.agent, since, rf'id="{uid}".*command outcome="duplicate"')
    assert done, f"not handled as a redelivery:\n{rawmsg.tail(target.agent, since)}"
    assert rawmsg.lines(target.agent, since, "already applied and reported")
    assert not rawmsg.lines(target.agent, since, re.escape(rawmsg.SILENT))
    assert logs_in(u, p2) and not logs_in(u, p1), "the redelivery was applied again"
    time.sleep(0.5)
    outcomes = conductor.for_request(rid1)
    assert len(outcomes) == 1 and outcomes[0].method == "notify_end", (
        [r.describe() for r in outcomes])

    # its arguments under another method (a call, with its own _unique_id kept): refused
    for unique_id in (captured["_unique_id"], uuid.uuid4().hex):
        rq = harness.ReplyQueue()
        try:
            since = target.agent.log_size()
            m = dict(retarget(captured, rq, method="regenerate_password"),
                     _unique_id=unique_id)
            target.publish(m)
            expect_silent(target, since, m, REUSED, rq)
        finally:
            rq.close()
    assert logs_in(u, p2) and not logs_in(u, p1)


# --------------------------------------------------------------------------- allow_root_enable

def test_allow_root_enable_false(spawn_module_agent, db, unchanged, no_remote_root):
    from trove.common import exception
    side = spawn_module_agent(extra={"amqp": {"allow_root_enable": False}})
    with unchanged("enable_root with allow_root_enable = false"):
        for method, kwargs in (("enable_root", {}),
                               ("enable_root_with_password", {"root_password": pw()})):
            e = call_error(side.trove.raw_call, method, **kwargs)
            assert isinstance(e, exception.DatastoreOperationNotSupported), (
                f"{method}: {type(e).__name__}: {e}")
    assert remote_root(db) == []
    assert side.trove.api().is_root_enabled() is False
    assert side.trove.api().rpc_ping() is True
