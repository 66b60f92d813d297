"""Root and host information through the real Trove client (issue 5; trove-wire §4):
enable_root, enable_root_with_password, disable_root, is_root_enabled,
get_root_password, get_hwinfo, get_diagnostics.

Checked in mysqld after each: `root`@`%` and its grants, a login as remote root,
and that the local root still logs in over the unix socket.  This machine also has
`root`@`127.0.0.1` (empty password), which must be left exactly as it is; because
mysqld matches the most specific host first, a TCP login from 127.0.0.1 as root
is that account, so remote root is proved from source address 127.0.0.2.

Remote root is always disabled again after each test (teardown), first through the
agent, then directly if the agent left it behind."""

import os
import re
import string
import subprocess
import time

import pymysql
import pytest

import harness
from harness import call_error

REMOTE_SOURCE = "127.0.0.2"  # loopback, but not the 127.0.0.1 of root@127.0.0.1
# Trove's serialized MySQLUser, then the account attributes guestagent adds
# (keys Trove's own models ignore).
USER_KEYS = {"_name", "_host", "_password", "_databases", "_is_root",
             "_require", "_max_connections", "_max_queries_per_hour", "_locked",
             "_password_expire_days", "_auth_plugin"}
SAFE = set(string.ascii_letters + string.digits + "-_.~+=!@#$^*()[]{}:,/?")


def root_hosts(db):
    return db.users_named("root")


def local_root_rows(db):
    """Everything stored for the local root accounts (must never change)."""
    return sorted(tuple(r) for r in db.query(
        "SELECT Host, Priv FROM mysql.global_priv WHERE User='root' AND Host<>'%'"))


def remote_root_login(password):
    conn = harness.login("root", password.encode("utf-8"), bind_address=REMOTE_SOURCE)
    try:
        return harness.session_query(conn, "SELECT CURRENT_USER()")[0][0]
    finally:
        conn.close()


def remote_root_login_fails(password):
    try:
        remote_root_login(password)
    except pymysql.err.OperationalError as e:
        assert e.args[0] in (1045, 1698), e
        return True
    return False


def assert_local_root_ok(db, saved_rows):
    """root@localhost over the socket (PyMySQL and the mariadb CLI), root@127.0.0.1
    untouched."""
    conn = harness.socket_login("root")
    try:
        assert harness.session_query(conn, "SELECT CURRENT_USER()")[0][0] == "root@localhost"
    finally:
        conn.close()
    r = subprocess.run(["mariadb", "-uroot", "-N", "-e", "SELECT CURRENT_USER()"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and r.stdout.strip() == "root@localhost", (r.stdout, r.stderr)
    assert local_root_rows(db) == saved_rows, "a local root account was changed"


def drop_remote_root_directly(db):
    for host in root_hosts(db):
        if host not in ("localhost", "127.0.0.1", "::1") and not host.startswith("127."):
            db.execute("DROP USER %s@%s", ("root", host))


@pytest.fixture
def root_clean(agent, api, db):
    """Remote root disabled before and after the test; returns the local root rows
    as they were, for the checks."""
    drop_remote_root_directly(db)  # left over from an interrupted run
    saved = local_root_rows(db)
    hosts = root_hosts(db)
    yield saved
    try:
        api.disable_root()
    except Exception:  # noqa: BLE001 - the direct drop below still cleans up
        pass
    left = [h for h in root_hosts(db) if h not in hosts]
    drop_remote_root_directly(db)
    assert left == [], f"disable_root at teardown left root@{left}"
    assert local_root_rows(db) == saved, "a local root account was changed"


def check_root_user(result):
    assert isinstance(result, dict), result
    assert result["_name"] == "root" and result["_host"] == "%", result
    assert result["_is_root"] is True, result
    assert set(result) >= {"_name", "_host", "_password", "_is_root"}, result
    assert set(result) <= USER_KEYS, result
    # What Trove's RootController does with it (models.RootHistory / views):
    from trove.common.db.mysql.models import MySQLUser
    MySQLUser.deserialize(result, verify=False)
    return result["_password"]


def check_remote_root_grants(db):
    grants = db.grants("root", "%")
    assert any(re.match(r"GRANT ALL PRIVILEGES ON \*\.\* TO `root`@`%`.*WITH GRANT OPTION", g)
               for g in grants), grants


# --------------------------------------------------------------------------- enable

def test_enable_root(agent, api, db, root_clean):
    assert api.is_root_enabled() is False
    result = api.enable_root()
    pw = check_root_user(result)
    assert isinstance(pw, str) and len(pw) >= 32, "generated password shorter than 32"
    assert set(pw) <= SAFE, f"generated password has unsafe characters: {set(pw) - SAFE}"

    assert "%" in root_hosts(db)
    check_remote_root_grants(db)
    assert remote_root_login(pw) == "root@%"
    assert_local_root_ok(db, root_clean)
    assert api.is_root_enabled() is True
    assert pw not in agent.log_text(), "the root password appears in the agent's log"


def test_enable_root_twice_rotates_the_password(agent, api, db, root_clean):
    pw1 = check_root_user(api.enable_root())
    pw2 = check_root_user(api.enable_root())
    assert pw1 != pw2
    assert remote_root_login(pw2) == "root@%"
    assert remote_root_login_fails(pw1)
    check_remote_root_grants(db)
    assert_local_root_ok(db, root_clean)


def test_enable_root_with_password(agent, api, db, root_clean):
    pw = "Root-" + os.urandom(8).hex()
    result = api.enable_root_with_password(pw)
    assert check_root_user(result) == pw
    assert remote_root_login(pw) == "root@%"
    check_remote_root_grants(db)
    assert_local_root_ok(db, root_clean)
    assert api.is_root_enabled() is True


def test_enable_root_with_password_none_generates(agent, api, db, root_clean):
    result = api.enable_root_with_password(None)
    pw = check_root_user(result)
    assert isinstance(pw, str) and len(pw) >= 32
    assert set(pw) <= SAFE
    assert remote_root_login(pw) == "root@%"
    assert_local_root_ok(db, root_clean)


def test_enable_root_with_password_injection_is_literal(agent, api, db, root_clean):
    pw = "pw' ACCOUNT LOCK -- "
    assert check_root_user(api.enable_root_with_password(pw)) == pw
    create = db.scalar("SHOW CREATE USER 'root'@'%'")
    assert "ACCOUNT LOCK" not in create.upper(), create
    assert remote_root_login(pw) == "root@%"
    assert_local_root_ok(db, root_clean)


def test_enable_root_with_a_bad_password_changes_nothing(agent, trove, db, root_clean, unchanged):
    with unchanged("enable_root_with_password with a NUL in the password"):
        call_error(trove.raw_call, "enable_root_with_password",
                   timeout=harness.CALL_HIGH_TIMEOUT, root_password="a\x00b")


def test_list_users_shows_root_only_while_enabled(agent, api, db, root_clean):
    def roots():
        items, _ = api.list_users(limit=100000)
        return [u for u in items if u["_name"] == "root"]

    assert roots() == []
    pw = check_root_user(api.enable_root())
    listed = roots()
    assert len(listed) == 1, listed
    assert listed[0]["_host"] == "%" and listed[0]["_is_root"] is True, listed
    assert listed[0]["_password"] is None, "list_users gave out the root password"
    assert pw not in repr(listed)
    assert api.disable_root() is None
    assert roots() == []


# --------------------------------------------------------------------------- disable

def test_disable_root(agent, api, db, root_clean):
    pw = check_root_user(api.enable_root())
    assert remote_root_login(pw) == "root@%"

    assert api.disable_root() is None

    assert "%" not in root_hosts(db), root_hosts(db)
    assert root_hosts(db) == sorted(h for h, _ in root_clean), "disable_root touched local root"
    assert remote_root_login_fails(pw)
    assert api.is_root_enabled() is False
    assert_local_root_ok(db, root_clean)


def test_disable_root_also_removes_other_remote_root_hosts(agent, api, db, root_clean):
    """Remote root made by other means (Trove's own agent, an operator): disable_root
    removes every non-local root account; is_root_enabled reports it first."""
    db.execute("CREATE USER 'root'@'10.77.0.%%' IDENTIFIED BY %s", ("Other-" + os.urandom(6).hex(),))
    assert api.is_root_enabled() is True
    assert api.disable_root() is None
    assert root_hosts(db) == sorted(h for h, _ in root_clean)
    assert api.is_root_enabled() is False
    assert_local_root_ok(db, root_clean)


def test_disable_root_when_not_enabled(agent, api, db, root_clean, unchanged):
    with unchanged("disable_root with remote root already off"):
        assert api.disable_root() is None
    assert api.is_root_enabled() is False
    assert_local_root_ok(db, root_clean)


def test_is_root_enabled_ignores_local_root_accounts(agent, api, db, root_clean):
    """root@localhost and root@127.0.0.1 exist here: that is not remote root."""
    assert {"localhost"} <= set(root_hosts(db))
    assert api.is_root_enabled() is False


def test_enable_disable_cycle_keeps_socket_root(agent, api, db, root_clean):
    for _ in range(3):
        pw = check_root_user(api.enable_root())
        assert remote_root_login(pw) == "root@%"
        assert_local_root_ok(db, root_clean)
        assert api.disable_root() is None
        assert remote_root_login_fails(pw)
        assert_local_root_ok(db, root_clean)


# --------------------------------------------------------------------------- get_root_password

def test_get_root_password_is_not_supported(agent, trove, api, db, unchanged):
    from trove.common import exception
    with unchanged("get_root_password"):
        e = call_error(trove.raw_call, "get_root_password", timeout=harness.CALL_HIGH_TIMEOUT)
        assert isinstance(e, exception.DatastoreOperationNotSupported), (
            f"expected DatastoreOperationNotSupported, got {type(e).__name__}: {e}")
        call_error(api.get_root_password)


# --------------------------------------------------------------------------- hwinfo, diagnostics

def test_get_hwinfo(agent, api):
    from trove.extensions.mgmt.instances.views import HwInfoView
    info = api.get_hwinfo()
    assert isinstance(info, dict), info
    data = HwInfoView("x", info).data()["hwinfo"]  # what Trove's mgmt API returns
    assert isinstance(data["mem_total"], int) and data["mem_total"] > 0, info
    assert isinstance(data["num_cpus"], int) and data["num_cpus"] >= 1, info
    assert data["num_cpus"] <= (os.cpu_count() or 1), info
    with open("/proc/meminfo") as f:
        kb = int(re.search(r"MemTotal:\s+(\d+) kB", f.read()).group(1))
    # Trove reports kB; accept kB, bytes or MB as long as it is this machine's memory
    assert data["mem_total"] in (kb, kb * 1024, kb // 1024), (
        f"mem_total {data['mem_total']} is not this machine's MemTotal ({kb} kB)")


def test_get_diagnostics(agent, api):
    from trove.extensions.mgmt.instances.views import DiagnosticsView
    d = api.get_diagnostics()
    assert isinstance(d, dict), d
    assert set(d) >= {"version", "fd_size", "vm_size", "vm_peak", "vm_rss", "vm_hwm",
                      "threads"}, d
    DiagnosticsView("x", d).data()  # Trove's mgmt API view accepts it
    assert isinstance(d["version"], str) and d["version"], d
    out = subprocess.run([agent.binary, "--version"], capture_output=True, text=True,
                         timeout=10).stdout
    assert d["version"] in out, f"version {d['version']!r} is not the binary's ({out.strip()!r})"
    for k in ("fd_size", "vm_size", "vm_peak", "vm_rss", "vm_hwm", "threads"):
        assert isinstance(d[k], int) and d[k] > 0, (k, d)
    assert d["vm_rss"] <= d["vm_hwm"] and d["vm_size"] <= d["vm_peak"], d
    assert d["vm_rss"] <= d["vm_size"], d
    # the agent's own process, as /proc says (kB), give or take what changed since
    with open(f"/proc/{agent.proc.pid}/status") as f:
        status = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
    rss_kb = int(status["VmRSS"].split()[0])
    assert rss_kb / 4 <= d["vm_rss"] <= rss_kb * 4, (
        f"vm_rss {d['vm_rss']} is far from the agent's VmRSS {rss_kb} kB")
    assert d["threads"] <= int(status["Threads"]) * 4 + 4, (d, status["Threads"])
