"""update_attributes and change_passwords through the real Trove client (issue 5;
trove-wire §4, §5), checked in mysqld: logins with the old and new passwords over
TCP (accounts on host `%`), mysql.user, mysql.db, and the account-lock flag."""

import secrets

import pymysql
import pytest

import harness
from harness import expect_end, expect_exc, make_db, make_user

INJECTION = "pw' ACCOUNT LOCK -- "


def pw():
    return "Pw" + secrets.token_hex(10)


def can_login(user, password):
    """Over TCP from 127.0.0.1; the password sent as UTF-8 (PyMySQL would send a str
    as latin-1, which is not what a password with non-ASCII characters is)."""
    try:
        harness.login(user, password.encode("utf-8")).close()
        return True
    except pymysql.err.OperationalError as e:
        # 1045 wrong password, 1698 no such account, 4151 account locked
        assert e.args[0] in (1045, 1698, 4151), f"unexpected login failure: {e}"
        return False


def stored_db_rows(db, user, host):
    return sorted(r[0] for r in db.query(
        "SELECT Db FROM mysql.db WHERE User=%s AND Host=%s", (user, host)))


def escaped(name):
    return name.replace("_", "\\_")


def is_locked(db, user, host):
    create = db.scalar("SHOW CREATE USER %s@%s", (user, host))
    return "ACCOUNT LOCK" in create.upper()


def refused(trove, username, hostname, attrs, secrets_=()):
    rid = trove.cast_update_attributes(username, hostname, attrs)
    expect_exc(trove, rid, trove.conductor.wait_outcome(rid), secrets=secrets_)


def applied(trove, username, hostname, attrs):
    rid = trove.cast_update_attributes(username, hostname, attrs)
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))


# --------------------------------------------------------------------------- update_attributes

def test_update_password_only(agent, trove, db, names):
    u, old, new = names.user("p"), pw(), pw()
    make_user(db, u, "%", old)
    applied(trove, u, "%", {"password": new})
    assert db.users_named(u) == ["%"]
    assert not can_login(u, old), "the old password still works"
    assert can_login(u, new), "the new password does not work"
    assert new not in agent.log_text(), "the password appears in the agent's log"


def test_update_name_only_moves_grants_and_keeps_password(agent, trove, db, names):
    d1, d2 = names.db("n1"), names.db("n_2")
    make_db(db, d1)
    make_db(db, d2)
    u, v, p = names.user("old"), names.user("new"), pw()
    make_user(db, u, "%", p, [d1, d2])
    applied(trove, u, "%", {"name": v})
    assert db.users_named(u) == []
    assert db.users_named(v) == ["%"]
    assert stored_db_rows(db, v, "%") == sorted([escaped(d1), escaped(d2)]), db.grants(v, "%")
    assert stored_db_rows(db, u, "%") == [], "grants left behind on the old name"
    assert can_login(v, p)
    assert not can_login(u, p)
    conn = harness.login(v, p, database=d2)
    conn.close()


def test_update_host_only(agent, trove, db, names):
    d = names.db("h")
    make_db(db, d)
    u, p = names.user("h"), pw()
    make_user(db, u, "%", p, [d])
    before = db.auth_of(u, "%")
    applied(trove, u, "%", {"host": "10.11.12.%"})
    assert db.users_named(u) == ["10.11.12.%"]
    assert stored_db_rows(db, u, "10.11.12.%") == [escaped(d)]
    assert db.auth_of(u, "10.11.12.%") == before, "the host change touched the credentials"
    assert not can_login(u, p), "an account on 10.11.12.% answered a login from 127.0.0.1"


def test_update_name_and_password(agent, trove, db, names):
    d = names.db("np")
    make_db(db, d)
    u, v, old, new = names.user("a"), names.user("b"), pw(), pw()
    make_user(db, u, "%", old, [d])
    applied(trove, u, "%", {"name": v, "password": new})
    assert db.users_named(u) == [] and db.users_named(v) == ["%"]
    assert stored_db_rows(db, v, "%") == [escaped(d)]
    assert can_login(v, new)
    assert not can_login(v, old)
    assert not can_login(u, old) and not can_login(u, new)


def test_update_name_host_and_password_then_back(agent, trove, db, names):
    d = names.db("all")
    make_db(db, d)
    u, v, p1, p2, p3 = names.user("x"), names.user("y"), pw(), pw(), pw()
    make_user(db, u, "%", p1, [d])
    applied(trove, u, "%", {"name": v, "host": "10.0.0.%", "password": p2})
    assert db.users_named(u) == [] and db.users_named(v) == ["10.0.0.%"]
    assert stored_db_rows(db, v, "10.0.0.%") == [escaped(d)]
    # and back to % (so the new password can be proved from here), new password again
    applied(trove, v, "10.0.0.%", {"host": "%", "password": p3})
    assert db.users_named(v) == ["%"]
    assert stored_db_rows(db, v, "%") == [escaped(d)]
    assert can_login(v, p3)
    assert not can_login(v, p2) and not can_login(v, p1)


def test_update_same_name_with_password_is_not_a_rename(agent, trove, db, names):
    u, old, new = names.user("s"), pw(), pw()
    make_user(db, u, "%", old)
    applied(trove, u, "%", {"name": u, "host": "%", "password": new})
    assert db.users_named(u) == ["%"]
    assert can_login(u, new) and not can_login(u, old)


def test_update_password_injection_is_a_literal_password(agent, trove, db, names):
    """Trove splices the password into SQL: `pw' ACCOUNT LOCK -- ` locks the account
    there.  Here it must be just a password."""
    u, old = names.user("inj"), pw()
    make_user(db, u, "%", old)
    applied(trove, u, "%", {"password": INJECTION})
    assert not is_locked(db, u, "%"), "the password text locked the account"
    assert can_login(u, INJECTION), "login with the literal password fails"
    assert not can_login(u, "pw"), "the password was cut at the quote"
    assert not can_login(u, old)


def test_update_rename_with_injection_password(agent, trove, db, names):
    u, v = names.user("ia"), names.user("ib")
    make_user(db, u, "%", pw())
    applied(trove, u, "%", {"name": v, "password": INJECTION})
    assert db.users_named(v) == ["%"] and db.users_named(u) == []
    assert not is_locked(db, v, "%")
    assert can_login(v, INJECTION)


def test_update_password_with_special_characters(agent, trove, db, names):
    u = names.user("sc")
    p = "a'b\"c\\d;e -- f`g%h_\u00e9" + secrets.token_hex(4)
    make_user(db, u, "%", pw())
    applied(trove, u, "%", {"password": p})
    assert can_login(u, p)
    assert p not in agent.log_text(), "the password appears in the agent's log"


# --------------------------------------------------------------------------- refusals

def test_rename_onto_an_existing_user_changes_nothing(agent, trove, db, names, unchanged):
    d = names.db("ex")
    make_db(db, d)
    u, v, pu, pv = names.user("u"), names.user("v"), pw(), pw()
    make_user(db, u, "%", pu, [d])
    make_user(db, v, "%", pv)
    new = pw()
    with unchanged("rename onto an existing user"):
        refused(trove, u, "%", {"name": v}, secrets_=[pu, pv])
        refused(trove, u, "%", {"name": v, "password": new}, secrets_=[new])
    assert can_login(u, pu) and can_login(v, pv)
    assert not can_login(u, new) and not can_login(v, new)


def test_rehost_onto_an_existing_account_changes_nothing(agent, trove, db, names, unchanged):
    u, p1, p2 = names.user("rh"), pw(), pw()
    make_user(db, u, "%", p1)
    make_user(db, u, "10.3.3.3", p2)
    with unchanged("re-host onto an existing account"):
        refused(trove, u, "%", {"host": "10.3.3.3"})
        refused(trove, u, "10.3.3.3", {"host": "%", "password": pw()})
    assert can_login(u, p1)


@pytest.mark.parametrize("attrs", [
    {"name": "root"},
    {"name": "root", "password": "Pw-root-1234567890"},
    {"name": "os_admin"},
    {"name": "mariadb.sys"},
    {"name": "mysql.sys"},
    {"host": "localhost"},
    {"host": "LOCALHOST"},
    {"host": "127.0.0.1"},
    {"host": "::1"},
    {"name": "root", "host": "localhost"},
    {"name": "root", "host": "127.0.0.1"},
], ids=["root", "root+password", "os_admin", "mariadb.sys", "mysql.sys",
        "localhost", "LOCALHOST", "127.0.0.1", "::1", "root@localhost", "root@127.0.0.1"])
def test_rename_to_a_protected_account_is_refused(agent, trove, db, names, unchanged, attrs):
    u, p = names.user("pr"), pw()
    make_user(db, u, "%", p)
    with unchanged(f"update_attributes {attrs}"):
        refused(trove, u, "%", attrs)
    assert can_login(u, p)


@pytest.mark.parametrize("attrs", [
    {"name": "a'b"}, {"name": ""}, {"name": "x" * 33}, {"host": "10.0.0.1'; --"},
    {"host": "db.example.com"}, {"password": ""}, {"password": "a\x00b"},
    {"name": "{new}", "password": "a\x00b"},
    {"name": "{new}", "host": "bad host"},
], ids=["quote", "empty-name", "33-chars", "host-quote", "host-name", "empty-password",
        "nul-password", "rename+bad-password", "rename+bad-host"])
def test_update_with_a_bad_attribute_changes_nothing(agent, trove, db, names, unchanged, attrs):
    """Everything is validated before mysqld is touched: a bad password next to a good
    rename leaves the account as it was (or, for Trove's "empty password = no
    change", still not half applied)."""
    u, p = names.user("bd"), pw()
    make_user(db, u, "%", p)
    attrs = {k: (v.replace("{new}", names.user("nw")) if isinstance(v, str) else v)
             for k, v in attrs.items()}
    if attrs.get("name") and attrs["name"] != names.user("nw"):
        attrs["name"] = names.tag + attrs["name"] if attrs["name"] != "" else ""
    with unchanged(f"update_attributes {attrs!r}"):
        rid = trove.cast_update_attributes(u, "%", attrs)
        rec = trove.conductor.wait_outcome(rid)
        if attrs in ({"password": ""}, {"name": ""}) and rec.method == "notify_end":
            pass  # Trove's agent treats an empty value as "no change": acceptable
        else:
            expect_exc(trove, rid, rec)
    assert can_login(u, p)


def test_update_unknown_user_is_a_failure(agent, trove, db, names, unchanged):
    u = names.user("ghost")
    with unchanged("update_attributes of an unknown user"):
        refused(trove, u, "%", {"password": pw()})
        refused(trove, u, "%", {"name": names.user("ghost2")})
    assert db.users_named(names.user("ghost2")) == []


@pytest.mark.parametrize("user,host", [("root", "localhost"), ("root", "127.0.0.1"),
                                       ("mariadb.sys", "localhost"), ("mysql", "localhost"),
                                       ("root", "%"), ("os_admin", "localhost")])
def test_update_of_a_system_account_is_refused(agent, trove, db, names, unchanged, user, host):
    with unchanged(f"update_attributes of {user}@{host}"):
        refused(trove, user, host, {"password": pw()})
        refused(trove, user, host, {"name": names.user("stolen")})
        refused(trove, user, host, {"host": "%"})
    assert db.users_named(names.user("stolen")) == []


# --------------------------------------------------------------------------- change_passwords

def cp(name, password, host="%"):
    """One entry as models.User.change_password builds it."""
    return {"name": name, "host": host, "password": password}


def test_change_passwords_of_several_users(agent, trove, db, names):
    us = [names.user("c1"), names.user("c2"), names.user("c3")]
    old = {u: pw() for u in us}
    new = {u: pw() for u in us}
    for u in us:
        make_user(db, u, "%", old[u])
    make_user(db, us[2], "10.4.4.%", old[us[2]])
    other_auth = db.auth_of(us[2], "10.4.4.%")

    rid = trove.cast_change_passwords([cp(u, new[u]) for u in us])
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))

    for u in us:
        assert can_login(u, new[u]), f"{u}: new password does not work"
        assert not can_login(u, old[u]), f"{u}: old password still works"
    assert db.auth_of(us[2], "10.4.4.%") == other_auth, "the same name on another host changed"
    log = agent.log_text()
    assert not any(p in log for p in new.values()), "a password appears in the agent's log"


def test_change_passwords_through_trove_models(agent, trove, db, names):
    """The argument exactly as Trove's API builds it (DatastoreUser, host omitted in
    the request body -> Trove's default)."""
    from trove.common.db import models as guest_models
    u, old, new = names.user("tm"), pw(), pw()
    make_user(db, u, "%", old)
    mu = guest_models.DatastoreUser(name=u, host=None, password=new)
    users = [{"name": mu.name, "host": mu.host, "password": mu.password}]
    rid = trove.cast_change_passwords(users)
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    assert can_login(u, new) and not can_login(u, old)


def test_change_passwords_injection_is_literal(agent, trove, db, names):
    u = names.user("ci")
    make_user(db, u, "%", pw())
    rid = trove.cast_change_passwords([cp(u, INJECTION)])
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    assert not is_locked(db, u, "%")
    assert can_login(u, INJECTION)


@pytest.mark.parametrize("bad", ["unknown-user", "unknown-host", "root", "root@localhost",
                                 "bad-name", "empty-password", "nul-password", "localhost"])
def test_change_passwords_one_invalid_changes_none(agent, trove, db, names, unchanged, bad):
    us = [names.user("v1"), names.user("v2")]
    old = {u: pw() for u in us}
    for u in us:
        make_user(db, u, "%", old[u])
    new = pw()
    bad_entry = {
        "unknown-user": cp(names.user("nobody"), new),
        "unknown-host": cp(us[0], new, "10.9.9.9"),
        "root": cp("root", new),
        "root@localhost": cp("root", new, "localhost"),
        "bad-name": cp(names.tag + "a'b", new),
        "empty-password": cp(us[1], ""),
        "nul-password": cp(us[1], "a\x00b"),
        "localhost": cp(us[1], new, "localhost"),
    }[bad]
    # the bad entry in the middle: the first must not be applied before it is seen
    users = [cp(us[0], new), bad_entry, cp(us[1], new)]
    with unchanged(f"change_passwords with {bad}"):
        rid = trove.cast_change_passwords(users)
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid), secrets=[new])
    for u in us:
        assert can_login(u, old[u]), f"{u}: password changed although the command failed"
