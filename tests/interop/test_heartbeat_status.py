"""Heartbeat and status (issue 5; trove-wire §5): with report_interval = 1 the
conductor receives ``heartbeat(instance_id=guest_id, payload={"service_status": S},
sent=<float>)`` every second, S from a real check of mysqld.  The machine's MariaDB
is never stopped: the not-healthy statuses are produced by pointing further agents
at a socket path where no mysqld is (gone) or that refuses connections, or at a
unix-socket proxy in front of the real mysqld that the test takes away."""

import os
import socket
import threading
import time

import pytest

import harness


NOT_HEALTHY = {"shutdown", "crashed"}


def beats_of(conductor, gid, since=0.0):
    return [r for r in conductor.snapshot()
            if r.method == "heartbeat" and r.kwargs.get("instance_id") == gid
            and r.received_at >= since]


def wait_beats(conductor, gid, n, timeout, since=0.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        beats = beats_of(conductor, gid, since)
        if len(beats) >= n:
            return beats
        time.sleep(0.1)
    return beats_of(conductor, gid, since)


def test_heartbeat_every_second_healthy(spawn_agent, conductor):
    side = spawn_agent(extra={"amqp": {"report_interval": 1}})
    t0 = time.time()
    beats = wait_beats(conductor, side.gid, 4, 8, since=side.agent.started_at)
    assert len(beats) >= 4, (f"{len(beats)} heartbeats in {time.time() - t0:.1f} s with "
                             f"report_interval = 1:\n" + side.agent.log_tail(lines=30))
    for r in beats:
        assert r.signature_error is None, r.describe()
        assert set(r.kwargs) == {"instance_id", "payload", "sent"}, r.describe()
        assert r.kwargs["instance_id"] == side.gid
        assert r.kwargs["payload"] == {"service_status": "healthy"}, r.describe()
        assert isinstance(r.kwargs["sent"], float), r.describe()
        assert abs(r.kwargs["sent"] - r.received_at) < 5, r.describe()
    sent = [r.kwargs["sent"] for r in beats]
    assert sent == sorted(sent) and len(set(sent)) == len(sent), sent
    gaps = [b - a for a, b in zip(sent, sent[1:])]
    assert all(0.5 <= g <= 2.5 for g in gaps), f"heartbeat gaps {gaps} (report_interval 1)"


class UnixProxy:
    """A unix socket at ``path`` forwarding every connection to mysqld's socket
    (root's unix_socket login still works: the peer is this root process)."""

    def __init__(self, path, target=harness.MYSQL_SOCKET):
        self.path = path
        self.target = target
        self.conns = []
        self.lock = threading.Lock()
        self.listener = None
        self.start()

    def start(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        os.chmod(self.path, 0o777)
        self.listener.listen(16)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                upstream.connect(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _cut(self):
        try:
            self.listener.close()
        except OSError:
            pass
        with self.lock:
            conns, self.conns = self.conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def gone(self):
        """mysqld "stopped": every connection cut, the socket file removed."""
        self._cut()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def refusing(self):
        """mysqld "crashed": every connection cut, the socket file left behind with
        nobody accepting on it (connect: ECONNREFUSED)."""
        self._cut()
        if os.path.exists(self.path):
            os.unlink(self.path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.path)  # bound, never listening
        os.chmod(self.path, 0o777)
        self.listener = s

    def close(self):
        self._cut()
        if os.path.exists(self.path):
            os.unlink(self.path)


def wait_status(conductor, gid, statuses, timeout, since):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for r in beats_of(conductor, gid, since):
            if r.kwargs["payload"].get("service_status") in statuses:
                return r
        time.sleep(0.1)
    got = [r.kwargs["payload"].get("service_status") for r in beats_of(conductor, gid, since)]
    raise AssertionError(f"no heartbeat with status in {statuses} within {timeout} s; got {got}")


@pytest.fixture
def proxy(tmp_path):
    p = UnixProxy(str(tmp_path / "proxy.sock"))
    yield p
    p.close()


def test_status_follows_mysqld_going_away_and_coming_back(spawn_agent, conductor, proxy):
    side = spawn_agent(extra={"amqp": {"report_interval": 1},
                              "mysql": {"socket": proxy.path}})
    wait_status(conductor, side.gid, {"healthy"}, 5, side.agent.started_at)

    t = time.time()
    proxy.gone()
    rec = wait_status(conductor, side.gid, NOT_HEALTHY, 8, t)
    assert rec.kwargs["payload"]["service_status"] == "shutdown", (
        "socket gone: Trove's `shutdown` expected", rec.describe())

    t = time.time()
    proxy.refusing()
    rec = wait_status(conductor, side.gid, {"crashed"}, 8, t)
    assert rec.signature_error is None

    t = time.time()
    proxy.start()
    wait_status(conductor, side.gid, {"healthy"}, 15, t)
    assert side.trove.api().rpc_ping() is True
    assert side.agent.alive()


def _unhealthy_agent(spawn_agent, workdir_socket):
    return spawn_agent(extra={"amqp": {"report_interval": 1},
                              "mysql": {"socket": workdir_socket}}, wait=False)


def test_status_when_the_socket_is_gone(spawn_agent, conductor, tmp_path):
    """No mysqld behind the configured socket path: the agent keeps reporting, and
    not healthy."""
    side = _unhealthy_agent(spawn_agent, str(tmp_path / "no-mysqld.sock"))
    beats = wait_beats(conductor, side.gid, 2, 8, since=side.agent.started_at)
    assert beats, ("no heartbeat from an agent whose mysqld socket is gone "
                   f"(alive: {side.agent.alive()}):\n" + side.agent.log_tail(lines=40))
    statuses = {r.kwargs["payload"].get("service_status") for r in beats}
    assert statuses <= NOT_HEALTHY, f"statuses {statuses} with no mysqld"


def test_status_when_the_socket_refuses(spawn_agent, conductor, tmp_path):
    """A socket file nobody accepts on (bound, not listening: ECONNREFUSED)."""
    path = str(tmp_path / "refusing.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    os.chmod(path, 0o777)
    try:
        side = _unhealthy_agent(spawn_agent, path)
        beats = wait_beats(conductor, side.gid, 2, 8, since=side.agent.started_at)
        assert beats, ("no heartbeat from an agent whose mysqld refuses "
                       f"(alive: {side.agent.alive()}):\n" + side.agent.log_tail(lines=40))
        statuses = {r.kwargs["payload"].get("service_status") for r in beats}
        assert statuses <= NOT_HEALTHY, f"statuses {statuses} with a refusing socket"
    finally:
        s.close()
