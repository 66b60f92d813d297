"""Users through the real Trove client (issue 4; trove-wire §4, §5), checked in mysqld."""

import re
import secrets

import pymysql
import pytest

import harness
from harness import expect_end, expect_exc, call_error, make_db, make_user, make_user_grant

# Trove's serialized MySQLUser, then the account attributes guestagent adds
# (keys Trove's own models ignore).
USER_KEYS = {"_name", "_host", "_password", "_databases", "_is_root",
             "_require", "_max_connections", "_max_queries_per_hour", "_locked",
             "_password_expire_days", "_auth_plugin"}


def key(u):
    return "%s@%s" % (u["_name"], u["_host"])


def trove_users(users):
    """The create_user argument exactly as Trove's API builds it from a REST body."""
    from trove.extensions.common.common import populate_users
    return populate_users(users)


def all_privilege_dbs(db, user, host):
    """Databases on which SHOW GRANTS gives this account ALL (GRANT-escaped
    wildcards `\\_`/`\\%` read back as the literal name)."""
    out = set()
    for g in db.grants(user, host):
        m = re.match(r"GRANT ALL PRIVILEGES ON `((?:[^`]|``)+)`\.\* TO ", g)
        if m:
            name = m.group(1).replace("``", "`")
            out.add(re.sub(r"\\([_%])", r"\1", name))
    return out


def full_user_list(api):
    items, next_marker = api.list_users(limit=100000)
    assert next_marker is None
    return items


# --------------------------------------------------------------------------- ping

def test_rpc_ping(agent, api):
    assert api.rpc_ping() is True


# --------------------------------------------------------------------------- create_user

def test_create_user_with_databases_grants_all_and_password_works(agent, trove, db, names):
    d1, d2 = names.db("d1"), names.db("d2")
    make_db(db, d1)
    make_db(db, d2)
    u = names.user("u")
    pw = "Pw" + secrets.token_hex(10)
    users = trove_users([{"name": u, "password": pw,
                          "databases": [{"name": d1}, {"name": d2}]}])
    rid = trove.cast_create_user(users)
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))

    assert db.users_named(u) == ["%"]
    assert all_privilege_dbs(db, u, "%") == {d1, d2}, db.grants(u, "%")
    conn = harness.login(u, pw, database=d1)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            assert cur.fetchone()[0] == u + "@%"
            cur.execute("CREATE TABLE t (i INT)")
            cur.execute("USE " + harness.quote_ident(d2))
            cur.execute("CREATE TABLE t (i INT)")
    finally:
        conn.close()
    with pytest.raises(pymysql.err.OperationalError):
        harness.login(u, pw + "x").close()
    assert pw not in agent.log_text(), "the password appears in the agent's log"


def test_create_user_without_databases_and_with_ip_wildcard_host(agent, trove, db, names):
    u = names.user("h")
    pw = "Pw" + secrets.token_hex(10)
    users = trove_users([{"name": u, "host": "10.1.2.%", "password": pw},
                         {"name": u, "password": pw}])
    rid = trove.cast_create_user(users)
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    assert db.users_named(u) == ["%", "10.1.2.%"]
    assert all_privilege_dbs(db, u, "10.1.2.%") == set()
    assert all(g.startswith("GRANT USAGE ON *.*") for g in db.grants(u, "10.1.2.%")), \
        db.grants(u, "10.1.2.%")
    harness.login(u, pw).close()


def test_create_user_grant_on_underscore_name_is_not_a_wildcard(agent, trove, db, names):
    """ALL on `<tag>a_b` must not reach `<tag>azb` (design.md rule 1: `_` and `%`
    escaped inside GRANT)."""
    target, decoy = names.db("a_b"), names.db("azb")
    make_db(db, target)
    make_db(db, decoy)
    u = names.user("w")
    pw = "Pw" + secrets.token_hex(10)
    rid = trove.cast_create_user(trove_users([{"name": u, "password": pw,
                                               "databases": [{"name": target}]}]))
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    conn = harness.login(u, pw, database=target)
    try:
        with conn.cursor() as cur:
            with pytest.raises(pymysql.err.OperationalError) as ei:
                cur.execute("USE " + harness.quote_ident(decoy))
            assert ei.value.args[0] in (1044, 1049), ei.value
    finally:
        conn.close()


def test_create_user_password_with_special_characters_is_exact_or_refused(
        agent, trove, db, names, unchanged):
    """Quotes, backslash, `;`, `--` in a password: stored exactly (login works with
    exactly it) or refused with nothing created -- never mangled."""
    u = names.user("p")
    pw = "a'b\"c\\d;e -- f`g%h_" + secrets.token_hex(4)
    before = db.snapshot()
    rid = trove.cast_create_user([harness.user_dict(u, password=pw)])
    rec = trove.conductor.wait_outcome(rid)
    if rec.method == "notify_exc_info":
        expect_exc(trove, rid, rec, secrets=[pw])
        assert harness.diff_snapshots(before, db.snapshot()) == []
        return
    expect_end(trove, rid, rec)
    assert db.users_named(u) == ["%"]
    harness.login(u, pw).close()
    assert pw not in agent.log_text(), "the password appears in the agent's log"


# --------------------------------------------------------------------------- get_user

def test_get_user_shape_and_databases(agent, api, db, names):
    d1, d2 = names.db("g1"), names.db("g2")
    make_db(db, d1)
    make_db(db, d2)
    u = names.user("g")
    make_user(db, u, "%", "Pw" + secrets.token_hex(8), [d1])
    make_user_grant(db, u, "%", d2, escape=False)  # as Trove's own agent grants
    got = api.get_user(username=u, hostname="%")
    assert isinstance(got, dict) and set(got) == USER_KEYS, got
    assert got["_name"] == u and got["_host"] == "%"
    assert got["_password"] is None
    assert got["_is_root"] is False
    assert isinstance(got["_databases"], list)
    assert all(isinstance(d, dict) and "_name" in d for d in got["_databases"]), got
    assert sorted(d["_name"] for d in got["_databases"]) == [d1, d2]
    # What Trove's API does with it (extensions/common/models.py User.load).
    from trove.common.db import models as guest_models
    guest_models.DatastoreUser.deserialize(got, verify=False)


def test_get_user_absent_is_none(agent, api, db, names):
    u = names.user("a")
    assert api.get_user(username=u, hostname="%") is None
    make_user(db, u, "10.9.9.9")
    assert api.get_user(username=u, hostname="%") is None, "another host's account returned"
    assert api.get_user(username=u, hostname="10.9.9.9")["_host"] == "10.9.9.9"


# --------------------------------------------------------------------------- list_users

@pytest.fixture
def four_users(db, names):
    """ua@%, ub@%, ub@10.0.0.%, uc@% (uc has ALL on one database); keys in order."""
    d = names.db("ld")
    make_db(db, d)
    make_user(db, names.user("ua"))
    make_user(db, names.user("ub"))
    make_user(db, names.user("ub"), "10.0.0.%")
    make_user(db, names.user("uc"), "%", None, [d])
    keys = [names.user("ua") + "@%", names.user("ub") + "@%",
            names.user("ub") + "@10.0.0.%", names.user("uc") + "@%"]
    return keys, d


def test_list_users_shape_and_system_accounts_hidden(agent, api, db, names, four_users):
    keys, d = four_users
    result = api.list_users(limit=100000)
    assert isinstance(result, list) and len(result) == 2, result
    items, next_marker = result
    assert next_marker is None
    for u in items:
        assert isinstance(u, dict) and set(u) == USER_KEYS, u
        assert u["_password"] is None, "list_users must not return passwords"
        assert isinstance(u["_databases"], list)
    ours = [u for u in items if u["_name"].startswith(names.tag)]
    assert [key(u) for u in ours] == keys
    by_key = {key(u): u for u in ours}
    assert [x["_name"] for x in by_key[keys[3]]["_databases"]] == [d]
    assert by_key[keys[0]]["_databases"] == []
    assert all(u["_is_root"] is False for u in ours)
    for u in items:
        assert u["_host"].lower() != "localhost", f"@localhost account listed: {key(u)}"
        assert u["_name"] not in ("os_admin", "mariadb.sys", "mysql"), key(u)
        assert not u["_name"].startswith("mysql."), key(u)
        assert not (u["_name"] == "root" and u["_host"] != "%"), f"listed {key(u)}"
    if not db.user_exists("root", "%"):
        assert "root" not in [u["_name"] for u in items], "root listed though not enabled"
    # The listing is what mysqld has (for this test's accounts).
    truth = sorted("%s@%s" % (r[0], r[1]) for r in db.query(
        "SELECT User, Host FROM mysql.user WHERE User LIKE %s",
        (names.tag.replace("_", "\\_") + "%",)))
    assert sorted(by_key) == truth
    # Trove's own consumer accepts it (extensions/common/models.py).
    from trove.extensions.common.models import Users
    models, nm = Users.load_with_client(api, limit=100000, marker=None, include_marker=False)
    assert [m.name for m in models if m.name.startswith(names.tag)] == [k.split("@")[0] for k in keys]


def test_list_users_without_limit_lists_everything(agent, api, four_users):
    """API.list_users() sends limit=null by default: everything, next_marker null."""
    keys, _ = four_users
    items, next_marker = api.list_users()
    assert next_marker is None
    assert [key(u) for u in items] == [key(u) for u in full_user_list(api)]
    assert set(keys) <= {key(u) for u in items}


def test_list_users_paging(agent, api, names, four_users):
    keys, _ = four_users
    everything = [key(u) for u in full_user_list(api)]
    i = everything.index(keys[0])
    assert everything[i:i + 4] == keys, "accounts not sorted by name@host"

    items, nm = api.list_users(limit=2, marker=names.tag)
    assert [key(u) for u in items] == keys[:2]
    assert nm == keys[1], "next_marker must be the last returned item's name@host"

    items, nm = api.list_users(limit=2, marker=nm)
    assert [key(u) for u in items] == keys[2:4]
    more = i + 4 < len(everything)
    assert nm == (keys[3] if more else None)

    items, nm = api.list_users(limit=2, marker=keys[1], include_marker=True)
    assert [key(u) for u in items] == keys[1:3]
    assert nm == keys[2]

    items, nm = api.list_users(limit=3, marker=keys[1], include_marker=False)
    assert [key(u) for u in items] == keys[2:4] + everything[i + 4:i + 5]


def test_list_users_bare_name_marker(agent, api, names, four_users):
    """A bare user name as marker is a position in the name@host order: "ub" sorts
    before every "ub@host", so the page starts at ub's first account whether or not
    the marker is included (what Trove's own agent does: Marker > 'ub')."""
    keys, _ = four_users
    ub = names.user("ub")
    items, nm = api.list_users(limit=2, marker=ub, include_marker=True)
    assert [key(u) for u in items] == keys[1:3]
    assert nm == keys[2]
    items, nm = api.list_users(limit=2, marker=ub, include_marker=False)
    assert [key(u) for u in items] == keys[1:3]


def test_list_users_end_of_list(agent, api, four_users):
    everything = [key(u) for u in full_user_list(api)]
    n = len(everything)
    last = everything[-1]
    items, nm = api.list_users(limit=1, marker=last, include_marker=True)
    assert [key(u) for u in items] == [last] and nm is None
    items, nm = api.list_users(limit=5, marker=last)
    assert items == [] and nm is None
    items, nm = api.list_users(limit=n)
    assert len(items) == n and nm is None, "a full last page must end with next_marker null"
    items, nm = api.list_users(limit=n - 1)
    assert len(items) == n - 1 and nm == everything[n - 2]


def test_trove_existence_check_before_create(agent, api, names, four_users):
    """Trove's API checks a user exists with list_users(limit=1, marker=name@host,
    include_marker=True) before create_user (extensions/common/models.py)."""
    keys, _ = four_users
    from trove.extensions.common.models import Users
    found, _ = Users.load_with_client(api, limit=1, marker=keys[2], include_marker=True)
    assert [(u.name, u.host) for u in found] == [(names.user("ub"), "10.0.0.%")]


# --------------------------------------------------------------------------- delete_user

def test_delete_user(agent, trove, db, names):
    d = names.db("dd")
    make_db(db, d)
    u = names.user("del")
    make_user(db, u, "%", "Pw" + secrets.token_hex(8), [d])
    make_user(db, u, "10.0.0.%")
    from trove.common.db import models as guest_models
    rid = trove.cast_delete_user(guest_models.DatastoreUser(name=u, host="%").serialize())
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    assert db.users_named(u) == ["10.0.0.%"], "the wrong account(s) deleted"
    assert db.scalar("SELECT COUNT(*) FROM mysql.db WHERE User=%s AND Host='%%'", (u,)) == 0
    assert api_get(trove, u, "%") is None


def api_get(trove, name, host):
    return trove.api().get_user(username=name, hostname=host)


# --------------------------------------------------------------------------- system accounts

SYSTEM_ACCOUNTS = [("root", "localhost"), ("root", "127.0.0.1"), ("mariadb.sys", "localhost"),
                   ("mysql", "localhost"), ("os_admin", "%"), ("os_admin", "localhost")]


@pytest.mark.parametrize("name,host", SYSTEM_ACCOUNTS, ids=[f"{n}@{h}" for n, h in SYSTEM_ACCOUNTS])
def test_get_user_refuses_system_accounts(agent, trove, name, host):
    from trove.common import exception
    e = call_error(trove.raw_call, "get_user", username=name, hostname=host)
    assert isinstance(e, exception.TroveError), (
        f"expected a trove.common.exception error, got {type(e).__name__}: {e}")
    # What Trove's API sees through API._call.
    e = call_error(trove.api().get_user, username=name, hostname=host)
    assert isinstance(e, exception.GuestError), f"{type(e).__name__}: {e}"


def test_get_user_refuses_any_localhost_account(agent, trove, db, names):
    from trove.common import exception
    u = names.user("lh")
    make_user(db, u, "localhost")
    e = call_error(trove.raw_call, "get_user", username=u, hostname="localhost")
    assert isinstance(e, exception.TroveError), f"{type(e).__name__}: {e}"


@pytest.mark.parametrize("name,host", SYSTEM_ACCOUNTS, ids=[f"{n}@{h}" for n, h in SYSTEM_ACCOUNTS])
def test_delete_user_refuses_system_accounts(agent, trove, unchanged, name, host):
    with unchanged(f"delete_user {name}@{host}"):
        rid = trove.cast_delete_user(harness.user_dict(name, host))
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid))


def test_delete_user_refuses_a_localhost_account(agent, trove, db, names, unchanged):
    u = names.user("lhd")
    make_user(db, u, "localhost")
    with unchanged():
        rid = trove.cast_delete_user(harness.user_dict(u, "localhost"))
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid))
    assert db.user_exists(u, "localhost")


@pytest.mark.parametrize("name", ["root", "os_admin", "mariadb.sys", "mysql.session"])
def test_create_user_refuses_system_names(agent, trove, unchanged, name):
    with unchanged(f"create_user {name}@%"):
        rid = trove.cast_create_user([harness.user_dict(name, "%", password="Pw1234567890")])
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid), secrets=["Pw1234567890"])
