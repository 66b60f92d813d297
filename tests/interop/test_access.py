"""Database access through the real Trove client (issue 5; trove-wire §4):
list_access, grant_access, revoke_access, checked in mysqld after each call
(mysql.db, SHOW GRANTS, and logging in as the user)."""

import secrets

import pymysql
import pytest

import harness
from harness import call_error, make_db, make_user, make_user_grant

DB_KEYS = {"_name", "_collate", "_character_set"}


def pw():
    return "Pw" + secrets.token_hex(10)


def stored_db_rows(db, user, host):
    """What mysql.db holds for the account: the GRANT patterns, as stored."""
    return sorted(r[0] for r in db.query(
        "SELECT Db FROM mysql.db WHERE User=%s AND Host=%s", (user, host)))


def grant_lines_naming(db, user, host, database):
    """SHOW GRANTS lines on this database, escaped (`a\\_b`) or not (`a_b`)."""
    escaped = database.replace("_", "\\_")
    return [g for g in db.grants(user, host)
            if f"`{database}`.*" in g or f"`{escaped}`.*" in g]


def can_use(user, password, database):
    """Log in as the user and try ``USE database``: True, or the mysqld error code."""
    conn = harness.login(user, password)
    try:
        with conn.cursor() as cur:
            try:
                cur.execute("USE " + harness.quote_ident(database))
                return True
            except pymysql.err.OperationalError as e:
                return e.args[0]
    finally:
        conn.close()


def assert_error_class(e, *classes):
    from trove.common import exception
    want = tuple(getattr(exception, c) for c in classes)
    assert isinstance(e, want), f"expected {'/'.join(classes)}, got {type(e).__name__}: {e}"


# --------------------------------------------------------------------------- grant + list

def test_grant_access_then_list_access(agent, api, db, names):
    d1, d2 = names.db("g1"), names.db("g2")
    make_db(db, d1)
    make_db(db, d2)
    u, p = names.user("u"), pw()
    make_user(db, u, "%", p)
    assert api.list_access(u, "%") == []

    assert api.grant_access(u, "%", [d1, d2]) is None

    # mysqld: ALL on both, each as the escaped literal name.
    assert stored_db_rows(db, u, "%") == sorted(
        [d1.replace("_", "\\_"), d2.replace("_", "\\_")])
    for d in (d1, d2):
        lines = grant_lines_naming(db, u, "%", d)
        assert len(lines) == 1 and lines[0].startswith("GRANT ALL PRIVILEGES ON"), \
            db.grants(u, "%")
        assert can_use(u, p, d) is True

    # list_access: Trove's shape, exactly.
    listed = api.list_access(u, "%")
    assert isinstance(listed, list)
    for item in listed:
        assert set(item) == DB_KEYS, item
        assert item["_collate"] is None and item["_character_set"] is None, item
    assert sorted(i["_name"] for i in listed) == sorted([d1, d2])
    # what Trove's API does with it (models.User.access -> Schema)
    from trove.common.db.mysql.models import MySQLSchema
    for item in listed:
        MySQLSchema(name=item["_name"], collate=item["_collate"],
                    character_set=item["_character_set"])


def test_grant_access_is_idempotent_and_adds(agent, api, db, names):
    d1, d2 = names.db("i1"), names.db("i2")
    make_db(db, d1)
    make_db(db, d2)
    u = names.user("i")
    make_user(db, u, "%", pw(), [d1])
    assert api.grant_access(u, "%", [d1]) is None
    assert api.grant_access(u, "%", [d1, d2]) is None
    assert stored_db_rows(db, u, "%") == sorted(
        [d1.replace("_", "\\_"), d2.replace("_", "\\_")])
    assert sorted(i["_name"] for i in api.list_access(u, "%")) == sorted([d1, d2])


def test_grant_access_on_a_specific_host_account(agent, api, db, names):
    d = names.db("h")
    make_db(db, d)
    u = names.user("h")
    make_user(db, u, "10.9.8.%", pw())
    make_user(db, u, "%", pw())
    assert api.grant_access(u, "10.9.8.%", [d]) is None
    assert stored_db_rows(db, u, "10.9.8.%") == [d.replace("_", "\\_")]
    assert stored_db_rows(db, u, "%") == [], "the grant went to the other host's account"
    assert [i["_name"] for i in api.list_access(u, "10.9.8.%")] == [d]
    assert api.list_access(u, "%") == []


# --------------------------------------------------------------------------- every database checked

@pytest.mark.parametrize("system", harness.SYSTEM_SCHEMAS)
def test_grant_access_with_a_system_schema_second_grants_nothing(
        agent, trove, api, db, names, unchanged, system):
    d = names.db("ok")
    make_db(db, d)
    u = names.user("s")
    make_user(db, u, "%", pw())
    with unchanged(f"grant_access [{d}, {system}]"):
        e = call_error(api.grant_access, u, "%", [d, system])
    e2 = None
    with unchanged(f"grant_access [{d}, {system}] (raw)"):
        e2 = call_error(trove.raw_call, "grant_access", username=u, hostname="%",
                        databases=[d, system])
    assert_error_class(e2, "BadRequest")
    assert stored_db_rows(db, u, "%") == []
    assert api.list_access(u, "%") == []


@pytest.mark.parametrize("bad", ["a`b", "x -- ", "a%b", "a\\_b", "", "a.b"],
                         ids=["backtick", "comment", "percent", "backslash", "empty", "dot"])
def test_grant_access_with_a_bad_name_last_grants_nothing(agent, trove, db, names, unchanged,
                                                          bad):
    d1, d2 = names.db("b1"), names.db("b2")
    make_db(db, d1)
    make_db(db, d2)
    u = names.user("b")
    make_user(db, u, "%", pw())
    with unchanged(f"grant_access [{d1}, {d2}, {bad!r}]"):
        e = call_error(trove.raw_call, "grant_access", username=u, hostname="%",
                       databases=[d1, d2, names.tag + bad if bad else bad])
    assert_error_class(e, "BadRequest")


def test_grant_access_percent_name_does_not_widen(agent, trove, db, names, unchanged):
    """`<tag>%` as a grant pattern would cover every schema of this test: it must be
    refused (or escaped), never granted as a wildcard."""
    d = names.db("pc")
    make_db(db, d)
    u, p = names.user("pc"), pw()
    make_user(db, u, "%", p)
    try:
        trove.raw_call("grant_access", username=u, hostname="%", databases=[names.tag + "%"])
    except Exception as e:  # noqa: BLE001
        assert not harness.is_timeout(e), "no answer"
    assert stored_db_rows(db, u, "%") in ([], [names.tag.replace("_", "\\_") + "\\%"]), \
        stored_db_rows(db, u, "%")
    assert can_use(u, p, d) is not True, f"`{names.tag}%` reached {d}"


# --------------------------------------------------------------------------- escaping

def test_grant_access_escapes_underscore(agent, api, db, names):
    target = names.db("a_b")  # it<hex>_<nnn>_a_b
    decoy = names.db("aXb")   # what the unescaped pattern would also match
    make_db(db, target)
    make_db(db, decoy)
    u, p = names.user("e"), pw()
    make_user(db, u, "%", p)

    assert api.grant_access(u, "%", [target]) is None

    want = target.replace("_", "\\_")
    assert "\\_a\\_b" in want
    assert stored_db_rows(db, u, "%") == [want], "mysql.db does not hold the escaped name"
    assert can_use(u, p, target) is True
    assert can_use(u, p, decoy) in (1044, 1049), f"the grant on {target} widened to {decoy}"
    assert [i["_name"] for i in api.list_access(u, "%")] == [target]


# --------------------------------------------------------------------------- revoke

def test_revoke_access_removes_the_grant(agent, api, db, names):
    d1, d2 = names.db("r1"), names.db("r2")
    make_db(db, d1)
    make_db(db, d2)
    u, p = names.user("r"), pw()
    make_user(db, u, "%", p)
    assert api.grant_access(u, "%", [d1, d2]) is None

    assert api.revoke_access(u, "%", d1) is None

    assert grant_lines_naming(db, u, "%", d1) == [], db.grants(u, "%")
    assert len(grant_lines_naming(db, u, "%", d2)) == 1, "revoke took the other grant too"
    assert stored_db_rows(db, u, "%") == [d2.replace("_", "\\_")]
    assert can_use(u, p, d1) in (1044, 1049)
    assert can_use(u, p, d2) is True
    assert [i["_name"] for i in api.list_access(u, "%")] == [d2]

    assert api.revoke_access(u, "%", d2) is None
    assert stored_db_rows(db, u, "%") == []
    assert all(g.startswith("GRANT USAGE ON *.*") for g in db.grants(u, "%")), db.grants(u, "%")
    assert api.list_access(u, "%") == []
    assert db.user_exists(u, "%"), "revoke dropped the account"


def test_revoke_access_of_a_trove_style_unescaped_grant(agent, api, db, names):
    """Trove's own agent writes GRANT ALL ON `x_y`.* (unescaped): revoking x_y must
    remove that row too."""
    d = names.db("x_y")
    make_db(db, d)
    u, p = names.user("t"), pw()
    make_user(db, u, "%", p)
    make_user_grant(db, u, "%", d, escape=False)
    assert stored_db_rows(db, u, "%") == [d]
    assert [i["_name"] for i in api.list_access(u, "%")] == [d]

    assert api.revoke_access(u, "%", d) is None

    assert stored_db_rows(db, u, "%") == [], db.grants(u, "%")
    assert grant_lines_naming(db, u, "%", d) == [], db.grants(u, "%")
    assert can_use(u, p, d) in (1044, 1049)
    assert api.list_access(u, "%") == []


def test_revoke_access_not_granted_is_harmless(agent, api, db, names, unchanged):
    d1, d2 = names.db("n1"), names.db("n2")
    make_db(db, d1)
    make_db(db, d2)
    u = names.user("n")
    make_user(db, u, "%", pw(), [d1])
    with unchanged("revoke of a database never granted"):
        try:
            assert api.revoke_access(u, "%", d2) is None
        except Exception as e:  # noqa: BLE001 - an error answer is acceptable too
            assert not harness.is_timeout(e), "no answer"
    assert stored_db_rows(db, u, "%") == [d1.replace("_", "\\_")]


@pytest.mark.parametrize("system", harness.SYSTEM_SCHEMAS)
def test_revoke_access_on_a_system_schema_is_refused(agent, trove, db, names, unchanged, system):
    u = names.user("rs")
    make_user(db, u, "%", pw())
    with unchanged(f"revoke_access {system}"):
        e = call_error(trove.raw_call, "revoke_access", username=u, hostname="%",
                       database=system)
    assert_error_class(e, "BadRequest")


# --------------------------------------------------------------------------- unknown / system users

@pytest.mark.parametrize("method", ["list_access", "grant_access", "revoke_access"])
def test_unknown_user_is_an_error(agent, trove, api, db, names, unchanged, method):
    d = names.db("uk")
    make_db(db, d)
    u = names.user("ghost")
    args = {"list_access": {},
            "grant_access": {"databases": [d]},
            "revoke_access": {"database": d}}[method]
    with unchanged(f"{method} of an unknown user"):
        # through Trove's API (which wraps every failure in GuestError) ...
        call_error(getattr(api, method), u, "%", **args)
        # ... and the class the agent answered with
        e = call_error(trove.raw_call, method, username=u, hostname="%", **args)
    assert_error_class(e, "UserNotFound")
    assert not db.user_exists(u, "%")


def test_unknown_host_of_an_existing_user_is_an_error(agent, trove, db, names, unchanged):
    d = names.db("uh")
    make_db(db, d)
    u = names.user("uh")
    make_user(db, u, "%", pw())
    with unchanged("grant_access to user@another host"):
        e = call_error(trove.raw_call, "grant_access", username=u, hostname="10.1.1.1",
                       databases=[d])
    assert_error_class(e, "UserNotFound")


@pytest.mark.parametrize("user,host", [("root", "localhost"), ("root", "%"), ("os_admin", "%"),
                                       ("mariadb.sys", "localhost"), ("root", "127.0.0.1")])
def test_access_of_system_accounts_is_refused(agent, trove, db, names, unchanged, user, host):
    d = names.db("sa")
    make_db(db, d)
    with unchanged(f"grant_access to {user}@{host}"):
        call_error(trove.raw_call, "grant_access", username=user, hostname=host, databases=[d])
        call_error(trove.raw_call, "revoke_access", username=user, hostname=host, database=d)
        call_error(trove.raw_call, "list_access", username=user, hostname=host)
