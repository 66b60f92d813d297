"""No secret anywhere it could leak (issue 7, "Secrets"; design.md rule 2).

Runs last (files are collected in name order): by then every test of the session has
registered the passwords and RPC keys it sent or received (``harness.SECRETS``: the
helpers that build users and passwords, the instance-key setters, and a hook on
oslo.messaging's client that reads every call's and cast's arguments and every
call's result).  Each must be absent from

- every agent log of this session (``harness.AGENT_LOGS``: the session agent and
  every side agent, all run at ``debug``);
- every failure text the client received (``harness.FAILURE_TEXTS``: exceptions
  raised by calls, raw failure replies);
- every message the stand-in conductor received (notify_exc_info's message and
  exception, notify_end, heartbeats, their contexts).

A secret is looked for as written and in the escaped forms a log or a JSON/Python
text would show it in (``\\"``, ``\\n``, ``\\u0000`` ...), and so is each password's
``mysql_native_password`` hash (``*`` + 40 hex: what the agent sends mysqld; not the
password, but enough for an offline attack on it, so it must not be logged either).
So is the broker's ``user:password@`` from the agent's AMQP URL.
"""

import hashlib
import json
import os

import harness

# Shorter values cannot be told apart from ordinary text in a log.
MIN_LEN = 5


def native_hash(password):
    return "*" + hashlib.sha1(hashlib.sha1(password.encode("utf-8")).digest()).hexdigest().upper()


def rust_debug(s):
    """How Rust's ``{:?}`` shows a string's inside."""
    out = []
    for c in s:
        if c in "\\\"":
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif c == "\0":
            out.append("\\0")
        elif ord(c) < 0x20 or ord(c) == 0x7f:
            out.append("\\u{%x}" % ord(c))
        else:
            out.append(c)
    return "".join(out)


def forms(secret):
    """The secret as it could appear in a log line or a JSON/Python text."""
    out = {secret, rust_debug(secret), json.dumps(secret)[1:-1],
           json.dumps(secret, ensure_ascii=False)[1:-1], repr(secret)[1:-1],
           # escaped twice: a Debug-quoted value inside a Debug-quoted log field
           rust_debug(rust_debug(secret)), json.dumps(json.dumps(secret)[1:-1])[1:-1]}
    return {f for f in out if len(f) >= MIN_LEN}


def haystacks(conductor):
    """(where, text) of everything that must hold no secret."""
    out = []
    logs = sorted(harness.AGENT_LOGS)
    for path in logs:
        try:
            with open(path, "rb") as f:
                out.append((f"agent log {os.path.basename(path)}",
                            f.read().decode("utf-8", "replace")))
        except OSError:
            pass
    out.extend(harness.FAILURE_TEXTS)
    for rec in conductor.snapshot():
        out.append((f"conductor {rec.method} {rec.request_id}",
                    json.dumps({"kwargs": rec.kwargs, "context": rec.context},
                               default=str, ensure_ascii=False)))
    return out


def test_no_password_or_key_in_logs_or_failure_texts(agent, conductor, guest_id):
    secrets = dict(harness.SECRETS)
    checked = {s: w for s, w in secrets.items() if len(s) >= MIN_LEN}
    skipped = sorted(s for s in secrets if len(s) < MIN_LEN)
    texts = haystacks(conductor)
    logs = [t for w, t in texts if w.startswith("agent log")]

    # The search itself works: the session agent's log is there, at debug, and
    # names this guest.
    assert logs, "no agent log of this session to check"
    assert any(guest_id in t for t in logs), "the session agent's log does not name its guest"
    assert any(" DEBUG " in t or "DEBUG" in t for t in logs), "the agent logs are not at debug"

    needles = []  # (needle, secret, kind)
    for s, where in checked.items():
        for f in forms(s):
            needles.append((f, s, f"password/key (first seen: {where})"))
    for s, where in secrets.items():
        if where.startswith(("instance", "config")):
            continue  # keys are not hashed by anyone
        needles.append((native_hash(s), s, f"native hash of a password (first seen: {where})"))
    amqp_creds = f"{harness.AMQP_USER}:{harness.AMQP_PASSWORD}@"
    needles.append((amqp_creds, amqp_creds, "the broker credentials of the agent's AMQP URL"))

    hits = []
    for where, text in texts:
        for needle, secret, kind in needles:
            if needle in text:
                i = text.index(needle)
                context = text[max(0, i - 120):i + len(needle) + 40].replace("\n", "\\n")
                hits.append(f"{kind}: {secret!r} in {where}: ...{context}...")
    print(f"\nsecret grep: {len(checked)} secrets ({len(needles)} forms) over {len(texts)} "
          f"texts ({len(logs)} agent logs, {sum(len(t) for _, t in texts)} characters); "
          f"skipped {len(skipped)} shorter than {MIN_LEN}: {skipped!r}")
    assert not hits, f"{len(hits)} secret(s) leaked:\n" + "\n".join(hits[:50])
    assert checked, "no secret was registered: the registry is not wired up"
