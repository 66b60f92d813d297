"""The Cloud66 action model and its extensions (issue 6; design.md "the action
model"), sent through the real Trove client's transport (``API.client`` via
``Trove.raw_call``/the API's casts) and checked in mysqld:

- ``create_user`` user types (``application``: ALL; ``readonly``: SELECT, SHOW VIEW)
  and generated passwords (only for calls; a cast without a password is refused);
- ``regenerate_password``; Trove's cast methods sent as calls (``{"action",
  "passwords"}``), synchronously and with ``async: true``;
- ``get_action`` / ``list_actions`` shapes and paging; ``list_database_users``;
- ``guestagent actions`` on the host;
- a generated password is handed back once and is never in the agent's log, its
  journal, ``get_action``/``list_actions`` or the CLI's output.
"""

import json
import secrets
import subprocess
import time
from datetime import datetime

import pymysql
import pytest

import harness
from harness import call_error, db_dict, expect_end, expect_exc, make_db, make_user, user_dict

ACTION_KEYS = {"id", "action_type", "resource_type", "resource_id", "started_via", "status",
               "started_at", "finished_at", "finished_success", "finished_message",
               "created_at", "updated_at"}
ACTION_TYPES = {"database_user_create", "database_user_delete", "database_user_update",
                "database_user_password_change", "database_user_grant", "database_user_revoke",
                "database_create", "database_delete", "root_enable", "root_disable"}
RESOURCE_TYPES = {"database_user", "database", "root"}
STATUSES = {"queued", "running", "success", "failed"}
DBUSER_KEYS = {"uid", "username", "host", "databases", "user_type", "created_at",
               "_require", "_max_connections", "_max_queries_per_hour", "_locked",
               "_password_expire_days", "_auth_plugin"}
PAGINATION_KEYS = {"previous", "next", "current", "per_page", "count", "pages"}
MIN_GENERATED_LEN = 32

# Every password the agent generated during this module: checked at the end
# against the log, the journal, list_actions and the CLI.
GENERATED = []


# --------------------------------------------------------------------------- helpers

def pw():
    return "Pw" + secrets.token_hex(10)


def call(trove, method, timeout=harness.CALL_HIGH_TIMEOUT, **kwargs):
    """A call through Trove's own RPC client (``API.client``) for a method the
    Trove API has no wrapper for, or that Trove would send as a cast."""
    return trove.raw_call(method, timeout=timeout, **kwargs)


def key(name, host="%"):
    return f"{name}@{host}"


def ts(value, what):
    assert isinstance(value, str), f"{what} is not a string: {value!r}"
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        pytest.fail(f"{what} is not an ISO 8601 timestamp: {value!r}")


def check_action(a, **want):
    """The Cloud66 shape, internally consistent; then the fields in ``want``."""
    assert isinstance(a, dict), f"an action must be an object, got {a!r}"
    # `changed` (issue 17): the names of what a mutation changed, only when
    # it names any; never a value.
    assert ACTION_KEYS <= set(a) <= ACTION_KEYS | {"changed"}, \
        f"action keys {sorted(a)} != {sorted(ACTION_KEYS)} (+ changed)"
    if "changed" in a:
        assert a["changed"] and all(isinstance(c, str) for c in a["changed"]), a
    assert isinstance(a["id"], int) and not isinstance(a["id"], bool) and a["id"] > 0, a
    assert a["action_type"] in ACTION_TYPES, a
    assert a["resource_type"] in RESOURCE_TYPES, a
    assert a["resource_id"] is None or isinstance(a["resource_id"], str), a
    assert isinstance(a["started_via"], str) and a["started_via"], a
    assert a["status"] in STATUSES, a
    created = ts(a["created_at"], "created_at")
    updated = ts(a["updated_at"], "updated_at")
    assert updated >= created, a
    if a["status"] == "queued":
        assert a["finished_at"] is None and a["finished_success"] is None, a
    if a["status"] in ("running", "success", "failed"):
        assert ts(a["started_at"], "started_at") >= created, a
    if a["status"] in ("success", "failed"):
        assert ts(a["finished_at"], "finished_at") >= ts(a["started_at"], "started_at"), a
        assert a["finished_success"] is (a["status"] == "success"), a
        assert isinstance(a["finished_message"], str), a
        if a["status"] == "failed":
            assert a["finished_message"], f"a failed action says nothing: {a}"
    for k, v in want.items():
        assert a[k] == v, f"action {k} is {a[k]!r}, expected {v!r}: {a}"
    return a


def check_action_reply(r, passwords=None, **want):
    """``{"action": <action>, "passwords": {...}}``; returns (action, passwords)."""
    assert isinstance(r, dict) and set(r) == {"action", "passwords"}, (
        f"expected {{'action', 'passwords'}}, got {r!r}")
    assert isinstance(r["passwords"], dict), r
    a = check_action(r["action"], **want)
    if passwords is not None:
        assert set(r["passwords"]) == set(passwords), (
            f"passwords for {sorted(r['passwords'])}, expected {sorted(passwords)}")
    for k, v in r["passwords"].items():
        assert isinstance(v, str), (k, type(v))
    return a, r["passwords"]


def generated(passwords, account):
    p = passwords[account]
    assert len(p) >= MIN_GENERATED_LEN, f"generated password of {len(p)} characters"
    GENERATED.append(p)
    return p


def get_action(trove, action_id):
    return call(trove, "get_action", id=action_id)


def wait_finished(trove, action_id, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        a = get_action(trove, action_id)
        assert a is not None, f"get_action({action_id}) is null"
        if a["status"] in ("success", "failed"):
            return check_action(a)
        assert time.monotonic() < deadline, f"action {action_id} not finished after {timeout} s: {a}"
        time.sleep(0.1)


def all_actions(trove, limit=7):
    """Walks list_actions page by page; checks the paging on the way."""
    out, marker, pages = [], None, 0
    while True:
        kwargs = {"limit": limit}
        if marker is not None:
            kwargs["marker"] = marker
        r = call(trove, "list_actions", **kwargs)
        assert isinstance(r, list) and len(r) == 2, f"list_actions answered {r!r}"
        page, nxt = r
        assert isinstance(page, list) and len(page) <= limit, r
        for a in page:
            check_action(a)
        ids = [a["id"] for a in page]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids), (
            f"a page is not newest first: {ids}")
        if out:
            assert not ids or ids[0] < out[-1]["id"], (
                f"page after marker {marker} starts at {ids[:1]}, not below {out[-1]['id']}")
        out.extend(page)
        pages += 1
        assert pages < 100000, "list_actions paging does not end"
        if nxt is None:
            return out
        assert page, "an empty page with a next marker"
        assert nxt == page[-1]["id"], f"next marker {nxt!r} is not the page's last id {page[-1]['id']}"
        marker = nxt


def mysql_error_code(fn):
    try:
        fn()
    except pymysql.err.MySQLError as e:
        return e.args[0]
    return None


def run_sql(user, password, database, sql):
    conn = harness.login(user, password, database=database)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            rows = cur.fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def journal_text(workdir):
    """Every file of the session agent's state dir, as text."""
    out = []
    for p in sorted((workdir / "state").rglob("*")):
        if p.is_file():
            out.append(p.read_bytes().decode("utf-8", "replace"))
    return "\n".join(out)


def assert_secret_nowhere(agent, trove, workdir, secret_values, action_ids=()):
    """Not in the agent's log, its journal files, get_action or list_actions."""
    log = agent.log_text()
    journal = journal_text(workdir)
    got = json.dumps([get_action(trove, i) for i in action_ids])
    listed = json.dumps(call(trove, "list_actions", limit=100000))
    for s in secret_values:
        assert s not in log, "a generated password appears in the agent's log"
        assert s not in journal, "a generated password is stored in the agent's journal"
        assert s not in got, "a generated password appears in get_action"
        assert s not in listed, "a generated password appears in list_actions"


# --------------------------------------------------------------------------- create_user

def test_create_user_call_without_password_generates_one(agent, trove, db, names, workdir):
    d = names.db("d")
    make_db(db, d)
    u = names.user("g")
    r = call(trove, "create_user", users=[user_dict(u, databases=[d])])
    a, passwords = check_action_reply(r, passwords=[key(u)], action_type="database_user_create",
                                      resource_type="database_user", status="success")
    p = generated(passwords, key(u))
    assert db.users_named(u) == ["%"]
    assert db.privileges_on(u, "%") == {d: {"ALL PRIVILEGES"}}, db.grants(u, "%")
    # application (the default): it can write.
    run_sql(u, p, d, "CREATE TABLE t (i INT)")
    run_sql(u, p, d, "INSERT INTO t VALUES (1)")
    assert run_sql(u, p, d, "SELECT i FROM t") == ((1,),)
    assert mysql_error_code(lambda: harness.login(u, p + "x").close()) == 1045
    assert_secret_nowhere(agent, trove, workdir, [p], [a["id"]])


def test_readonly_user_can_select_but_not_write(agent, trove, db, names, workdir):
    d = names.db("r")
    make_db(db, d)
    db.execute(f"CREATE TABLE {harness.quote_ident(d)}.t (i INT)")
    db.execute(f"INSERT INTO {harness.quote_ident(d)}.t VALUES (7)")
    # As a cast with a password...
    u1, p1 = names.user("ro1"), pw()
    rid = trove.cast_create_user([dict(user_dict(u1, password=p1, databases=[d]),
                                       _user_type="readonly")])
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    # ...and as a call without one.
    u2 = names.user("ro2")
    r = call(trove, "create_user", users=[dict(user_dict(u2, databases=[d]),
                                               _user_type="readonly")])
    a, passwords = check_action_reply(r, passwords=[key(u2)], status="success",
                                      action_type="database_user_create")
    p2 = generated(passwords, key(u2))
    for u, p in ((u1, p1), (u2, p2)):
        assert db.privileges_on(u, "%") == {d: {"SELECT", "SHOW VIEW"}}, db.grants(u, "%")
        assert run_sql(u, p, d, "SELECT i FROM t") == ((7,),)
        assert mysql_error_code(lambda: run_sql(u, p, d, "INSERT INTO t VALUES (8)")) == 1142
        assert mysql_error_code(lambda: run_sql(u, p, d, "DELETE FROM t")) == 1142
        assert mysql_error_code(lambda: run_sql(u, p, d, "CREATE TABLE t2 (i INT)")) == 1142
    assert db.scalar(f"SELECT COUNT(*) FROM {harness.quote_ident(d)}.t") == 1
    assert_secret_nowhere(agent, trove, workdir, [p2], [a["id"]])


def test_application_user_type_explicit(agent, trove, db, names):
    d = names.db("a")
    make_db(db, d)
    u, p = names.user("app"), pw()
    rid = trove.cast_create_user([dict(user_dict(u, password=p, databases=[d]),
                                       _user_type="application")])
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    assert db.privileges_on(u, "%") == {d: {"ALL PRIVILEGES"}}, db.grants(u, "%")
    run_sql(u, p, d, "CREATE TABLE t (i INT)")


def test_unknown_user_type_is_refused(agent, trove, db, names, unchanged):
    u = names.user("x")
    with unchanged("create_user with _user_type 'admin'"):
        rid = trove.cast_create_user([dict(user_dict(u, password=pw()), _user_type="admin")])
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid))


def test_create_user_cast_without_password_is_refused(agent, trove, db, names, unchanged):
    """Nothing could ever deliver a password generated for a cast."""
    u = names.user("np")
    with unchanged("a password-less create_user cast"):
        rid = trove.cast_create_user([user_dict(u, password=None)])
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid))
    assert db.users_named(u) == []


# --------------------------------------------------------------------------- regenerate

def test_regenerate_password(agent, trove, db, names, workdir):
    u, p0 = names.user("rg"), pw()
    rid = trove.cast_create_user([user_dict(u, password=p0)])
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    harness.login(u, p0).close()
    auth0 = db.auth_of(u, "%")

    r = call(trove, "regenerate_password", username=u, hostname="%")
    a1, passwords = check_action_reply(r, passwords=[key(u)], status="success",
                                       action_type="database_user_password_change",
                                       resource_type="database_user")
    p1 = generated(passwords, key(u))
    assert p1 != p0
    assert db.auth_of(u, "%") != auth0
    assert mysql_error_code(lambda: harness.login(u, p0).close()) == 1045, "the old password still works"
    harness.login(u, p1).close()

    r = call(trove, "regenerate_password", username=u, hostname="%")
    a2, passwords = check_action_reply(r, passwords=[key(u)], status="success")
    p2 = generated(passwords, key(u))
    assert p2 not in (p0, p1)
    assert a2["id"] > a1["id"]
    assert a2["resource_id"] == a1["resource_id"], "a user's resource_id changed between actions"
    assert mysql_error_code(lambda: harness.login(u, p1).close()) == 1045
    harness.login(u, p2).close()
    assert db.users_named(u) == ["%"]
    assert_secret_nowhere(agent, trove, workdir, [p1, p2], [a1["id"], a2["id"]])


def test_regenerate_password_of_missing_user_fails_and_changes_nothing(
        agent, trove, names, unchanged):
    from trove.common import exception
    u = names.user("missing")
    with unchanged("regenerate_password of a missing user"):
        e = call_error(call, trove, "regenerate_password", username=u, hostname="%")
    assert isinstance(e, (exception.UserNotFound, exception.BadRequest, exception.GuestError)), (
        f"{type(e).__name__}: {e}")
    newest = call(trove, "list_actions", limit=1)[0][0]
    check_action(newest, action_type="database_user_password_change", status="failed")


def test_regenerate_password_of_system_account_is_refused(agent, trove, unchanged):
    with unchanged("regenerate_password of root@localhost"):
        call_error(call, trove, "regenerate_password", username="root", hostname="localhost")
    with unchanged("regenerate_password of mariadb.sys@%"):
        call_error(call, trove, "regenerate_password", username="mariadb.sys", hostname="%")


# --------------------------------------------------------------------------- async

def test_async_create_user_returns_queued_then_get_action_shows_success(
        agent, trove, db, names, workdir):
    d = names.db("as")
    make_db(db, d)
    u = names.user("as")
    r = call(trove, "create_user", users=[user_dict(u, databases=[d])], **{"async": True})
    a, passwords = check_action_reply(r, passwords=[key(u)], status="queued",
                                      action_type="database_user_create")
    assert a["finished_at"] is None and a["finished_success"] is None
    assert a["finished_message"] is None
    p = generated(passwords, key(u))
    done = wait_finished(trove, a["id"])
    check_action(done, status="success", finished_success=True, id=a["id"],
                 action_type="database_user_create", resource_id=a["resource_id"],
                 created_at=a["created_at"])
    assert db.users_named(u) == ["%"]
    run_sql(u, p, d, "CREATE TABLE t (i INT)")
    assert_secret_nowhere(agent, trove, workdir, [p], [a["id"]])


def test_async_failure_is_read_with_get_action(agent, trove, db, names, unchanged):
    u = names.user("af")
    make_user(db, u, "%", pw())
    with unchanged("an async create_user of an existing user"):
        r = call(trove, "create_user", users=[user_dict(u, password=pw())], **{"async": True})
        a, passwords = check_action_reply(r, passwords=[], status="queued",
                                          action_type="database_user_create")
        done = wait_finished(trove, a["id"])
    check_action(done, status="failed", finished_success=False)
    assert u in done["finished_message"] or "exist" in done["finished_message"].lower(), done


def test_async_regenerate_password(agent, trove, db, names, workdir):
    u, p0 = names.user("ar"), pw()
    rid = trove.cast_create_user([user_dict(u, password=p0)])
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    r = call(trove, "regenerate_password", username=u, hostname="%", **{"async": True})
    a, passwords = check_action_reply(r, passwords=[key(u)], status="queued",
                                      action_type="database_user_password_change")
    p1 = generated(passwords, key(u))
    check_action(wait_finished(trove, a["id"]), status="success")
    harness.login(u, p1).close()
    assert mysql_error_code(lambda: harness.login(u, p0).close()) == 1045
    assert_secret_nowhere(agent, trove, workdir, [p1], [a["id"]])


# --------------------------------------------------------------------------- Trove casts as calls

def test_trove_cast_methods_sent_as_calls_answer_with_the_action(agent, trove, db, names):
    d = names.db("c")
    r = call(trove, "create_database", databases=[db_dict(d)])
    check_action_reply(r, passwords=[], action_type="database_create", resource_type="database",
                       resource_id=d, status="success")
    assert db.database_exists(d)

    u, p = names.user("c"), pw()
    r = call(trove, "create_user", users=[user_dict(u, password=p, databases=[d])])
    a, _ = check_action_reply(r, passwords=[], action_type="database_user_create",
                              resource_type="database_user", status="success")
    uid = a["resource_id"]
    assert isinstance(uid, str) and uid
    harness.login(u, p, database=d).close()

    p2 = pw()
    r = call(trove, "update_attributes", username=u, hostname="%", user_attrs={"password": p2})
    check_action_reply(r, passwords=[], action_type="database_user_update", resource_id=uid,
                       status="success")
    harness.login(u, p2).close()

    p3 = pw()
    r = call(trove, "change_passwords", users=[{"name": u, "host": "%", "password": p3}])
    check_action_reply(r, passwords=[], action_type="database_user_password_change",
                       resource_id=uid, status="success")
    harness.login(u, p3).close()
    assert mysql_error_code(lambda: harness.login(u, p2).close()) == 1045

    r = call(trove, "delete_user", user=user_dict(u))
    check_action_reply(r, passwords=[], action_type="database_user_delete", resource_id=uid,
                       status="success")
    assert db.users_named(u) == []

    r = call(trove, "delete_database", database=db_dict(d))
    check_action_reply(r, passwords=[], action_type="database_delete", resource_id=d,
                       status="success")
    assert not db.database_exists(d)


def test_failed_call_answers_the_failure_and_records_it(agent, trove, db, names, unchanged):
    from trove.common import exception
    u = names.user("dup")
    make_user(db, u, "%", pw())
    with unchanged("create_user of an existing user (call)"):
        e = call_error(call, trove, "create_user", users=[user_dict(u, password=pw())])
    assert isinstance(e, (exception.BadRequest, exception.GuestError)), f"{type(e).__name__}: {e}"
    newest = call(trove, "list_actions", limit=1)[0][0]
    check_action(newest, action_type="database_user_create", status="failed",
                 finished_success=False)


# --------------------------------------------------------------------------- resends (dedup)

def _raw_call_twice(trove, method, args):
    """The same call message (same ``_unique_id`` and ``_msg_id``) published twice,
    as oslo's publisher does when it retries a publish whose confirm it lost.  The
    real client cannot be made to do it on purpose, so this one goes out raw.
    Returns the two replies' inner messages."""
    import uuid
    rq = harness.ReplyQueue()
    try:
        inner = {"method": method, "args": args, "version": "1.0",
                 "_unique_id": uuid.uuid4().hex, "_msg_id": uuid.uuid4().hex,
                 "_reply_q": rq.name, "_timeout": 20,
                 "_context_request_id": "req-" + str(uuid.uuid4())}
        replies = []
        for _ in range(2):
            harness.publish_raw("guestagent." + trove.guest_id, harness.oslo_envelope(inner),
                                properties={"expiration": "20000"})
            m = rq.get(timeout=20)
            assert m is not None, f"no reply to {method} (resend {len(replies)})"
            reply = json.loads(json.loads(m.body)["oslo.message"])
            assert reply.get("_msg_id") == inner["_msg_id"], reply
            replies.append(reply)
        return replies
    finally:
        rq.close()


def test_resent_call_is_answered_from_the_journal_not_applied_again(agent, trove, db, names):
    d = names.db("rs")
    make_db(db, d)
    u, p = names.user("rs"), pw()
    first, second = _raw_call_twice(trove, "create_user",
                                    {"users": [user_dict(u, password=p, databases=[d])]})
    assert not first.get("failure"), first
    assert not second.get("failure"), f"the resend was applied again and failed: {second}"
    a1, _ = check_action_reply(first["result"], status="success")
    a2, _ = check_action_reply(second["result"], status="success")
    assert a2["id"] == a1["id"], "the resend made a second action"
    newest = call(trove, "list_actions", limit=1)[0][0]
    assert newest["id"] == a1["id"], "the resend was admitted as a new action"
    assert db.users_named(u) == ["%"]
    harness.login(u, p, database=d).close()


def test_resent_password_less_call_does_not_regenerate(agent, trove, db, names, workdir):
    """docs/reliability.md: a resent password-less create_user is answered with the
    action, without the password (never stored), and the password is not changed."""
    u = names.user("rp")
    first, second = _raw_call_twice(trove, "create_user", {"users": [user_dict(u)]})
    assert not first.get("failure") and not second.get("failure"), (first, second)
    a1, passwords = check_action_reply(first["result"], passwords=[key(u)], status="success")
    p = generated(passwords, key(u))
    a2, again = check_action_reply(second["result"], status="success")
    assert a2["id"] == a1["id"]
    assert p not in json.dumps(second), "the resend's answer holds the password: it was stored"
    harness.login(u, p).close()
    assert_secret_nowhere(agent, trove, workdir, [p], [a1["id"]])


# --------------------------------------------------------------------------- get/list actions

def test_get_action_and_list_actions_shapes_and_paging(agent, trove, db, names):
    made = []
    for i in range(3):
        d = names.db(f"l{i}")
        r = call(trove, "create_database", databases=[db_dict(d)])
        a, _ = check_action_reply(r, status="success", resource_id=d)
        made.append(a)
    ids = [a["id"] for a in made]
    assert ids == sorted(ids) and len(set(ids)) == 3, ids

    for a in made:
        got = get_action(trove, a["id"])
        check_action(got)
        # The reply was built when the action finished; answering it may touch
        # updated_at only.
        assert {k: v for k, v in got.items() if k != "updated_at"} == \
               {k: v for k, v in a.items() if k != "updated_at"}, (got, a)
        assert ts(got["updated_at"], "updated_at") >= ts(a["updated_at"], "updated_at")
    assert get_action(trove, 10 ** 12) is None
    assert get_action(trove, ids[-1] + 1000) is None

    page, nxt = call(trove, "list_actions", limit=2)
    assert [a["id"] for a in page] == [ids[2], ids[1]], "list_actions is not newest first"
    assert nxt == ids[1]
    page2, _ = call(trove, "list_actions", limit=1, marker=nxt)
    assert [a["id"] for a in page2] == [ids[0]]
    assert page[0] == get_action(trove, ids[2])

    everything = all_actions(trove, limit=7)
    got_ids = [a["id"] for a in everything]
    assert set(ids) <= set(got_ids)
    one_go, end = call(trove, "list_actions", limit=100000)
    assert end is None
    assert [a["id"] for a in one_go] == got_ids
    # Default page size.
    default, _ = call(trove, "list_actions")
    assert [a["id"] for a in default] == got_ids[:30]
    # A marker at the oldest action: nothing older.
    tail, end = call(trove, "list_actions", limit=5, marker=got_ids[-1])
    assert tail == [] and end is None


def test_list_actions_bad_arguments_are_refused(agent, trove, unchanged):
    with unchanged():
        call_error(call, trove, "list_actions", limit="ten")
        call_error(call, trove, "get_action", id="one")
        call_error(call, trove, "get_action")


# --------------------------------------------------------------------------- list_database_users

def _list_db_users(trove, **kwargs):
    r = call(trove, "list_database_users", **kwargs)
    assert isinstance(r, dict) and set(r) == {"response", "count", "pagination"}, r
    assert isinstance(r["response"], list) and isinstance(r["count"], int), r
    assert isinstance(r["pagination"], dict) and set(r["pagination"]) == PAGINATION_KEYS, r
    for item in r["response"]:
        assert isinstance(item, dict) and set(item) == DBUSER_KEYS, item
        assert isinstance(item["uid"], str) and item["uid"], item
        assert isinstance(item["username"], str) and isinstance(item["host"], str), item
        assert isinstance(item["databases"], list), item
        assert all(isinstance(x, str) for x in item["databases"]), item
        assert item["user_type"] in ("application", "readonly", "custom"), item
        if item["created_at"] is not None:
            ts(item["created_at"], "created_at")
    return r


def test_list_database_users_shape_types_and_pagination(agent, trove, db, names):
    d1, d2 = names.db("u1"), names.db("u2")
    make_db(db, d1)
    make_db(db, d2)
    app, ro = names.user("app"), names.user("ro")
    r = call(trove, "create_user", users=[user_dict(app, password=pw(), databases=[d1, d2])])
    app_action, _ = check_action_reply(r, status="success")
    r = call(trove, "create_user", users=[dict(user_dict(ro, password=pw(), databases=[d1]),
                                               _user_type="readonly")])
    ro_action, _ = check_action_reply(r, status="success")
    # Made outside the agent: the type is read back from the grants.
    ext_ro, ext_app = names.user("xro"), names.user("xapp")
    make_user(db, ext_ro, "%", pw())
    db.execute("GRANT SELECT, SHOW VIEW ON %s.* TO %%s@%%s"
               % harness.quote_ident(d2.replace("_", "\\_")), (ext_ro, "%"))
    make_user(db, ext_app, "%", pw(), [d1])

    full = _list_db_users(trove, page=1, per_page=100000)
    total = full["count"]
    assert len(full["response"]) == total
    assert full["pagination"] == {"previous": None, "next": None, "current": 1,
                                  "per_page": 100000, "count": total, "pages": 1}, full["pagination"]
    mine = {(u["username"], u["host"]): u for u in full["response"]}
    uids = [u["uid"] for u in full["response"]]
    assert len(set(uids)) == len(uids), "two users share a uid"
    for (name, host) in mine:
        assert name not in ("mariadb.sys", "os_admin") and not name.startswith("mysql."), (name, host)
        assert host not in ("localhost", "127.0.0.1", "::1"), (name, host)

    u = mine[(app, "%")]
    assert sorted(u["databases"]) == sorted([d1, d2]) and u["user_type"] == "application", u
    assert u["uid"] == app_action["resource_id"], "the listing's uid is not the action's resource_id"
    assert u["created_at"] is not None, "an agent-made user has no created_at"
    u = mine[(ro, "%")]
    assert u["databases"] == [d1] and u["user_type"] == "readonly", u
    assert u["uid"] == ro_action["resource_id"]
    assert u["created_at"] is not None
    u = mine[(ext_ro, "%")]
    assert u["databases"] == [d2] and u["user_type"] == "readonly", u
    u = mine[(ext_app, "%")]
    assert u["databases"] == [d1] and u["user_type"] == "application", u

    # uids are stable.
    again = _list_db_users(trove, page=1, per_page=100000)
    for k in ((app, "%"), (ro, "%"), (ext_ro, "%"), (ext_app, "%")):
        assert any((x["username"], x["host"]) == k and x["uid"] == mine[k]["uid"]
                   for x in again["response"]), f"the uid of {k} changed"

    # Other test sessions may share this mysqld and add or drop accounts while
    # the pages are read: a walk counts only if the whole listing was the same
    # before and after it.
    for attempt in range(5):
        before = [x["uid"] for x in _list_db_users(trove, page=1, per_page=100000)["response"]]
        default = _list_db_users(trove)
        walked, pages_seen = [], []
        total = len(before)
        pages = -(-total // 2) if total else 1
        for p in range(1, pages + 1):
            r = _list_db_users(trove, page=p, per_page=2)
            pages_seen.append(r)
            walked.extend(x["uid"] for x in r["response"])
        beyond = _list_db_users(trove, page=pages + 1, per_page=2)
        after = [x["uid"] for x in _list_db_users(trove, page=1, per_page=100000)["response"]]
        if before == after:
            break
    else:
        pytest.fail("the account listing kept changing under other sessions; paging not checked")
    # Default page size 30, page 1.
    assert default["pagination"]["per_page"] == 30 and default["pagination"]["current"] == 1
    assert [x["uid"] for x in default["response"]] == before[:30]
    # Walk with 2 per page.
    for p, r in enumerate(pages_seen, start=1):
        assert r["count"] == total
        assert r["pagination"] == {"previous": p - 1 if p > 1 else None,
                                   "next": p + 1 if p < pages else None, "current": p,
                                   "per_page": 2, "count": total, "pages": pages}, r["pagination"]
        assert len(r["response"]) == (2 if p < pages else total - 2 * (pages - 1)), r
    assert walked == before, "the pages do not add up to the whole listing"
    assert beyond["response"] == [] and beyond["count"] == total


def test_list_database_users_bad_page_is_refused(agent, trove, unchanged):
    with unchanged():
        for kwargs in ({"page": 0}, {"per_page": 0}, {"page": "x"}, {"page": -1}):
            call_error(call, trove, "list_database_users", **kwargs)


# --------------------------------------------------------------------------- the host CLI

def _cli(agent, *args):
    return subprocess.run([agent.binary, "actions", *args], capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)


def test_actions_cli_lists_what_list_actions_lists(agent, trove, agent_config, names):
    try:
        helped = _cli(agent, "--help")
    except OSError:
        helped = None
    if helped is None or helped.returncode != 0:
        pytest.skip("guestagent actions is not available")
    d = names.db("cli")
    call(trove, "create_database", databases=[db_dict(d)])
    rpc_page, _ = call(trove, "list_actions", limit=5)

    r = _cli(agent, "--config", str(agent_config), "--limit", "5", "--json")
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    rows = [json.loads(l) for l in lines]
    assert len(rows) == len(rpc_page) == 5
    assert [x["id"] for x in rows] == [a["id"] for a in rpc_page], "CLI order differs from list_actions"
    for row, a in zip(rows, rpc_page):
        assert set(row) <= ACTION_KEYS | {"answered", "changed"}, f"the CLI shows more than the action: {sorted(row)}"
        for k in ACTION_KEYS & set(row):
            if k != "updated_at":
                assert row[k] == a[k], (k, row, a)

    table = _cli(agent, "--config", str(agent_config), "--limit", "3")
    assert table.returncode == 0, table.stderr
    assert str(rpc_page[0]["id"]) in table.stdout and rpc_page[0]["action_type"] in table.stdout

    bad = _cli(agent, "--config", str(agent_config) + ".missing")
    assert bad.returncode == 2, (bad.returncode, bad.stderr)


# --------------------------------------------------------------------------- secrets (last)

def test_generated_passwords_are_nowhere(agent, trove, agent_config, workdir):
    """Every password generated in this module: not in the agent's log, its journal,
    list_actions (all of it) or the host CLI's output."""
    if not GENERATED:
        pytest.skip("no password was generated (earlier tests failed or were deselected)")
    assert len(set(GENERATED)) == len(GENERATED), "the agent generated the same password twice"
    assert_secret_nowhere(agent, trove, workdir, GENERATED)
    r = _cli(agent, "--config", str(agent_config), "--limit", "100000", "--json")
    if r.returncode == 0:
        for s in GENERATED:
            assert s not in r.stdout + r.stderr, "a generated password appears in `guestagent actions`"
