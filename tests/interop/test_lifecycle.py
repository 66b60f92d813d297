"""The agent process itself: clean stop on SIGTERM, refusal of a world-readable
secret-bearing config (issue 4, design.md).  Uses its own guest, not the session's."""

import os
import subprocess
import uuid

import pytest

import harness
from conftest import LOG_DIR, agent_binary


@pytest.fixture
def own_guest(workdir, conductor, conductor_topic):
    gid = str(uuid.uuid4())
    state = workdir / f"state-{gid}"
    state.mkdir(mode=0o700)
    path = workdir / f"guestagent-{gid}.toml"
    harness.write_config(str(path), {
        "guest_id": gid,
        "amqp": {"url": harness.AGENT_AMQP_URL, "exchange": harness.EXCHANGE,
                 "conductor_topic": conductor_topic},
        "mysql": {"socket": harness.MYSQL_SOCKET, "user": "root"},
        "state": {"dir": str(state)},
        "log": {"level": "debug"},
    })
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    a = harness.Agent(agent_binary(), str(path), str(LOG_DIR / f"guestagent-{gid}.log"))
    yield gid, path, a
    a.stop()
    topic = "guestagent." + gid
    harness.delete_queues([topic, f"{topic}.{gid}"] + harness.list_queue_names(gid, timeout=20))
    harness.delete_exchanges([topic + "_fanout"])


def test_sigterm_stops_the_agent_cleanly(own_guest, conductor):
    gid, _, a = own_guest
    a.start()
    harness.wait_ready(harness.Trove(gid, conductor), a)
    code = a.stop()
    assert code == 0, f"exit code {code} after SIGTERM; log tail:\n{a.log_tail()}"


def test_world_readable_config_is_refused(own_guest):
    gid, path, a = own_guest
    os.chmod(path, 0o644)
    try:
        r = subprocess.run([a.binary, "run", "--config", str(path)], capture_output=True,
                           text=True, timeout=15, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("the agent started with a world-readable config holding the AMQP password")
    assert r.returncode != 0
    assert "guest:guest" not in r.stdout + r.stderr, "the AMQP password was printed"


# --------------------------------------------------------------------------- topology (§1)

def _redeclare(queue=None, exchange=None):
    """Declare with exactly Trove's flags: succeeds iff the existing entity has them
    (a mismatch is 406 PRECONDITION_FAILED)."""
    with harness.kombu_connection() as conn:
        ch = conn.channel()
        if exchange:
            ch.exchange_declare(exchange=exchange, type="topic", durable=False,
                                auto_delete=False)
        if queue:
            ch.queue_declare(queue=queue, durable=False, auto_delete=False, exclusive=False,
                             arguments=None)
        ch.close()


def test_topology_has_trove_flags(agent, guest_id):
    topic = "guestagent." + guest_id
    _redeclare(exchange=harness.EXCHANGE)
    _redeclare(queue=topic)
    _redeclare(queue=f"{topic}.{guest_id}")


def test_queues_declared_by_the_taskmanager_first(own_guest, conductor):
    """The taskmanager may declare the guest queue before the agent starts."""
    gid, _, a = own_guest
    _redeclare(exchange=harness.EXCHANGE, queue="guestagent." + gid)
    a.start()
    harness.wait_ready(harness.Trove(gid, conductor), a)


def test_queue_with_other_flags_is_used_passively(own_guest, conductor):
    """A queue pre-declared with different flags: 406 on the agent's declare; it must
    fall back to a passive declare and serve, not die."""
    gid, _, a = own_guest
    with harness.kombu_connection() as conn:
        ch = conn.channel()
        ch.queue_declare(queue="guestagent." + gid, durable=True, auto_delete=False)
        ch.queue_bind(queue="guestagent." + gid, exchange=harness.EXCHANGE,
                      routing_key="guestagent." + gid)
        ch.close()
    a.start()
    harness.wait_ready(harness.Trove(gid, conductor), a)
