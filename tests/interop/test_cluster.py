"""The agent and the real Trove client on a three-node RabbitMQ cluster (issue 14).

A cluster of our own (conftest's ``rabbit_cluster``, brokers.RabbitCluster:
three nodes on loopback, started once per session) and, per deployment
profile, Trove's own client and a stand-in conductor on an oslo.messaging
transport naming all three nodes with the profile's ``[oslo_messaging_rabbit]``
options; the agent runs on Trove's own files (``--trove-config``) holding the
same URL and options (cluster.py says how).  Profiles: oslo's defaults
(classic), ``amqp_durable_queues``, quorum queues with a delivery limit and an
in-memory length, and what kolla-ansible and openstack-ansible 2025.1 write for
a guest (fixtures/kolla-2025.1, fixtures/osa-2025.1).

- the two deployment files: the agent serves with them (rpc_ping through the
  real client, a create_user cast applied and notified), consuming with the
  prefetch they set;
- declarations, both orders, every profile: Trove's ``_create_guest_queue()``
  then the agent, and the agent then ``_create_guest_queue()``: neither side is
  refused, the agent logs no mismatch and serves, and the queues are what oslo
  declares (type, durability, auto-delete, arguments, from oslo's own code);
- a deliberate mismatch (classic control plane, quorum agent): the 406 is
  logged with both sides and the agent serves the queue as it is;
- quorum semantics: an undecodable message is refused once and gone (no
  redelivery loop under the delivery limit), and a delivery the agent was
  killed holding comes back with ``x-delivery-count`` and is answered once.

The fault tests on the cluster are in test_cluster_faults.py (marker faults).
"""

import re
import time
import uuid

import pytest

import cluster
import harness

pytestmark = pytest.mark.timeout(240)

PROFILES = ["classic", "durable", "kolla", "osa", "quorum_limits"]


@pytest.fixture(scope="module")
def rig(cluster_rig):
    return cluster_rig


def ready(side, a, gid):
    """The real client's rpc_ping (on the profile's transport) answered."""
    trove = side.trove(gid)
    try:
        harness.wait_ready(trove, a.agent)
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    return trove


def start_agent(spawn_agent, side, gid, rabbit_override=None):
    a = spawn_agent(args=side.agent_args(rabbit_override), wait=False, gid=gid)
    return a, ready(side, a, gid)


def stop_and_clean(a, side, gid):
    """The agent first (so that it does not declare again what is deleted)."""
    if a is not None:
        a.agent.stop()
    side.delete_guest(gid)


def queues_of(gid):
    topic = f"guestagent.{gid}"
    return [topic, f"{topic}.{gid}"]


def held(rig, side, name):
    q = rig.cluster.queue(name, side.profile.vhost)
    assert q is not None, f"queue {name} does not exist in vhost {side.profile.vhost}"
    return q


def as_declared(q):
    return {"type": q["type"], "durable": q["durable"], "auto_delete": q["auto_delete"],
            "arguments": q["arguments"]}


def no_mismatch_logged(a):
    text = a.agent.log_text()
    bad = [l for l in text.splitlines()
           if cluster.MISMATCH in l or "exists with other flags" in l
           or "unreachable (its node is down?)" in l or "refuses to declare" in l]
    assert not bad, "the agent logged a declaration conflict:\n" + "\n".join(bad)


# --------------------------------------------------------------------------- the cluster

def test_the_cluster_has_three_nodes(rabbit_cluster):
    c = rabbit_cluster
    names = [n.node for n in c.nodes]
    assert len(set(names)) == 3
    assert len({n.amqp_port for n in c.nodes}) == 3
    assert len({n.dist_port for n in c.nodes}) == 3
    assert len({n.cookie for n in c.nodes}) == 1
    for n in c.nodes:
        assert c.running_nodes(n) == sorted(names), f"{n.node} sees {c.running_nodes(n)}"


# --------------------------------------------------------------------------- deployment files

@pytest.mark.parametrize("profile", ["kolla", "osa"])
def test_deployment_files_serve_on_the_cluster(rig, spawn_agent, db, names, profile):
    """The agent on the file kolla-ansible / openstack-ansible write (placeholders
    filled in): it consumes from a node of the cluster, answers the real client's
    rpc_ping, applies a create_user cast and notifies the conductor, with the
    prefetch the file sets."""
    side = rig.side(profile)
    gid = str(uuid.uuid4())
    a = None
    try:
        a, trove = start_agent(spawn_agent, side, gid)
        assert trove.api().rpc_ping() is True
        line = cluster.consuming_lines(a.agent)[-1]
        ports = {f"127.0.0.1:{p}" for _, p in rig.cluster.hosts()}
        assert line["broker"] in ports, f"not consuming from a cluster node: {line['line']}"
        harness.create_user_by_cast(trove, side.conductor, db, names.user(profile[:4]))
        want = int(side.rabbit["rabbit_qos_prefetch_count"])
        mine = [r for r in rig.cluster.consumers(side.profile.vhost) if gid in r["queue_name"]]
        assert len(mine) == 2, f"consumers of the guest's queues: {mine}"
        assert {r["prefetch_count"] for r in mine} == {want}, mine
        no_mismatch_logged(a)
    finally:
        stop_and_clean(a, side, gid)


# --------------------------------------------------------------------------- declarations

@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("order", ["control_plane_first", "agent_first"])
def test_declarations_agree_with_oslo(rig, spawn_agent, profile, order):
    side = rig.side(profile)
    gid = str(uuid.uuid4())
    want = side.oslo_declaration()
    a = None
    try:
        if order == "control_plane_first":
            side.create_guest_queue(gid)
            now = rig.cluster.describe_queues(side.profile.vhost)
            by_oslo = {q: as_declared(now[q]) for q in queues_of(gid) if q in now}
            assert len(by_oslo) == 2, f"_create_guest_queue() left {sorted(now)}"
            for q, got in by_oslo.items():
                assert got == want, f"oslo itself declared {q} as {got}, expected {want}"
            a, trove = start_agent(spawn_agent, side, gid)
        else:
            a, trove = start_agent(spawn_agent, side, gid)
            side.create_guest_queue(gid)   # raises if the broker refuses oslo's declare
        assert trove.api().rpc_ping() is True
        no_mismatch_logged(a)
        assert cluster.consuming_lines(a.agent), "no 'consuming' line in the agent's log"
        consumers = rig.cluster.consumers(side.profile.vhost)
        now = rig.cluster.describe_queues(side.profile.vhost)
        for q in queues_of(gid):
            got = now.get(q)
            assert got is not None, f"queue {q} does not exist in vhost {side.profile.vhost}"
            assert as_declared(got) == want, (
                f"{q} as the broker holds it: {cluster.dump(as_declared(got))}; "
                f"oslo declares {cluster.dump(want)}")
            n = sum(1 for c in consumers if c["queue_name"] == q)
            assert n == 1, f"{q}: {n} consumers (the agent's only)"
            if want["type"] == "quorum":
                assert len(got["members"]) == 3 and got["leader"] in got["members"], got
    finally:
        stop_and_clean(a, side, gid)


def test_mismatch_is_logged_and_the_queue_served(rig, spawn_agent, db, names):
    """The control plane declares classic queues (oslo's defaults), the guest's file
    says rabbit_quorum_queue = true: the agent logs the 406 with its own declaration
    and the broker's reason, consumes the queues as they are, and serves."""
    side = rig.custom_side("mismatch", "it-mismatch", {})
    gid = str(uuid.uuid4())
    a = None
    try:
        side.create_guest_queue(gid)
        a, trove = start_agent(spawn_agent, side, gid,
                               rabbit_override={"rabbit_quorum_queue": "true"})
        assert trove.api().rpc_ping() is True
        lines = [l for l in a.agent.log_text().splitlines() if cluster.MISMATCH in l]
        assert len(lines) >= 2, f"expected a mismatch line per queue, got: {lines}"
        for q in queues_of(gid):
            line = next((l for l in lines if f"queue={q} " in l), None)
            assert line, f"no mismatch line for {q}: {lines}"
            ours = re.search(r"\bours=(.*?) broker=", line)
            broker = re.search(r"\bbroker=(.*)$", line)
            assert ours and broker, f"the line lacks ours=/broker=: {line}"
            assert "x-queue-type: quorum" in ours.group(1) and "durable=true" in ours.group(1), line
            assert "406" in broker.group(1) or "PRECONDITION_FAILED" in broker.group(1), line
            assert "inequivalent arg" in broker.group(1), line
            got = held(rig, side, q)
            assert got["type"] == "classic" and got["durable"] is False, got
            assert got["consumers"] == 1, got   # classic: counted at once
        harness.create_user_by_cast(trove, side.conductor, db, names.user("mm"))
    finally:
        stop_and_clean(a, side, gid)


# --------------------------------------------------------------------------- quorum semantics

def test_poison_message_on_a_quorum_queue_is_refused_once(rig, spawn_agent):
    """An undecodable body published raw to the guest's topic on a quorum queue with
    x-delivery-limit 5: refused (rejected without requeue) once; the queue is empty
    afterwards and the agent serves on."""
    side = rig.side("quorum_limits")
    gid = str(uuid.uuid4())
    a = None
    try:
        a, trove = start_agent(spawn_agent, side, gid)
        topic = f"guestagent.{gid}"
        since = a.agent.log_size()
        side.publish_raw(topic, b"\xff\xfe this is not an oslo envelope")
        m = cluster.wait_log(a.agent, r"message refused[^\n]*", since=since, timeout=10)
        assert m, f"no refusal logged; log tail:\n{a.agent.log_tail(since)}"
        time.sleep(3)  # a requeued delivery would be back within milliseconds
        text = a.agent.log_text(since)
        refusals = [l for l in text.splitlines() if "message refused" in l]
        assert len(refusals) == 1, "refused more than once (redelivered):\n" + "\n".join(refusals)
        assert "redelivered" not in text, text
        q = held(rig, side, topic)
        assert q["type"] == "quorum" and q["arguments"].get("x-delivery-limit") == 5, q
        assert side.ready_count(topic) == 0, "the poison message is still in the queue"
        assert trove.api().rpc_ping() is True
    finally:
        stop_and_clean(a, side, gid)


def test_quorum_redelivery_after_a_kill_is_answered_once(rig, spawn_agent, db, names):
    """The agent is SIGKILLed holding a create_user cast (held in mysqld by a READ
    lock); restarted, it gets the delivery again with x-delivery-count, logs it,
    and the user exists once with one notification at the conductor."""
    side = rig.side("quorum_limits")
    gid = str(uuid.uuid4())
    a = None
    lock = None
    try:
        a, trove = start_agent(spawn_agent, side, gid)
        lock = cluster.Held()
        user = names.user("rd")
        rid = trove.cast_create_user([harness.user_dict(user, password="Pw" + uuid.uuid4().hex)])
        lock.wait_blocked()
        a.agent.proc.kill()
        a.agent.proc.wait(10)
        lock.release()
        since = a.agent.log_size()
        a.agent.start()
        ready(side, a, gid)
        rec = side.conductor.wait_outcome(rid, timeout=harness.CAST_OUTCOME_TIMEOUT)
        harness.expect_end(trove, rid, rec)
        m = cluster.wait_log(a.agent, r"redelivered[^\n]*deliveries_before=(\d+)", since=since,
                             timeout=5)
        assert m and int(m.group(1)) >= 1, (
            f"no 'redelivered deliveries_before=N' line; log:\n{a.agent.log_tail(since)}")
        assert db.users_named(user) == ["%"]
        time.sleep(2)
        assert len(side.conductor.for_request(rid)) == 1, side.conductor.for_request(rid)
    finally:
        if lock is not None:
            lock.release()
        stop_and_clean(a, side, gid)
