"""Drop-in on Trove's own config files (issue 5 "Drop-in configuration"):
``guestagent run --trove-config DIR --config overlay.toml`` with guest_info.conf and
trove-guestagent.conf as a Trove guest image has them (mode 0640), driven by the real
Trove client with the instance key those files hold."""

import os
import secrets
import subprocess
import time

import pytest

import harness
from conftest import agent_binary

KEY = "it-dropin-" + secrets.token_hex(16)
REPORT_INTERVAL = 2


def write_trove_files(d, gid, key=KEY, mode=0o640, report_interval=REPORT_INTERVAL):
    conf = d / "trove-conf.d"
    conf.mkdir(mode=0o750)
    files = {
        "guest_info.conf": f"[DEFAULT]\nguest_id={gid}\n",
        "trove-guestagent.conf": (
            "[DEFAULT]\n"
            f"transport_url = {harness.OSLO_TRANSPORT_URL}\n"
            "control_exchange = trove\n"
            f"instance_rpc_encr_key = {key}\n"
            f"report_interval = {report_interval}\n"
            "# options guestagent does not know are ignored, as oslo.config does\n"
            "datastore_manager = mariadb\n"
            "log_dir = /var/log/trove/\n"
            "\n[mariadb]\n"
            "ignore_users = os_admin\n"
        ),
    }
    for name, text in files.items():
        path = conf / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(path, mode)
    return conf


def write_overlay(d, conductor_topic):
    """The overlay, and Trove's prepare-done marker: these tests switch an
    instance that Trove's own agent prepared long ago, so the agent reports
    at once (a fresh instance waits for its prepare: test_control_plane)."""
    state = d / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    markers = d / "trove-guestagent"
    markers.mkdir(mode=0o755, exist_ok=True)
    (markers / ".guestagent.prepare.end").write_text("")
    path = d / "overlay.toml"
    harness.write_config(str(path), {
        "amqp": {"conductor_topic": conductor_topic},
        "state": {"dir": str(state)},
        "log": {"level": "debug"},
        "trove": {"prepare_marker_dir": str(markers)},
    })
    return path


@pytest.fixture(scope="module")
def dropin(spawn_module_agent, conductor_topic):
    def args(gid, d):
        conf = write_trove_files(d, gid)
        overlay = write_overlay(d, conductor_topic)
        return ["run", "--trove-config", str(conf), "--config", str(overlay)]
    return spawn_module_agent(key=KEY, args=args)


def test_started_on_trove_files_answers_the_real_client(dropin):
    assert dropin.trove.api().rpc_ping() is True
    # the key from trove-guestagent.conf is in force: no key is refused
    harness.set_instance_key(dropin.gid, None)
    try:
        api = dropin.trove.api()
    finally:
        harness.set_instance_key(dropin.gid, KEY)
    with pytest.raises(Exception):
        api.client.prepare(version="1.0", timeout=4).call(api.context, "rpc_ping")


def test_heartbeat_from_trove_files_is_healthy(dropin, conductor):
    def mine(r):
        return r.method == "heartbeat" and r.kwargs.get("instance_id") == dropin.gid

    rec = conductor.wait(mine, REPORT_INTERVAL * 3 + 2, f"heartbeat from {dropin.gid}")
    assert rec.signature_error is None, rec.describe()
    assert rec.kwargs["payload"] == {"service_status": "healthy"}, rec.describe()
    assert isinstance(rec.kwargs["sent"], float)
    # report_interval = 2 from the Trove file, not the default 30
    deadline = time.monotonic() + REPORT_INTERVAL * 3 + 2
    while len([r for r in conductor.snapshot() if mine(r)]) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    beats = [r for r in conductor.snapshot() if mine(r)]
    assert len(beats) >= 3, f"{len(beats)} heartbeats; report_interval from the file not used?"


def test_create_user_cast_from_trove_files(dropin, db, names, conductor):
    u = names.user("di")
    harness.create_user_by_cast(dropin.trove, conductor, db, u)
    assert dropin.trove.api().get_user(u, "%")["_name"] == u


def test_check_config_reads_trove_files(tmp_path, conductor_topic):
    gid = "it-dropin-" + secrets.token_hex(4)
    conf = write_trove_files(tmp_path, gid)
    overlay = write_overlay(tmp_path, conductor_topic)
    r = subprocess.run([agent_binary(), "check-config", "--trove-config", str(conf),
                        "--config", str(overlay)], capture_output=True, text=True, timeout=20)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert gid in out and conductor_topic in out, out
    assert KEY not in out, "the RPC key was printed"
    assert "guest:guest" not in out, "the broker password was printed"


def test_trove_files_given_one_by_one(spawn_agent, conductor_topic):
    def args(gid, d):
        conf = write_trove_files(d, gid)
        overlay = write_overlay(d, conductor_topic)
        return ["run", "--trove-config", str(conf / "guest_info.conf"),
                str(conf / "trove-guestagent.conf"), "--config", str(overlay)]
    side = spawn_agent(key=KEY, args=args)
    assert side.trove.api().rpc_ping() is True


def test_world_readable_trove_file_with_the_key_is_refused(tmp_path, conductor_topic):
    gid = "it-dropin-" + secrets.token_hex(4)
    conf = write_trove_files(tmp_path, gid, mode=0o644)
    overlay = write_overlay(tmp_path, conductor_topic)
    try:
        r = subprocess.run([agent_binary(), "run", "--trove-config", str(conf),
                            "--config", str(overlay)], capture_output=True, text=True,
                           timeout=15, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("the agent started on a world-readable file holding the RPC key")
    finally:
        topic = "guestagent." + gid
        harness.delete_queues([topic, f"{topic}.{gid}"])
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "trove-guestagent.conf" in r.stdout + r.stderr, r.stderr
    assert KEY not in r.stdout + r.stderr
