"""Bad input through the real Trove client (issue 4 "Rules from day one"; trove-wire
§3, §4): hostile names are refused -- BadRequest for calls, notify_exc_info for casts --
and mysqld is unchanged; protocol errors are answered; garbage does not kill the agent."""

import json
import time
import uuid

import pytest

import harness
from harness import call_error, expect_exc, make_user

PW = "Pw" + uuid.uuid4().hex[:12]

# (id, name suffix or full name builder, host).  Names start with the session
# prefix so that anything wrongly created is found and dropped.
HOSTILE_USERS = [
    ("quote", lambda p: p + "a'b", "%"),
    ("dquote", lambda p: p + 'a"b', "%"),
    ("backtick", lambda p: p + "a`b", "%"),
    ("backslash", lambda p: p + "a\\b", "%"),
    ("semicolon", lambda p: p + "a;b", "%"),
    ("double-dash", lambda p: p + "a--b", "%"),
    ("injection", lambda p: p + "x'@'%'; DROP USER 'root'@'localhost'; -- ", "%"),
    ("nul", lambda p: p + "a\x00b", "%"),
    ("newline", lambda p: p + "a\nb", "%"),
    ("comma", lambda p: p + "a,b", "%"),
    ("slash", lambda p: p + "a/b", "%"),
    ("33-chars", lambda p: (p + "x" * 40)[:33], "%"),
    ("empty", lambda p: "", "%"),
    ("leading-space", lambda p: " " + p + "a", "%"),
    ("trailing-space", lambda p: p + "a ", "%"),
    ("host-localhost", lambda p: p + "ok", "localhost"),
    ("host-LocalHost", lambda p: p + "ok", "LocalHost"),
    ("host-quote", lambda p: p + "ok", "10.0.0.1'; --"),
    ("host-hostname", lambda p: p + "ok", "db.example.com"),
    ("host-empty", lambda p: p + "ok", ""),
    ("host-backslash", lambda p: p + "ok", "10.0.0.\\%"),
]

HOSTILE_DBS = [
    ("quote", lambda p: p + "a'b"),
    ("backtick", lambda p: p + "a`b"),
    ("backslash", lambda p: p + "a\\b"),
    ("semicolon", lambda p: p + "a;b"),
    ("comment", lambda p: p + "x -- "),
    ("injection", lambda p: p + "x`; DROP DATABASE `mysql`; -- "),
    ("nul", lambda p: p + "a\x00b"),
    ("slash", lambda p: p + "a/b"),
    ("dot", lambda p: p + "a.b"),
    ("65-chars", lambda p: (p + "x" * 80)[:65]),
    ("empty", lambda p: ""),
    ("leading-space", lambda p: " " + p + "a"),
]


def _user(names, build, host):
    return build(names.tag), host


# --------------------------------------------------------------------------- users

@pytest.mark.parametrize("build,host", [(b, h) for _, b, h in HOSTILE_USERS],
                         ids=[i for i, _, _ in HOSTILE_USERS])
def test_create_user_refuses_hostile_names(agent, trove, names, unchanged, build, host):
    name, host = _user(names, build, host)
    with unchanged(f"create_user {name!r}@{host!r}"):
        rid = trove.cast_create_user([harness.user_dict(name, host, password=PW)])
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid), secrets=[PW])


@pytest.mark.parametrize("build,host", [(b, h) for _, b, h in HOSTILE_USERS],
                         ids=[i for i, _, _ in HOSTILE_USERS])
def test_get_user_refuses_hostile_names(agent, trove, names, unchanged, build, host):
    from trove.common import exception
    name, host = _user(names, build, host)
    with unchanged(f"get_user {name!r}@{host!r}"):
        e = call_error(trove.raw_call, "get_user", username=name, hostname=host)
    assert isinstance(e, exception.BadRequest), f"expected BadRequest, got {type(e).__name__}: {e}"


@pytest.mark.parametrize("build,host", [(b, h) for _, b, h in HOSTILE_USERS],
                         ids=[i for i, _, _ in HOSTILE_USERS])
def test_delete_user_refuses_hostile_names(agent, trove, names, unchanged, build, host):
    name, host = _user(names, build, host)
    with unchanged(f"delete_user {name!r}@{host!r}"):
        rid = trove.cast_delete_user(harness.user_dict(name, host))
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid))


def test_user_name_of_32_characters_is_accepted(agent, trove, db, names):
    """The boundary: refusing 33 must not mean refusing 32."""
    name = (names.tag + "x" * 40)[:32]
    rid = trove.cast_create_user([harness.user_dict(name, password=PW)])
    harness.expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    assert db.users_named(name) == ["%"]


def test_create_user_refuses_hostile_password_types(agent, trove, names, unchanged):
    """A password that is not a string (or is missing on a cast) changes nothing."""
    for pw in (None, 12345, ["x"]):
        with unchanged(f"create_user with _password={pw!r}"):
            rid = trove.cast_create_user([harness.user_dict(names.user("pt"), password=pw)])
            expect_exc(trove, rid, trove.conductor.wait_outcome(rid))


# --------------------------------------------------------------------------- databases

@pytest.mark.parametrize("build", [b for _, b in HOSTILE_DBS], ids=[i for i, _ in HOSTILE_DBS])
def test_create_database_refuses_hostile_names(agent, trove, names, unchanged, build):
    name = build(names.tag)
    with unchanged(f"create_database {name!r}"):
        rid = trove.cast_create_database([harness.db_dict(name)])
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid))


# Odd but valid by trove-wire §4's regex (`[\s?#@]*` between word characters; Trove's
# own MySQLSchema uses the same): stored exactly as asked, or refused -- never mangled.
ODD_VALID_DBS = [("space", "a b"), ("newline", "a\nb"), ("tab", "a\tb"),
                 ("double-dash", "a--b"), ("qha", "a?#@b"), ("short-suffix", "z")]


@pytest.mark.parametrize("suffix", [s for _, s in ODD_VALID_DBS], ids=[i for i, _ in ODD_VALID_DBS])
def test_create_database_odd_names_exact_or_refused(agent, trove, db, names, suffix):
    name = names.db(suffix)
    before = db.snapshot()
    rid = trove.cast_create_database([harness.db_dict(name)])
    rec = trove.conductor.wait_outcome(rid)
    diff = harness.diff_snapshots(before, db.snapshot())
    if rec.method == "notify_exc_info":
        expect_exc(trove, rid, rec)
        assert diff == [], "refused, yet mysqld changed:\n" + "\n".join(diff)
        return
    harness.expect_end(trove, rid, rec)
    assert diff == [f"databases: added {(name,)!r}"], "\n".join(diff)


@pytest.mark.parametrize("build", [b for _, b in HOSTILE_DBS], ids=[i for i, _ in HOSTILE_DBS])
def test_delete_database_refuses_hostile_names(agent, trove, names, unchanged, build):
    name = build(names.tag)
    with unchanged(f"delete_database {name!r}"):
        rid = trove.cast_delete_database(harness.db_dict(name))
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid))


@pytest.mark.parametrize("build", [b for _, b in HOSTILE_DBS], ids=[i for i, _ in HOSTILE_DBS])
def test_create_user_refuses_hostile_database_names(agent, trove, names, unchanged, build):
    name = build(names.tag)
    with unchanged(f"create_user with _databases [{name!r}]"):
        rid = trove.cast_create_user([harness.user_dict(names.user("hd"), password=PW,
                                                        databases=[name])])
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid), secrets=[PW])


@pytest.mark.parametrize("charset,collate", [
    ("utf8mb4'; DROP DATABASE mysql; --", None), ("nosuchcharset", None),
    ("latin1", "utf8mb4_bin"), (None, "latin1_swedish_ci` --"),
], ids=["charset-injection", "charset-unknown", "collate-mismatch", "collate-injection"])
def test_create_database_refuses_bad_charset_or_collation(agent, trove, names, unchanged,
                                                         charset, collate):
    with unchanged("create_database with a bad charset/collation"):
        rid = trove.cast_create_database([harness.db_dict(names.db("cs"), charset, collate)])
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid))


# --------------------------------------------------------------------------- all or nothing

def test_multi_user_create_with_one_invalid_creates_nothing(agent, trove, names, unchanged):
    users = [harness.user_dict(names.user("m1"), password=PW),
             harness.user_dict(names.user("m2'x"), password=PW),
             harness.user_dict(names.user("m3"), password=PW)]
    with unchanged("a create_user with one invalid user"):
        rid = trove.cast_create_user(users)
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid), secrets=[PW])


def test_multi_user_create_with_one_invalid_database_creates_nothing(agent, trove, db, names,
                                                                     unchanged):
    good = names.db("ok")
    harness.make_db(db, good)
    users = [harness.user_dict(names.user("n1"), password=PW, databases=[good]),
             harness.user_dict(names.user("n2"), password=PW, databases=[good, "mysql"])]
    with unchanged("a create_user with a grant on a system schema"):
        rid = trove.cast_create_user(users)
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid), secrets=[PW])


def test_multi_database_create_with_one_invalid_creates_nothing(agent, trove, names, unchanged):
    with unchanged("a create_database with one invalid name"):
        rid = trove.cast_create_database([harness.db_dict(names.db("ok1")),
                                          harness.db_dict(names.db("b`ad")),
                                          harness.db_dict(names.db("ok2"))])
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid))


def test_multi_user_create_over_an_existing_user(agent, trove, db, names):
    """mysqld cannot roll back CREATE USER: the existing account is untouched, and
    the failure notification names every account of the request that now exists."""
    new1, existing, new3 = names.user("e1"), names.user("e2"), names.user("e3")
    make_user(db, existing, "%", "Old" + PW)
    auth_before = db.auth_of(existing, "%")
    rid = trove.cast_create_user([harness.user_dict(n, password=PW)
                                  for n in (new1, existing, new3)])
    rec = trove.conductor.wait_outcome(rid)
    expect_exc(trove, rid, rec, secrets=[PW, "Old" + PW])
    assert db.auth_of(existing, "%") == auth_before, "the existing account was changed"
    harness.login(existing, "Old" + PW).close()
    for n in (new1, new3):
        if db.user_exists(n, "%"):
            assert n in rec.kwargs["message"], (
                f"{n} was created but the failure notification does not say so: "
                f"{rec.kwargs['message']!r}")


# --------------------------------------------------------------------------- markers

HOSTILE_MARKERS = [  # (id, marker, whether this test's "it..." object sorts after it)
    ("or", "x' OR '1'='1", False),
    ("drop", "x`; DROP DATABASE mysql; -- ", False),
    ("nul", "a\x00b", True),
    ("backslash", "\\' OR 1=1 -- ", None),  # order vs letters depends on collation
]


@pytest.mark.parametrize("method", ["list_users", "list_databases"])
@pytest.mark.parametrize("marker,ours_after", [(m, o) for _, m, o in HOSTILE_MARKERS],
                         ids=[i for i, _, _ in HOSTILE_MARKERS])
def test_hostile_marker_is_refused_or_a_plain_position(agent, trove, db, names, unchanged,
                                                       method, marker, ours_after):
    """A marker is a position in the sorted list, never SQL: either BadRequest, or
    a tail of the full listing that starts after the marker."""
    from trove.common import exception
    mine = names.user("mk")
    if method == "list_users":
        make_user(db, mine)
        mine_key = mine + "@%"
    else:
        harness.make_db(db, mine)
        mine_key = mine

    def key(i):
        return "%s@%s" % (i["_name"], i["_host"]) if "_host" in i else i["_name"]

    full = [key(i) for i in getattr(trove.api(), method)(limit=100000)[0]]
    with unchanged(f"{method} marker={marker!r}"):
        try:
            items, nm = getattr(trove.api(), method)(limit=100000, marker=marker)
        except exception.GuestError:
            e = call_error(trove.raw_call, method, limit=100000, marker=marker,
                           include_marker=False)
            assert isinstance(e, exception.BadRequest), f"{type(e).__name__}: {e}"
            return
    keys = [key(i) for i in items]
    assert nm is None
    assert keys == full[len(full) - len(keys):], (
        f"not a tail of the full listing: {keys[:8]} (full: {full[:8]}...)")
    if ours_after is not None:
        assert (mine_key in keys) == ours_after, (
            f"{mine_key} {'missing from' if ours_after else 'present in'} the page after "
            f"marker {marker!r}")


# --------------------------------------------------------------------------- protocol errors

def test_unknown_method_is_answered_with_an_error(agent, trove):
    import oslo_messaging
    from trove.common import exception
    api = trove.api()
    e = call_error(api._call, "no_such_method_" + uuid.uuid4().hex[:6],
                   harness.CALL_LOW_TIMEOUT, version="1.0")
    assert isinstance(e, exception.GuestError), f"{type(e).__name__}: {e}"
    e = call_error(trove.raw_call, "no_such_method")
    assert isinstance(e, oslo_messaging.RemoteError) and e.exc_type == "NoSuchMethod", (
        f"expected RemoteError(NoSuchMethod), got {type(e).__name__}: {e}")


def test_unknown_method_cast_is_reported_or_dropped_and_agent_lives(agent, trove, api):
    """A cast of an unknown method: nothing to apply; the agent keeps serving."""
    cctxt = api.client.prepare(version="1.0")
    cctxt.cast(api.context, "no_such_method", x=1)
    assert trove.api().rpc_ping() is True


def test_major_version_2_is_unsupported(agent, trove):
    import oslo_messaging
    client = trove.uncapped_client()
    ctx = harness.new_context()
    e = call_error(client.prepare(version="2.0", timeout=harness.CALL_LOW_TIMEOUT).call,
                   ctx, "rpc_ping")
    name = e.exc_type if isinstance(e, oslo_messaging.RemoteError) else type(e).__name__
    assert name.startswith("UnsupportedVersion"), f"{type(e).__name__}: {e}"


def test_newer_minor_version_is_served(agent, trove):
    """Versions are compatible within a major: 1.3 (the cap Trove 26 sends) works."""
    assert trove.raw_call("rpc_ping", version="1.3") is True


def test_missing_argument_is_answered_with_an_error(agent, trove):
    e = call_error(trove.raw_call, "get_user", username="itnobody")
    assert e is not None
    e = call_error(trove.raw_call, "list_users", limit="ten", marker=None, include_marker=False)
    assert e is not None
    assert trove.api().rpc_ping() is True


def _raw_guest_topic(trove):
    return "guestagent." + trove.guest_id


GARBAGE = [
    ("not-json", b"this is not json"),
    ("empty", b""),
    ("binary", bytes(range(256))),
    ("json-not-object", b"[1, 2, 3]"),
    ("no-oslo-message", json.dumps({"oslo.version": "2.0"}).encode()),
    ("oslo-message-not-json", json.dumps({"oslo.version": "2.0", "oslo.message": "{nope"}).encode()),
    ("oslo-version-3", json.dumps({"oslo.version": "3.0", "oslo.message": "{}"}).encode()),
    ("inner-no-method", harness.oslo_envelope({"args": {}, "version": "1.0",
                                               "_unique_id": uuid.uuid4().hex}).encode()),
    ("inner-method-not-string", harness.oslo_envelope({"method": 42, "args": {},
                                                       "_unique_id": uuid.uuid4().hex}).encode()),
    ("inner-args-not-object", harness.oslo_envelope({"method": "rpc_ping", "args": [1],
                                                     "_unique_id": uuid.uuid4().hex}).encode()),
    ("unenveloped-v1", json.dumps({"method": "rpc_ping", "args": {}}).encode()),
    ("huge", b'{"oslo.version": "2.0", "oslo.message": "' + b"x" * (4 * 1024 * 1024) + b'"}'),
]


@pytest.mark.parametrize("body", [b for _, b in GARBAGE], ids=[i for i, _ in GARBAGE])
def test_malformed_message_does_not_kill_the_agent(agent, trove, body):
    harness.publish_raw(_raw_guest_topic(trove), body)
    assert trove.api().rpc_ping() is True
    assert agent.alive()


def test_call_without_method_gets_a_failure_reply(agent, trove):
    """A call the agent cannot dispatch is still answered (issue 4: 'a failure reply
    for a call'), on the default exchange, as JSON, with the caller's _msg_id."""
    rq = harness.ReplyQueue()
    try:
        msg_id = uuid.uuid4().hex
        inner = {"args": {}, "version": "1.0", "_unique_id": uuid.uuid4().hex,
                 "_msg_id": msg_id, "_reply_q": rq.name, "_timeout": 10,
                 "_context_request_id": "req-" + str(uuid.uuid4())}
        harness.publish_raw(_raw_guest_topic(trove), harness.oslo_envelope(inner),
                            properties={"expiration": "10000"})
        m = rq.get(timeout=10)
        assert m is not None, "no reply to a call without a method"
        assert m.properties.get("content_type") == "application/json"
        reply = json.loads(json.loads(m.body)["oslo.message"])
        assert reply.get("_msg_id") == msg_id
        assert reply.get("failure"), f"expected a failure reply, got {reply!r}"
        failure = json.loads(reply["failure"])
        assert failure.get("class") and failure.get("module"), failure
    finally:
        rq.close()
    assert trove.api().rpc_ping() is True


def test_cast_without_notification_is_applied_and_not_reported(agent, trove, db, names):
    """trove-wire §5: a context without trove_notification gets no notification."""
    d = names.db("nn")
    api = trove.api()  # plain context: no notification
    rid = api.context.request_id
    api.create_database([harness.db_dict(d)])
    deadline = time.monotonic() + harness.CAST_OUTCOME_TIMEOUT
    while not db.database_exists(d) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert db.database_exists(d), "the cast was not applied"
    time.sleep(2)
    assert trove.conductor.for_request(rid) == [], "a notification without trove_notification"
