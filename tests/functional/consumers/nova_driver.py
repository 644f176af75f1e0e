"""Run Nova's own image code against this service; executed by Nova's venv (tools/nova.sh).

Usage: python nova_driver.py '<json>' where the JSON names the action and its inputs:

  {"action": "fetch_to_raw", "api": URL, "keystone": URL, "token": T, "project_id": P,
   "user_id": U, "image_id": ID, "dest": PATH, "verify_signatures": bool}
      nova.virt.images.fetch_to_raw, as the libvirt driver calls it before a boot: Nova's
      glance client downloads (glanceclient checks os_hash_value while it reads), Nova's
      signature check when asked, Nova's deep format inspection, qemu-img convert to raw.

  {"action": "snapshot", ..., "name": N, "source": PATH, "properties": {...}}
      nova.image.glance.API().create with data, as the compute manager's snapshot does:
      the image record with Nova's properties, then the upload.

  {"action": "snapshot_volume_backed", ..., "name": N, "properties": {...}}
      the zero-byte image of a volume-backed server snapshot (block_device_mapping).

  "ceph_conf": PATH (with fetch_to_raw) turns on ``[glance] enable_rbd_download``: Nova
      exports the image straight from this service's RBD location (Nova 34's direct path;
      ``allowed_direct_url_schemes`` and its file handler are gone from Nova).

  {"action": "rbd_clone", ..., "ceph_conf": PATH, "pool": POOL, "instance": UUID}
      the libvirt driver's RBD image backend (``images_type = rbd``) cloning an instance
      disk from the image's RBD location (``Rbd.clone``), copy-on-write, no download.

Prints one JSON line: {"ok": true, ...} or {"ok": false, "error": class, "message": text}.
"""
import json
import logging
import sys


def _catalog(args):
    """The caller's catalog in the v2 form keystonemiddleware hands Nova's api
    (X-Service-Catalog), from which Nova's context finds Barbican."""
    import requests
    resp = requests.get(args["keystone"] + "/v3/auth/catalog", timeout=60,
                        headers={"X-Auth-Token": args["token"]})
    resp.raise_for_status()
    out = []
    for service in resp.json()["catalog"]:
        regions = {}
        for ep in service["endpoints"]:
            regions.setdefault(ep.get("region_id") or ep.get("region"), {})[
                ep["interface"] + "URL"] = ep["url"]
        out.append({"type": service["type"], "name": service.get("name", ""),
                    "endpoints": [dict(urls, region=region)
                                  for region, urls in regions.items()]})
    return out


def _context(args):
    from nova import context
    return context.RequestContext(user_id=args["user_id"], project_id=args["project_id"],
                                  auth_token=args["token"], is_admin=False,
                                  service_catalog=_catalog(args))


def _configure(args):
    import nova.conf
    from nova import objects
    conf = nova.conf.CONF
    conf([], project="nova", default_config_files=[])
    conf.set_override("api_servers", [args["api"]], group="glance")
    conf.set_override("verify_glance_signatures", bool(args.get("verify_signatures")),
                      group="glance")
    conf.set_override("backend", "barbican", group="key_manager")
    conf.set_override("auth_endpoint", args["keystone"] + "/v3", group="barbican")
    conf.set_override("instances_path", args.get("instances_path", "/tmp"))
    if args.get("ceph_conf"):
        conf.set_override("enable_rbd_download", True, group="glance")
        conf.set_override("rbd_ceph_conf", args["ceph_conf"], group="glance")
        conf.set_override("rbd_pool", "images", group="glance")
        conf.set_override("images_type", "rbd", group="libvirt")
        conf.set_override("images_rbd_pool", args.get("pool", "vms"), group="libvirt")
        conf.set_override("images_rbd_ceph_conf", args["ceph_conf"], group="libvirt")
    objects.register_all()
    return conf


class _Messages(logging.Handler):
    """Keeps what Nova logs, to tell which transfer path it took."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def fetch_to_raw(args):
    from nova.virt import images
    images.fetch_to_raw(_context(args), args["image_id"], args["dest"])
    return {"dest": args["dest"]}


def rbd_clone(args):
    import types
    from nova.virt.libvirt import imagebackend
    disk = imagebackend.Rbd(instance=types.SimpleNamespace(uuid=args["instance"]),
                            disk_name="disk")
    disk.clone(_context(args), args["image_id"])
    return {"rbd_name": disk.rbd_name, "pool": disk.driver.pool}


def snapshot(args):
    from nova.image import glance
    api = glance.API()
    ctx = _context(args)
    meta = {"name": args["name"], "disk_format": "raw", "container_format": "bare",
            "properties": args.get("properties", {})}
    image = api.create(ctx, meta)   # the record first, as the compute API does
    with open(args["source"], "rb") as data:
        meta = dict(meta, properties=dict(meta["properties"]))
        updated = api.update(ctx, image["id"], meta, data)
    return {"id": image["id"], "status": updated["status"], "size": updated["size"]}


def snapshot_volume_backed(args):
    from nova.image import glance
    api = glance.API()
    meta = {"name": args["name"], "disk_format": "raw", "container_format": "bare",
            "size": 0, "properties": args["properties"]}
    image = api.create(_context(args), meta)
    return {"id": image["id"], "status": image["status"], "size": image["size"],
            "properties": image["properties"]}


def main():
    args = json.loads(sys.argv[1])
    messages = _Messages()
    logging.getLogger("nova").addHandler(messages)
    logging.getLogger("nova").setLevel(logging.INFO)
    try:
        _configure(args)
        out = {"fetch_to_raw": fetch_to_raw, "snapshot": snapshot, "rbd_clone": rbd_clone,
               "snapshot_volume_backed": snapshot_volume_backed}[args["action"]](args)
        print(json.dumps({"ok": True, "log": messages.lines, **out}, default=str))
    except Exception as e:  # noqa: BLE001 - reported to the test as data
        print(json.dumps({"ok": False, "error": type(e).__name__, "message": str(e)}))


if __name__ == "__main__":
    main()
