"""Heartbeats to the conductor (trove-wire §5): every report_interval (30 s); the
control plane marks the guest failed after 90 s of silence."""

import time

REPORT_INTERVAL = 30
STATUSES = {"healthy", "running", "shutdown", "crashed", "unknown"}


def test_heartbeat_reaches_the_conductor(agent, trove, conductor):
    def mine(r):
        return r.method == "heartbeat" and r.kwargs.get("instance_id") == trove.guest_id

    left = agent.started_at + REPORT_INTERVAL + 10 - time.time()
    rec = conductor.wait(mine, max(left, 1), f"heartbeat from {trove.guest_id}")
    assert rec.signature_error is None, rec.describe()
    assert set(rec.kwargs) == {"instance_id", "payload", "sent"}, rec.describe()
    assert rec.kwargs["payload"].get("service_status") in STATUSES, rec.describe()
    assert rec.kwargs["payload"]["service_status"] == "healthy", (
        "mysqld answers queries here, so the status is healthy")
    sent = rec.kwargs["sent"]
    assert isinstance(sent, float) and abs(sent - rec.received_at) < 60, rec.describe()
    if time.time() - agent.started_at > 2 * REPORT_INTERVAL + 10:
        beats = [r for r in conductor.snapshot() if mine(r)]
        assert len(beats) >= 2, "only one heartbeat in more than two report intervals"
