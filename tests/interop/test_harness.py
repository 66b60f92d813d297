"""Self-checks of the harness that need no agent: what Trove's client puts on the
wire for a cast, and that the stand-in conductor accepts exactly what Trove's own
guest-side conductor client (trove.conductor.api.API) sends."""

import json
import time
import uuid

import harness


def _declare_guest_queue(ch, guest_id):
    """The agent's topic queue, flags of trove-wire §1."""
    import kombu
    ex = kombu.Exchange(harness.EXCHANGE, type="topic", durable=False, auto_delete=False)
    q = kombu.Queue("guestagent." + guest_id, ex, routing_key="guestagent." + guest_id,
                    durable=False, auto_delete=False)
    q(ch).declare()
    return q


def test_cast_from_real_api_lands_on_guest_queue(trove_rpc, conductor):
    other = harness.Trove(str(uuid.uuid4()), conductor)  # not the agent's guest
    with harness.kombu_connection() as conn:
        ch = conn.channel()
        q = _declare_guest_queue(ch, other.guest_id)
        try:
            user = harness.user_dict("itselfcheck", password="pw123",
                                     databases=["itselfcheckdb"])
            rid = other.cast_create_user([user])
            msg = None
            deadline = time.monotonic() + 10
            while msg is None and time.monotonic() < deadline:
                msg = q(ch).get(no_ack=True)
                time.sleep(0.05)
            assert msg is not None, "the cast never reached guestagent.<guest_id>"
            assert msg.delivery_info["exchange"] == "trove"
            assert msg.delivery_info["routing_key"] == "guestagent." + other.guest_id
            assert msg.properties["content_type"] == "application/json"
            env = json.loads(msg.body)
            assert env["oslo.version"] == "2.0"
            inner = json.loads(env["oslo.message"])
            assert inner["method"] == "create_user"
            assert inner["version"] == "1.0"
            assert "_msg_id" not in inner and "_reply_q" not in inner
            assert inner["args"] == {"users": [user]}
            assert inner["_context_request_id"] == rid
            n = inner["_context_trove_notification"]
            assert n["server_type"] == "guest"
            assert n["request_id"] == rid
            assert n["notification_classname"] == "trove.common.notification.DBaaSUserCreate"
            assert n["instance_id"] == other.guest_id
        finally:
            q(ch).delete()


def _guest_side_context(rid_holder, notification_cls=None):
    """A context as the guest agent sees it: serialized by Trove's client, then
    deserialized with Trove's context serializer."""
    from trove.common.rpc import serializer as sz
    from trove.common import notification as n
    ctx = harness.new_context()
    if notification_cls is not None:
        ctx.notification = notification_cls(ctx, request=harness.FakeRequest())
        ctx.notification.payload.update(instance_id="x", username="u")
        ctx.notification.server_type = "guest"
    rid_holder.append(ctx.request_id)
    s = sz.TroveRequestContextSerializer(None)
    return s.deserialize_context(json.loads(json.dumps(s.serialize_context(ctx))))


def test_conductor_accepts_real_trove_guest_notifications(trove_rpc, conductor):
    from trove.common import cfg
    from trove.common import notification as n
    from trove.conductor import api as conductor_api
    cfg.CONF.set_override("guest_id", "guest-selfcheck")

    rids = []
    ctx = _guest_side_context(rids, n.DBaaSUserCreate)
    conductor_api.API(ctx).notify_end()
    rec = conductor.wait_outcome(rids[-1], timeout=10)
    assert rec.method == "notify_end"
    assert rec.signature_error is None and rec.conductor_error is None, rec.describe()
    assert rec.request_id == rec.notification_request_id == rids[-1]
    assert rec.kwargs["notification_args"] == {}
    assert rec.kwargs["serialized_notification"]["notification_classname"] == \
        "trove.common.notification.DBaaSUserCreate"

    ctx = _guest_side_context(rids, n.DBaaSUserCreate)
    conductor_api.API(ctx).notify_exc_info("boom", ["Traceback: boom"])
    rec = conductor.wait_outcome(rids[-1], timeout=10)
    assert rec.method == "notify_exc_info"
    assert rec.signature_error is None and rec.conductor_error is None, rec.describe()
    assert rec.kwargs["serialized_notification"]["instance_id"] == "guest-selfcheck"
    assert rec.kwargs["message"] == "boom"


def test_conductor_accepts_real_trove_heartbeat(trove_rpc, conductor):
    from trove.conductor import api as conductor_api
    rids = []
    ctx = _guest_side_context(rids)
    sent = time.time()
    conductor_api.API(ctx).heartbeat("guest-selfcheck-hb", {"service_status": "healthy"},
                                     sent=sent)
    rec = conductor.wait(lambda r: r.method == "heartbeat" and
                         r.kwargs.get("instance_id") == "guest-selfcheck-hb", 10, "heartbeat")
    assert rec.signature_error is None
    assert rec.kwargs == {"instance_id": "guest-selfcheck-hb",
                          "payload": {"service_status": "healthy"}, "sent": sent}


def test_conductor_flags_a_notification_the_real_conductor_rejects(trove_rpc, conductor):
    """A notify_end without a usable serialized_notification: the real Manager fails,
    and the record says so (so agent tests can insist on conductor_error None)."""
    import oslo_messaging
    from trove import rpc
    from trove.common.rpc import serializer as sz
    rids = []
    ctx = _guest_side_context(rids)
    target = oslo_messaging.Target(topic=conductor.topic, version="1.0")
    client = oslo_messaging.get_rpc_client(
        rpc.TRANSPORT, target, serializer=sz.TroveRequestContextSerializer(None))
    client.cast(ctx, "notify_end", serialized_notification={"request_id": rids[-1]},
                notification_args={})
    rec = conductor.wait_outcome(rids[-1], timeout=10)
    assert rec.conductor_error is not None
