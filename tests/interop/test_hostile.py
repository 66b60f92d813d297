"""The hostile corpus of issue 7, through the real Trove 26 client.

Every case sends what an attacker who controls the control plane's input could put in
a name, a host, a database, a marker or a password, and is followed by the same
check: ``mysql.user`` (global_priv), ``mysql.db``, ``tables_priv``, ``roles_mapping``,
the schema list (the ``unchanged`` fixture) and ``SHOW GRANTS`` for every account are
exactly as before, the agent is alive and answers ``rpc_ping``.  A refused call must
answer a clear Trove error (``BadRequest`` naming what was wrong), a refused cast a
``notify_exc_info`` that Trove's own conductor accepts, neither carrying a password.

Where a value is legal (passwords full of quotes and format strings, a database name
Trove's own rule allows), "refused" is replaced by "exact": what mysqld then holds is
exactly what was asked, and a password logs in over TCP as written, and nothing else
changed.
"""

import json
import re
import secrets
from contextlib import contextmanager

import pymysql
import pytest

import harness
from harness import call_error, expect_end, expect_exc, make_db, make_user

_FOREIGN = re.compile(r"^it[0-9a-f]{6}_")


def pw(label="Pw"):
    return harness.register_secret(f"{label}-{secrets.token_hex(10)}", "test_hostile")


def schema_pattern(name):
    """A database name as a GRANT stores it: `\\`, `_`, `%` escaped."""
    return name.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


# --------------------------------------------------------------------------- the check

def all_grants(db):
    """SHOW GRANTS for every account (other concurrent sessions' objects left out,
    as ``Db.snapshot`` does)."""
    out = {}
    for user, host in db.query("SELECT User, Host FROM mysql.user"):
        user = user.decode("utf-8", "replace") if isinstance(user, bytes) else user
        host = host.decode("utf-8", "replace") if isinstance(host, bytes) else host
        if _FOREIGN.match(user) and not user.startswith(db.prefix):
            continue
        try:
            out[(user, host)] = tuple(sorted(db.grants(user, host)))
        except pymysql.MySQLError as e:
            out[(user, host)] = (f"<SHOW GRANTS failed: {e.args[0]}>",)
    return out


def grants_diff(before, after):
    out = []
    for acct in sorted(set(before) | set(after)):
        b, a = set(before.get(acct, ())), set(after.get(acct, ()))
        for g in sorted(b - a):
            out.append(f"SHOW GRANTS {acct!r}: removed {g!r}")
        for g in sorted(a - b):
            out.append(f"SHOW GRANTS {acct!r}: added {g!r}")
    return out


def state(db):
    return db.snapshot(), all_grants(db)


def state_diff(before, after):
    return harness.diff_snapshots(before[0], after[0]) + grants_diff(before[1], after[1])


def answers(agent, trove):
    assert agent.alive(), f"the agent died (exit code {agent.proc.returncode})"
    assert trove.raw_call("rpc_ping") is True, "rpc_ping did not answer true"


@pytest.fixture
def guard(agent, trove, db, unchanged):
    """``with guard(what): ...``: nothing in mysqld changed (``unchanged``, plus SHOW
    GRANTS of every account), and the agent still answers."""

    @contextmanager
    def check(what):
        grants_before = all_grants(db)
        with unchanged(what):
            yield
        diff = grants_diff(grants_before, all_grants(db))
        assert not diff, f"grants changed by {what}:\n" + "\n".join(diff[:40])
        answers(agent, trove)

    return check


class Target:
    """What a case works on: an existing user (``u``@% and @10.0.0.%, password
    ``p``, ALL on database ``d``), a fresh name ``new`` and passwords."""

    def __init__(self, trove, db, names):
        self.trove, self.db, self.names = trove, db, names
        self.u, self.new, self.d = names.user("u"), names.user("n"), names.db("d")
        self.p, self.p2 = pw("Pw-target"), pw("Pw-new")
        make_db(db, self.d)
        make_user(db, self.u, "%", self.p, [self.d])
        make_user(db, self.u, "10.0.0.%", self.p)

    # -- refusals
    def call_refused(self, method, clear, **kwargs):
        """A call that must answer BadRequest, its message naming one of ``clear``."""
        from trove.common import exception
        e = call_error(self.trove.raw_call, method, **kwargs)
        assert isinstance(e, exception.BadRequest), (
            f"{method}: expected BadRequest, got {type(e).__name__}: {e}")
        text = str(e).lower()
        assert any(c in text for c in clear), f"{method}: unclear error {str(e)!r} (wanted {clear})"
        for s in (self.p, self.p2):
            assert s not in str(e), f"{method}: a password in the error"
        return e

    def cast_refused(self, rid, clear, secrets=()):
        """A cast that must end in notify_exc_info naming one of ``clear``."""
        rec = self.trove.conductor.wait_outcome(rid)
        expect_exc(self.trove, rid, rec, secrets=[self.p, self.p2, *secrets])
        text = rec.kwargs["message"].lower()
        assert any(c in text for c in clear), (
            f"unclear failure notification {rec.kwargs['message']!r} (wanted {clear})")
        return rec

    def still_logs_in(self):
        harness.login(self.u, self.p).close()


@pytest.fixture
def t(agent, trove, db, names):
    return Target(trove, db, names)


# --------------------------------------------------------------------------- the corpus

# Ways out of a string literal, an identifier, a statement or a comment; each short
# enough that the session prefix plus it stays within 32 characters.
BREAKOUTS = [
    ("quote", "a'b"),
    ("quote-or", "x' OR '1'='1"),
    ("dquote", 'a"b'),
    ("dquote-or", 'x" OR "1"="1'),
    ("backtick", "a`b"),
    ("backtick-drop", "x`;DROP DATABASE x"),
    ("backslash", "a\\b"),
    ("backslash-quote", "x\\' OR 1=1#"),
    ("semicolon", "a;b"),
    ("semicolon-stmt", "x;DROP USER root"),
    ("dash-comment", "a-- b"),
    ("hash-comment", "a #b"),
    ("c-comment", "a/*b*/c"),
    ("nul", "a\x00b"),
    ("nul-quote", "a\x00' OR 1=1#"),
    ("newline", "a\nb"),
    ("newline-stmt", "a\nDROP USER root"),
]
BREAKOUT_IDS = [i for i, _ in BREAKOUTS]
BREAKOUT_VALUES = [v for _, v in BREAKOUTS]

USER_CLEAR = ("user name", "system account")
HOST_CLEAR = ("host",)
DB_CLEAR = ("database",)
PW_CLEAR = ("password",)


# -- user names: always refused (every one of these characters is)

def _user_name_case(t, op, name):
    tr = t.trove
    if op == "create_user":
        t.cast_refused(tr.cast_create_user([harness.user_dict(name, "%", t.p2, [t.d])]),
                       USER_CLEAR)
    elif op == "delete_user":
        t.cast_refused(tr.cast_delete_user(harness.user_dict(name)), USER_CLEAR)
    elif op == "update_attributes-of":
        t.cast_refused(tr.cast_update_attributes(name, "%", {"password": t.p2}), USER_CLEAR)
    elif op == "update_attributes-rename":
        t.cast_refused(tr.cast_update_attributes(t.u, "%", {"name": name}), USER_CLEAR)
    elif op == "change_passwords":
        t.cast_refused(tr.cast_change_passwords([{"name": name, "host": "%",
                                                  "password": t.p2}]), USER_CLEAR)
    elif op == "grant_access":
        t.call_refused(op, USER_CLEAR, username=name, hostname="%", databases=[t.d])
    elif op == "revoke_access":
        t.call_refused(op, USER_CLEAR, username=name, hostname="%", database=t.d)
    else:  # get_user, list_access, regenerate_password
        t.call_refused(op, USER_CLEAR, username=name, hostname="%")


USER_OPS = ["create_user", "get_user", "delete_user", "update_attributes-of",
            "update_attributes-rename", "change_passwords", "list_access", "grant_access",
            "revoke_access", "regenerate_password"]


@pytest.mark.parametrize("payload", BREAKOUT_VALUES, ids=BREAKOUT_IDS)
@pytest.mark.parametrize("op", USER_OPS)
def test_breakout_in_user_name_is_refused(t, guard, op, payload):
    name = t.names.tag + payload
    with guard(f"{op} with user name {name!r}"):
        _user_name_case(t, op, name)
    t.still_logs_in()


# -- hosts: always refused (none of these is an address or a network)

def _host_case(t, op, host):
    tr = t.trove
    if op == "create_user":
        t.cast_refused(tr.cast_create_user([harness.user_dict(t.new, host, t.p2, [t.d])]),
                       HOST_CLEAR)
    elif op == "delete_user":
        t.cast_refused(tr.cast_delete_user(harness.user_dict(t.u, host)), HOST_CLEAR)
    elif op == "update_attributes-of":
        t.cast_refused(tr.cast_update_attributes(t.u, host, {"password": t.p2}), HOST_CLEAR)
    elif op == "update_attributes-rehost":
        t.cast_refused(tr.cast_update_attributes(t.u, "%", {"host": host}), HOST_CLEAR)
    elif op == "change_passwords":
        t.cast_refused(tr.cast_change_passwords([{"name": t.u, "host": host,
                                                  "password": t.p2}]), HOST_CLEAR)
    elif op == "grant_access":
        t.call_refused(op, HOST_CLEAR, username=t.u, hostname=host, databases=[t.d])
    elif op == "revoke_access":
        t.call_refused(op, HOST_CLEAR, username=t.u, hostname=host, database=t.d)
    else:
        t.call_refused(op, HOST_CLEAR, username=t.u, hostname=host)


HOST_OPS = ["create_user", "get_user", "delete_user", "update_attributes-of",
            "update_attributes-rehost", "change_passwords", "list_access", "grant_access",
            "revoke_access", "regenerate_password"]


@pytest.mark.parametrize("payload", BREAKOUT_VALUES, ids=BREAKOUT_IDS)
@pytest.mark.parametrize("op", HOST_OPS)
def test_breakout_in_host_is_refused(t, guard, op, payload):
    host = "10.0.0." + payload
    with guard(f"{op} with host {host!r}"):
        _host_case(t, op, host)
    t.still_logs_in()


# -- database names: refused, or (where the name is legal) exactly that name

DB_OPS = ["create_database", "delete_database", "create_user-databases", "grant_access",
          "grant_access-second", "revoke_access"]


def _db_rows(db, user, host="%"):
    return sorted(r[0] for r in db.query(
        "SELECT Db FROM mysql.db WHERE User=%s AND Host=%s", (user, host)))


@pytest.mark.parametrize("payload", BREAKOUT_VALUES, ids=BREAKOUT_IDS)
@pytest.mark.parametrize("op", DB_OPS)
def test_breakout_in_database_name_is_refused_or_exact(t, agent, trove, db, op, payload):
    from trove.common import exception
    name = t.names.tag + payload
    before = state(db)
    if op in ("create_database", "delete_database", "create_user-databases"):
        if op == "create_database":
            rid = trove.cast_create_database([harness.db_dict(name)])
        elif op == "delete_database":
            rid = trove.cast_delete_database(harness.db_dict(name))
        else:
            rid = trove.cast_create_user([harness.user_dict(t.new, "%", t.p2, [name])])
        rec = trove.conductor.wait_outcome(rid)
        accepted = rec.method == "notify_end"
        if accepted:
            expect_end(trove, rid, rec)
        else:
            t.cast_refused(rid, DB_CLEAR + ("not found", "does not exist"))
    else:
        kwargs = ({"database": name} if op == "revoke_access" else
                  {"databases": [t.d, name] if op.endswith("second") else [name]})
        try:
            trove.raw_call(op.split("-")[0], username=t.u, hostname="%", **kwargs)
            accepted = True
        except Exception as e:  # noqa: BLE001
            assert not harness.is_timeout(e), f"{op}: no answer"
            assert isinstance(e, exception.BadRequest), f"{op}: {type(e).__name__}: {e}"
            assert any(c in str(e).lower() for c in DB_CLEAR), f"unclear error {str(e)!r}"
            accepted = False
    diff = state_diff(before, state(db))
    answers(agent, trove)
    if not accepted or op in ("delete_database", "revoke_access"):
        assert diff == [], f"{op} {name!r} ({'accepted' if accepted else 'refused'}) " \
                           f"changed mysqld:\n" + "\n".join(diff[:40])
        return
    # Accepted: exactly the object asked for, nothing else.
    if op == "create_database":
        assert diff == [f"databases: added {(name,)!r}"], "\n".join(diff)
        return
    who = t.new if op == "create_user-databases" else t.u
    assert all(repr(who) in line for line in diff), (
        f"{op} {name!r} changed more than {who}:\n" + "\n".join(diff))
    want = {schema_pattern(name)} | ({schema_pattern(t.d)} if who == t.u else set())
    assert set(_db_rows(db, who)) == want, _db_rows(db, who)


# -- markers: a position in the sorted listing, never SQL; they just page

MARKERS = BREAKOUT_VALUES + [
    "' OR 1=1 -- ", "'; DROP DATABASE mysql; --", "\" OR \"\"=\"",
    "') UNION SELECT user, host FROM mysql.user -- ", "%", "_", "\\", "`", "*/", "\x00",
    "😀", "\U0010ffff", "z" * 2000,
]


@pytest.fixture
def listed(db, names):
    """Three users and three databases of this test: keys in listing order."""
    users, dbs = [], []
    for s in ("a", "m", "z"):
        make_user(db, names.user(s))
        make_db(db, names.db(s))
        users.append(names.user(s) + "@%")
        dbs.append(names.db(s))
    return {"list_users": users, "list_databases": dbs}


def _key(item):
    return "%s@%s" % (item["_name"], item["_host"]) if "_host" in item else item["_name"]


@pytest.mark.parametrize("method", ["list_users", "list_databases"])
@pytest.mark.parametrize("marker", MARKERS, ids=[repr(m)[1:20] for m in MARKERS])
def test_hostile_marker_just_pages(guard, trove, names, listed, method, marker):
    ours = listed[method]
    for m in (marker, names.tag + marker):
        for include in (False, True):
            with guard(f"{method} marker={m!r} include_marker={include}"):
                items, nm = getattr(trove.api(), method)(limit=100000, marker=m,
                                                         include_marker=include)
                keys = [_key(i) for i in items]
                assert nm is None
                assert keys == sorted(keys), f"not sorted: {keys[:10]}"
                bad = [k for k in keys if not (k >= m if include else k > m)]
                assert not bad, f"items before the marker {m!r}: {bad[:5]}"
                assert [k for k in keys if k.startswith(names.tag)] == \
                    [k for k in ours if (k >= m if include else k > m)]
                page, nm = getattr(trove.api(), method)(limit=2, marker=m,
                                                        include_marker=include)
                pkeys = [_key(i) for i in page]
                assert len(pkeys) <= 2 and pkeys == sorted(pkeys)
                assert all((k >= m if include else k > m) for k in pkeys)
                assert nm is None or nm == pkeys[-1], (nm, pkeys)


# --------------------------------------------------------------------------- system accounts

RENAMES = [("root", None), ("root", "localhost"), ("root", "%"), ("os_admin", None),
           ("os_admin", "localhost"), ("mariadb.sys", None), ("mariadb.sys", "localhost"),
           ("mysql.session", None), ("mysql", "localhost"),
           (None, "localhost"), (None, "127.0.0.1"), (None, "::1"), (None, "LocalHost")]


@pytest.mark.parametrize("name,host", RENAMES, ids=[f"{n}@{h}" for n, h in RENAMES])
def test_rename_onto_a_system_account_is_refused(t, guard, name, host):
    attrs = {"password": t.p2}
    if name is not None:
        attrs["name"] = name
    if host is not None:
        attrs["host"] = host
    with guard(f"update_attributes {t.u}@% -> {attrs}"):
        t.cast_refused(t.trove.cast_update_attributes(t.u, "%", attrs),
                       USER_CLEAR + HOST_CLEAR)
    t.still_logs_in()


SYSTEM_ACCOUNTS = [("root", "localhost"), ("root", "127.0.0.1"), ("root", "::1"),
                   ("root", "%"), ("os_admin", "%"), ("os_admin", "localhost"),
                   ("mariadb.sys", "localhost"), ("mysql", "localhost")]


@pytest.mark.parametrize("name,host", SYSTEM_ACCOUNTS, ids=[f"{n}@{h}" for n, h in SYSTEM_ACCOUNTS])
def test_system_account_cannot_be_renamed_repassworded_or_granted(t, guard, name, host):
    tr = t.trove
    clear = USER_CLEAR + HOST_CLEAR
    with guard(f"changes to {name}@{host}"):
        t.cast_refused(tr.cast_update_attributes(name, host, {"name": t.new}), clear)
        t.cast_refused(tr.cast_update_attributes(name, host, {"password": t.p2}), clear)
        t.cast_refused(tr.cast_change_passwords([{"name": name, "host": host,
                                                  "password": t.p2}]), clear)
        t.cast_refused(tr.cast_delete_user(harness.user_dict(name, host)), clear)
        t.call_refused("grant_access", clear, username=name, hostname=host, databases=[t.d])
        t.call_refused("revoke_access", clear, username=name, hostname=host, database=t.d)
        t.call_refused("regenerate_password", clear, username=name, hostname=host)


# --------------------------------------------------------------------------- local hosts

LOCAL_HOSTS = ["localhost", "127.0.0.1", "::1", "LOCALHOST", "127.0.0.2",
               "localhost.localdomain"]
# The same addresses written otherwise (names.rs: "Loopback forms are the host's own
# and refused").
LOOPBACK_FORMS = ["0:0:0:0:0:0:0:1", "0::1", "::1/128", "::ffff:127.0.0.1"]


def _local_host_cases(t, host, existing):
    tr = t.trove
    t.cast_refused(tr.cast_create_user([harness.user_dict(t.new, host, t.p2)]), HOST_CLEAR)
    t.cast_refused(tr.cast_delete_user(harness.user_dict(existing, host)), HOST_CLEAR)
    t.cast_refused(tr.cast_update_attributes(existing, host, {"password": t.p2}), HOST_CLEAR)
    t.cast_refused(tr.cast_update_attributes(t.u, "%", {"host": host}), HOST_CLEAR)
    t.cast_refused(tr.cast_change_passwords([{"name": existing, "host": host,
                                              "password": t.p2}]), HOST_CLEAR)
    for method, kw in (("get_user", {}), ("list_access", {}),
                       ("grant_access", {"databases": [t.d]}),
                       ("revoke_access", {"database": t.d}), ("regenerate_password", {})):
        t.call_refused(method, HOST_CLEAR, username=existing, hostname=host, **kw)


@pytest.mark.parametrize("host", LOCAL_HOSTS)
def test_local_hosts_are_refused_where_percent_works(t, guard, db, host):
    lh = t.names.user("lh")
    make_user(db, lh, host, pw("Pw-local"))
    make_user(db, lh, "%", pw("Pw-any"))
    with guard(f"commands on {lh}@{host}"):
        _local_host_cases(t, host, lh)
    # The control: the same account @% is served.
    assert t.trove.api().get_user(username=lh, hostname="%")["_host"] == "%"
    assert db.user_exists(lh, host.lower())  # mysqld keeps host names in lower case


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_loopback_written_otherwise_is_refused(t, guard, db, host):
    lh = t.names.user("lb")
    make_user(db, lh, host, pw("Pw-loop"))
    with guard(f"commands on {lh}@{host}"):
        _local_host_cases(t, host, lh)


# --------------------------------------------------------------------------- system schemas

SCHEMAS = list(harness.SYSTEM_SCHEMAS) + ["MySQL", "SYS", "Information_Schema",
                                          "PERFORMANCE_SCHEMA"]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_system_schema_is_refused_alone_and_second(t, guard, schema):
    tr = t.trove
    clear = ("system database",) + DB_CLEAR
    with guard(f"commands on {schema}"):
        for dbs in ([schema], [t.d, schema]):
            t.cast_refused(tr.cast_create_user([harness.user_dict(t.new, "%", t.p2, dbs)]),
                           clear)
            t.call_refused("grant_access", clear, username=t.u, hostname="%", databases=dbs)
            fresh = [t.names.db("f") if d == t.d else d for d in dbs]
            t.cast_refused(tr.cast_create_database([harness.db_dict(d) for d in fresh]), clear)
        t.call_refused("revoke_access", clear, username=t.u, hostname="%", database=schema)
        t.cast_refused(tr.cast_delete_database(harness.db_dict(schema)), clear)
    assert _db_rows(t.db, t.u) == [schema_pattern(t.d)]


# --------------------------------------------------------------------------- wildcards

def _can_use(user, password, database):
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


@pytest.mark.parametrize("how", ["create_user", "grant_access"])
def test_underscore_in_a_granted_name_never_widens(t, trove, db, agent, how):
    target, decoy = t.names.db("w_1"), t.names.db("wx1")
    make_db(db, target)
    make_db(db, decoy)
    if how == "create_user":
        rid = trove.cast_create_user([harness.user_dict(t.new, "%", t.p2, [target])])
        expect_end(trove, rid, trove.conductor.wait_outcome(rid))
        who, p = t.new, t.p2
    else:
        assert trove.raw_call("grant_access", username=t.u, hostname="%",
                              databases=[target]) is None
        who, p = t.u, t.p
    rows = _db_rows(db, who)
    assert schema_pattern(target) in rows and not any(
        re.search(r"(?<!\\)[_%]", r) for r in rows), f"unescaped pattern stored: {rows}"
    assert _can_use(who, p, target) is True
    assert _can_use(who, p, decoy) in (1044, 1049), f"{who} reached {decoy} through {target}"
    answers(agent, trove)


def test_bare_underscore_database_is_one_database(t, trove, db, agent):
    """`_` alone would match every one-character schema as a pattern."""
    assert trove.raw_call("grant_access", username=t.u, hostname="%", databases=["_"]) is None
    assert "\\_" in _db_rows(db, t.u) and "_" not in _db_rows(db, t.u), _db_rows(db, t.u)
    answers(agent, trove)


@pytest.mark.parametrize("payload", ["%", "w%", "%w", "w_%", "\\%", "\\_"])
def test_percent_in_a_database_name_is_refused(t, guard, db, payload):
    """Nothing is created or granted on a pattern; revoke_access may name one (it
    removes a wildcard grant exactly as get_user shows it) and touches no other."""
    name = t.names.tag + payload
    tr = t.trove
    with guard(f"commands on database {name!r}"):
        t.cast_refused(tr.cast_create_user([harness.user_dict(t.new, "%", t.p2, [name])]),
                       DB_CLEAR)
        t.call_refused("grant_access", DB_CLEAR, username=t.u, hostname="%", databases=[name])
        t.call_refused("grant_access", DB_CLEAR, username=t.u, hostname="%",
                       databases=[t.d, name])
        before = _db_rows(db, t.u)
        assert before, "the target account holds a grant the revoke must leave alone"
        if "%" in payload:
            assert tr.raw_call("revoke_access", username=t.u, hostname="%",
                               database=name) is None
        else:
            t.call_refused("revoke_access", DB_CLEAR, username=t.u, hostname="%",
                           database=name)
        assert _db_rows(db, t.u) == before
        t.cast_refused(tr.cast_create_database([harness.db_dict(name)]), DB_CLEAR)
        t.cast_refused(tr.cast_delete_database(harness.db_dict(name)), DB_CLEAR)


# --------------------------------------------------------------------------- passwords

# Must work as literal passwords: format-string and placeholder syntax of every
# layer on the way (Python %-format and str.format, oslo, SQL placeholders), quotes,
# backslashes, comment markers, control characters, non-ASCII.
PASSWORD_SPECIALS = [":word", "%s", "{}", "%(x)s", "{0}", "%%", "?", "$1", "'", '"', "\\",
                     "\\'", "\\0", "\\n", "`", ";", "--", "#", "/*", "*/", "\n", "\t",
                     "%_", "' OR '1'='1", "'; DROP USER root; -- ", "ünï", "😀"]


def _literal_password(special):
    return harness.register_secret(special + secrets.token_hex(5) + special, "test_hostile")


def _logs_in(user, password):
    # PyMySQL encodes a str password as latin-1; mysqld hashes the bytes sent, and
    # every other client sends UTF-8.
    harness.login(user, password.encode("utf-8")).close()


def _refused_login(user, password):
    with pytest.raises(pymysql.err.OperationalError) as ei:
        _logs_in(user, password)
    assert ei.value.args[0] == 1045, ei.value


@pytest.mark.parametrize("special", PASSWORD_SPECIALS,
                         ids=[repr(s)[1:-1] for s in PASSWORD_SPECIALS])
def test_password_is_a_literal(t, trove, db, agent, special):
    u = t.new
    p1, p2, p3 = (_literal_password(special) for _ in range(3))
    rid = trove.cast_create_user([harness.user_dict(u, "%", p1, [t.d])])
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    _logs_in(u, p1)
    _refused_login(u, p1[:-1])

    rid = trove.cast_change_passwords([{"name": u, "host": "%", "password": p2}])
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    _logs_in(u, p2)
    _refused_login(u, p1)

    rid = trove.cast_update_attributes(u, "%", {"password": p3})
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    _logs_in(u, p3)
    _refused_login(u, p2)
    assert db.users_named(u) == ["%"]
    answers(agent, trove)


@pytest.mark.parametrize("bad", ["", "\x00", "a\x00b-long-enough", "x" * 513],
                         ids=["empty", "nul", "inner-nul", "513-bytes"])
def test_empty_or_impossible_password_is_refused(t, guard, bad):
    tr = t.trove
    with guard(f"password {bad[:20]!r}"):
        t.cast_refused(tr.cast_create_user([harness.user_dict(t.new, "%", bad)]), PW_CLEAR)
        t.cast_refused(tr.cast_change_passwords([{"name": t.u, "host": "%", "password": bad}]),
                       PW_CLEAR)
        t.cast_refused(tr.cast_update_attributes(t.u, "%", {"password": bad}), PW_CLEAR)
        t.call_refused("enable_root_with_password", PW_CLEAR, root_password=bad)
    t.still_logs_in()


# --------------------------------------------------------------------------- lengths

@pytest.mark.parametrize("suffix", ["x" * 40, "😀", "a😀b", "\U0001F600" * 8],
                         ids=["33-characters", "emoji", "inner-emoji", "emoji-only"])
def test_overlong_and_emoji_user_names_are_refused(t, guard, suffix):
    name = (t.names.tag + suffix)[:33] if suffix.startswith("x") else t.names.tag + suffix
    assert len(name) >= 33 or any(ord(c) > 0xFFFF for c in name)
    tr = t.trove
    with guard(f"user name {name!r}"):
        t.cast_refused(tr.cast_create_user([harness.user_dict(name, "%", t.p2)]), USER_CLEAR)
        t.cast_refused(tr.cast_update_attributes(t.u, "%", {"name": name}), USER_CLEAR)
        t.cast_refused(tr.cast_change_passwords([{"name": name, "host": "%",
                                                  "password": t.p2}]), USER_CLEAR)
        t.call_refused("get_user", USER_CLEAR, username=name, hostname="%")


@pytest.mark.parametrize("suffix", ["😀", "d😀b", "x" * 70],
                         ids=["emoji", "inner-emoji", "65-characters"])
def test_emoji_and_overlong_database_names_are_refused(t, guard, suffix):
    name = (t.names.tag + suffix)[:65] if suffix.startswith("x") else t.names.tag + suffix
    tr = t.trove
    with guard(f"database name {name!r}"):
        t.cast_refused(tr.cast_create_database([harness.db_dict(name)]), DB_CLEAR)
        t.cast_refused(tr.cast_create_user([harness.user_dict(t.new, "%", t.p2, [name])]),
                       DB_CLEAR)
        t.call_refused("grant_access", DB_CLEAR, username=t.u, hostname="%", databases=[name])


# Invisible (Unicode category Cf): "app\u200b" would show as "app" in every listing.
FORMAT_CHARACTERS = [("zero-width-space", "\u200b"), ("word-joiner", "\u2060"),
                     ("byte-order-mark", "\ufeff"), ("right-to-left-override", "\u202e"),
                     ("soft-hyphen", "\u00ad")]


@pytest.mark.parametrize("char", [c for _, c in FORMAT_CHARACTERS],
                         ids=[i for i, _ in FORMAT_CHARACTERS])
def test_invisible_format_characters_in_user_names_are_refused(t, guard, char):
    tr = t.trove
    # (after the session prefix, so that a wrongly created account is still dropped)
    for name in (t.names.tag + "app" + char, t.names.tag + char + "app",
                 t.names.tag + "a" + char + "pp"):
        with guard(f"user name {name!r}"):
            t.cast_refused(tr.cast_create_user([harness.user_dict(name, "%", t.p2, [t.d])]),
                           USER_CLEAR)
            t.cast_refused(tr.cast_update_attributes(t.u, "%", {"name": name}), USER_CLEAR)
            t.call_refused("get_user", USER_CLEAR, username=name, hostname="%")
            t.call_refused("grant_access", USER_CLEAR, username=name, hostname="%",
                           databases=[t.d])
    t.still_logs_in()


def _escaped_to(tag, length):
    """A database name starting with ``tag`` whose GRANT pattern (`_` -> `\\_`) is
    exactly ``length`` characters (the name itself stays within 64)."""
    name = tag
    while len(schema_pattern(name)) < length:
        name += "_" if len(schema_pattern(name)) <= length - 2 else "x"
    assert len(schema_pattern(name)) == length and len(name) <= 64, name
    return name


UNGRANTABLE_CLEAR = ("cannot be granted", "escaped")


def test_database_too_long_once_escaped_cannot_be_granted_on(t, guard, db):
    """64 characters is mysqld's limit for the stored pattern: older servers cut a
    longer one short (a grant on another schema), 10.11 refuses it half way."""
    name = _escaped_to(t.names.tag, 65)
    other = t.names.db("o")
    make_db(db, name)  # they exist: "not found" cannot be the reason
    make_db(db, other)
    tr = t.trove
    with guard(f"grants on {name!r} ({len(name)} characters, 65 escaped)"):
        t.cast_refused(tr.cast_create_user([harness.user_dict(t.new, "%", t.p2, [name])]),
                       UNGRANTABLE_CLEAR)
        t.cast_refused(tr.cast_create_user([harness.user_dict(t.new, "%", t.p2,
                                                              [other, name])]),
                       UNGRANTABLE_CLEAR)
        for dbs in ([name], [other, name]):
            t.call_refused("grant_access", UNGRANTABLE_CLEAR, username=t.u, hostname="%",
                           databases=dbs)
    assert not t.db.user_exists(t.new, "%")
    t.still_logs_in()


def test_database_of_64_characters_escaped_is_granted_exactly(t, trove, db, agent):
    """The boundary: 64 once escaped is granted, on exactly that schema."""
    name = _escaped_to(t.names.tag, 64)
    make_db(db, name)
    assert trove.raw_call("grant_access", username=t.u, hostname="%", databases=[name]) is None
    assert set(_db_rows(db, t.u)) == {schema_pattern(t.d), schema_pattern(name)}
    rid = trove.cast_create_user([harness.user_dict(t.new, "%", t.p2, [name])])
    expect_end(trove, rid, trove.conductor.wait_outcome(rid))
    assert _db_rows(db, t.new) == [schema_pattern(name)]
    answers(agent, trove)


# --------------------------------------------------------------------------- limits

LIMIT = 100  # limits.max_items, the default the session agent runs with
HUGE = 10_000
MAX_MESSAGE = 1_048_576  # limits.max_message_bytes default


def _fits(args, notification=""):
    """The count limit, not the size limit, must be what refuses these: the body
    (arguments JSON-encoded twice, as in the oslo envelope, plus the context with
    Trove's notification payload, which names every user) stays under the limit."""
    size = len(json.dumps(json.dumps({"args": args}))) + len(notification) + 4096
    assert size < MAX_MESSAGE, f"test message of ~{size} bytes would be refused for size"


def test_ten_thousand_users_in_one_create_user_are_refused(t, guard):
    p = harness.register_secret("Pm" + secrets.token_hex(5), "test_hostile")
    users = [{"_name": f"{t.names.tag}{i:05d}", "_password": p} for i in range(HUGE)]
    _fits({"users": users}, ",".join(u["_name"] for u in users))
    with guard("create_user with 10,000 users"):
        t.cast_refused(t.trove.cast_create_user(users), (str(LIMIT), "items"), secrets=[p])


def test_ten_thousand_items_in_every_list_argument_are_refused(t, guard):
    tr = t.trove
    tag = t.names.tag
    dbs = [f"{tag}{i:05d}" for i in range(HUGE)]
    p = harness.register_secret("Pm" + secrets.token_hex(5), "test_hostile")
    changes = [{"name": f"{tag}{i:05d}", "password": p} for i in range(HUGE)]
    _fits({"databases": [{"_name": d} for d in dbs]}, ".".join(dbs))
    _fits({"users": changes}, ",".join(c["name"] for c in changes))
    clear = (str(LIMIT), "items")
    with guard("10,000 items in each list argument"):
        t.cast_refused(tr.cast_change_passwords(changes), clear, secrets=[p])
        t.cast_refused(tr.cast_create_database([{"_name": d} for d in dbs]), clear)
        t.cast_refused(tr.cast_create_user([{"_name": t.new, "_password": t.p2,
                                             "_databases": dbs}]), clear)
        t.call_refused("grant_access", clear, username=t.u, hostname="%", databases=dbs)
    t.still_logs_in()


def test_one_over_the_limit_is_refused_and_the_limit_itself_works(t, guard, db, trove, agent):
    tag = t.names.tag
    over = [harness.user_dict(f"{tag}{i:03d}", "%", t.p2) for i in range(LIMIT + 1)]
    with guard(f"create_user with {LIMIT + 1} users"):
        t.cast_refused(trove.cast_create_user(over), (str(LIMIT), "items"))
    rid = trove.cast_create_user(over[:LIMIT])
    expect_end(trove, rid, trove.conductor.wait_outcome(rid, timeout=120))
    made = db.scalar("SELECT COUNT(*) FROM mysql.user WHERE User LIKE %s",
                     (schema_pattern(tag) + "___",))
    assert made == LIMIT, f"{made} of {LIMIT} users created"
    answers(agent, trove)


# --------------------------------------------------------------------------- encrypted

def test_hostile_cases_over_an_encrypted_agent(agent, spawn_agent, db, names, unchanged):
    """With instance_rpc_encr_key set: hostile names are still refused, a hostile
    password still works; the key and the passwords are registered for the final
    secret grep of this agent's log (test_zz_secrets.py)."""
    key = harness.register_secret("key-" + secrets.token_hex(16), "instance key (hostile)")
    side = spawn_agent(extra={"amqp": {"rpc_encryption_key": key}}, key=key)
    tr = side.trove
    u = names.user("enc")
    p1, p2 = _literal_password("'%s{}"), _literal_password(":word\\")
    with unchanged("encrypted: hostile user name"):
        rid = tr.cast_create_user([harness.user_dict(names.tag + "x' OR '1'='1", "%", p1)])
        expect_exc(tr, rid, tr.conductor.wait_outcome(rid), secrets=[p1, key])
    rid = tr.cast_create_user([harness.user_dict(u, "%", p1)])
    expect_end(tr, rid, tr.conductor.wait_outcome(rid))
    _logs_in(u, p1)
    rid = tr.cast_change_passwords([{"name": u, "host": "%", "password": p2}])
    expect_end(tr, rid, tr.conductor.wait_outcome(rid))
    _logs_in(u, p2)
    with unchanged("encrypted: empty password"):
        rid = tr.cast_update_attributes(u, "%", {"password": ""})
        expect_exc(tr, rid, tr.conductor.wait_outcome(rid), secrets=[p2, key])
    assert tr.raw_call("rpc_ping") is True
    assert side.agent.alive()
