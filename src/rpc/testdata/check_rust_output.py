"""Read what the Rust rpc module writes with the REAL Trove 26 / oslo.messaging code.

    GUESTAGENT_RPC_INTEROP_OUT=/tmp/rust_rpc.json \\
        cargo test --lib write_interop_sample -- --ignored
    /tmp/pyvenv/bin/python src/rpc/testdata/check_rust_output.py /tmp/rust_rpc.json

(venv as in make_vectors.py). Replies go through oslo's own reply path
(RabbitMessage -> ReplyWaiter -> wait, which rebuilds remote exceptions) and then
Trove's SecureSerializer, as trove.guestagent.api.API._call receives them. Casts
go through RabbitMessage -> unpack_context -> RPCDispatcher with Trove's
ConductorHostSerializer into the real trove.conductor.manager.Manager, as the
trove-conductor service runs it. Exits non-zero on the first mismatch.
"""
import json
import sys
import types

import kombu.message
from oslo_config import cfg
import trove.common.cfg  # noqa: F401
CONF = cfg.CONF
CONF(args=[], project='trove')

import oslo_messaging as messaging
from oslo_messaging._drivers import amqp as rpc_amqp
from oslo_messaging._drivers import amqpdriver
from oslo_messaging._drivers import impl_rabbit
from oslo_messaging.rpc import dispatcher as rpc_dispatcher
from trove import rpc
from trove.common import exception
from trove.common.rpc import conductor_host_serializer as chs
from trove.common.rpc import secure_serializer as ssz
from trove.common.rpc import serializer as sz
from trove.conductor import manager as conductor_manager

# The conductor's notifications need a notifier; oslo's in-memory fake transport
# with no notification driver discards them.
import oslo_messaging.transport as _transport
CONF.register_opts(_transport._transport_opts)
CONF.set_override('transport_url', 'fake:/')
rpc.init(CONF)

KEYS = {}
chs.get_instance_encryption_key = lambda instance_id: KEYS[instance_id]


class Raw(kombu.message.Message):
    def ack(self, *a, **kw):
        pass


def rabbit_message(body):
    raw = Raw(body=body.encode(), content_type='application/json',
              content_encoding='utf-8', channel=None)
    return impl_rabbit.RabbitMessage(raw)


def reply_result(body, key, msg_id, heartbeat_first=None):
    waiter = amqpdriver.ReplyWaiter.__new__(amqpdriver.ReplyWaiter)
    waiter.allowed_remote_exmods = rpc.get_allowed_exmods()
    waiter.msg_id_cache = rpc_amqp._MsgIdCache()
    waiter.waiters = amqpdriver.ReplyWaiters()
    waiter.listen(msg_id)
    if heartbeat_first:
        waiter(rabbit_message(heartbeat_first))
    waiter(rabbit_message(body))
    result = waiter.wait(msg_id, 5, 10 if heartbeat_first else None, 'reply_q')
    # The next lines of AMQPDriverBase._send and the RPC client's call():
    if isinstance(result, Exception):
        raise result
    serializer = ssz.SecureSerializer(sz.TroveRequestContextSerializer(None), key)
    return serializer.deserialize_entity(None, result)


class Conductor(conductor_manager.Manager):
    seen = []

    def heartbeat(self, context, instance_id, payload, sent=None):
        self.seen.append(('heartbeat', context, dict(instance_id=instance_id, payload=payload, sent=sent)))

    def notify_end(self, context, serialized_notification, notification_args):
        self.seen.append(('notify_end', context, dict(serialized_notification=serialized_notification)))
        super().notify_end(context, serialized_notification, notification_args)


def conduct(body):
    message = rabbit_message(body)
    ctxt = rpc_amqp.unpack_context(message)
    rpc_amqp._MsgIdCache().check_duplicate_message(message)
    serializer = chs.ConductorHostSerializer(sz.TroveRequestContextSerializer(None), None)
    endpoint = Conductor()
    disp = rpc_dispatcher.RPCDispatcher([endpoint], serializer, rpc_dispatcher.DefaultRPCAccessPolicy)
    incoming = types.SimpleNamespace(message=message, ctxt=ctxt.to_dict(), client_timeout=None)
    disp.dispatch(incoming)
    return Conductor.seen.pop()


def check(cond, what):
    if not cond:
        print('MISMATCH:', what)
        sys.exit(1)
    print('ok:', what)


data = json.load(open(sys.argv[1]))
for label, d in data.items():
    key, guest = d['key'], d['guest_id']
    KEYS[guest] = key
    got = reply_result(d['reply_user'], key, 'm-user')
    check(got == d['user'], f'{label}: result decrypted/decoded by oslo+SecureSerializer')
    check(reply_result(d['reply_null'], key, 'm-null') is None, f'{label}: null result')
    try:
        reply_result(d['reply_user_not_found'], key, 'm-unf')
        check(False, 'UserNotFound raised')
    except exception.UserNotFound as e:
        check(type(e).__name__ == 'UserNotFound_Remote', f'{label}: rebuilt as trove UserNotFound')
        check(str(e).startswith('User x@% cannot be found on the instance.\n'), f'{label}: message {str(e)!r}')
    try:
        reply_result(d['reply_no_such_method'], key, 'm-nsm')
        check(False, 'NoSuchMethod raised')
    except messaging.RemoteError as e:
        check(e.exc_type == 'NoSuchMethod' and 'frobnicate' in e.value, f'{label}: NoSuchMethod as RemoteError')

    name, ctx, args = conduct(d['cast_notify_end'])
    check(name == 'notify_end' and ctx.request_id == 'req-rust', f'{label}: notify_end context')
    check(type(ctx.notification).__name__ == 'DBaaSUserCreate', f'{label}: conductor rebuilt the notification')
    name, ctx, args = conduct(d['cast_heartbeat'])
    check(args == {'instance_id': guest, 'payload': {'service_status': 'healthy'}, 'sent': 1730000000.25},
          f'{label}: heartbeat args {args}')
print('all Rust output read correctly by the real Python peers')
