"""Trove's own control plane drives the real agent: trove-api, trove-taskmanager
and trove-conductor from the pinned trove 26.0.0 package, on SQLite
(``trove-manage db_sync``) and a RabbitMQ vhost of their own, with only the
guest real (controlplane.py; fake nova/cinder/glance in fakecloud.py, Trove's
own fake neutron and fake keystone).  Everything goes through
python-troveclient 8.11.0 against trove-api, and each effect is checked in
mysqld (root over the socket; the created users log in over TCP with their
passwords).

Once per module the control plane comes up; then, for each of
``enable_secure_rpc_messaging`` off ("plain") and on ("secure": trove-api and
the taskmanager restarted with it), one instance is created with a database
and a user, and

1. create: the taskmanager injects guest_info.conf and trove-guestagent.conf
   (with the instance's RPC key when secure) into the fake server and casts
   ``prepare``; the agent is started with ``--trove-config`` on exactly those
   files.  The prepare is held back for a while first: no heartbeat may reach
   the conductor and the instance stays BUILD; once it is delivered the
   instance reaches ACTIVE/HEALTHY through the real conductor's handling of the
   heartbeats (``building`` then ``healthy``), and the user logs in with its
   password and holds ALL on its database;
2. users (create, list with paging, show, update: rename, host, password and
   all three at once, change_passwords, delete), access (grant, list, revoke),
   databases (create, list with paging, delete), root (enable, enable with a
   password, show, disable), instance show with the volume's used /
   used_percent against os.statvfs of the configured mount point;
3. status (last for each instance): mysqld stopped -> SHUTDOWN, started ->
   HEALTHY again; the agent stopped -> after agent_heartbeat_expiry Trove shows
   ERROR; the agent started again -> HEALTHY.

trove-api calls exercised (python-troveclient -> trove-api -> guest RPC):

    POST   /v1.0/{tenant}/instances                          instances.create -> prepare (cast, taskmanager)
    GET    /v1.0/{tenant}/instances                          instances.list (status polling; no RPC)
    GET    /v1.0/{tenant}/instances/{id}                     instances.get -> get_filesystem_stats
    DELETE /v1.0/{tenant}/instances/{id}                     instances.delete -> stop_db (taskmanager)
    POST   /v1.0/{tenant}/instances/{id}/users               users.create -> list_users, create_user
    GET    /v1.0/{tenant}/instances/{id}/users?limit&marker  users.list -> list_users
    PUT    /v1.0/{tenant}/instances/{id}/users               users.change_passwords -> change_passwords
    GET    /v1.0/{tenant}/instances/{id}/users/{user}        users.get -> get_user
    PUT    /v1.0/{tenant}/instances/{id}/users/{user}        users.update_attributes -> get_user, list_users, update_attributes
    DELETE /v1.0/{tenant}/instances/{id}/users/{user}        users.delete -> get_user, delete_user
    GET    /v1.0/{tenant}/instances/{id}/users/{user}/databases           users.list_access -> list_access
    PUT    /v1.0/{tenant}/instances/{id}/users/{user}/databases           users.grant -> grant_access
    DELETE /v1.0/{tenant}/instances/{id}/users/{user}/databases/{db}      users.revoke -> revoke_access
    POST   /v1.0/{tenant}/instances/{id}/databases           databases.create -> list_databases, create_database
    GET    /v1.0/{tenant}/instances/{id}/databases?limit&marker  databases.list -> list_databases
    DELETE /v1.0/{tenant}/instances/{id}/databases/{db}      databases.delete -> list_databases, delete_database
    POST   /v1.0/{tenant}/instances/{id}/root                root.create_instance_root -> enable_root / enable_root_with_password
    GET    /v1.0/{tenant}/instances/{id}/root                root.is_instance_root_enabled (Trove's database; no RPC)
    DELETE /v1.0/{tenant}/instances/{id}/root                root.delete -> disable_root

(the calls actually made, with their HTTP statuses and counts, and the timings
are printed in the "control plane" section of the terminal summary).

mysqld is the machine's shared MariaDB: the status test stops and starts it
with faults.py's helpers and always leaves it running.  Every user/database
name starts with the session's prefix (then ``p``/``s`` for the instance);
all are dropped at the end, remote root too.  Run alone with
``scripts/interop -m controlplane`` (or this file); it is part of the default
run.
"""

import json
import os
import secrets
import shutil
import time
import uuid

import pymysql
import pytest

import controlplane as cpm
import faults
import harness
from conftest import agent_binary

pytestmark = [pytest.mark.controlplane, pytest.mark.timeout(300)]

# Seconds the agent runs on its files before it gets its prepare (at least two
# report intervals: Trove's agent sends no heartbeat before prepare).
PREPARE_HOLD = 3 * cpm.GUEST_REPORT_INTERVAL + 1
# Casts (create_user, ...) are acknowledged through the conductor only: their
# effect is waited for in mysqld.
CAST_EFFECT_TIMEOUT = 20
REMOTE_SOURCE = "127.0.0.2"   # loopback, not the 127.0.0.1 of this machine's root@127.0.0.1

# Trove's default prepare-marker directory: the suite moves it (prepare_marker_dir).
OPT_MARKERS = "/opt/trove-guestagent"
OPT_MARKERS_BEFORE = os.path.exists(OPT_MARKERS)

TIMES = {}          # what the summary prints
TEST_TIMES = []     # (test id, seconds)


class _Summary:
    """Prints the control plane's timings and the trove-api calls made at the end
    of the run (terminal summary)."""

    def __init__(self):
        self.planes = []

    def lines(self):
        out = [f"{k}: {v:.1f} s" for k, v in TIMES.items()]
        out += [f"  {name}: {secs:.1f} s" for name, secs in TEST_TIMES]
        for plane in self.planes:
            out.append(f"trove-api calls made ({plane.vhost}):")
            out += ["  " + line for line in plane.api_log.lines()]
        return out

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.section("control plane (test_control_plane.py)")
        for line in self.lines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="module")
def cp(workdir, request):
    """The control plane, once for the module (plain first)."""
    t0 = time.monotonic()
    TIMES.clear()
    TEST_TIMES.clear()
    summary = _Summary()
    request.config.pluginmanager.register(summary, "controlplane-summary-" + uuid.uuid4().hex)
    plane = cpm.ControlPlane(workdir / ("controlplane-" + uuid.uuid4().hex[:8]), secure=False)
    summary.planes.append(plane)
    try:
        plane.up()
        TIMES["bring-up (vhost, db_sync, datastore, 3 services)"] = time.monotonic() - t0
        yield plane
    finally:
        t1 = time.monotonic()
        errors = plane.down()
        TIMES["tear-down"] = time.monotonic() - t1
        TIMES["module total"] = time.monotonic() - t0
        try:
            (cpm.LOG_DIR / f"controlplane-{plane.vhost}" / "summary.txt").write_text(
                "\n".join(summary.lines()) + "\n")
        except OSError:
            pass
        assert not errors, "control plane teardown: " + "; ".join(errors)


@pytest.fixture(scope="module")
def agent_bin(cp):
    """A private copy of the agent binary (a rebuild cannot swap it mid-run)."""
    src = agent_binary()
    dst = cp.path("guestagent")
    shutil.copy2(src, dst)
    return str(dst)


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "secure"])
def inst(request, cp, agent_bin, prefix, db):
    """One instance per mode, ACTIVE; deleted (and its objects dropped) after."""
    secure = request.param
    mode = "secure" if secure else "plain"
    t0 = time.monotonic()
    cp.set_secure(secure)
    if secure:
        TIMES["restart trove-api + taskmanager (secure RPC on)"] = time.monotonic() - t0
    i = cpm.Instance(cp, f"cp-{mode}", prefix + mode[0], agent_bin)
    i.secure = secure
    try:
        i.create(hold=PREPARE_HOLD)
        TIMES[f"{mode}: create -> ACTIVE (incl. {PREPARE_HOLD} s prepare hold)"] = \
            i.times["create_total"]
        TIMES[f"{mode}: prepare delivered -> ACTIVE"] = i.times["active_after_prepare"]
        yield i
    finally:
        t1 = time.monotonic()
        try:
            if i.id is not None:
                i.delete()
        finally:
            if i.guest is not None:
                i.guest.stop()
            faults.mysqld_restore()
            drop_remote_root(db)
            db.drop_prefixed(i.tag)
            TIMES[f"{mode}: delete + cleanup"] = time.monotonic() - t1


@pytest.fixture(scope="module")
def vhost_transport(trove_rpc, cp):
    """oslo.messaging on the control plane's vhost, for Trove's own guest API
    class used directly (trove.guestagent.api.API, as trove-api uses it)."""
    import oslo_messaging
    from trove import rpc
    from trove.common import cfg
    t = oslo_messaging.get_rpc_transport(
        cfg.CONF, url=f"rabbit://{harness.AMQP_USER}:{harness.AMQP_PASSWORD}@"
                      f"{harness.AMQP_HOST}:{harness.AMQP_PORT}/{cp.vhost}",
        allowed_remote_exmods=rpc.get_allowed_exmods())
    yield t
    t.cleanup()


@pytest.fixture
def guest_api(inst, vhost_transport):
    """Trove's guest API for the instance, with the key Trove's database holds."""
    key = inst.injected("guest_info.conf")["DEFAULT"].get("instance_rpc_encr_key")
    harness.set_instance_key(inst.id, key)
    try:
        yield harness.TransportTrove(inst.id, None, vhost_transport).api()
    finally:
        harness.forget_instance_key(inst.id)


@pytest.fixture(autouse=True)
def _timed(request):
    t0 = time.monotonic()
    yield
    TEST_TIMES.append((request.node.name, time.monotonic() - t0))


# --------------------------------------------------------------------------- helpers

def new_password():
    return harness.register_secret("Pw" + secrets.token_hex(10), "control-plane test")


def eventually(inst, what, fn, timeout=CAST_EFFECT_TIMEOUT):
    """Wait for a cast's effect; the failure says the instance's fault too."""
    try:
        return inst.wait(what, fn, timeout, interval=0.25)
    except AssertionError as e:
        raise AssertionError(f"{what}: not within {timeout} s; instance fault: "
                             f"{inst.fault()}\n{e}") from None


def can_login(user, password, database=None, bind_address=None):
    try:
        conn = harness.login(user, password, database=database, bind_address=bind_address)
    except pymysql.err.OperationalError as e:
        if e.args[0] in (1044, 1045, 1698):
            return False
        raise
    conn.close()
    return True


def uses_all(user, password, database):
    """Logged in as the user: create, fill, read and drop a table in the database."""
    conn = harness.login(user, password, database=database)
    try:
        q = harness.session_query
        q(conn, "CREATE TABLE cp_probe (id INT PRIMARY KEY, v VARCHAR(20))")
        q(conn, "INSERT INTO cp_probe VALUES (1, 'x')")
        assert q(conn, "SELECT v FROM cp_probe") == [("x",)]
        q(conn, "DROP TABLE cp_probe")
        return q(conn, "SELECT CURRENT_USER()")[0][0]
    finally:
        conn.close()


def walk_pages(list_fn, limit, max_pages=1000):
    """Every page of a Trove list (users, databases) with ``limit``: the items in
    order, and the page sizes (the shared server may hold many more than ours)."""
    items, sizes, marker = [], [], None
    for _ in range(max_pages):
        page = list_fn(limit=limit, marker=marker)
        sizes.append(len(page))
        items += list(page)
        marker = page.next
        if not marker:
            return items, sizes
    raise AssertionError(f"more than {max_pages} pages (marker {marker!r})")


def check_paging(list_fn, prefix, ours):
    """One and two per page: every page within the limit, at least two pages,
    each name once, and the names starting with ``prefix`` exactly ``ours`` in
    the agent's order (sorted). Returns the names listed by both walks."""
    listed = []
    for limit in (1, 2):
        items, sizes = walk_pages(list_fn, limit)
        names = [x.name for x in items]
        listed += names
        assert all(n == limit for n in sizes[:-1]) and 1 <= sizes[-1] <= limit, sizes
        assert len(sizes) >= 2, f"one page of {limit}: {names}"
        mine = [n for n in names if n.startswith(prefix)]
        assert mine == sorted(ours), (limit, names)
        assert len(names) == len(set(names)), names
    return listed


def all_users(c, iid):
    return {u.name: u for u in walk_pages(lambda **kw: c.users.list(iid, **kw), 50)[0]}


def all_databases(c, iid):
    return [d.name for d in walk_pages(lambda **kw: c.databases.list(iid, **kw), 50)[0]]


def privileges(db, user, host):
    return db.privileges_on(user, host)


def drop_remote_root(db):
    for host in db.users_named("root"):
        if host not in ("localhost", "127.0.0.1", "::1") and not host.startswith("127."):
            db.execute("DROP USER %s@%s", ("root", host))


def remote_root_login(password):
    conn = harness.login("root", password, bind_address=REMOTE_SOURCE)
    try:
        return harness.session_query(conn, "SELECT CURRENT_USER()")[0][0]
    finally:
        conn.close()


def statvfs_usage(path):
    """Trove's get_filesystem_stats arithmetic: used GiB (2 decimals, 0.01 at
    least) and trove-api's used_percent."""
    s = os.statvfs(path)
    used_bytes = (s.f_blocks - s.f_bfree) * s.f_bsize
    used = round(used_bytes / 1024.0 ** 3, 2) or 0.01 if used_bytes else 0.0
    tb, fb, ab = s.f_blocks, s.f_bfree, s.f_bavail
    return used, round(100 * (tb - fb) / (tb - fb + ab), 2)


# --------------------------------------------------------------------------- 1. create

def test_create_with_databases_and_users(inst, cp, db):
    c = cp.client()
    assert inst.created_status == "BUILD"

    # What the taskmanager injected, and what the agent was started on.
    gi = inst.injected("guest_info.conf")["DEFAULT"]
    assert gi.get("guest_id") == inst.id, dict(gi)
    assert gi.get("datastore_manager") == cpm.DATASTORE, dict(gi)
    key = gi.get("instance_rpc_encr_key")
    if inst.secure:
        assert key, "secure RPC on, but guest_info.conf has no instance_rpc_encr_key"
        harness.register_secret(key, f"instance key of {inst.id}")
    else:
        assert key is None, "secure RPC off, but guest_info.conf has an instance key"
    tg = inst.injected("trove-guestagent.conf")["DEFAULT"]
    assert tg.get("transport_url", "").endswith("/" + cp.vhost), dict(tg)
    assert inst.guest.conf_d.is_dir()

    # The prepare as Trove sent it: encrypted with the instance key, or not.
    body, _props = inst.prepare
    inner = json.loads(json.loads(body)["oslo.message"])
    assert inner.get("method") == "prepare", inner.get("method")
    if inst.secure:
        assert inst.password.encode() not in body, "the prepare travelled in clear text"
        assert all(isinstance(v, str) for v in inner["args"].values()), inner["args"]
    else:
        assert inner["args"]["users"][0]["_password"] == inst.password, inner["args"]["users"]
        assert inner["args"]["databases"][0]["_name"] == inst.db_name

    # Before its prepare the agent sent no heartbeat, and Trove kept it BUILD.
    assert not inst.hold_heartbeats, (
        f"the agent sent heartbeats before it had a prepare (Trove's agent sends none): "
        f"{inst.hold_heartbeats}\n{cp.log_tails(extra=inst.extra())}")
    assert inst.hold_listed and inst.hold_listed[0] == "BUILD", inst.hold_listed

    # Then building while it prepared, then healthy: ACTIVE through the conductor.
    beats = [s for t, s in cp.heartbeats(inst.id)]
    assert beats and beats[-1] == "healthy", beats
    assert set(beats) <= {"building", "healthy"}, beats
    first_healthy = beats.index("healthy")
    assert "building" not in beats[first_healthy:], f"building after healthy: {beats}"

    shown = inst.show()
    assert shown["status"] == "ACTIVE" and shown["operating_status"] == "HEALTHY", shown
    assert "fault" not in shown, f"instance fault: {shown.get('fault')}"
    assert shown.get("encrypted_rpc_messaging") is inst.secure, shown
    assert (shown["datastore"]["type"], shown["datastore"]["version"]) == \
        (cpm.DATASTORE, cpm.DS_VERSION), shown["datastore"]
    if not OPT_MARKERS_BEFORE:
        assert not os.path.exists(OPT_MARKERS), \
            f"the agent wrote {OPT_MARKERS} (its prepare_marker_dir is {inst.guest.markers})"
    marker = inst.guest.markers / ".guestagent.prepare.end"
    assert marker.exists(), \
        f"no prepare-done marker in {inst.guest.markers}: {sorted(os.listdir(inst.guest.markers))}"

    # The prepare's database and user, in mysqld.
    assert db.database_exists(inst.db_name)
    assert db.users_named(inst.user) == ["%"]
    assert "ALL PRIVILEGES" in privileges(db, inst.user, "%").get(inst.db_name, set()), \
        db.grants(inst.user, "%")
    assert uses_all(inst.user, inst.password, inst.db_name) == f"{inst.user}@%"

    # And as trove-api shows them.
    u = c.users.get(inst.id, inst.user)
    assert u.name == inst.user and u.host == "%"
    assert [d["name"] for d in u.databases] == [inst.db_name]
    assert inst.db_name in all_databases(c, inst.id)


# --------------------------------------------------------------------------- 2. operations

def test_users(inst, cp, db):
    c, iid, t = cp.client(), inst.id, inst.tag
    a, b = t + "a", t + "b"
    pa, pb = new_password(), new_password()
    c.users.create(iid, [{"name": a, "password": pa, "databases": [{"name": inst.db_name}]},
                         {"name": b, "password": pb}])
    eventually(inst, f"users {a}, {b} in mysqld",
               lambda: db.users_named(a) == ["%"] and db.users_named(b) == ["%"])
    assert uses_all(a, pa, inst.db_name) == f"{a}@%"
    assert can_login(b, pb)
    assert privileges(db, b, "%") == {}

    # list, one per page and two per page: every page within the limit, ours
    # each once, in order (the agent sorts by name@host).
    check_paging(lambda **kw: c.users.list(iid, **kw), t, [a, b, inst.user])
    full = all_users(c, iid)
    assert [d["name"] for d in full[a].databases] == [inst.db_name]
    assert full[b].databases == []
    assert "root" not in full

    # show
    ua = c.users.get(iid, a)
    assert (ua.name, ua.host) == (a, "%")
    assert [d["name"] for d in ua.databases] == [inst.db_name]

    # update: rename
    ar = t + "ar"
    c.users.update_attributes(iid, a, {"name": ar})
    eventually(inst, f"{a} renamed {ar}",
               lambda: db.users_named(ar) == ["%"] and db.users_named(a) == [])
    assert uses_all(ar, pa, inst.db_name) == f"{ar}@%"
    # update: password
    pa2 = new_password()
    c.users.update_attributes(iid, ar, {"password": pa2})
    eventually(inst, f"{ar}'s new password", lambda: can_login(ar, pa2))
    assert not can_login(ar, pa)
    # update: host
    auth = db.auth_of(ar, "%")
    c.users.update_attributes(iid, ar, {"host": "10.9.8.%"})
    eventually(inst, f"{ar} moved to 10.9.8.%", lambda: db.users_named(ar) == ["10.9.8.%"])
    assert privileges(db, ar, "10.9.8.%") == {inst.db_name: {"ALL PRIVILEGES"}}
    assert json.loads(db.auth_of(ar, "10.9.8.%"))["authentication_string"] == \
        json.loads(auth)["authentication_string"], "the password changed with the host"
    assert not can_login(ar, pa2), "a login from 127.0.0.1 matched 10.9.8.%"
    ushow = c.users.get(iid, ar, hostname="10.9.8.%")
    assert (ushow.name, ushow.host) == (ar, "10.9.8.%")
    # update: name, host and password at once
    ax, pa3 = t + "ax", new_password()
    c.users.update_attributes(iid, ar, {"name": ax, "host": "%", "password": pa3},
                              hostname="10.9.8.%")
    eventually(inst, f"{ar}@10.9.8.% -> {ax}@%",
               lambda: db.users_named(ax) == ["%"] and db.users_named(ar) == [])
    assert uses_all(ax, pa3, inst.db_name) == f"{ax}@%"

    # change_passwords (PUT on the collection)
    pb2 = new_password()
    c.users.change_passwords(iid, [{"name": b, "password": pb2}])
    eventually(inst, f"{b}'s new password", lambda: can_login(b, pb2))
    assert not can_login(b, pb)

    # delete
    c.users.delete(iid, ax)
    c.users.delete(iid, b)
    eventually(inst, f"{ax}, {b} dropped",
               lambda: db.users_named(ax) == [] and db.users_named(b) == [])
    from troveclient import exceptions as tce
    with pytest.raises(tce.NotFound):
        c.users.get(iid, ax)
    assert not set(all_users(c, iid)) & {a, ar, ax, b}
    assert "fault" not in inst.show()


def test_access(inst, cp, db):
    c, iid, t = cp.client(), inst.id, inst.tag
    d1, d2, u, pw = t + "g1", t + "g2", t + "g", new_password()
    c.databases.create(iid, [{"name": d1}, {"name": d2}])
    c.users.create(iid, [{"name": u, "password": pw}])
    eventually(inst, f"{d1}, {d2} and {u}",
               lambda: db.database_exists(d1) and db.database_exists(d2)
               and db.users_named(u) == ["%"])
    assert [x.name for x in c.users.list_access(iid, u)] == []

    c.users.grant(iid, u, [d1, d2])                       # a call: done when it returns
    assert privileges(db, u, "%") == {d1: {"ALL PRIVILEGES"}, d2: {"ALL PRIVILEGES"}}
    assert sorted(x.name for x in c.users.list_access(iid, u)) == [d1, d2]
    assert uses_all(u, pw, d1) == f"{u}@%"

    c.users.revoke(iid, u, d1)
    assert privileges(db, u, "%") == {d2: {"ALL PRIVILEGES"}}
    assert [x.name for x in c.users.list_access(iid, u)] == [d2]
    assert not can_login(u, pw, database=d1)
    assert uses_all(u, pw, d2) == f"{u}@%"

    c.users.delete(iid, u)
    for d in (d1, d2):
        c.databases.delete(iid, d)
    eventually(inst, f"{u}, {d1}, {d2} dropped",
               lambda: db.users_named(u) == [] and not db.database_exists(d1)
               and not db.database_exists(d2))
    assert "fault" not in inst.show()


def test_databases(inst, cp, db):
    c, iid, t = cp.client(), inst.id, inst.tag
    plain = [t + "x1", t + "x2", t + "x3"]
    special = t + "x4"
    c.databases.create(iid, [{"name": n} for n in plain] +
                       [{"name": special, "character_set": "utf8mb4", "collate": "utf8mb4_bin"}])
    eventually(inst, "four databases in mysqld",
               lambda: all(db.database_exists(n) for n in plain + [special]))
    assert db.schema_charset(special) == ("utf8mb4", "utf8mb4_bin")

    names = check_paging(lambda **kw: c.databases.list(iid, **kw), t, plain + [special, inst.db_name])
    assert not {"mysql", "information_schema", "performance_schema", "sys"} & set(names)
    assert set(plain + [special]) <= set(all_databases(c, iid))

    for n in plain + [special]:
        c.databases.delete(iid, n)
    eventually(inst, "the four databases dropped",
               lambda: not any(db.database_exists(n) for n in plain + [special]))
    assert not set(plain + [special]) & set(all_databases(c, iid))
    assert db.database_exists(inst.db_name)
    assert "fault" not in inst.show()


def test_root(inst, cp, db):
    c, iid = cp.client(), inst.id
    assert "%" not in db.users_named("root"), "remote root exists before the test"
    local_before = sorted(tuple(r) for r in db.query(
        "SELECT Host, Priv FROM mysql.global_priv WHERE User='root' AND Host<>'%'"))
    try:
        assert c.root.is_instance_root_enabled(iid).rootEnabled is False

        user, password = c.root.create_instance_root(iid)
        harness.register_secret(password, "enable_root")
        assert user == "root" and password
        assert db.users_named("root").count("%") == 1
        assert remote_root_login(password) == "root@%"
        assert c.root.is_instance_root_enabled(iid).rootEnabled is True

        mine = new_password()
        user, password2 = c.root.create_instance_root(iid, root_password=mine)
        assert (user, password2) == ("root", mine)
        assert remote_root_login(mine) == "root@%"
        assert not can_login("root", password, bind_address=REMOTE_SOURCE)

        c.root.delete(iid)
        assert "%" not in db.users_named("root")
        assert not can_login("root", mine, bind_address=REMOTE_SOURCE)
        assert c.root.is_instance_root_enabled(iid).rootEnabled is False
    finally:
        drop_remote_root(db)
    local_after = sorted(tuple(r) for r in db.query(
        "SELECT Host, Priv FROM mysql.global_priv WHERE User='root' AND Host<>'%'"))
    assert local_after == local_before, "a local root account was changed"
    assert "fault" not in inst.show()


def test_instance_show_volume_usage(inst, cp, guest_api):
    """instance show -> get_filesystem_stats: the volume's used (GiB) and
    used_percent as trove-api computes them, against os.statvfs of the
    mount_point Trove's files configure; and get_filesystem_stats's result
    itself, field by field, through Trove's guest API class."""
    fill = cp.volume / "fill"
    if cp.volume_is_tmpfs:
        # A known amount on a filesystem of our own: 16 MiB of 64 MiB.
        with open(fill, "wb") as f:
            f.write(b"\0" * (16 << 20))
            f.flush()
            os.fsync(f.fileno())
        tol_used, tol_pct = 0.0, 0.0
    else:
        # The machine's own filesystem: others write to it meanwhile.
        tol_used, tol_pct = 0.5, 0.5
    try:
        check_volume_usage(inst, cp, tol_used, tol_pct)
        check_filesystem_stats(cp, guest_api)
    finally:
        if cp.volume_is_tmpfs:
            fill.unlink()


def check_volume_usage(inst, cp, tol_used, tol_pct):
    before = statvfs_usage(cp.volume)
    vol = inst.show().get("volume")
    after = statvfs_usage(cp.volume)
    assert vol is not None and vol.get("size") == 1, vol
    assert "used" in vol and "used_percent" in vol, (
        f"instance show has no volume usage (get_filesystem_stats failed?): {vol}\n"
        + "\n".join(cpm.tail(cp.path("logs", "api.log"), 30).splitlines()[-30:]))
    lo_u, hi_u = sorted((before[0], after[0]))
    lo_p, hi_p = sorted((before[1], after[1]))
    assert lo_u - tol_used <= vol["used"] <= hi_u + tol_used, (vol, before, after)
    assert lo_p - tol_pct <= vol["used_percent"] <= hi_p + tol_pct, (vol, before, after)
    if cp.volume_is_tmpfs:
        assert vol["used"] == 0.02 and vol["used_percent"] == 25.0, vol


def check_filesystem_stats(cp, guest_api):
    """Trove's shape (guestagent/dbaas.py get_filesystem_stats): block counts,
    total and used in GiB (2 decimals), free in bytes, mgr_extra_info {}."""
    s1 = os.statvfs(cp.volume)
    stats = guest_api.get_volume_info()
    s2 = os.statvfs(cp.volume)
    assert set(stats) == {"block_size", "total_blocks", "free_blocks", "avail_blocks",
                          "total", "free", "used", "mgr_extra_info"}, stats
    for k in ("block_size", "total_blocks", "free_blocks", "avail_blocks", "free"):
        assert type(stats[k]) is int, (k, stats)
    for k in ("total", "used"):
        assert type(stats[k]) is float, (k, stats)
    assert stats["mgr_extra_info"] == {}, stats

    def gib(n):
        return round(n / 1024.0 ** 3, 2) or 0.01 if n else 0.0
    expect = [{"block_size": s.f_bsize, "total_blocks": s.f_blocks, "free_blocks": s.f_bfree,
               "avail_blocks": s.f_bavail, "total": gib(s.f_blocks * s.f_bsize),
               "free": s.f_bfree * s.f_bsize, "used": gib((s.f_blocks - s.f_bfree) * s.f_bsize),
               "mgr_extra_info": {}} for s in (s1, s2)]
    if cp.volume_is_tmpfs:
        assert stats in expect, (stats, expect)
    else:
        assert stats["block_size"] == s1.f_bsize and stats["total_blocks"] == s1.f_blocks, \
            (stats, expect)
        assert abs(stats["used"] - expect[0]["used"]) <= 0.5, (stats, expect)


# --------------------------------------------------------------------------- 3. status

def test_status_follows_mysqld_and_heartbeat_expiry(inst, cp, db):
    """Last for each instance: stops and starts the machine's MariaDB."""
    c, iid = cp.client(), inst.id
    missing = faults.tools_missing()
    assert not missing, f"cannot stop/start mysqld here: {missing}"
    slack = 4 * cpm.GUEST_REPORT_INTERVAL + 10

    # mysqld stopped -> Trove shows SHUTDOWN (status stays ACTIVE: the server is)
    try:
        t_stop = time.time()
        faults.mysqld_stop()
        inst.wait_listed("ACTIVE", "SHUTDOWN", slack)
        beats = [s for t, s in cp.heartbeats(iid) if t >= t_stop]
        assert beats and beats[-1] == "shutdown", f"heartbeats since mysqld stopped: {beats}"
        from troveclient import exceptions as tce
        with pytest.raises(tce.UnprocessableEntity) as ei:
            c.users.list(iid)
        assert "not ready" in str(ei.value), ei.value
        TIMES[f"{'secure' if inst.secure else 'plain'}: mysqld stopped -> SHUTDOWN"] = \
            time.time() - t_stop
        t_start = time.time()
        faults.mysqld_start()
    finally:
        faults.mysqld_restore()
        faults.reconnect_db(db)
    inst.wait_listed("ACTIVE", "HEALTHY", slack)
    TIMES[f"{'secure' if inst.secure else 'plain'}: mysqld started -> HEALTHY"] = \
        time.time() - t_start
    beats = [s for t, s in cp.heartbeats(iid) if t >= t_start]
    assert beats and beats[-1] == "healthy", beats
    assert inst.user in all_users(c, iid)

    # the agent stopped -> after agent_heartbeat_expiry Trove shows ERROR
    inst.guest.stop()
    t_stopped = time.time()
    last_beat = cp.heartbeats(iid)[-1][0]
    inst.wait_listed("ACTIVE", "ERROR", cpm.HB_EXPIRY + slack, interval=0.5)
    after = time.time() - last_beat
    assert cpm.HB_EXPIRY - 1 <= after <= cpm.HB_EXPIRY + 2 * cpm.GUEST_REPORT_INTERVAL + 5, (
        f"ERROR {after:.1f} s after the last heartbeat (agent_heartbeat_expiry "
        f"{cpm.HB_EXPIRY})")
    TIMES[f"{'secure' if inst.secure else 'plain'}: agent stopped -> ERROR"] = \
        time.time() - t_stopped

    # the agent back (prepare done: it reports mysqld's status at once) -> HEALTHY
    t_back = time.time()
    inst.guest.start()
    inst.wait_listed("ACTIVE", "HEALTHY", slack)
    beats = [s for t, s in cp.heartbeats(iid) if t >= t_back]
    assert beats and set(beats) == {"healthy"}, f"heartbeats after the restart: {beats}"
    assert "fault" not in inst.show()
