"""Capture real Trove 26 / oslo.messaging 18.3.1 message bodies on a real RabbitMQ.

The real Trove guest API client (trove.guestagent.api.API) and conductor API
(trove.conductor.api.API) talk to a real oslo RPC server configured like Trove's
Python guest agent (trove.rpc.get_server's serializers); every publish is recorded
as the exact bytes kombu puts on the wire. Needs RabbitMQ on 127.0.0.1:5672
(guest/guest) and the venv described in make_vectors.py:

    /tmp/pyvenv/bin/python src/rpc/testdata/capture_wire.py the-instance-key \
        src/rpc/testdata/wire_encrypted.json
    /tmp/pyvenv/bin/python src/rpc/testdata/capture_wire.py none \
        src/rpc/testdata/wire_plaintext.json
"""
import json, sys, threading, time, uuid
import kombu.messaging

RECORDS = []
_orig_publish = kombu.messaging.Producer.publish
def publish(self, body, routing_key=None, **kw):
    from kombu import serialization
    ct, enc, data = serialization.dumps(body, kw.get('serializer') or self.serializer)
    RECORDS.append({'routing_key': routing_key, 'exchange': str(getattr(kw.get('exchange'), 'name', kw.get('exchange'))),
                    'content_type': ct, 'content_encoding': enc,
                    'body': data if isinstance(data, str) else data.decode()})
    return _orig_publish(self, body, routing_key=routing_key, **kw)
kombu.messaging.Producer.publish = publish

from oslo_config import cfg
import trove.common.cfg  # registers options
CONF = cfg.CONF
CONF(args=[], project='trove')
import oslo_messaging.transport as _t
CONF.register_opts(_t._transport_opts)
KEY = sys.argv[1] if len(sys.argv) > 1 else 'the-instance-key'
if KEY == 'none': KEY = None
OUT = sys.argv[2] if len(sys.argv) > 2 else '/tmp/vec/captured.json'
GUEST = 'f0e1d2c3-vector-' + uuid.uuid4().hex[:8]
CONF.set_override('transport_url', 'rabbit://guest:guest@127.0.0.1:5672/')
CONF.set_override('control_exchange', 'trove')
CONF.set_override('agent_call_low_timeout', 5)
CONF.set_override('agent_call_high_timeout', 5)
CONF.set_override('guest_id', GUEST)
CONF.set_override('instance_rpc_encr_key', KEY)

import oslo_messaging as messaging
from oslo_messaging.rpc import dispatcher
from trove import rpc
from trove.common import exception
from trove.common.context import TroveContext
from trove.common import notification
from trove.common.rpc import secure_serializer as ssz, serializer as sz
import trove.instance.models as models
models.get_instance_encryption_key = lambda instance_id: KEY
rpc.init(CONF)

class Endpoint:
    target = messaging.Target(version='1.3')
    def get_user(self, ctx, username, hostname):
        return {'_name': username, '_host': hostname, '_password': None, '_databases': [], '_is_root': False}
    def list_access(self, ctx, username, hostname):
        raise exception.UserNotFound("User %s@%s cannot be found on the instance." % (username, hostname))
    def slow(self, ctx):
        time.sleep(2.5)
        return 'done'
    def create_user(self, ctx, users):
        RECORDS.append({'server_saw_context': ctx.to_dict(), 'server_saw_users': users})

server = messaging.get_rpc_server(
    rpc.TRANSPORT, messaging.Target(topic='guestagent.' + GUEST, server=GUEST),
    [Endpoint()], executor='threading',
    serializer=ssz.SecureSerializer(sz.TroveRequestContextSerializer(None), KEY),
    access_policy=dispatcher.DefaultRPCAccessPolicy)
server.start()
time.sleep(1)

from trove.guestagent import api as gapi
ctx = TroveContext(request_id='req-11111111-2222-3333-4444-555555555555', project_id='proj', user_id='usr', roles=['admin'])
ctx.notification = notification.DBaaSUserCreate(ctx, request=type('R', (), {'remote_addr': '10.0.0.9', 'host': 'api.example:8779'})())
api = gapi.API(ctx, GUEST)
out = {'guest_id': GUEST, 'key': KEY}
out['get_user_result'] = api.get_user('alice', '%')
try:
    api.list_access('bob', '%')
except Exception as e:
    out['list_access_error'] = [type(e).__name__, str(e)]
api.create_user([{'_name': 'carol', '_host': '%', '_password': 's3cret', '_databases': []}])
try:
    api._call('no_such_thing', 5, '1.0')
except Exception as e:
    out['nosuch_error'] = [type(e).__name__, str(e)]
try:
    api._call('get_user', 5, '2.0', username='x', hostname='%')
except Exception as e:
    out['badversion_error'] = [type(e).__name__, str(e)]
raw = messaging.get_rpc_client(rpc.TRANSPORT, messaging.Target(topic='guestagent.' + GUEST, version='2.0'),
    serializer=ssz.SecureSerializer(sz.TroveRequestContextSerializer(None), KEY))
try:
    raw.call(ctx, 'get_user', username='x', hostname='%')
except Exception as e:
    out['v2_error'] = [type(e).__name__, str(e)]
raw = messaging.get_rpc_client(rpc.TRANSPORT, messaging.Target(topic='guestagent.' + GUEST, version='1.0'),
    serializer=ssz.SecureSerializer(sz.TroveRequestContextSerializer(None), KEY), call_monitor_timeout=2, timeout=10)
out['slow'] = raw.call(ctx, 'slow')
time.sleep(1)
from trove.conductor import api as capi
c = capi.API(ctx)
c.notify_end()
c.notify_exc_info('it broke', ['line one', 'line two'])
c.heartbeat(GUEST, {'service_status': 'healthy'}, sent=1730000000.5)
time.sleep(0.5)
server.stop(); server.wait()
# Name each body by what it is: requests by method, replies by the request they answer.
methods = {}
named = {}
for r in RECORDS:
    if 'body' not in r:
        out['server_saw'] = r
        continue
    inner = json.loads(json.loads(r['body'])['oslo.message'])
    if 'method' in inner:
        name = 'request_' + inner['method'] + ('_v' + inner['version'].replace('.', '_') if inner.get('version') != '1.0' else '')
        if '_msg_id' in inner:
            methods[inner['_msg_id']] = name[len('request_'):]
    else:
        name = 'reply_' + methods[inner['_msg_id']] + ('' if inner['ending'] else '_heartbeat')
    r['name'] = name
    if name not in named:
        named[name] = r
out['messages'] = named
json.dump(out, open(OUT, 'w'), indent=1, default=str, ensure_ascii=True)
print('ok', len(RECORDS))
