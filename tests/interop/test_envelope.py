"""Raw envelopes (trove-wire §1, §2): oslo messages the Trove client would never send,
with bad lengths, numbers, types and encodings in every envelope field, published
with kombu to the session agent and to an agent with an RPC key.

Every field of the envelope is checked before anything else, decryption too, so
both agents must behave the same:

- no usable route (``_msg_id`` / ``_reply_q`` that do not fit, an unreadable body):
  no reply anywhere, the delivery rejected (not requeued: one log line
  "message refused", nothing left in the queue);
- a usable route but another bad field: a failure reply on our own reply queue
  (``BadRequest``, oslo's ``UnsupportedVersion``, ``NoSuchMethod``);
- a ``_timeout`` that is negative, huge or 1e300: no timeout, served normally.

Each case is followed by a plain ``rpc_ping`` through the real client.  Before the
bounds, a ``_reply_q`` over 255 bytes or a ``_timeout`` of -1 or 1e300 crashed the
agent."""

import json
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Callable, Optional

import pytest

import harness
import rawmsg
from rawmsg import NO_REPLY_WAIT, REFUSED, inner_of, lines, wait_lines

KEY = "it-key-" + secrets.token_hex(16)
REPLY_WAIT = 8
OK = "ok"              # served: result true
DROPPED = "dropped"    # no reply, rejected
MAX_MESSAGE = 1_048_576


@pytest.fixture(scope="module")
def encrypted_agent(spawn_module_agent):
    return spawn_module_agent(extra={"amqp": {"rpc_encryption_key": KEY}}, key=KEY)


@pytest.fixture(params=["plain", "encrypted"])
def target(request, agent, trove):
    if request.param == "plain":
        return rawmsg.Target("plain", agent, trove)
    side = request.getfixturevalue("encrypted_agent")
    return rawmsg.Target("encrypted", side.agent, side.trove, KEY)


# --------------------------------------------------------------------------- the cases

@dataclass
class Case:
    id: str
    expect: str                       # OK, DROPPED, or the failure class of the reply
    edit: Optional[Callable] = None   # edits the call in place, or returns the body to send
    reply_q: Optional[str] = None     # declare this queue and make it the _reply_q
    log: str = REFUSED                # what the agent logs about the delivery (once)


def put(field, value):
    return lambda m: m.__setitem__(field, value)


def drop(field):
    return lambda m: m.pop(field) and None


def outer(version="2.0", message=None, drop_version=False):
    def edit(m):
        o = {"oslo.version": version, "oslo.message": message(m) if message else json.dumps(m)}
        if drop_version:
            del o["oslo.version"]
        return json.dumps(o)
    return edit


def oversize(m):
    m["args"] = {"pad": "x" * MAX_MESSAGE}
    body = harness.oslo_envelope(m)
    assert len(body) > MAX_MESSAGE
    return body


SERVED = r'command outcome="ok"'
UNKNOWN = r'command outcome="refused" class="?NoSuchMethod'

CASES = [
    # _reply_q: a routing key is an AMQP short string, without control characters
    Case("reply_q-256", DROPPED, put("_reply_q", "q" * 256)),
    Case("reply_q-300", DROPPED, put("_reply_q", "q" * 300)),
    Case("reply_q-128-e-acute", DROPPED, put("_reply_q", "é" * 128)),  # 256 bytes
    Case("reply_q-empty", DROPPED, put("_reply_q", "")),
    Case("reply_q-number", DROPPED, put("_reply_q", 42)),
    Case("reply_q-missing", DROPPED, drop("_reply_q")),
    Case("reply_q-esc", DROPPED, reply_q="reply_" + uuid.uuid4().hex + "\x1b[2J"),
    # (RabbitMQ drops a newline from a declared queue's name, not from a routing key:
    # no queue can have this name, the log shows what the agent did)
    Case("reply_q-newline", DROPPED, lambda m: m.__setitem__("_reply_q", m["_reply_q"] + "\nx")),
    Case("reply_q-255", OK, reply_q=("reply_" + uuid.uuid4().hex).ljust(255, "r"), log=SERVED),
    Case("reply_q-127-e-acute", OK, reply_q="é" * 127, log=SERVED),  # 254 bytes
    # _msg_id: printable ASCII, 1-255 bytes; without one that fits there is no reply
    Case("msg_id-256", DROPPED, put("_msg_id", "m" * 256)),
    Case("msg_id-newline", DROPPED, put("_msg_id", uuid.uuid4().hex + "\nx")),
    Case("msg_id-non-ascii", DROPPED, put("_msg_id", "é" + uuid.uuid4().hex)),
    Case("msg_id-number", DROPPED, put("_msg_id", 42)),
    Case("msg_id-object", DROPPED, put("_msg_id", {"id": uuid.uuid4().hex})),
    Case("msg_id-255", OK, put("_msg_id", uuid.uuid4().hex.ljust(255, "m")), log=SERVED),
    # _timeout: negative, non-finite-ish or over an hour = no timeout; not a number = refused
    Case("timeout--1", OK, put("_timeout", -1), log=SERVED),
    Case("timeout--1e300", OK, put("_timeout", -1e300), log=SERVED),
    Case("timeout-1e300", OK, put("_timeout", 1e300), log=SERVED),
    Case("timeout-3601", OK, put("_timeout", 3601), log=SERVED),
    Case("timeout-string", "BadRequest", put("_timeout", "5")),
    Case("timeout-list", "BadRequest", put("_timeout", [])),
    Case("timeout-object", "BadRequest", put("_timeout", {})),
    # _unique_id
    Case("unique_id-300", "BadRequest", put("_unique_id", "u" * 300)),
    Case("unique_id-number", "BadRequest", put("_unique_id", 7)),
    Case("unique_id-newline", "BadRequest", put("_unique_id", "a\nb")),
    Case("unique_id-255", OK, put("_unique_id", uuid.uuid4().hex.ljust(255, "u")), log=SERVED),
    # method
    Case("method-300", "BadRequest", put("method", "m" * 300)),
    Case("method-number", "BadRequest", put("method", 42)),
    Case("method-null", "BadRequest", put("method", None)),
    Case("method-empty", "BadRequest", put("method", "")),
    Case("method-255", "NoSuchMethod", put("method", "m" * 255), log=UNKNOWN),
    Case("method-newline", "NoSuchMethod", put("method", "rpc_ping\nx"), log=UNKNOWN),
    # version
    Case("version-2.0", "UnsupportedVersion", put("version", "2.0")),
    Case("version-100-digits", "BadRequest", put("version", "1" * 100)),
    Case("version-33-bytes", "BadRequest", put("version", "1." + "0" * 31)),
    Case("version-32-bytes", OK, put("version", "1." + "0" * 30), log=SERVED),
    Case("version-number", "BadRequest", put("version", 1.0)),
    # namespace, args
    Case("namespace-object", "BadRequest", put("namespace", {"x": 1})),
    Case("namespace-string", "BadRequest", put("namespace", "baseapi")),
    Case("args-list", "BadRequest", put("args", [1])),
    Case("args-number", "BadRequest", put("args", 5)),
    Case("args-string", "BadRequest", put("args", "{}")),
    # the envelope: unreadable, so no route even though the inner message has one
    Case("oslo.message-object", DROPPED, outer(message=lambda m: m)),
    Case("oslo.message-not-json", DROPPED, outer(message=lambda m: json.dumps(m)[:-1])),
    Case("oslo.message-list", DROPPED, outer(message=lambda m: json.dumps([m]))),
    Case("oslo.version-3.0", DROPPED, outer(version="3.0")),
    Case("oslo.version-number", DROPPED, outer(version=2.0)),
    Case("oslo.version-missing", DROPPED, outer(drop_version=True)),
    Case("body-not-json", DROPPED, lambda m: b"this is not json"),
    Case("body-empty", DROPPED, lambda m: b""),
    Case("body-binary", DROPPED, lambda m: bytes(range(256)) + secrets.token_bytes(64)),
    Case("body-json-list", DROPPED, lambda m: json.dumps([harness.oslo_envelope(m)])),
    Case("body-over-1-MiB", DROPPED, oversize),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_envelope_case(target, case):
    q = rawmsg.NamedQueue(case.reply_q) if case.reply_q else harness.ReplyQueue()
    try:
        m = target.call(q.name)
        body = case.edit(m) if case.edit else None
        body = m if body is None else body
        # this delivery's lines, by its _unique_id where it has a readable one (the
        # previous ping's "command" line is written just after its reply)
        uid = m.get("_unique_id")
        mine = re.escape(f'id="{uid}"') + ".*" if isinstance(uid, str) and uid.isascii() \
            and uid.isprintable() and 0 < len(uid) <= 255 else ""
        since = target.agent.log_size()
        target.publish(body)
        if case.expect == DROPPED:
            # handled (whatever it did) once it logged about it; then what it did
            logged = wait_lines(target.agent, since, r"refused|\bcommand\b")
            assert logged, f"nothing logged about the message:\n{rawmsg.tail(target.agent, since)}"
            got = q.get(NO_REPLY_WAIT)
            assert got is None, f"a message without a usable route was answered: {inner_of(got)}"
            served = lines(target.agent, since, mine + r"command outcome=")
            assert served == [], "the message was served:\n" + "\n".join(served)
        else:
            got = q.get(REPLY_WAIT)
            assert got is not None, (f"no reply within {REPLY_WAIT} s:\n"
                                     f"{rawmsg.tail(target.agent, since)}")
            reply = inner_of(got)
            assert reply.get("_msg_id") == m["_msg_id"], reply
            failure = rawmsg.failure_of(reply)
            if case.expect == OK:
                assert failure is None, f"expected the call served, got {failure}"
                assert target.result(reply) is True, reply
            else:
                assert failure and failure.get("class") == case.expect, (
                    f"expected {case.expect}, got {failure}")
            assert q.get(0.2) is None, "answered twice"
        # one line about this delivery: refused once, not redelivered and refused again
        pattern = re.escape(REFUSED) if case.log == REFUSED else mine + case.log
        logged = lines(target.agent, since, pattern)
        assert len(logged) == 1, (f"{len(logged)} log lines matching {pattern!r} (wanted 1):\n"
                                  + "\n".join(logged[:6]))
        assert target.depth() == 0, "the message is still in the agent's queue"
    finally:
        q.close()
    target.ping()


def test_no_log_line_is_injected_through_wire_fields(target):
    """Method and request_id are logged escaped: the newline they carry never starts
    a line of the agent's log with the text after it."""
    fake = f"2026-12-03T00:00:00Z INFO fake-{secrets.token_hex(4)}"
    method = "get_user\n" + fake + " method"
    request_id = "req-" + str(uuid.uuid4()) + "\n" + fake + " request_id"
    q = harness.ReplyQueue()
    try:
        m = target.call(q.name, method=method, request_id=request_id)
        since = target.agent.log_size()
        target.publish(m)
        got = q.get(REPLY_WAIT)
        assert got is not None, "no reply"
        failure = rawmsg.failure_of(inner_of(got))
        assert failure and failure["class"] == "NoSuchMethod", failure
    finally:
        q.close()
    target.ping()
    # the delivery was logged (escaped), so the check below is not vacuous
    escaped = wait_lines(target.agent, since, re.escape(r"get_user\n" + fake))
    assert escaped, f"the method was not logged:\n{rawmsg.tail(target.agent, since)}"
    assert lines(target.agent, since, re.escape(r"\n" + fake + " request_id")), (
        f"the request_id was not logged:\n{rawmsg.tail(target.agent, since)}")
    injected = [l for l in target.agent.log_text(since).splitlines()
                if l.startswith(fake) or l.lstrip().startswith("2026-12-03T00:00:00Z INFO fake")]
    assert injected == [], "a wire field started a log line:\n" + "\n".join(injected)


def test_nothing_left_unsettled(target):
    """After every case above: nothing ready and nothing unacknowledged in the
    agent's queue (a rejected-but-unsettled delivery would sit there)."""
    assert rawmsg.unsettled([target.topic]).get(target.topic) == (0, 0), (
        rawmsg.unsettled([target.topic]))
    target.ping()
