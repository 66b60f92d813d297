"""Machinery of the fault tests (test_faults.py, marker ``faults``): an agent of
their own that can be SIGKILLed and restarted, the shared RabbitMQ and MariaDB
stopped and started (always restored), and a workload of 100 mutating casts
sent through Trove's real client whose effects (in mysqld) and outcomes (at the
stand-in conductor) are counted afterwards.

What is counted, per command (identified by its request_id):

- effect: the user exists once, at ``%``, with ALL on the workload's database
  (create_user); the database exists (create_database); the pre-made user is
  gone (delete_user); and no object of the workload exists that no command asked
  for;
- outcome: exactly one ``notify_end`` at the conductor; ``duplicates`` counts
  commands with more than one outcome, ``missing`` those with none, ``failed``
  those whose one outcome is ``notify_exc_info``.
"""

import json
import os
import random
import re
import secrets
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import harness

REPO = Path(__file__).resolve().parents[2]
LOG_DIR = REPO / "target" / "interop-logs"
SUMMARY_LOG = LOG_DIR / "faults-summary.log"

# The agent settles actions whose messages never came back this long after a
# broker session starts (src/agent/delivery.rs, Patience::grace): a late duplicate can only
# show after it, so the tests wait past it before counting.
AGENT_SETTLE_GRACE = 60

MYSQLD = "/usr/sbin/mariadbd"
MYSQLD_PID_FILE = "/run/mysqld/mysqld.pid"

# Counts of every fault test run in this session (printed by conftest's
# terminal summary, and appended to SUMMARY_LOG).
SUMMARIES = []


def log(msg):
    print(f"[faults {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- services

def _run(argv, timeout=120):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}: {r.stderr.strip() or r.stdout.strip()}")
    return r.stdout


def tools_missing():
    """What the fault tests need and this host lacks ([] if nothing)."""
    out = []
    for tool in ("rabbitmqctl", "mariadb-admin", "start-stop-daemon"):
        if shutil.which(tool) is None:
            out.append(tool)
    if not os.access(MYSQLD, os.X_OK):
        out.append(MYSQLD)
    if os.geteuid() != 0:
        out.append("root (to start mariadbd as mysql)")
    return out


def broker_answers():
    try:
        with harness.kombu_connection() as conn:
            conn.connect()
            ch = conn.channel()
            ch.close()
        return True
    except Exception:
        return False


def wait_broker(timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if broker_answers():
            return
        time.sleep(0.2)
    raise RuntimeError(f"RabbitMQ not answering within {timeout} s")


def broker_stop():
    _run(["rabbitmqctl", "-q", "stop_app"])


def broker_start():
    _run(["rabbitmqctl", "-q", "start_app"])
    wait_broker()


def broker_restore():
    """Best effort: the app running and answering (after a failure half way)."""
    if broker_answers():
        return
    try:
        _run(["rabbitmqctl", "-q", "start_app"])
    except Exception as e:  # noqa: BLE001 - we try to go on
        log(f"start_app while restoring: {e}")
    wait_broker()


def declare_trove_queue(queue, routing_key, exchange=harness.EXCHANGE):
    """Declare and bind a queue exactly as Trove/oslo do (topic exchange and queue
    not durable, not auto-delete, no arguments): what Trove's taskmanager does for a
    guest queue before the guest runs, and its conductor for its own."""
    with harness.kombu_connection() as conn:
        ch = conn.channel()
        ch.exchange_declare(exchange=exchange, type="topic", durable=False, auto_delete=False)
        ch.queue_declare(queue=queue, durable=False, auto_delete=False, exclusive=False,
                         arguments=None)
        ch.queue_bind(queue=queue, exchange=exchange, routing_key=routing_key)
        ch.close()


def queue_ready(queue):
    """Messages ready (not delivered) in a queue, or None if it does not exist."""
    try:
        with harness.kombu_connection() as conn:
            ch = conn.channel()
            _, ready, _ = ch.queue_declare(queue=queue, passive=True)
            ch.close()
            return ready
    except Exception:
        return None


def mysqld_answers():
    try:
        r = subprocess.run(["mariadb-admin", "--protocol=socket", "-uroot", "ping"],
                           capture_output=True, timeout=5, stdin=subprocess.DEVNULL)
        return r.returncode == 0
    except Exception:
        return False


def _mysqld_pid():
    try:
        return int(Path(MYSQLD_PID_FILE).read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def mysqld_stop(timeout=90):
    pid = _mysqld_pid()
    _run(["mariadb-admin", "--protocol=socket", "-uroot", "shutdown"], timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (pid is None or not _alive(pid)) and not mysqld_answers():
            return
        time.sleep(0.1)
    raise RuntimeError(f"mariadbd (pid {pid}) still running {timeout} s after shutdown")


def mysqld_start(timeout=90):
    subprocess.run(["install", "-d", "-o", "mysql", "-g", "mysql", "/run/mysqld"],
                   capture_output=True, timeout=10)
    _run(["start-stop-daemon", "--start", "--oknodo", "--background", "--chuid", "mysql",
          "--exec", MYSQLD], timeout=30)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if mysqld_answers():
            return
        time.sleep(0.2)
    raise RuntimeError(f"mariadbd not answering within {timeout} s of being started")


def mysqld_restore():
    if not mysqld_answers():
        mysqld_start()


def reconnect_db(db):
    """The suite's root sessions died with mysqld: open them again."""
    for c in (db.conn, db.rescue):
        try:
            c.ping(reconnect=True)
        except Exception as e:  # noqa: BLE001
            log(f"reconnecting a root session: {e}")


# --------------------------------------------------------------------------- the agent

class FaultAgent:
    """An agent of its own (guest id, state dir, queues, log) for one fault test,
    driven by its own ``harness.Trove``; its casts reach the session's conductor.
    The binary is a private copy, so a rebuild elsewhere cannot swap it between
    two restarts."""

    def __init__(self, workdir, conductor, conductor_topic, binary, extra=None):
        self.gid = str(uuid.uuid4())
        self.dir = Path(workdir) / f"fault-{self.gid}"
        self.dir.mkdir(mode=0o700)
        self.state = self.dir / "state"
        self.state.mkdir(mode=0o700)
        self.binary = str(self.dir / "guestagent")
        shutil.copy2(binary, self.binary)
        self.conductor_topic = conductor_topic
        config = {
            "guest_id": self.gid,
            "amqp": {"url": harness.AGENT_AMQP_URL, "exchange": harness.EXCHANGE,
                     "conductor_topic": conductor_topic},
            "mysql": {"socket": harness.MYSQL_SOCKET, "user": "root"},
            "state": {"dir": str(self.state)},
            "log": {"level": "debug"},
        }
        for table, values in (extra or {}).items():
            config.setdefault(table, {}).update(values)
        self.config_path = self.dir / "guestagent.toml"
        harness.write_config(str(self.config_path), config)
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.agent = harness.Agent(self.binary, str(self.config_path),
                                   str(LOG_DIR / f"guestagent-{self.gid}.log"))
        self.trove = harness.Trove(self.gid, conductor)
        self.topic = "guestagent." + self.gid
        self.starts = []
        self.kills = 0
        self.self_exits = []

    def start(self, wait=True):
        self.agent.start()
        self.starts.append(time.monotonic())
        if wait:
            harness.wait_ready(self.trove, self.agent, timeout=60)

    def kill(self):
        """SIGKILL; notes it if the agent had already exited by itself."""
        p = self.agent.proc
        if p.poll() is not None:
            self.self_exits.append(p.returncode)
            return
        p.kill()
        p.wait(10)
        self.kills += 1

    def restart(self):
        self.kill()
        self.start(wait=False)

    def ensure_running(self):
        if not self.agent.alive():
            if self.agent.proc is not None and self.agent.proc.returncode not in (-9, None):
                self.self_exits.append(self.agent.proc.returncode)
            self.start(wait=False)

    # What the agent's log says it did about faults (evidence that the faults hit
    # commands in flight), by the messages of src/agent/{mutation,recovery,mod}.rs.
    RECOVERY_MARKS = {
        "answered_from_journal": "already applied; answering from the journal",
        "resends_already_reported": "already applied and reported",
        "resumed_running": "interrupted while running; finishing it",
        "answers_lost": "answer not sent; the broker will redeliver",
        "settled_by_sweep": "settled an action whose message never came back",
        "mysqld_waits": "mysqld unavailable; retrying",
        "broker_lost": "broker session lost; reconnecting",
    }

    def recovery_counts(self, since=0):
        text = self.agent.log_text(since)
        return {k: text.count(v) for k, v in self.RECOVERY_MARKS.items()}

    def log_lines(self, needle, limit=40):
        lines = [l for l in self.agent.log_text().splitlines() if needle in l]
        return lines[-limit:]

    def journal_records(self, needle, limit=20):
        """Raw journal records mentioning ``needle`` (the agent's own files)."""
        out = []
        for p in sorted(self.state.rglob("*")):
            if p.is_file():
                for line in p.read_bytes().decode("utf-8", "replace").splitlines():
                    if needle in line:
                        out.append(f"{p.name}: {line}")
        return out[-limit:]

    def close(self):
        code = self.agent.stop() if self.agent.proc is not None else None
        try:
            with open(self.agent.log_path, "ab") as f:
                f.write(f"\n===== interop: fault agent stopped, exit code {code} =====\n".encode())
        except OSError:
            pass
        try:
            self.delete_queues()
        except Exception as e:  # noqa: BLE001 - cleanup is best effort
            log(f"cleaning up the fault agent's queues: {e}")

    def delete_queues(self):
        """The agent's queues and fanout exchange on the suite's broker."""
        harness.delete_queues([self.topic, f"{self.topic}.{self.gid}"]
                              + harness.list_queue_names(self.gid, timeout=20))
        harness.delete_exchanges([self.topic + "_fanout"])


# --------------------------------------------------------------------------- the workload

def _pw():
    return "Pw" + secrets.token_hex(12)


class Workload:
    """``n`` mutating casts through Trove's real API, each with its own request_id:
    create_user of ``<tag>_NNN`` with ALL on ``<tag>_g`` (8 in 10), create_database
    ``<tag>_dNNN`` (1 in 10), delete_user of a pre-made ``<tag>_pNNN`` (1 in 10)."""

    def __init__(self, name, db, fa, tag, n=100):
        self.name = name
        self.db = db
        self.fa = fa
        self.trove = fa.trove
        self.tag = tag
        self.n = n
        self.grant_db = f"{tag}_g"
        self.sent = {}          # i -> request_id
        self.sent_at = {}       # i -> monotonic time the cast returned
        self.sent_wall = {}     # i -> the same, wall clock
        self.send_errors = {}   # i -> repr of the exception
        self.t0 = None
        self.facts = {}
        db.drop_prefixed(tag)
        harness.make_db(db, self.grant_db)
        for i in range(n):
            if self.kind(i) == "delete_user":
                harness.make_user(db, self.target(i), "%", _pw())

    @staticmethod
    def kind(i):
        return {3: "create_database", 7: "delete_user"}.get(i % 10, "create_user")

    def target(self, i):
        k = self.kind(i)
        if k == "create_user":
            return f"{self.tag}_{i:03d}"
        if k == "create_database":
            return f"{self.tag}_d{i:03d}"
        return f"{self.tag}_p{i:03d}"

    def send(self, i):
        if self.t0 is None:
            self.t0 = time.monotonic()
        k, name = self.kind(i), self.target(i)
        try:
            if k == "create_user":
                rid = self.trove.cast_create_user([harness.user_dict(
                    name, password=_pw(), databases=[self.grant_db])])
            elif k == "create_database":
                rid = self.trove.cast_create_database([harness.db_dict(name)])
            else:
                rid = self.trove.cast_delete_user(harness.user_dict(name))
            self.sent[i] = rid
            self.sent_at[i] = time.monotonic()
            self.sent_wall[i] = time.time()
        except Exception as e:  # noqa: BLE001 - counted and reported
            self.send_errors[i] = f"{type(e).__name__}: {e}"
            log(f"{self.name}: sending command {i} failed at the client: {e}")

    def send_range(self, indices, pause=(0.05, 0.25), rng=random):
        for i in indices:
            self.send(i)
            if pause:
                time.sleep(rng.uniform(*pause))

    def sent_between(self, start, end):
        return sum(1 for t in self.sent_at.values() if start <= t <= end)

    # -- waiting
    def outcomes(self, i):
        return self.trove.conductor.for_request(self.sent[i])

    def without_outcome(self):
        return [i for i in self.sent if not self.outcomes(i)]

    def wait_outcomes(self, deadline):
        """Until every sent command has an outcome, or ``deadline`` (monotonic)."""
        while True:
            left = self.without_outcome()
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.25)

    # -- counting
    def verify(self, **facts):
        db = self.db
        like = self.tag.replace("_", "\\_") + "\\_%"
        users = {}
        for user, host in db.query("SELECT User, Host FROM mysql.user WHERE User LIKE %s", (like,)):
            users.setdefault(user, []).append(host)
        dbs = {r[0] for r in db.query(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s", (like,))}
        want_users, want_dbs = set(), {self.grant_db}
        effect_ok, effect_bad = 0, {}
        for i in range(self.n):
            k, name = self.kind(i), self.target(i)
            if k == "create_user":
                want_users.add(name)
                hosts = users.get(name, [])
                if hosts != ["%"]:
                    effect_bad[i] = f"user hosts {hosts}"
                    continue
                privs = db.privileges_on(name, "%")
                if privs != {self.grant_db: {"ALL PRIVILEGES"}}:
                    effect_bad[i] = f"grants {db.grants(name, '%')}"
                    continue
            elif k == "create_database":
                want_dbs.add(name)
                if name not in dbs:
                    effect_bad[i] = "database missing"
                    continue
            else:
                if name in users:
                    effect_bad[i] = f"user still exists at {users[name]}"
                    continue
            effect_ok += 1
        extra = sorted([f"user {u}@{h}" for u, hs in users.items() if u not in want_users
                        for h in hs if not (self.kind_of_name(u) == "delete_user")]
                       + [f"database {d}" for d in dbs - want_dbs])

        ok, missing, dups, failed, extra_outcomes, wire_errors = 0, [], [], [], 0, []
        # Outcomes whose context is not the request's (trove-wire §5: the context
        # goes back as received); counted and shown, not part of exactly-once.
        context_lost = []
        for i, rid in sorted(self.sent.items()):
            recs = self.trove.conductor.for_request(rid)
            if not recs:
                missing.append(i)
            elif len(recs) > 1:
                dups.append(i)
                extra_outcomes += len(recs) - 1
            elif recs[0].method == "notify_exc_info":
                failed.append(i)
            else:
                ok += 1
            for r in recs:
                if r.signature_error or r.conductor_error:
                    wire_errors.append(i)
                if r.request_id != rid:
                    context_lost.append(i)
        elapsed = time.monotonic() - self.t0 if self.t0 else 0.0
        summary = {
            "test": self.name, "commands": self.n, "sent": len(self.sent),
            "send_errors": len(self.send_errors),
            "effects_ok": effect_ok, "effects_wrong": len(effect_bad), "extra_objects": len(extra),
            "outcomes_ok": ok, "duplicates": len(dups), "extra_outcomes": extra_outcomes,
            "missing": len(missing), "failed": len(failed),
            "conductor_rejects": len(set(wire_errors)),
            "outcomes_without_request_context": len(context_lost),
            "elapsed_s": round(elapsed, 1),
        }
        summary.update(facts)
        details = []
        for what, idx in (("no outcome", missing), ("more than one outcome", dups),
                          ("failed (notify_exc_info)", failed),
                          ("outcome rejected by Trove's conductor", sorted(set(wire_errors)))):
            for i in idx[:15]:
                details.append(self._describe(i, what))
        for i, why in sorted(effect_bad.items())[:15]:
            details.append(f"effect of command {i} ({self.kind(i)} {self.target(i)}): {why}\n"
                           + self._describe(i, "its outcome"))
        if extra:
            details.append("objects no command asked for: " + ", ".join(extra[:30]))
        for i, e in sorted(self.send_errors.items()):
            details.append(f"command {i} ({self.kind(i)} {self.target(i)}) not sent: {e}")
        return summary, details

    def kind_of_name(self, name):
        m = re.match(re.escape(self.tag) + r"_(d|p)?(\d{3})$", name)
        if not m:
            return None
        return {"d": "create_database", "p": "delete_user", None: "create_user"}[m.group(1)]

    def _describe(self, i, what):
        rid = self.sent.get(i)
        sent = (time.strftime(" sent at %H:%M:%S", time.localtime(self.sent_wall[i]))
                if i in self.sent_wall else "")
        lines = [f"command {i}: {self.kind(i)} {self.target(i)} (request {rid}{sent}): {what}"]
        if rid:
            for r in self.trove.conductor.for_request(rid):
                at = time.strftime("%H:%M:%S", time.localtime(r.received_at))
                lines.append(f"  conductor at {at}: " + r.describe().replace("\n", "\n  "))
            for l in self.fa.log_lines(rid, limit=10):
                lines.append("  agent log: " + l)
            records = self.fa.journal_records(rid, limit=10)
            ids = sorted({m.group(1) for m in (re.search(r'"id":(\d+)', r) for r in records) if m})
            for a in ids:
                for l in self.fa.log_lines(f"action={a} ", limit=10):
                    lines.append(f"  agent log (action {a}): " + l)
            for l in records:
                lines.append("  journal: " + l[:600])
        return "\n".join(lines)


def record(summary):
    SUMMARIES.append(summary)
    line = json.dumps(summary, sort_keys=False)
    log("COUNTS " + line)
    try:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with open(SUMMARY_LOG, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}\n")
    except OSError:
        pass


def assert_exactly_once(summary, details, lost_commits_may_repeat=False):
    """Every effect once, every command one outcome.  With
    ``lost_commits_may_repeat`` (a cluster losing nodes), a repeated outcome is
    allowed for each answer the agent saw fail to commit: RabbitMQ's
    transactions are not atomic across queues, so a node going down during
    ``tx.commit`` can keep the answer and lose the acknowledgement; the
    message comes back and is answered again from the journal, never applied
    again (docs/reliability.md, "Limits of the guarantees")."""
    repeated = 0
    if lost_commits_may_repeat and summary["duplicates"] <= summary.get("answers_lost", 0):
        repeated = summary["duplicates"]
        if repeated:
            log(f"{repeated} outcome(s) repeated after a commit the broker half-applied "
                f"({summary.get('answers_lost')} answer(s) seen not to commit)")
    bad = (summary["sent"] != summary["commands"] or summary["effects_ok"] != summary["commands"]
           or summary["extra_objects"] or summary["outcomes_ok"] + repeated != summary["commands"]
           or summary["duplicates"] > repeated or summary["missing"] or summary["failed"]
           or summary["conductor_rejects"] or summary.get("agent_self_exits"))
    assert not bad, ("not exactly once: " + json.dumps(summary) + "\n\n"
                     + "\n\n".join(details[:40]))
