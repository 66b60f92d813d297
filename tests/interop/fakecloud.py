"""Fake nova, cinder and glance for Trove 26's own control plane in the interop
suite (controlplane.py, test_control_plane.py): trove-api, trove-taskmanager and
trove-conductor run as three processes, everything around them is fake, and
only the guest agent is real.

Wired in through Trove's own options (trove.conf ``[DEFAULT]``, imported by
Trove with ``importutils.import_class`` and called ``(context, region_name)``):

    remote_nova_client    = fakecloud.nova_client
    remote_cinder_client  = fakecloud.cinder_client
    remote_glance_client  = fakecloud.glance_client
    remote_neutron_client = fakecloud.neutron_client   (Trove's own fake, below)

``remote_guest_client`` is left at Trove's default: the guest RPC is real.

Why not Trove's own ``trove.tests.fakes.nova``?  It ships in the trove 26.0.0
wheel, and the suite does use Trove's fake neutron
(``trove.tests.fakes.neutron.FakeNeutronClient``) and fake keystone
(``trove.tests.fakes.keystone``, in the api-paste.ini), but its nova cannot
drive Trove 26's control plane:

* ``FakeServers.create()`` takes no ``tags`` and no ``meta`` arguments, and Trove
  26's taskmanager (``FreshInstanceTasks._create_server``) passes both: every
  instance create fails with ``TypeError: FakeServers.create() got an
  unexpected keyword argument 'tags'``;
* it keeps servers and volumes in module-level dicts (``FAKE_SERVERS_DB``,
  ``FAKE_VOLUMES_DB``), i.e. per process: trove-api never sees the server the
  taskmanager (another process) created, so instance show reports it
  ``SHUTDOWN`` and every user/database call fails "Instance ... is not ready"
  (``trove-fake-mode`` avoids this only by running the taskmanager inside the
  API process with Trove's fake guest, which is not what is tested here);
* its servers go to status ``HEALTHY``, which is not a nova server status:
  Trove 26's API (``SimpleInstance.status``) then shows the instance as
  ``UNKNOWN`` and never gives it an ``operating_status``; real nova says
  ``ACTIVE``;
* its nova client has no ``api_version``, which ``trove-manage db_sync``'s
  upgrade task (``set_nova_tags``) reads;
* there is no glance fake at all (``instance create`` calls
  ``glance.images.get(image_id)``), and its cinder is the same per-process dict.

So this module keeps servers and volumes as JSON files under
``$GUESTAGENT_FAKECLOUD_STATE`` (a directory in the test's temp dir, shared by
the three processes), and on ``servers.create`` writes the files Trove injects
into the new server (Trove 26 hands them over as cloud-init ``write_files`` in
the userdata, not as nova ``files``) to

    $GUESTAGENT_FAKECLOUD_STATE/injected/<trove instance id>/conf.d/<basename>  (0600)
    $GUESTAGENT_FAKECLOUD_STATE/injected/<trove instance id>/userdata.yaml
    $GUESTAGENT_FAKECLOUD_STATE/injected/<trove instance id>/server_create.json

where the test starts the guest agent on them (``--trove-config``).  A server is
``BUILD`` for one second, then ``ACTIVE``; a volume is ``available`` at once;
``servers.get`` of a missing id raises ``NotFound(404, "Not found")``, the text
Trove's ``_service_is_active`` compares.
"""

import base64
import json
import os
import time
import uuid

import yaml
from novaclient import api_versions
from novaclient import exceptions as nova_exceptions

FAKE_IMAGE_ID = "00000000-0000-4000-8000-00000000cafe"
# Seconds a new server stays in BUILD before it is ACTIVE (real nova: boot).
BUILD_SECONDS = 1.0


def _state_dir():
    state = os.environ.get("GUESTAGENT_FAKECLOUD_STATE")
    if not state:
        raise RuntimeError("GUESTAGENT_FAKECLOUD_STATE is not set (the directory "
                           "the fake cloud keeps its servers and volumes in)")
    return state


def _dir(*parts):
    d = os.path.join(_state_dir(), *parts)
    os.makedirs(d, exist_ok=True)
    return d


def _write_json(path, obj):
    tmp = "%s.%s.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True, default=str)
    os.replace(tmp, path)


def _read_json(path):
    with open(path) as f:
        return json.load(f)


class _Obj(object):
    def __init__(self, info):
        self._info = info
        for k, v in info.items():
            setattr(self, k, v)

    def to_dict(self):
        return dict(self._info)

    def get(self, key, default=None):
        return getattr(self, key, default)

    def __getitem__(self, key):
        return self._info[key]


# ----------------------------------------------------------------- nova ---

def _flavor(fid, name, ram, disk, vcpus=1, ephemeral=0):
    return {"id": str(fid), "name": name, "ram": ram, "disk": disk,
            "vcpus": vcpus, "ephemeral": ephemeral,
            "OS-FLV-EXT-DATA:ephemeral": ephemeral, "swap": "",
            "rxtx_factor": 1.0, "os-flavor-access:is_public": True,
            "links": []}


FLAVORS = {f["id"]: f for f in [
    _flavor(1, "m1.tiny", 512, 1),
    _flavor(2, "m1.small", 2048, 20),
    _flavor(10, "ds1G", 1024, 10),
]}


class FakeFlavors(object):
    def get(self, flavor_id):
        f = FLAVORS.get(str(flavor_id))
        if f is None:
            raise nova_exceptions.NotFound(404, "Flavor %s not found" % flavor_id)
        return _Obj(f)

    def list(self, *a, **kw):
        return [_Obj(f) for f in FLAVORS.values()]


class FakeServer(_Obj):
    def __init__(self, manager, info):
        self._manager = manager
        info = dict(info)
        if info.get("_status"):
            status = info["_status"]
        elif time.time() - info["created_ts"] >= BUILD_SECONDS:
            status = "ACTIVE"
        else:
            status = "BUILD"
        info["status"] = status
        super(FakeServer, self).__init__(info)
        setattr(self, "OS-EXT-AZ:availability_zone",
                info.get("availability_zone") or "nova")
        setattr(self, "OS-EXT-STS:vm_state", status.lower())

    def delete(self):
        self._manager.delete(self.id)

    def reboot(self, *a, **kw):
        pass

    def stop(self):
        self._manager.stop(self.id)

    def start(self):
        self._manager.start(self.id)


class FakeServers(object):
    def __init__(self, context):
        self.context = context

    def _path(self, server_id):
        return os.path.join(_dir("servers"), "%s.json" % server_id)

    def create(self, name, image, flavor, meta=None, files=None,
               userdata=None, **kwargs):
        sid = "fake-server-%s" % uuid.uuid4()
        meta = meta or {}
        trove_id = meta.get("trove_instance_id") or sid
        info = {
            "id": sid, "name": name, "image": {"id": image},
            "flavor": {"id": str(flavor)}, "metadata": meta,
            "tenant_id": getattr(self.context, "project_id", None),
            "created_ts": time.time(), "created": "2025-01-01T00:00:00Z",
            "updated": "2025-01-01T00:00:00Z", "addresses": {},
            "host": "fake-host",
            "availability_zone": kwargs.get("availability_zone"),
            "key_name": kwargs.get("key_name"), "fault": {},
            "trove_instance_id": trove_id, "_status": None,
            "tags": kwargs.get("tags") or [],
        }
        # The injected files first: the server "exists" once they are there.
        _capture(trove_id, name, image, flavor, meta, files, userdata, kwargs)
        _write_json(self._path(sid), info)
        return FakeServer(self, info)

    def get(self, server_id):
        server_id = getattr(server_id, "id", server_id)
        p = self._path(server_id)
        if not server_id or not os.path.exists(p):
            # "Not found" is what Trove's _service_is_active compares with.
            raise nova_exceptions.NotFound(404, "Not found")
        return FakeServer(self, _read_json(p))

    def _set(self, server_id, **values):
        info = _read_json(self._path(server_id))
        info.update(values)
        _write_json(self._path(server_id), info)

    def list(self, *a, **kw):
        d = _dir("servers")
        return [FakeServer(self, _read_json(os.path.join(d, fn)))
                for fn in sorted(os.listdir(d)) if fn.endswith(".json")]

    def delete(self, server_id):
        server_id = getattr(server_id, "id", server_id)
        try:
            os.unlink(self._path(server_id))
        except FileNotFoundError:
            raise nova_exceptions.NotFound(404, "Not found")

    def set_tags(self, server_id, tags):
        self._set(getattr(server_id, "id", server_id), tags=list(tags))

    def stop(self, server_id):
        self._set(getattr(server_id, "id", server_id), _status="SHUTOFF")

    def start(self, server_id):
        self._set(getattr(server_id, "id", server_id), _status=None)

    def reboot(self, *a, **kw):
        pass


class FakeServerGroups(object):
    def create(self, name=None, policies=None, policy=None, rules=None):
        return _Obj({"id": "fake-sg-%s" % uuid.uuid4(), "name": name,
                     "policies": policies or [policy]})

    def get(self, sg_id):
        raise nova_exceptions.NotFound(404, "Not found")

    def delete(self, sg_id):
        pass

    def list(self, *a, **kw):
        return []


class FakeVolumeAttachments(object):
    """nova's server-volume API (volumes.delete_server_volume on detach)."""

    def delete_server_volume(self, server_id, volume_id):
        pass

    def create_server_volume(self, server_id, volume_id, device=None):
        return _Obj({"id": volume_id, "serverId": server_id, "device": device})


class FakeNova(object):
    def __init__(self, context):
        self.context = context
        self.flavors = FakeFlavors()
        self.servers = FakeServers(context)
        self.server_groups = FakeServerGroups()
        self.volumes = FakeVolumeAttachments()
        # trove-manage db_sync's upgrade task (set_nova_tags) checks this.
        self.api_version = api_versions.APIVersion("2.96")


def _capture(trove_id, name, image, flavor, meta, files, userdata, kwargs):
    """Write what Trove hands nova for the new server: the guest's injected
    config files (cloud-init write_files in the userdata), each 0600 (the agent
    refuses a secret-holding file others can read)."""
    base = _dir("injected", trove_id)
    conf_d = _dir("injected", trove_id, "conf.d")
    record = {"name": name, "image": image, "flavor": flavor, "meta": meta,
              "files": sorted(files or {}), "kwargs": kwargs, "written": []}

    def write(path, content):
        target = os.path.join(conf_d, os.path.basename(path))
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(content)
        os.chmod(target, 0o600)
        return target

    if userdata:
        with open(os.path.join(base, "userdata.yaml"), "w") as f:
            f.write(userdata)
        doc = yaml.safe_load(userdata) or {}
        for wf in doc.get("write_files", []):
            content = wf.get("content", "")
            if wf.get("encoding") in ("b64", "base64"):
                content = base64.b64decode(content).decode("utf-8")
            record["written"].append({"path": wf["path"], "owner": wf.get("owner"),
                                      "saved_as": write(wf["path"], content)})
    for path, content in (files or {}).items():   # nova "personality" files
        if not isinstance(content, str):
            content = content.decode("utf-8")
        record["written"].append({"path": path, "saved_as": write(path, content)})
    _write_json(os.path.join(base, "server_create.json"), record)


def nova_client(context, region_name=None, password=None):
    return FakeNova(context)


# --------------------------------------------------------------- cinder ---

class FakeVolume(_Obj):
    def __init__(self, manager, info):
        self._manager = manager
        super(FakeVolume, self).__init__(info)

    def delete(self):
        self._manager.delete(self.id)


class FakeVolumes(object):
    def _path(self, vid):
        return os.path.join(_dir("volumes"), "%s.json" % vid)

    def create(self, size, name=None, description=None, volume_type=None,
               availability_zone=None, snapshot_id=None, imageRef=None, **kw):
        vid = "fake-vol-%s" % uuid.uuid4()
        info = {"id": vid, "size": int(size), "name": name,
                "description": description, "volume_type": volume_type,
                "availability_zone": availability_zone or "nova",
                "status": "available", "attachments": [],
                "created_at": "2025-01-01T00:00:00"}
        _write_json(self._path(vid), info)
        return FakeVolume(self, info)

    def get(self, vid):
        vid = getattr(vid, "id", vid)
        p = self._path(vid)
        if not vid or not os.path.exists(p):
            raise nova_exceptions.NotFound(404, "Not found")
        return FakeVolume(self, _read_json(p))

    def list(self, search_opts=None, **kw):
        name = (search_opts or {}).get("name")
        d = _dir("volumes")
        out = []
        for fn in sorted(os.listdir(d)):
            if fn.endswith(".json"):
                v = _read_json(os.path.join(d, fn))
                if name is None or v.get("name") == name:
                    out.append(FakeVolume(self, v))
        return out

    def delete(self, vid):
        try:
            os.unlink(self._path(getattr(vid, "id", vid)))
        except FileNotFoundError:
            pass

    def extend(self, vid, new_size):
        vid = getattr(vid, "id", vid)
        info = _read_json(self._path(vid))
        info["size"] = int(new_size)
        _write_json(self._path(vid), info)


class FakeCinder(object):
    def __init__(self, context):
        self.context = context
        self.volumes = FakeVolumes()


def cinder_client(context, region_name=None):
    return FakeCinder(context)


# --------------------------------------------------------------- glance ---

class FakeImages(object):
    def get(self, image_id):
        return _Obj({"id": image_id, "status": "active", "checksum": "fake",
                     "name": "fake-trove-guest"})

    def list(self, filters=None, **kw):
        return [{"id": FAKE_IMAGE_ID, "status": "active"}]


class FakeGlance(object):
    def __init__(self, context):
        self.images = FakeImages()


def glance_client(context, region_name=None):
    return FakeGlance(context)


# -------------------------------------------------------------- neutron ---

def neutron_client(context, region_name=None):
    """Trove's own fake neutron (stateless; enough without network isolation)."""
    from trove.tests.fakes.neutron import FakeNeutronClient
    return FakeNeutronClient(context)
