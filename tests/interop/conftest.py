"""Fixtures of the interoperability suite (run it with scripts/interop).

Session: a fresh guest_id and conductor topic, a 0600 config, the agent binary
($GUESTAGENT_BIN) running against the local RabbitMQ and MariaDB, Trove's real
client, a stand-in conductor, and root over the socket.  Every test object is
named with a per-session random prefix (``it<6 hex>_``) and dropped at teardown.
"""

import os
import secrets
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import harness


def _own_process_group():
    """oslo.messaging's queue manager (``use_queue_manager``, the kolla and
    openstack-ansible profiles) names reply queues after the process group and
    reads ``/proc/<pgid>/stat`` on every call; once the group's leader has
    exited (a wrapper that started this suite in the background and went on,
    even minutes into the run), that file is gone and every call fails with
    FileNotFoundError.  A process group of its own gives the suite a leader
    that lives as long as it does.  Not from a terminal, where the group is
    what Ctrl-C reaches (and the shell waiting in front is its leader)."""
    if os.getpgrp() != os.getpid() and not os.isatty(0):
        try:
            os.setpgid(0, 0)
        except OSError:
            pass


_own_process_group()

REPO = Path(__file__).resolve().parents[2]
LOG_DIR = REPO / "target" / "interop-logs"

_STATE = {"agent": None, "conductor": None}


# --------------------------------------------------------------------------- basics

@pytest.fixture(scope="session")
def guest_id():
    return str(uuid.uuid4())


@pytest.fixture(scope="session")
def conductor_topic():
    return "trove-conductor-" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def prefix():
    """Every user/database a test makes starts with this (``it<6 hex>_``)."""
    return "it" + secrets.token_hex(3) + "_"


@pytest.fixture(scope="session")
def rpc_key():
    """Instance RPC encryption key (trove-wire §6); None = plaintext.  A suite that
    runs encrypted overrides this fixture, and ``agent_config_extra`` to give the
    agent the same key."""
    return None


@pytest.fixture(scope="session")
def agent_config_extra():
    """Extra config for the agent: {table: {key: value}} merged into the config."""
    return {}


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="guestagent-interop-")
    os.chmod(d, 0o700)
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def agent_config(workdir, guest_id, conductor_topic, agent_config_extra):
    state = workdir / "state"
    state.mkdir(mode=0o700)
    config = {
        "guest_id": guest_id,
        "amqp": {"url": harness.AGENT_AMQP_URL, "exchange": harness.EXCHANGE,
                 "conductor_topic": conductor_topic},
        "mysql": {"socket": harness.MYSQL_SOCKET, "user": "root"},
        "state": {"dir": str(state)},
        "log": {"level": "debug"},
    }
    for table, values in agent_config_extra.items():
        config.setdefault(table, {}).update(values)
    path = workdir / "guestagent.toml"
    harness.write_config(str(path), config)
    return path


# --------------------------------------------------------------------------- Trove side

@pytest.fixture(scope="session")
def trove_rpc(conductor_topic, rpc_key):
    """Trove's options registered and its RPC transport built (trove-wire §7)."""
    harness.bootstrap_trove(conductor_topic, key=rpc_key)
    yield
    harness.shutdown_trove()


@pytest.fixture(scope="session")
def conductor(trove_rpc, conductor_topic):
    c = harness.Conductor(conductor_topic)
    c.start()
    _STATE["conductor"] = c
    yield c
    _STATE["conductor"] = None
    c.stop()
    harness.delete_queues([conductor_topic, conductor_topic + ".interop-conductor"])
    harness.delete_exchanges([conductor_topic + "_fanout"])


@pytest.fixture(scope="session")
def trove(trove_rpc, conductor, guest_id):
    """The control plane: Trove's own guestagent API for this guest."""
    return harness.Trove(guest_id, conductor)


@pytest.fixture
def api(trove):
    """A ``trove.guestagent.api.API`` with a fresh TroveContext."""
    return trove.api()


# --------------------------------------------------------------------------- the agent

def agent_binary():
    binary = os.environ.get("GUESTAGENT_BIN", str(REPO / "target" / "debug" / "guestagent"))
    if not os.path.isabs(binary):
        binary = str(REPO / binary)
    if not os.access(binary, os.X_OK):
        pytest.fail(f"agent binary {binary} not found or not executable "
                    f"(build it first: cargo build; or set GUESTAGENT_BIN)", pytrace=False)
    return binary


def _prune_logs(keep=30):
    logs = sorted(LOG_DIR.glob("guestagent-*.log"), key=lambda p: p.stat().st_mtime)
    for p in logs[:-keep]:
        try:
            p.unlink()
        except OSError:
            pass


@pytest.fixture(scope="session")
def agent(trove, agent_config, guest_id, db):
    """The agent under test, started once per session (db first: the system
    accounts are recorded before the agent can touch them)."""
    binary = agent_binary()
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    _prune_logs()
    log_path = LOG_DIR / f"guestagent-{guest_id}.log"
    a = harness.Agent(binary, str(agent_config), str(log_path))
    a.start()
    _STATE["agent"] = a
    try:
        harness.wait_ready(trove, a)
    except RuntimeError as e:
        a.stop()
        _STATE["agent"] = None
        pytest.fail(str(e), pytrace=False)
    yield a
    _STATE["agent"] = None
    code = a.stop()
    with open(log_path, "ab") as f:
        f.write(f"\n===== interop: agent stopped, exit code {code} =====\n".encode())
    topic = "guestagent." + guest_id
    leftovers = [topic, f"{topic}.{guest_id}"] + harness.list_queue_names(guest_id, timeout=20)
    harness.delete_queues(sorted(set(leftovers)))
    harness.delete_exchanges([topic + "_fanout"])


@pytest.fixture(autouse=True)
def _agent_watch(request):
    """For tests using the agent: restart it if an earlier test killed it, and fail
    the test during which it died."""
    if "agent" not in request.fixturenames:
        yield
        return
    a = request.getfixturevalue("agent")
    if not a.alive():
        a.start()
        harness.wait_ready(request.getfixturevalue("trove"), a)
    request.node.stash[_LOG_START] = a.log_size()
    conductor = request.getfixturevalue("conductor")
    request.node.stash[_REC_START] = len(conductor.snapshot())
    trove = request.getfixturevalue("trove")
    casts_before = len(trove.cast_request_ids)
    yield
    repairs = request.getfixturevalue("db").heal()
    if repairs:
        pytest.fail("SYSTEM ACCOUNTS WERE CHANGED during this test (now restored):\n"
                    + "\n".join(repairs), pytrace=False)
    if not a.alive():
        pytest.fail(f"the agent died during this test (exit code {a.proc.returncode})",
                    pytrace=False)
    # Each cast has at most one outcome at the conductor.
    for rid in trove.cast_request_ids[casts_before:]:
        outcomes = conductor.for_request(rid)
        assert len(outcomes) <= 1, (
            f"cast {rid} got {len(outcomes)} outcomes: {[o.describe() for o in outcomes]}")


_LOG_START = pytest.StashKey[int]()
_REC_START = pytest.StashKey[int]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    a = _STATE.get("agent")
    if a is not None and _LOG_START in item.stash:
        rep.sections.append(("guestagent log during this test (tail)",
                             a.log_tail(item.stash[_LOG_START], lines=150)))
    c = _STATE.get("conductor")
    if c is not None and _REC_START in item.stash:
        recs = c.snapshot()[item.stash[_REC_START]:]
        rep.sections.append(("conductor records during this test",
                             "\n".join(r.describe() for r in recs) or "(none)"))


# --------------------------------------------------------------------------- mysqld

@pytest.fixture(scope="session")
def db(prefix):
    d = harness.Db(prefix)
    yield d
    d.drop_prefixed(prefix)
    repairs = d.heal()
    if repairs:
        print("\ninterop: system accounts restored at teardown:\n" + "\n".join(repairs))
    d.close()


@pytest.fixture
def names(request, prefix, db):
    """Per-test names: ``names.user("a")`` -> ``it<hex>_<nn>a``; dropped afterwards."""
    n = Names(prefix, _next_tag())
    yield n
    db.drop_prefixed(n.tag)


_COUNTER = {"n": 0}


def _next_tag():
    _COUNTER["n"] += 1
    return "%03d" % _COUNTER["n"]


class Names:
    def __init__(self, prefix, tag):
        self.prefix = prefix
        self.tag = prefix + tag + "_"

    def user(self, suffix):
        return self.tag + suffix

    def db(self, suffix):
        return self.tag + suffix


@pytest.fixture
def unchanged(db):
    """``with unchanged(): ...`` asserts mysqld's accounts, grants and databases are
    the same after the block as before it."""
    from contextlib import contextmanager

    @contextmanager
    def check(what=""):
        before = db.snapshot()
        yield
        after = db.snapshot()
        diff = harness.diff_snapshots(before, after)
        if diff:
            repairs = db.heal()
            if repairs:
                diff.append("(system accounts restored: " + "; ".join(repairs) + ")")
        assert not diff, f"mysqld changed{(' by ' + what) if what else ''}:\n" + "\n".join(diff[:40])

    return check


# --------------------------------------------------------------------------- further agents

class SideAgent:
    """One further agent with its own guest id (and queues), driven by its own
    ``harness.Trove``; its casts reach the session's conductor."""

    def __init__(self, gid, agent, trove, config_path, workdir):
        self.gid = gid
        self.agent = agent
        self.trove = trove
        self.config_path = config_path
        self.workdir = workdir

    def log_has(self, pattern, since=0, timeout=10.0):
        """Wait until the agent's log (from byte ``since``) matches the regex."""
        import re
        deadline = time.monotonic() + timeout
        while True:
            text = self.agent.log_text(since)
            m = re.search(pattern, text)
            if m:
                return m
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.1)


class _Spawner:
    """Starts further agents with a fresh guest id each: ``spawner(extra={table:
    {key: value}}, key=None, args=None, wait=True)``.  ``key`` is what the
    instance-key lookup (client and conductor) answers for it; ``args`` (a function
    of (gid, dir)) replaces the command line after the binary, else ``run --config``
    a 0600 TOML built like the session's with ``extra`` merged in.  ``close()``
    stops them, deletes their queues and forgets their keys."""

    def __init__(self, workdir, conductor, conductor_topic):
        self.workdir = workdir
        self.conductor = conductor
        self.conductor_topic = conductor_topic
        self.spawned = []

    def __call__(self, extra=None, key=None, args=None, wait=True, gid=None):
        gid = gid or str(uuid.uuid4())
        d = self.workdir / f"side-{gid}"
        d.mkdir(mode=0o700)
        config_path = None
        if args is None:
            state = d / "state"
            state.mkdir(mode=0o700)
            config = {
                "guest_id": gid,
                "amqp": {"url": harness.AGENT_AMQP_URL, "exchange": harness.EXCHANGE,
                         "conductor_topic": self.conductor_topic},
                "mysql": {"socket": harness.MYSQL_SOCKET, "user": "root"},
                "state": {"dir": str(state)},
                "log": {"level": "debug"},
            }
            for table, values in (extra or {}).items():
                if isinstance(values, dict):
                    config.setdefault(table, {}).update(values)
                else:
                    config[table] = values
            config_path = d / "guestagent.toml"
            harness.write_config(str(config_path), config)
            argv = None
        else:
            argv = args(gid, d)
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        harness.set_instance_key(gid, key)
        a = harness.Agent(agent_binary(), str(config_path), str(LOG_DIR / f"guestagent-{gid}.log"),
                          args=argv)
        side = SideAgent(gid, a, harness.Trove(gid, self.conductor), config_path, d)
        self.spawned.append(side)
        a.start()
        if wait:
            try:
                harness.wait_ready(side.trove, a)
            except RuntimeError as e:
                pytest.fail(str(e), pytrace=False)
        return side

    def close(self):
        for side in self.spawned:
            side.agent.stop()
            with open(side.agent.log_path, "ab") as f:
                code = side.agent.proc.returncode if side.agent.proc else None
                f.write(f"\n===== interop: side agent stopped, exit code {code} =====\n".encode())
            topic = "guestagent." + side.gid
            harness.delete_queues([topic, f"{topic}.{side.gid}"]
                                  + harness.list_queue_names(side.gid, timeout=20))
            harness.delete_exchanges([topic + "_fanout"])
            harness.forget_instance_key(side.gid)
        self.spawned = []


@pytest.fixture
def spawn_agent(workdir, conductor, conductor_topic):
    """Further agents for one test (see _Spawner)."""
    s = _Spawner(workdir, conductor, conductor_topic)
    yield s
    s.close()


@pytest.fixture(scope="module")
def spawn_module_agent(workdir, conductor, conductor_topic):
    """Further agents shared by the tests of one module (see _Spawner)."""
    s = _Spawner(workdir, conductor, conductor_topic)
    yield s
    s.close()


# --------------------------------------------------------------------------- a RabbitMQ cluster

@pytest.fixture(scope="session")
def rabbit_cluster(workdir):
    """Three RabbitMQ nodes of our own in one cluster on loopback
    (brokers.RabbitCluster), started once, on first use (~25 s), and stopped,
    their directories removed, at the end of the session whatever happened."""
    import brokers
    c = brokers.RabbitCluster("it-cl", workdir)
    try:
        c.start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="session")
def cluster_rig(trove_rpc, rabbit_cluster, conductor_topic, workdir):
    """The cluster's users and vhosts, and per profile the real Trove client's
    transport and a stand-in conductor (see cluster.py)."""
    import cluster
    r = cluster.Rig(rabbit_cluster, conductor_topic, workdir / "oslo-locks")
    try:
        yield r
    finally:
        r.close()


# --------------------------------------------------------------------------- fault tests

@pytest.fixture
def rng():
    """A seeded random source for a fault test's timings, the seed logged."""
    import random

    import faults
    seed = int(os.environ.get("GUESTAGENT_FAULT_SEED") or random.SystemRandom().randrange(2 ** 32))
    faults.log(f"random seed {seed} (GUESTAGENT_FAULT_SEED={seed} repeats the timings)")
    return random.Random(seed), seed


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "faults: restarts the shared RabbitMQ/MariaDB or SIGKILLs agents (slow); "
                   "run with scripts/interop -m faults")


def pytest_collection_modifyitems(config, items):
    """Fault tests restart the machine's shared services: only when -m names them."""
    if "faults" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="fault test (restarts the shared RabbitMQ/MariaDB): "
                                   "run with scripts/interop -m faults")
    for item in items:
        if "faults" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    import faults
    if faults.SUMMARIES:
        terminalreporter.section("fault test counts")
        for s in faults.SUMMARIES:
            terminalreporter.write_line(" ".join(f"{k}={v}" for k, v in s.items()))
