"""Fault tests on RabbitMQ brokers of our own (issue 14; marker ``faults``):
100 mutating casts through Trove's real client while

(a) the cluster node the agent is connected to is stopped whole and started
    again (quorum queues: kolla-ansible 2025.1's guest file);
(b) the whole three-node cluster is restarted (quorum queues, the same file);
(c) a standalone broker's application is stopped for 3 s and started again
    (``rabbitmqctl stop_app``, ``start_app``), with oslo's default classic,
    non-durable queues: the broker forgets the guest's queues, and every cast
    the client publishes before the agent has declared them again is dropped
    by the exchange.

Counted as in test_faults.py (faults.Workload, faults.assert_exactly_once): in
mysqld, every command's effect exactly once; at the stand-in conductor, exactly
one notify_end per command.  The agent runs on Trove's files
(``--trove-config``) with the profile's options; the client is Trove's own API
on an oslo transport with the same options (cluster.py), retrying as oslo does
by default (rabbit_retry_interval 1 s as the harness sets it,
rabbit_retry_backoff 2 s, at most 30 s; a cast is retried until it is
published).  The counts, with how long the agent was away and when it was
back, are printed (terminal summary "fault test counts", and
target/interop-logs/faults-summary.log).

In (a) and (b) nothing is kept out of the count: quorum queues keep what waits
in them through a node's loss and a cluster restart.  At the fault a burst of
casts is held, one in the agent's hands (kolla's prefetch is 1) by a READ lock
on mysql.global_priv, the rest waiting in the queue; casts keep coming during
the outage (oslo retries them until a node takes them).  In (c), as in
test_faults.py, what no agent can change is kept out: a classic queue's
waiting messages vanish with it, so before ``stop_app`` the guest queue has no
message waiting, and the client pauses only from just before ``stop_app`` until
the broker refuses connections (no cast lands in a queue about to vanish); the
casts it sends while the broker is down are retried by oslo and published once
it reconnects, and the conductor's queue is declared again as soon as the
broker is back (as Trove's conductor would), so what is measured is whether
the agent's queue is back before the client publishes again.  The test prints
the timeline: when the agent was consuming again (its log), when its queue
existed again (polled), when oslo's connections reconnected, and, for each
cast lost, when it was published against the queue's return.
"""

import logging
import threading
import time

import pytest

import brokers
import cluster
import faults
import harness
from conftest import agent_binary

pytestmark = [pytest.mark.faults, pytest.mark.timeout(480)]

N = 100
PROFILE = "kolla"


@pytest.fixture
def workload_tag(prefix):
    def make(letter):
        return prefix + "c" + letter
    return make


class ClusterFaultAgent(faults.FaultAgent):
    """faults.FaultAgent run on Trove's files for a profile (cluster.Side), driven
    by the real client on that profile's transport."""

    def __init__(self, workdir, side, binary):
        super().__init__(workdir, side.conductor, side.rig.conductor_topic, binary)
        self.side = side
        args = side.agent_args()(self.gid, self.dir)
        self.agent = harness.Agent(self.binary, None, self.agent.log_path, args=args)
        self.trove = side.trove(self.gid)

    def delete_queues(self):
        """The guest's queues on the profile's broker."""
        self.side.delete_guest(self.gid)


def _agent(workdir, side):
    missing = faults.tools_missing()
    if missing:
        pytest.skip("fault tests need " + ", ".join(missing))
    fa = ClusterFaultAgent(workdir, side, agent_binary())
    fa.start()
    return fa


@pytest.fixture
def quorum_agent(workdir, cluster_rig, rabbit_cluster, db):
    side = cluster_rig.side(PROFILE)
    fa = _agent(workdir, side)
    yield fa
    restore_cluster(rabbit_cluster)   # first: the cleanup needs a node
    fa.close()


def restore_cluster(c):
    """Every node up again (after a failure half way)."""
    try:
        down = [i for i, n in enumerate(c.nodes) if not n.alive()]
        if down:
            faults.log(f"restoring cluster nodes {down}")
            c.start_all()
        for i, n in enumerate(c.nodes):
            if not n.answers():
                c.start_app(i)
    except Exception as e:  # noqa: BLE001 - reported, the session goes on
        faults.log(f"restoring the cluster: {e}")


def agent_node(c, fa, timeout=10):
    """The node (0-based) the agent's connection is on: from its sockets, and the
    last "consuming broker=" line of its log must agree."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = c.node_of_process(fa.agent.proc.pid)
        lines = cluster.consuming_lines(fa.agent)
        logged = lines[-1]["broker"] if lines else None
        if len(nodes) == 1 and logged == f"127.0.0.1:{c.nodes[nodes[0]].amqp_port}":
            return nodes[0]
        if time.monotonic() >= deadline:
            raise AssertionError(f"the agent's connection: nodes {nodes} by its sockets, "
                                 f"{logged} by its log")
        time.sleep(0.2)


def wait_taken(c, vhost, queue, timeout=15):
    """Until the classic queue has no message ready (the agent holds all it was
    sent).  Not for quorum queues, whose counts in rabbitmqctl lag."""
    deadline = time.monotonic() + timeout
    while True:
        q = c.queue(queue, vhost)
        if q is not None and q["messages_ready"] == 0:
            return q
        assert time.monotonic() < deadline, f"{queue} still has messages waiting: {q}"
        time.sleep(0.2)


def _finish(w, fa, back, **facts):
    """Outcomes (bounded), then past the agent's settle grace, then count."""
    left = w.wait_outcomes(back + faults.AGENT_SETTLE_GRACE + 60)
    if left:
        faults.log(f"{w.name}: {len(left)} commands still without an outcome at the deadline")
    settle = back + faults.AGENT_SETTLE_GRACE + 10
    while time.monotonic() < settle:
        time.sleep(0.5)
    fa.ensure_running()
    facts.update(fa.recovery_counts())
    summary, details = w.verify(agent_kills=fa.kills, agent_starts=len(fa.starts),
                                agent_self_exits=len(fa.self_exits), **facts)
    faults.record(summary)
    return summary, details


def explain(w, oslo_log, t0):
    """For the report: oslo's reconnects (from ``t0``, epoch), and for each command
    with more than one outcome, when its cast() returned against its outcomes
    (an outcome before the client's cast() returned means the client published it
    again after a lost publisher confirm)."""
    out = []
    recs = [(t, m) for t, m in oslo_log.records if t >= t0 - 1]
    if recs:
        out.append("oslo's rabbit driver from the fault on:\n" + "\n".join(
            f"  +{t - t0:6.2f} s {m[:160]}" for t, m in recs[:16]))
    for i, rid in sorted(w.sent.items()):
        recs = w.outcomes(i)
        if len(recs) > 1:
            returned = w.sent_wall.get(i)
            out.append(f"command {i}: cast() returned at +{returned - t0:.2f} s; outcomes at "
                       + ", ".join(f"+{r.received_at - t0:.2f} s" for r in recs))
    return out


def _after_fault(fa, since):
    """How the agent came back: node, away_s, from its log."""
    lines = cluster.consuming_lines(fa.agent, since)
    if not lines:
        return {}
    return {"agent_back_on": lines[0]["broker"], "agent_away_s": lines[0]["away_s"],
            "agent_sessions_after_fault": len(lines)}


def _through_outage(fa, db, tag, w, r, facts, what, stop, start, pause_s, join_s,
                    ready_s, before_hold=None, after=None):
    """The course of (a) and (b): 30 casts; 6 more, one held in the agent's
    hands (kolla's prefetch is 1) by a READ lock, the rest waiting in the
    queue; ``stop()``, ``pause_s``, ``start()`` in a thread while 44 more go
    out; the last 20 once it is back.  ``before_hold()`` runs before the hold,
    ``after(since, times, facts)`` once the agent answers again.  Checks
    exactly-once and returns the summary."""
    held = None
    times = {}
    errors = []
    oslo_log = OsloLog().__enter__()
    try:
        w.send_range(range(0, 30), rng=r)
        if before_hold is not None:
            before_hold()
        held = cluster.Held()
        w.send_range(range(30, 36), pause=None)
        held.wait_blocked()
        since = fa.agent.log_size()

        def outage():
            try:
                times["stop"] = time.monotonic()
                times["stop_wall"] = time.time()
                stop()
                times["stopped"] = time.monotonic()
                faults.log(f"{what} stopped")
                time.sleep(pause_s)
                start()
                times["back"] = time.monotonic()
                times["back_wall"] = time.time()
                faults.log(f"{what} back")
            except Exception as e:  # noqa: BLE001 - reported by the test
                errors.append(e)

        t = threading.Thread(target=outage, name="outage", daemon=True)
        t.start()
        time.sleep(1)
        held.release()
        w.send_range(range(36, 80), rng=r)
        t.join(join_s)
        assert not errors, f"stopping/starting {what} failed: {errors[0]}"
        assert "back" in times, f"{what} did not come back"
        w.send_range(range(80, N), rng=r)
        facts["outage_s"] = round(times["back"] - times["stop"], 1)
        facts["sent_during_outage"] = w.sent_between(times["stop"], times["back"])
        harness.wait_ready(fa.trove, fa.agent, timeout=ready_s)
        back = time.monotonic()
        facts.update(_after_fault(fa, since))
        if after is not None:
            after(since, times, facts)
        summary, details = _finish(w, fa, back, **facts)
        details += explain(w, oslo_log, times["stop_wall"])
    finally:
        oslo_log.__exit__()
        if held is not None:
            held.release()
        _cleanup(db, tag)
    faults.assert_exactly_once(summary, details, lost_commits_may_repeat=True)
    return summary


# --------------------------------------------------------------------------- (a) one node

def test_node_of_the_agent_stopped(quorum_agent, rabbit_cluster, db, workload_tag, rng):
    fa, c = quorum_agent, rabbit_cluster
    r, seed = rng
    tag = workload_tag("n")
    w = faults.Workload("cluster_node_stop", db, fa, tag, N)
    facts = {"seed": seed}
    node = {}

    def find_node():
        node["i"] = agent_node(c, fa)
        facts["agent_node"] = node["i"] + 1

    summary = _through_outage(
        fa, db, tag, w, r, facts, "the agent's node",
        stop=lambda: c.stop_node(node["i"]), start=lambda: c.start_node(node["i"]),
        pause_s=8, join_s=120, ready_s=60, before_hold=find_node)
    stopped = f"127.0.0.1:{c.nodes[node['i']].amqp_port}"
    assert summary.get("agent_back_on") not in (None, stopped), (
        f"the agent did not come back on another node while {stopped} was down: {summary}")


# --------------------------------------------------------------------------- (b) the cluster

def test_whole_cluster_restarted(quorum_agent, rabbit_cluster, db, workload_tag, rng):
    fa, c = quorum_agent, rabbit_cluster
    r, seed = rng
    tag = workload_tag("r")
    w = faults.Workload("cluster_restart", db, fa, tag, N)
    facts = {"seed": seed}

    def last_session(since, times, facts):
        last = cluster.consuming_lines(fa.agent, since)[-1]
        facts["agent_last_back_on"] = last["broker"]
        facts["agent_last_away_s"] = last["away_s"]
        facts["agent_back_after_cluster_up_s"] = round(last["at"] - times["back_wall"], 2)

    _through_outage(fa, db, tag, w, r, facts, "every node", stop=c.stop_all,
                    start=c.start_all, pause_s=2, join_s=180, ready_s=90,
                    after=last_session)


# --------------------------------------------------------------------------- (c) one broker

class CreateUsers(faults.Workload):
    """faults.Workload with every command a create_user (ALL on <tag>_g)."""

    @staticmethod
    def kind(i):
        return "create_user"


@pytest.fixture(scope="module")
def solo(workdir, trove_rpc, conductor_topic):
    """A standalone broker of our own (a RabbitNode alone: a cluster of one), and
    the classic profile's client and conductor on it."""
    c = brokers.RabbitCluster("it-solo", workdir, size=1)
    try:
        c.start()
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    rig = None
    try:
        rig = cluster.Rig(c, conductor_topic, workdir / "oslo-locks-solo")
        yield rig
    finally:
        if rig is not None:
            rig.close()
        c.stop()


class OsloLog(logging.Handler):
    """oslo.messaging's rabbit driver log records, timestamped (reconnects)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append((record.created, record.getMessage()))

    def __enter__(self):
        from oslo_messaging._drivers import impl_rabbit
        self.logger = getattr(impl_rabbit.LOG, "logger", impl_rabbit.LOG)  # oslo_log's adapter
        self.saved = self.logger.level
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.setLevel(self.saved)


def test_standalone_broker_app_restarted(solo, workdir, db, workload_tag, rng, conductor_topic):
    """``stop_app``, 3 s, ``start_app`` on a standalone broker with classic queues
    while the real client publishes 100 create_user casts."""
    r, seed = rng
    side = solo.side("classic")
    node = solo.cluster.nodes[0]
    fa = _agent(workdir, side)
    tag = workload_tag("s")
    w = CreateUsers("standalone_app_restart", db, fa, tag, N)
    facts = {"seed": seed}
    vhost = side.profile.vhost
    times = {}
    errors = []
    may_send = threading.Event()
    may_send.set()
    stop_now = threading.Event()
    watch_stop = threading.Event()

    def outage():
        try:
            stop_now.wait(60)
            times["stop_app"] = time.time()
            node.stop_app()
            times["stopped"] = time.time()
            faults.log("broker app stopped")
            time.sleep(3)
            times["start_app"] = time.time()
            node.ctl("start_app", timeout=brokers.START_TIMEOUT)
            times["start_app_done"] = time.time()
            # As Trove's conductor does when it reconnects: its queue back.
            with side.kombu() as conn:
                ch = conn.channel()
                ch.exchange_declare(exchange="trove", type="topic", durable=False,
                                    auto_delete=False)
                ch.queue_declare(queue=conductor_topic, durable=False, auto_delete=False)
                ch.queue_bind(queue=conductor_topic, exchange="trove",
                              routing_key=conductor_topic)
            times["conductor_queue"] = time.time()
            faults.log("broker app started")
        except Exception as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    def watch_queue():
        """When the guest's queue exists again (a passive declare every 50 ms)."""
        gone = False
        while not watch_stop.is_set():
            try:
                exists = node.queue_exists(fa.topic, vhost)
            except Exception:  # noqa: BLE001 - refused: the broker is down
                exists = None
            if exists is False or (exists is None and "stopped" in times):
                gone = True
            if gone and exists:
                times["queue_back"] = time.time()
                return
            time.sleep(0.05)

    outage_t = threading.Thread(target=outage, name="app-outage", daemon=True)
    watch_t = threading.Thread(target=watch_queue, name="queue-watch", daemon=True)
    try:
        with OsloLog() as oslo_log:
            outage_t.start()
            w.send_range(range(0, 30), pause=(0.05, 0.15), rng=r)
            wait_taken(solo.cluster, vhost, fa.topic)
            since = fa.agent.log_size()
            watch_t.start()
            stop_now.set()
            deadline = time.monotonic() + 30
            while node.answers():
                assert time.monotonic() < deadline, "the broker still answers 30 s after stop_app"
                time.sleep(0.05)
            times["refusing"] = time.time()
            w.send_range(range(30, N), pause=(0.05, 0.15), rng=r)
            outage_t.join(120)
            assert not errors, f"stop_app/start_app failed: {errors[0]}"
            assert "start_app_done" in times, "the broker app did not come back"
            harness.wait_ready(fa.trove, fa.agent, timeout=60)
            back = time.monotonic()
            watch_t.join(10)
        lines = cluster.consuming_lines(fa.agent, since)
        first = lines[0] if lines else {}
        if first.get("at"):
            facts["agent_back_after_start_app_s"] = round(first["at"] - times["start_app_done"], 2)
            facts["agent_back_after_start_app_call_s"] = round(first["at"] - times["start_app"], 2)
        facts["agent_away_s"] = first.get("away_s")
        facts["app_down_s"] = round(times["start_app_done"] - times["stop_app"], 1)
        if "queue_back" in times:
            facts["queue_back_after_start_app_s"] = round(times["queue_back"] - times["start_app_done"], 2)
        reconnects = [(t, m) for t, m in oslo_log.records
                      if "Reconnected" in m and t >= times["stop_app"]]
        if reconnects:
            facts["client_reconnected_after_start_app_s"] = round(
                reconnects[0][0] - times["start_app_done"], 2)
        sent_after = [w.sent_wall[i] for i in sorted(w.sent_wall) if i >= 30]
        if sent_after:
            facts["first_cast_after_outage_published_after_start_app_s"] = round(
                sent_after[0] - times["start_app_done"], 2)
        faults.log("timeline: " + cluster.dump({
            k: round(v - times["stop_app"], 2) for k, v in times.items()}))
        for t, m in [rec for rec in oslo_log.records if rec[0] >= times["stop_app"]][:12]:
            faults.log(f"oslo at +{t - times['stop_app']:.2f} s: {m[:200]}")
        summary, details = _finish(w, fa, back, **facts)
        details += explain(w, oslo_log, times["stop_app"])
        if summary["missing"] or summary["effects_wrong"]:
            qb = times.get("queue_back")
            lost = [i for i in w.sent if not w.outcomes(i)]
            for i in lost[:40]:
                at = w.sent_wall.get(i)
                rel = f"{at - qb:+.2f} s from the queue's return" if (at and qb) else "?"
                details.append(f"lost cast {i}: published {rel} "
                               f"(+{at - times['stop_app']:.2f} s from stop_app)")
    finally:
        watch_stop.set()
        fa.close()
        _cleanup(db, tag)
    faults.assert_exactly_once(summary, details)


def _cleanup(db, tag):
    try:
        db.drop_prefixed(tag)
    except Exception as e:  # noqa: BLE001
        faults.log(f"cleanup of {tag}: {e}")
