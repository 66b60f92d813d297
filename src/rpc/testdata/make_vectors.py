"""Produce src/rpc/testdata/trove_vectors.json with the REAL Trove 26 code.

Run in a virtualenv holding the real packages:
    python3 -m venv /tmp/pyvenv
    /tmp/pyvenv/bin/pip install -c ../shared/interop/constraints.txt trove oslo.messaging
    /tmp/pyvenv/bin/python src/rpc/testdata/make_vectors.py > src/rpc/testdata/trove_vectors.json

Nothing is reimplemented: IVs are made deterministic by replacing os.urandom,
then trove.common.crypto_utils / SecureSerializer / ConductorGuestSerializer and
oslo's serialize_remote_exception / json.dumps produce the bytes.
"""
import json
import os
import sys

from oslo_config import cfg
import trove.common.cfg  # noqa: F401  registers guest_id
from trove.common import crypto_utils as cu
from trove.common.rpc import conductor_guest_serializer as cgs
from trove.common.rpc import secure_serializer as ssz
from oslo_serialization import jsonutils

CONF = cfg.CONF
CONF(args=[], project='trove')
GUEST = '5f1d6d1c-2f5c-4b8e-9a51-6b0e2f6f4e11'
CONF.set_override('guest_id', GUEST)


def fixed_iv(iv):
    os.urandom = lambda n: iv[:n]


out = {'guest_id': GUEST, 'crypto': [], 'entities': [], 'conductor_entities': [],
       'floats': [], 'strings': [], 'trove_lenient_decrypt': []}

keys = ['the-instance-key', 'clé-ünïcode-ключ', '', 'x' * 100]
plaintexts = ['', 'a', '0123456789abcde', '0123456789abcdef', '0123456789abcdefg',
              '{"a": "\\u00e9"}', 'x' * 33]
for k in keys:
    for i, pt in enumerate(plaintexts):
        iv = bytes((i * 17 + j) % 256 for j in range(16))
        fixed_iv(iv)
        blob = cu.encode_data(cu.encrypt_data(pt, k))
        out['crypto'].append({'key': k, 'iv_hex': iv.hex(), 'plaintext': pt, 'blob': blob})

values = [None, True, 0, -7, 3.25, 'alice', '%', 's3cr\u00e9t "quoted" \\ \n',
          [1, 'two', None], {'_databases': [{'_name': 'db'}], '_host': '%', '_name': 'u', '_password': 'p'}]
ser = ssz.SecureSerializer(None, 'the-instance-key')
# Dicts below list their keys sorted, for the same reason.
for i, v in enumerate(values):
    iv = bytes([0xA0 + i] * 16)
    fixed_iv(iv)
    out['entities'].append({'key': 'the-instance-key', 'iv_hex': iv.hex(), 'value': v,
                            'plaintext': jsonutils.dumps(v),
                            'blob': ser.serialize_entity(None, v)})

cser = cgs.ConductorGuestSerializer(None, 'the-instance-key')
for i, v in enumerate([{'service_status': 'healthy'}, 'it broke', ['a', 'b']]):
    iv = bytes([0x50 + i] * 16)
    fixed_iv(iv)
    out['conductor_entities'].append({'key': 'the-instance-key', 'iv_hex': iv.hex(),
                                      'value': v, 'wire': cser.serialize_entity(None, v)})
iv = bytes([0x77] * 16)
fixed_iv(iv)
# Keys in sorted order: a Python dict keeps insertion order, the Rust map sorts,
# and the encrypted bytes can only match if the plaintexts do.
ctx = {'auth_token': None, 'request_id': 'req-1', 'roles': ['admin']}
out['conductor_context'] = {'key': 'the-instance-key', 'iv_hex': iv.hex(), 'context': ctx,
                            'wire': cser.serialize_context(ctx)}

for f in [0.0, -0.0, 1.0, 0.5, 3.25, 1730000000.5, 1730000000.123456, 1e16, 1.5e16,
          1234567890123456.0, 9007199254740993.0, 1e-4, 1e-5, 1.25e-7, 123e300, 5e-324,
          0.1, 1 / 3, -2.5e-10, 1e22, 100.0]:
    out['floats'].append({'value': f, 'dumps': json.dumps(f)})
for s in ['plain', 'quote " back \\ slash', 'ctl \x00\x01\x1f\x7f', 'nl \n cr \r tab \t bs \b ff \f',
          'é ü ключ', '😀 astral', '\u2028\u2029', '/ slash']:
    out['strings'].append({'value': s, 'dumps': jsonutils.dumps(s)})

# What Trove itself does with a blob it cannot decrypt: SecureSerializer treats it as
# plaintext and hands the blob through unchanged (this project refuses instead).
wrong = ssz.SecureSerializer(None, 'some-other-key')
for e in out['entities'][:4]:
    got = wrong.deserialize_entity(None, e['blob'])
    out['trove_lenient_decrypt'].append({'blob': e['blob'], 'trove_returns': got})

json.dump(out, sys.stdout, indent=1, ensure_ascii=True)
