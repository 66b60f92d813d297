"""Account attributes and what other tools leave in mysqld, through the real
Trove client (``trove.guestagent.api.API``; ``raw_call`` for methods Trove's API
class lacks), every effect checked in mysqld as root over the socket:

- the optional keys of a Trove user dict (``create_user``) and of
  ``user_attrs`` (``update_attributes``): ``_require``, ``_max_connections``,
  ``_max_queries_per_hour``, ``_locked``, ``_password_expire_days``,
  ``_auth_plugin``; reported by ``get_user`` / ``list_users`` /
  ``list_database_users`` for every account, also ones root made directly;
- their live effects on MariaDB: a locked account, a connection limit, a
  password lifetime, ``REQUIRE SSL`` / ``REQUIRE X509`` (proved with real TLS
  logins on a private TLS-enabled mariadbd, tlsdb.py, driven by a second
  agent), ``ed25519`` accounts (plugin loaded for the module, a module agent
  started after it), ``caching_sha2_password`` refused on MariaDB;
- the hostile corpus of the new keys: refused, mysqld unchanged;
- wildcard schema grants and roles made by other tools;
- the root history (``get_root_history``) and the journal's ``changed``.

Every object is named with the session prefix and dropped at teardown.  Where
this machine's mysqld is shared with another run (a benchmark's ``gabench_*``
accounts, another session's ``it<hex>_*``), only the session's objects are
compared.
"""

import json
import os
import secrets
import subprocess
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime

import pymysql
import pytest

import harness
from harness import call_error, expect_end, expect_exc, make_db, make_user, user_dict
from tlsdb import private_tls_server  # noqa: F401 - a module-scoped fixture

ATTR_KEYS = ("_require", "_max_connections", "_max_queries_per_hour", "_locked",
             "_password_expire_days", "_auth_plugin")
USER_KEYS = {"_name", "_host", "_password", "_databases", "_is_root", *ATTR_KEYS}
# The order the agent records changed fields in (update_attributes).
CHANGE_ORDER = ["name", "host", "password", "_require", "_max_connections",
                "_max_queries_per_hour", "_locked", "_password_expire_days"]
SSL_TYPES = {0: "none", 1: "ssl", 2: "x509", 3: "specified"}
NATIVE = "mysql_native_password"
DEFAULTS = {"_require": "none", "_max_connections": 0, "_max_queries_per_hour": 0,
            "_locked": False, "_password_expire_days": None, "_auth_plugin": NATIVE}

ER_ACCESS_DENIED = 1045
ER_USER_LIMIT_REACHED = 1226
ER_ACCOUNT_HAS_BEEN_LOCKED = 4151

# --------------------------------------------------------------------------- helpers

def pw():
    return "Pw" + secrets.token_hex(10)


def call(trove, method, timeout=harness.CALL_HIGH_TIMEOUT, **kwargs):
    return trove.raw_call(method, timeout=timeout, **kwargs)


def with_attrs(name, password=None, host="%", databases=(), **attrs):
    """A Trove user dict (DatastoreUser.serialize()) plus the agent's keys."""
    u = user_dict(name, host=host, password=password, databases=databases)
    u.update(attrs)
    return u


def create_ok(trove, users):
    rid = trove.cast_create_user(users)
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))


def update_ok(trove, name, host, attrs):
    rid = trove.cast_update_attributes(name, host, attrs)
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))


def attrs_of(u):
    return {k: u[k] for k in ATTR_KEYS}


def mysqld_attrs(query, name, host="%"):
    """The oracle: the attributes as mysqld.global_priv holds them (MariaDB 10.4+
    JSON), in the agent's vocabulary."""
    rows = query("SELECT Priv FROM mysql.global_priv WHERE User=%s AND Host=%s", (name, host))
    assert rows, f"{name}@{host} is not in mysql.global_priv"
    p = json.loads(rows[0][0])
    lifetime = p.get("password_lifetime", -1)
    return {
        "_require": SSL_TYPES[p.get("ssl_type", 0)],
        "_max_connections": p.get("max_user_connections", 0),
        "_max_queries_per_hour": p.get("max_questions", 0),
        "_locked": bool(p.get("account_locked", False)),
        "_password_expire_days": None if lifetime == -1 else lifetime,
        "_auth_plugin": p.get("plugin"),
    }


def show_create(db, name, host="%"):
    return db.scalar("SHOW CREATE USER %s@%s", (name, host))


def mysql_error(fn):
    """The MySQL error code ``fn`` raised, or None if it did not raise."""
    try:
        fn()
    except pymysql.err.MySQLError as e:
        return e.args[0]
    return None


def login_code(user, password, **kwargs):
    return mysql_error(lambda: harness.login(user, password, **kwargs).close())


def whoami(conn):
    try:
        return harness.session_query(conn, "SELECT CURRENT_USER()")[0][0]
    finally:
        conn.close()


def full_users(api):
    items, next_marker = api.list_users(limit=100000)
    assert next_marker is None
    return items


def db_users(trove):
    r = call(trove, "list_database_users", page=1, per_page=100000)
    assert isinstance(r, dict) and isinstance(r.get("response"), list), r
    return r["response"]


def ours(snapshot, prefix):
    """harness.Db.snapshot() restricted to rows naming the session's objects."""
    def mine(row):
        for v in row:
            if isinstance(v, bytes):
                v = v.decode("utf-8", "replace")
            if isinstance(v, str) and v.startswith(prefix):
                return True
        return False
    return {k: tuple(r for r in rows if mine(r)) for k, rows in snapshot.items()}


@pytest.fixture
def unchanged_ours(db, prefix):
    """``with unchanged_ours("what"):`` the session's accounts, grants and
    databases are the same after the block as before it (foreign objects, a
    benchmark's ``gabench_*`` for one, are not compared)."""
    @contextmanager
    def check(what=""):
        before = ours(db.snapshot(), prefix)
        yield
        diff = harness.diff_snapshots(before, ours(db.snapshot(), prefix))
        assert not diff, (f"mysqld changed{(' by ' + what) if what else ''}:\n"
                          + "\n".join(diff[:40]))
    return check


def newest_action(trove, action_type, resource_id=None):
    page, _ = call(trove, "list_actions", limit=30)
    for a in page:
        if a["action_type"] == action_type and resource_id in (None, a["resource_id"]):
            return a
    raise AssertionError(f"no {action_type} action for {resource_id} among the newest 30: "
                         f"{[(a['id'], a['action_type'], a['resource_id']) for a in page]}")


def uid_of(trove, name, host="%"):
    for item in db_users(trove):
        if item["username"] == name and item["host"] == host:
            return item["uid"]
    raise AssertionError(f"{name}@{host} is not in list_database_users")


def cli_login(user, password, port=3306, workdir=None):
    """A login with MariaDB's own client (which has ed25519; PyMySQL needs PyNaCl,
    absent here), the password in a 0600 option file, never on a command line.
    Returns (returncode, stdout, stderr)."""
    harness.register_secret(password, "cli_login")
    fd, path = tempfile.mkstemp(prefix="it-cli-", suffix=".cnf", dir=workdir)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(f"[client]\npassword={password}\n")
        r = subprocess.run(["mariadb", f"--defaults-file={path}", "--protocol=TCP",
                            "-h", "127.0.0.1", "-P", str(port), "-u", user, "-N", "-B",
                            "--connect-timeout=5", "-e", "SELECT CURRENT_USER()"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout.strip(), r.stderr.strip()
    finally:
        os.unlink(path)


# --------------------------------------------------------------------------- 1. attributes

def test_create_user_attributes_applied_and_reported(agent, trove, api, db, names):
    d = names.db("d")
    make_db(db, d)
    a, b, c, e = names.user("a"), names.user("b"), names.user("c"), names.user("e")
    pa, pb, pc, pe = pw(), pw(), pw(), pw()
    want = {
        a: {"_require": "ssl", "_max_connections": 5, "_max_queries_per_hour": 100,
            "_locked": False, "_password_expire_days": 0, "_auth_plugin": NATIVE},
        b: {"_require": "x509", "_max_connections": 2147483647, "_max_queries_per_hour": 0,
            "_locked": False, "_password_expire_days": 65535, "_auth_plugin": NATIVE},
        c: {"_require": "none", "_max_connections": 0, "_max_queries_per_hour": 2147483647,
            "_locked": False, "_password_expire_days": 1, "_auth_plugin": NATIVE},
        e: dict(DEFAULTS),  # no attribute keys: the server's defaults
    }
    create_ok(trove, [
        with_attrs(a, pa, databases=[d], **want[a]),
        with_attrs(b, pb, **{k: v for k, v in want[b].items()
                             if k not in ("_locked", "_auth_plugin")}),
        with_attrs(c, pc, **{k: v for k, v in want[c].items() if k != "_auth_plugin"}),
        with_attrs(e, pe),
    ])

    # In mysqld.
    for name, w in want.items():
        assert mysqld_attrs(db.query, name) == w, (name, show_create(db, name))
    sa, sb, sc, se = (show_create(db, n) for n in (a, b, c, e))
    for clause in ("REQUIRE SSL", "MAX_QUERIES_PER_HOUR 100", "MAX_USER_CONNECTIONS 5",
                   "PASSWORD EXPIRE NEVER"):
        assert clause in sa, sa
    for clause in ("REQUIRE X509", "MAX_USER_CONNECTIONS 2147483647",
                   "PASSWORD EXPIRE INTERVAL 65535 DAY"):
        assert clause in sb, sb
    for clause in ("MAX_QUERIES_PER_HOUR 2147483647", "PASSWORD EXPIRE INTERVAL 1 DAY"):
        assert clause in sc, sc
    assert "REQUIRE" not in sc and "MAX_USER_CONNECTIONS" not in sc, sc
    for clause in ("REQUIRE", "MAX_", "PASSWORD EXPIRE", "ACCOUNT LOCK"):
        assert clause not in se, se
    assert not any("ACCOUNT LOCK" in s for s in (sa, sb, sc, se))
    assert db.privileges_on(a, "%") == {d: {"ALL PRIVILEGES"}}, db.grants(a, "%")

    # Reported: get_user, list_users, list_database_users.
    from trove.common.db import models as guest_models
    for name, w in want.items():
        got = api.get_user(username=name, hostname="%")
        assert isinstance(got, dict) and set(got) == USER_KEYS, got
        assert attrs_of(got) == w, (name, got)
        assert got["_password"] is None
        guest_models.DatastoreUser.deserialize(got, verify=False)  # Trove still reads it
    listed = {u["_name"]: u for u in full_users(api) if u["_name"].startswith(names.tag)}
    assert set(listed) == set(want)
    for name, w in want.items():
        assert set(listed[name]) == USER_KEYS and attrs_of(listed[name]) == w, listed[name]
    items = {u["username"]: u for u in db_users(trove) if u["username"].startswith(names.tag)}
    for name, w in want.items():
        assert attrs_of(items[name]) == w, items[name]

    # The accounts work as their attributes say (REQUIRE SSL/X509 on a server
    # without TLS: no plain login).
    assert whoami(harness.login(c, pc)) == c + "@%"
    assert whoami(harness.login(e, pe)) == e + "@%"
    assert login_code(a, pa) == ER_ACCESS_DENIED
    assert login_code(b, pb) == ER_ACCESS_DENIED
    log = agent.log_text()
    for p in (pa, pb, pc, pe):
        assert p not in log, "a password appears in the agent's log"


def test_attributes_of_accounts_made_by_root(agent, trove, api, db, names):
    """Accounts another tool made: every attribute reported as mysqld holds it,
    ``specified`` for REQUIRE SUBJECT/ISSUER/CIPHER, ``_password_expire_days``
    null for the server default and 0 for NEVER, any plugin by its name."""
    made = {
        names.user("rssl"): "REQUIRE SSL PASSWORD EXPIRE DEFAULT",
        names.user("rx509"): ("REQUIRE X509 WITH MAX_USER_CONNECTIONS 3 MAX_QUERIES_PER_HOUR 4 "
                              "PASSWORD EXPIRE NEVER"),
        names.user("rsubj"): ("REQUIRE SUBJECT '/CN=it-client' AND ISSUER '/CN=it-ca' "
                              "PASSWORD EXPIRE INTERVAL 7 DAY"),
        names.user("rciph"): "REQUIRE CIPHER 'ECDHE-RSA-AES256-GCM-SHA384'",
        names.user("rplain"): "",
    }
    want = {
        names.user("rssl"): dict(DEFAULTS, _require="ssl"),
        names.user("rx509"): dict(DEFAULTS, _require="x509", _max_connections=3,
                                  _max_queries_per_hour=4, _password_expire_days=0),
        names.user("rsubj"): dict(DEFAULTS, _require="specified", _password_expire_days=7),
        names.user("rciph"): dict(DEFAULTS, _require="specified"),
        names.user("rplain"): dict(DEFAULTS),
        names.user("rsock"): dict(DEFAULTS, _auth_plugin="unix_socket"),
    }
    for name, clauses in made.items():
        db.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{pw()}' {clauses}")
    db.execute(f"CREATE USER '{names.user('rsock')}'@'%' IDENTIFIED VIA unix_socket")

    for name, w in want.items():
        assert mysqld_attrs(db.query, name) == w, (name, show_create(db, name))
        got = api.get_user(username=name, hostname="%")
        assert isinstance(got, dict) and set(got) == USER_KEYS, got
        assert attrs_of(got) == w, (name, got, show_create(db, name))
    listed = {u["_name"]: u for u in full_users(api) if u["_name"].startswith(names.tag)}
    assert set(listed) == set(want)
    for name, w in want.items():
        assert attrs_of(listed[name]) == w, listed[name]
    items = {u["username"]: u for u in db_users(trove) if u["username"].startswith(names.tag)}
    assert set(items) == set(want)
    for name, w in want.items():
        assert attrs_of(items[name]) == w, items[name]


def test_locked_accounts_are_reported_locked(agent, trove, api, db, names):
    """``_locked`` as mysqld holds it: an account the agent made locked, one it
    locked later, and one root locked directly."""
    made, later, direct = names.user("lk1"), names.user("lk2"), names.user("lk3")
    create_ok(trove, [with_attrs(made, pw(), _locked=True), with_attrs(later, pw())])
    update_ok(trove, later, "%", {"_locked": True})
    db.execute(f"CREATE USER '{direct}'@'%' IDENTIFIED BY '{pw()}' ACCOUNT LOCK")
    for name in (made, later, direct):
        assert "ACCOUNT LOCK" in show_create(db, name)
        assert mysqld_attrs(db.query, name)["_locked"] is True
    reported = {
        "get_user": {n: api.get_user(username=n, hostname="%")["_locked"]
                     for n in (made, later, direct)},
        "list_users": {u["_name"]: u["_locked"] for u in full_users(api)
                       if u["_name"] in (made, later, direct)},
        "list_database_users": {u["username"]: u["_locked"] for u in db_users(trove)
                                if u["username"] in (made, later, direct)},
    }
    want = {made: True, later: True, direct: True}
    assert all(v == want for v in reported.values()), (
        f"_locked reported for locked accounts: {reported}")


def test_update_attributes_sets_and_resets_each_attribute(agent, trove, api, db, names):
    u, p = names.user("up"), pw()
    create_ok(trove, [with_attrs(u, p)])
    assert mysqld_attrs(db.query, u) == DEFAULTS

    set_all = {"_require": "x509", "_max_connections": 4, "_max_queries_per_hour": 5,
               "_password_expire_days": 6}
    update_ok(trove, u, "%", set_all)
    want = dict(DEFAULTS, **set_all)
    assert mysqld_attrs(db.query, u) == want, show_create(db, u)
    assert attrs_of(api.get_user(username=u, hostname="%")) == want
    uid = uid_of(trove, u)
    assert newest_action(trove, "database_user_update", uid)["changed"] == [
        "_require", "_max_connections", "_max_queries_per_hour", "_password_expire_days"]

    update_ok(trove, u, "%", {"_locked": True, "_require": "ssl"})
    want.update(_locked=True, _require="ssl")
    assert mysqld_attrs(db.query, u) == want, show_create(db, u)
    assert "ACCOUNT LOCK" in show_create(db, u)

    reset = {"_require": "none", "_max_connections": 0, "_max_queries_per_hour": 0,
             "_locked": False, "_password_expire_days": 0}
    update_ok(trove, u, "%", reset)
    want = dict(DEFAULTS, **reset)
    assert mysqld_attrs(db.query, u) == want, show_create(db, u)
    s = show_create(db, u)
    assert "REQUIRE" not in s and "MAX_" not in s and "ACCOUNT LOCK" not in s, s
    assert "PASSWORD EXPIRE NEVER" in s, s
    assert attrs_of(api.get_user(username=u, hostname="%")) == want
    # The password was never touched.
    assert whoami(harness.login(u, p)) == u + "@%"


# --------------------------------------------------------------------------- 2. live effects

def test_locked_account_login_refused_until_unlocked(agent, trove, db, names):
    u, p = names.user("lock"), pw()
    create_ok(trove, [with_attrs(u, p, _locked=True)])
    assert login_code(u, p) == ER_ACCOUNT_HAS_BEEN_LOCKED
    update_ok(trove, u, "%", {"_locked": False})
    assert "ACCOUNT LOCK" not in show_create(db, u)
    assert whoami(harness.login(u, p)) == u + "@%"
    update_ok(trove, u, "%", {"_locked": True})
    assert login_code(u, p) == ER_ACCOUNT_HAS_BEEN_LOCKED


def test_max_connections_one_refuses_a_second_session(agent, trove, api, db, names):
    u, p = names.user("mc"), pw()
    create_ok(trove, [with_attrs(u, p, _max_connections=1)])
    assert api.get_user(username=u, hostname="%")["_max_connections"] == 1
    assert "MAX_USER_CONNECTIONS 1" in show_create(db, u)
    first = harness.login(u, p)
    try:
        assert harness.session_query(first, "SELECT 1")[0][0] == 1
        assert login_code(u, p) == ER_USER_LIMIT_REACHED
    finally:
        first.close()
    # Once the first session is gone (the server notices it at once or very soon).
    deadline = time.monotonic() + 10
    while True:
        code = login_code(u, p)
        if code is None or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert code is None, f"no login after the first session closed (error {code})"


def test_password_expire_days_30(agent, trove, api, db, names):
    u, p = names.user("exp"), pw()
    create_ok(trove, [with_attrs(u, p, _password_expire_days=30)])
    assert api.get_user(username=u, hostname="%")["_password_expire_days"] == 30
    assert "PASSWORD EXPIRE INTERVAL 30 DAY" in show_create(db, u)
    assert mysqld_attrs(db.query, u)["_password_expire_days"] == 30
    assert whoami(harness.login(u, p)) == u + "@%", "a fresh password counts as expired"


def test_require_ssl_refuses_a_plain_login(agent, trove, api, db, names):
    u, p = names.user("ssl"), pw()
    create_ok(trove, [with_attrs(u, p, _require="ssl")])
    assert "REQUIRE SSL" in show_create(db, u)
    assert login_code(u, p) == ER_ACCESS_DENIED
    # The refusal was REQUIRE SSL's: without it the same password logs in.
    update_ok(trove, u, "%", {"_require": "none"})
    assert whoami(harness.login(u, p)) == u + "@%"


# --------------------------------------------------------------------------- TLS (private server)

@pytest.fixture(scope="module")
def tls_agent(private_tls_server, spawn_module_agent):
    """A second agent on the private TLS-enabled mariadbd (root over its socket)."""
    side = spawn_module_agent(extra={"mysql": {"socket": private_tls_server.socket,
                                               "user": "root"}})
    yield side
    side.agent.stop()  # before the server goes


def test_tls_require_ssl_refused_plain_accepted_with_tls(tls_agent, private_tls_server, prefix):
    srv, side = private_tls_server, tls_agent
    u, p = prefix + "tls_ssl", pw()
    create_ok(side.trove, [with_attrs(u, p, _require="ssl")])
    assert mysqld_attrs(srv.query, u)["_require"] == "ssl"
    got = side.trove.api().get_user(username=u, hostname="%")
    assert got["_require"] == "ssl", got

    # Control: what srv.login calls plain is plain (an account without REQUIRE).
    ctl, cp = prefix + "tls_ctl", pw()
    srv.query("CREATE USER %s@'%%' IDENTIFIED BY %s", (ctl, cp))
    conn = srv.login(ctl, cp)
    try:
        assert harness.session_query(conn, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")[0][1] == ""
    finally:
        conn.close()

    code = mysql_error(lambda: srv.login(u, p).close())
    assert code == ER_ACCESS_DENIED, f"a plain login of a REQUIRE SSL account: {code}"
    conn = srv.login(u, p, tls=True)
    try:
        cipher = harness.session_query(conn, "SHOW SESSION STATUS LIKE 'Ssl_cipher'")[0][1]
        assert cipher, "the session is not encrypted"
        assert harness.session_query(conn, "SELECT CURRENT_USER()")[0][0] == u + "@%"
    finally:
        conn.close()
    assert p not in side.agent.log_text(), "the password appears in the agent's log"


def test_tls_require_x509_needs_a_client_certificate(tls_agent, private_tls_server, prefix):
    srv, side = private_tls_server, tls_agent
    u, p = prefix + "tls_x509", pw()
    create_ok(side.trove, [with_attrs(u, p, _require="x509")])
    assert mysqld_attrs(srv.query, u)["_require"] == "x509"
    assert side.trove.api().get_user(username=u, hostname="%")["_require"] == "x509"

    code = mysql_error(lambda: srv.login(u, p, tls=True).close())
    assert code == ER_ACCESS_DENIED, f"TLS without a client certificate: {code}"
    assert mysql_error(lambda: srv.login(u, p).close()) == ER_ACCESS_DENIED
    # Positive control: the CA's client certificate is what lets it in.
    conn = srv.login(u, p, tls=True, client_cert=True)
    try:
        assert harness.session_query(conn, "SELECT CURRENT_USER()")[0][0] == u + "@%"
    finally:
        conn.close()


# --------------------------------------------------------------------------- auth plugins

@pytest.fixture(scope="module")
def ed25519_agent(db, spawn_module_agent):
    """ed25519 loaded in the machine's mysqld (installed here if absent,
    uninstalled at the end only then), and an agent started after it: the agent
    reads the server's plugins once, when it first connects."""
    status = db.scalar("SELECT PLUGIN_STATUS FROM information_schema.PLUGINS "
                       "WHERE PLUGIN_NAME='ed25519'")
    installed = False
    if status is None:
        try:
            db.execute("INSTALL SONAME 'auth_ed25519'")
        except pymysql.err.MySQLError as e:
            pytest.skip(f"the ed25519 plugin cannot be loaded here: {e}")
        installed = True
    elif status != "ACTIVE":
        pytest.skip(f"the ed25519 plugin is {status}")
    try:
        side = spawn_module_agent()
        yield side
        side.agent.stop()
    finally:
        if installed:
            like = db.prefix.replace("_", "\\_") + "%"
            for user, host in db.query(
                    "SELECT User, Host FROM mysql.global_priv WHERE User LIKE %s "
                    "AND JSON_VALUE(Priv, '$.plugin')='ed25519'", (like,)):
                db.execute("DROP USER %s@%s", (user, host))
            db.execute("UNINSTALL SONAME 'auth_ed25519'")


def test_ed25519_account(agent, ed25519_agent, db, names, workdir):
    side = ed25519_agent
    d = names.db("ed")
    make_db(db, d)
    u, p = names.user("ed"), pw()
    rid = side.trove.cast_create_user([with_attrs(u, p, databases=[d], _auth_plugin="ed25519")])
    expect_end(side.trove, rid, side.trove.conductor.wait_outcome(rid))

    assert mysqld_attrs(db.query, u)["_auth_plugin"] == "ed25519"
    assert "IDENTIFIED VIA ed25519" in show_create(db, u), show_create(db, u)
    assert p not in show_create(db, u)
    got = side.trove.api().get_user(username=u, hostname="%")
    assert got["_auth_plugin"] == "ed25519", got
    assert [x["_name"] for x in got["_databases"]] == [d]

    rc, out, err = cli_login(u, p, workdir=workdir)
    assert rc == 0 and out == u + "@%", (rc, out, err)
    rc, out, err = cli_login(u, p + "x", workdir=workdir)
    assert rc != 0 and "1045" in err, (rc, out, err)
    for log in (side.agent.log_text(), agent.log_text()):
        assert p not in log, "the password appears in an agent's log"


def test_update_attributes_moves_an_account_to_ed25519(agent, ed25519_agent, db, names, workdir):
    side = ed25519_agent
    u, p0, p1 = names.user("toed"), pw(), pw()
    rid = side.trove.cast_create_user([with_attrs(u, p0)])
    expect_end(side.trove, rid, side.trove.conductor.wait_outcome(rid))
    assert mysqld_attrs(db.query, u)["_auth_plugin"] == NATIVE
    rid = side.trove.cast_update_attributes(u, "%", {"_auth_plugin": "ed25519", "password": p1})
    expect_end(side.trove, rid, side.trove.conductor.wait_outcome(rid))
    assert mysqld_attrs(db.query, u)["_auth_plugin"] == "ed25519", show_create(db, u)
    assert side.trove.api().get_user(username=u, hostname="%")["_auth_plugin"] == "ed25519"
    rc, out, err = cli_login(u, p1, workdir=workdir)
    assert rc == 0 and out == u + "@%", (rc, out, err)
    assert p1 not in side.agent.log_text()


def test_caching_sha2_password_is_not_supported_on_mariadb(agent, trove, db, names,
                                                            unchanged_ours):
    from trove.common import exception
    u, p = names.user("sha2"), pw()
    with unchanged_ours("create_user with caching_sha2_password (cast)"):
        rid = trove.cast_create_user([with_attrs(u, p, _auth_plugin="caching_sha2_password")])
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid), secrets=[p])
    with unchanged_ours("create_user with caching_sha2_password (call)"):
        e = call_error(call, trove, "create_user",
                       users=[with_attrs(u, p, _auth_plugin="caching_sha2_password")])
    assert isinstance(e, exception.DatastoreOperationNotSupported), f"{type(e).__name__}: {e}"
    assert db.users_named(u) == []


# --------------------------------------------------------------------------- 4. hostile values

HOSTILE = [
    ("_max_connections", -1), ("_max_connections", 2 ** 31), ("_max_connections", 2 ** 64 - 1),
    ("_max_connections", 1e3), ("_max_connections", 1.5), ("_max_connections", "5"),
    ("_max_connections", True),
    ("_max_queries_per_hour", -5), ("_max_queries_per_hour", 2 ** 31),
    ("_max_queries_per_hour", 2 ** 64 - 1), ("_max_queries_per_hour", 1e3),
    ("_max_queries_per_hour", "10"), ("_max_queries_per_hour", False),
    ("_password_expire_days", -1), ("_password_expire_days", 65536),
    ("_password_expire_days", 2 ** 64 - 1), ("_password_expire_days", 1.5),
    ("_password_expire_days", "30"), ("_password_expire_days", True),
    ("_locked", "true"), ("_locked", 1), ("_locked", 0), ("_locked", "yes"),
    ("_require", "SSL"), ("_require", "specified"), ("_require", ""), ("_require", 1),
    ("_require", True), ("_require", "X509"),
    ("_auth_plugin", "unix_socket"), ("_auth_plugin", ""), ("_auth_plugin", 1),
    ("_auth_plugin", "pam"),
]


@pytest.mark.parametrize("key,value", HOSTILE, ids=[f"{k}={v!r}" for k, v in HOSTILE])
def test_hostile_attribute_is_refused_by_create_user(agent, trove, db, names, unchanged_ours,
                                                     key, value):
    from trove.common import exception
    u, p = names.user("h"), pw()
    with unchanged_ours(f"create_user with {key}={value!r} (cast)"):
        rid = trove.cast_create_user([with_attrs(u, p, **{key: value})])
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid), secrets=[p])
    # The same as a call, where the class of the refusal travels back.
    with unchanged_ours(f"create_user with {key}={value!r} (call)"):
        e = call_error(call, trove, "create_user", users=[with_attrs(u, p, **{key: value})])
    assert isinstance(e, exception.BadRequest), f"{type(e).__name__}: {e}"
    assert db.users_named(u) == []


HOSTILE_UPDATE = [pytest.param(k, v, id=f"{k}={v!r}") for k, v in HOSTILE]


@pytest.mark.parametrize("key,value", HOSTILE_UPDATE)
def test_hostile_attribute_is_refused_by_update_attributes(agent, trove, db, names,
                                                           unchanged_ours, key, value):
    v = names.user("hv")
    make_user(db, v, "%", pw())
    with unchanged_ours(f"update_attributes with {key}={value!r}"):
        rid = trove.cast_update_attributes(v, "%", {key: value})
        expect_exc(trove, rid, trove.conductor.wait_outcome(rid))


# --------------------------------------------------------------------------- 5. wildcard grants

def _db_rows(db, user):
    return sorted(r[0] for r in db.query("SELECT Db FROM mysql.db WHERE User=%s AND Host='%%'",
                                         (user,)))


def test_wildcard_grant_made_by_another_tool(agent, trove, api, db, names):
    w = names.user("w1")
    make_user(db, w, "%", pw())
    pattern = names.tag + "app\\_%"          # as the other tool wrote it
    literal = names.tag + "app_1"            # an ordinary escaped grant beside it
    db.execute(f"GRANT ALL ON `{pattern}`.* TO '{w}'@'%'")
    db.execute(f"GRANT ALL ON `{names.tag}app\\_1`.* TO '{w}'@'%'")
    assert _db_rows(db, w) == sorted([pattern, names.tag + "app\\_1"])

    got = api.get_user(username=w, hostname="%")
    assert sorted(x["_name"] for x in got["_databases"]) == sorted([pattern, literal]), got
    access = api.list_access(username=w, hostname="%")
    assert sorted(x["_name"] for x in access) == sorted([pattern, literal]), access

    assert call(trove, "revoke_access", username=w, hostname="%", database=pattern) is None
    assert _db_rows(db, w) == [names.tag + "app\\_1"], "revoke_access took the wrong grant row(s)"
    got = api.get_user(username=w, hostname="%")
    assert [x["_name"] for x in got["_databases"]] == [literal], got


def test_select_grant_on_every_schema_is_shown_where_levels_are(agent, trove, api, db, names):
    """get_user's `_databases` and list_access are the databases a user holds
    ALL on (Trove's user/access views); a SELECT-only grant on `%` made by
    another tool shows in the Cloud66 listing, with its level read back."""
    w = names.user("w2")
    make_user(db, w, "%", pw())
    db.execute(f"GRANT SELECT ON `%`.* TO '{w}'@'%'")
    try:
        assert _db_rows(db, w) == ["%"]
        got = api.get_user(username=w, hostname="%")
        access = api.list_access(username=w, hostname="%")
        listed = {u["username"]: u for u in db_users(trove)}
    finally:
        db.execute(f"REVOKE SELECT ON `%`.* FROM '{w}'@'%'")
    assert got["_databases"] == [] and access == [], (got, access)
    assert listed[w]["databases"] == ["%"], listed[w]
    assert listed[w]["user_type"] == "custom", listed[w]


# --------------------------------------------------------------------------- 6. roles

@pytest.fixture
def role(db, names):
    r = names.user("role")
    db.execute(f"CREATE ROLE `{r}`")
    yield r
    db.execute(f"DROP ROLE IF EXISTS `{r}`")


def test_roles_are_not_listed(agent, trove, api, db, role):
    assert db.scalar("SELECT COUNT(*) FROM mysql.global_priv WHERE User=%s AND Host=''",
                     (role,)) == 1
    listed = [u["_name"] for u in full_users(api)]
    cloud66 = [u["username"] for u in db_users(trove)]
    assert role not in listed and role not in cloud66, (
        f"role {role} listed: list_users {role in listed}, list_database_users {role in cloud66}")


def test_roles_cannot_be_read_or_granted(agent, trove, api, db, names, role, unchanged_ours):
    from trove.common import exception
    refused = (exception.UserNotFound, exception.BadRequest)
    d = names.db("rl")
    make_db(db, d)
    with unchanged_ours("get_user / grant_access on a role"):
        e = call_error(call, trove, "get_user", username=role, hostname="")
        assert isinstance(e, refused), f"{type(e).__name__}: {e}"
        e = call_error(call, trove, "grant_access", username=role, hostname="", databases=[d])
        assert isinstance(e, refused), f"{type(e).__name__}: {e}"
        assert api.get_user(username=role, hostname="%") is None
    assert db.scalar("SELECT COUNT(*) FROM mysql.db WHERE User=%s", (role,)) == 0


# --------------------------------------------------------------------------- 7. root history

REMOTE = ("localhost", "127.0.0.1", "::1")


def _drop_remote_root(db):
    for host in db.users_named("root"):
        if host not in REMOTE and not host.startswith("127."):
            db.execute("DROP USER %s@%s", ("root", host))


@pytest.fixture
def root_clean(agent, trove, db):
    _drop_remote_root(db)
    yield
    try:
        trove.api().disable_root()
    except Exception:  # noqa: BLE001 - the direct drop below still cleans up
        pass
    _drop_remote_root(db)


def _history(trove):
    h = call(trove, "get_root_history")
    assert isinstance(h, dict) and set(h) == {"enabled", "last_enabled_at", "last_enabled_by",
                                              "action"}, h
    assert isinstance(h["enabled"], bool), h
    return h


def test_root_history(agent, trove, db, root_clean):
    from trove.common.context import TroveContext

    class NamedContext(TroveContext):
        """Trove 26's TroveContext sends ``user`` (= user_id) but no
        ``user_name``; this one also carries it (a newer oslo.context,
        keystone's X-User-Name)."""
        def to_dict(self):
            return dict(super().to_dict(), user_name=self.user_name)

    h0 = _history(trove)
    assert h0["enabled"] is False, h0

    by_id = "it-hist-" + secrets.token_hex(4)
    started = datetime.now().astimezone().replace(microsecond=0)
    ctx = harness.new_context(project_id="it-project", user_id=by_id)
    root1 = trove.api(ctx).enable_root()
    harness.register_secret(root1.get("_password"), "enable_root")
    h1 = _history(trove)
    assert h1["enabled"] is True and h1["last_enabled_by"] == by_id, h1
    at = datetime.fromisoformat(h1["last_enabled_at"].replace("Z", "+00:00"))
    assert at >= started, (h1, started)
    a = call(trove, "get_action", id=h1["action"])
    assert a["action_type"] == "root_enable" and a["status"] == "success", a
    assert root1["_password"] not in json.dumps(a)

    # A context that carries user_name is recorded by the name.
    by_name = "it-name-" + secrets.token_hex(4)
    ctx = NamedContext(user_id="it-uid-" + secrets.token_hex(4), project_id="it-project",
                       is_admin=True, user_name=by_name)
    root2 = trove.api(ctx).enable_root()
    harness.register_secret(root2.get("_password"), "enable_root")
    h2 = _history(trove)
    assert h2["enabled"] is True and h2["last_enabled_by"] == by_name, h2
    assert h2["action"] > h1["action"], (h1, h2)

    assert trove.api().disable_root() is None
    assert "%" not in db.users_named("root")
    h3 = _history(trove)
    assert h3 == dict(h2, enabled=False), (h2, h3)
    log = agent.log_text()
    assert root1["_password"] not in log and root2["_password"] not in log


# --------------------------------------------------------------------------- 8. the journal

def test_update_journal_records_changed_fields_without_password(agent, trove, api, db, names,
                                                                 workdir):
    u, p0, p1 = names.user("jn"), pw(), pw()
    create_ok(trove, [with_attrs(u, p0, _max_queries_per_hour=12)])
    uid = uid_of(trove, u)
    update_ok(trove, u, "%", {"password": p1, "_locked": True})
    a = newest_action(trove, "database_user_update", uid)
    assert a["status"] == "success", a
    assert a.get("changed") == ["password", "_locked"], a
    again = call(trove, "get_action", id=a["id"])
    assert again.get("changed") == ["password", "_locked"], again
    listed = json.dumps(call(trove, "list_actions", limit=100000))
    for p in (p0, p1):
        assert p not in json.dumps(again) and p not in listed, "a password in the journal's view"
        assert p not in agent.log_text(), "a password in the agent's log"
    journal = "\n".join(f.read_bytes().decode("utf-8", "replace")
                        for f in (workdir / "state").rglob("*") if f.is_file())
    assert p0 not in journal and p1 not in journal, "a password stored in the journal"
    assert "ACCOUNT LOCK" in show_create(db, u)
    assert login_code(u, p1) == ER_ACCOUNT_HAS_BEEN_LOCKED

    # Everything at once: the agent's order.
    v = names.user("jn2")
    rid = trove.cast_update_attributes(u, "%", {
        "name": v, "host": "10.9.%", "password": pw(), "_require": "ssl",
        "_max_connections": 2, "_max_queries_per_hour": 3, "_locked": False,
        "_password_expire_days": 4})
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    assert db.users_named(u) == [] and db.users_named(v) == ["10.9.%"]
    assert mysqld_attrs(db.query, v, "10.9.%") == dict(
        DEFAULTS, _require="ssl", _max_connections=2, _max_queries_per_hour=3,
        _password_expire_days=4)
    everything = newest_action(trove, "database_user_update")
    assert everything.get("changed") == CHANGE_ORDER, everything

    # list_database_users carries the same attribute keys as get_user, with the
    # same values (and mysqld's).
    items = [x for x in db_users(trove) if x["username"] == v]
    assert len(items) == 1, items
    got = api.get_user(username=v, hostname="10.9.%")
    assert set(ATTR_KEYS) <= set(items[0]), items[0]
    assert attrs_of(items[0]) == attrs_of(got) == mysqld_attrs(db.query, v, "10.9.%"), (
        items[0], got)
