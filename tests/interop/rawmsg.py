"""Raw oslo messages for test_envelope.py and test_rpc_crypto.py: what Trove's client
would never send, built by hand and published with kombu (``harness.publish_raw``),
and the checks on what the agent then did (a reply on our own queue or none, the
message gone from its queue, the log lines it wrote).

Blobs are made and opened with Trove's own ``trove.common.crypto_utils``; every blob
made here has a fresh random IV, so the agent's memory of ciphertext never sees
one of them twice unless a test means it to."""

import base64
import json
import re
import time
import uuid

import harness

# How long a reply that must not come is waited for once the agent has logged
# that it handled the message (it answers, when it does, before it logs).
NO_REPLY_WAIT = 0.5
LOG_WAIT = 8.0
REFUSED = "message refused"
SILENT = "encrypted message refused without a reply"
REUSED = "the message reuses the ciphertext of another message (a replay or a forgery)"


# --------------------------------------------------------------------------- blobs

def encrypt_bytes(data, key):
    from trove.common import crypto_utils as cu
    return cu.encode_data(cu.encrypt_data(data, key))


def encrypt(value, key):
    """What Trove's SecureSerializer sends for a value: base64(IV + AES-CBC(JSON))."""
    from oslo_serialization import jsonutils
    return encrypt_bytes(jsonutils.dumps(value), key)


def decrypt_text(blob, key):
    """Trove's own decryption (it does not check the padding)."""
    from trove.common import crypto_utils as cu
    return cu.decrypt_data(cu.decode_data(blob), key)


def decrypt(blob, key):
    return json.loads(decrypt_text(blob, key))


def padded_plaintext(raw, key):
    """The decrypted blocks of a blob's bytes, padding included (not stripped)."""
    import hashlib
    from trove.common import crypto_utils as cu
    md5_key = hashlib.md5(key.encode()).hexdigest().encode()
    return cu._decrypt(md5_key, bytes(raw[:16]), bytes(raw[16:]))


def raw(blob):
    return base64.b64decode(blob)


def b64(data):
    return base64.b64encode(bytes(data)).decode("ascii")


def xor(*parts):
    out = bytearray(len(parts[0]))
    for p in parts:
        assert len(p) == len(out)
        for i, b in enumerate(p):
            out[i] ^= b
    return bytes(out)


def context_dict():
    """A context as Trove's client serializes it (a fresh request_id)."""
    return harness.new_context().to_dict()


# --------------------------------------------------------------------------- agents

class Target:
    """An agent to send raw messages to: its process, its ``harness.Trove`` and the
    RPC key it runs with (None: plaintext)."""

    def __init__(self, name, agent, trove, key=None):
        self.name, self.agent, self.trove, self.key = name, agent, trove, key
        self.topic = "guestagent." + trove.guest_id

    def context_fields(self, **extra):
        ctx = dict(context_dict(), **extra)
        if self.key is None:
            return {"_context_" + k: v for k, v in ctx.items()}
        return {"_context_context": encrypt(ctx, self.key)}

    def args(self, **kwargs):
        if self.key is None:
            return kwargs
        return {k: encrypt(v, self.key) for k, v in kwargs.items()}

    def call(self, reply_q, method="rpc_ping", args=None, **context):
        """A well-formed call, as oslo sends it (key order kept)."""
        m = {"method": method, "args": self.args(**(args or {})), "version": "1.0",
             "_msg_id": uuid.uuid4().hex, "_reply_q": reply_q, "_timeout": None,
             "_unique_id": uuid.uuid4().hex}
        m.update(self.context_fields(**context))
        return m

    def result(self, reply):
        """A successful reply's result (decrypted when the agent has a key)."""
        r = reply["result"]
        return r if self.key is None else decrypt(r, self.key)

    def publish(self, body, **kw):
        if isinstance(body, dict):
            body = harness.oslo_envelope(body)
        harness.publish_raw(self.topic, body, **kw)

    def depth(self):
        return queue_depth(self.topic)

    def ping(self):
        assert self.agent.alive(), f"the {self.name} agent died (exit code " \
                                   f"{self.agent.proc.returncode})"
        assert self.trove.api().rpc_ping() is True, "rpc_ping did not answer true"


class NamedQueue(harness.ReplyQueue):
    """A reply queue with a name of our choosing (any bytes the broker takes)."""

    def __init__(self, name):  # noqa: super-init: the base picks a random name
        harness.PrivateQueue.__init__(self, name)


def queue_depth(name):
    """Ready messages in a queue (a passive declare, no rabbitmqctl)."""
    with harness.kombu_connection() as conn:
        ch = conn.channel()
        try:
            return ch.queue_declare(queue=name, passive=True).message_count
        finally:
            ch.close()


def unsettled(names, timeout=30):
    """{queue: (ready, unacknowledged)} from rabbitmqctl, for the queues named."""
    import subprocess
    out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name", "messages_ready",
                          "messages_unacknowledged"], capture_output=True, text=True,
                         timeout=timeout, check=True).stdout
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in names:
            found[parts[0]] = (int(parts[1]), int(parts[2]))
    return found


# --------------------------------------------------------------------------- replies

def inner_of(m):
    body = m.body if isinstance(m.body, (bytes, str)) else bytes(m.body)
    return json.loads(json.loads(body)["oslo.message"])


def failure_of(reply):
    return json.loads(reply["failure"]) if reply.get("failure") else None


# --------------------------------------------------------------------------- the log

def lines(agent, since, pattern):
    return [l for l in agent.log_text(since).splitlines() if re.search(pattern, l)]


def wait_lines(agent, since, pattern, timeout=LOG_WAIT):
    """The log lines (from byte ``since``) matching ``pattern``: at least one, or []
    once ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        found = lines(agent, since, pattern)
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(0.05)


def tail(agent, since, n=40):
    return "\n".join(agent.log_text(since).splitlines()[-n:])


def expect_silent(target, since, message, reason, reply_queue=None):
    """The agent refused ``message``, sent after byte ``since`` of its log, without
    a reply: nothing on ``reply_queue``, nothing left in its queue, one line
    "encrypted message refused without a reply" naming ``reason``, and it still
    answers the real client.  (What it did is checked before how it logged it.)
    Lines are told apart by the message's ``_unique_id`` (a ping's "command" line
    is written just after its reply, so it may follow ``since``)."""
    mine = f'id="{message["_unique_id"]}"'
    handled = wait_lines(target.agent, since, re.escape(mine) + r".*(refused|\bcommand\b)")
    assert handled, f"nothing logged about the message:\n{tail(target.agent, since)}"
    got = reply_queue.get(NO_REPLY_WAIT) if reply_queue is not None else time.sleep(NO_REPLY_WAIT)
    assert got is None, f"the refused message was answered: {inner_of(got)!r}"
    served = lines(target.agent, since, re.escape(mine) + r".*\bcommand\b")
    assert served == [], "the message was served:\n" + "\n".join(served)
    assert target.depth() == 0, "the refused message is still in the agent's queue"
    found = lines(target.agent, since, re.escape(SILENT))
    assert found, f"no silent refusal logged:\n{tail(target.agent, since)}"
    assert len(found) == 1, "refused more than once (requeued?):\n" + "\n".join(found[:5])
    assert mine in found[0] and "reason=" + reason in found[0], (
        f"wanted {mine} and reason {reason!r}:\n{found[0]}")
    target.ping()
    return found[0]
