"""Run by real Glance 33's interpreter: write and read images with Glance's own DB API.

Usage: python glance33_dbapi.py URL NEW_IMAGE_ID OTHER_IMAGE_ID
Creates NEW_IMAGE_ID (properties, tags, a location, a member) and prints, as JSON, what
Glance reads back for OTHER_IMAGE_ID (an image our ImageRepo wrote).
"""

import json
import sys

from oslo_config import cfg
from oslo_db import options as db_options

import glance.context
from glance.db.sqlalchemy import api


def _create(ctx, image_id):
    api.image_create(ctx, {
        "id": image_id, "name": "from-glance", "status": "active", "visibility": "private",
        "owner": "p1", "disk_format": "qcow2", "container_format": "bare", "size": 123,
        "virtual_size": 456, "checksum": "c" * 32, "os_hash_algo": "sha512",
        "os_hash_value": "h" * 128, "min_ram": 1, "min_disk": 2, "protected": True,
        "properties": {"hw_disk_bus": "scsi", "os_distro": "cirros"},
        "locations": [{"url": "file:///var/lib/glance/images/%s" % image_id,
                       "metadata": {"store": "fast"}, "status": "active"}],
    })
    api.image_tag_create(ctx, image_id, "t1")
    api.image_tag_create(ctx, image_id, "t2")
    api.image_member_create(ctx, {"image_id": image_id, "member": "p2"})


def _read(ctx, image_id):
    image = api.image_get(ctx, image_id)
    return {
        "name": image["name"], "status": image["status"], "owner": image["owner"],
        "visibility": image["visibility"], "size": image["size"],
        "properties": {p["name"]: p["value"] for p in image["properties"]
                       if not p["deleted"]},
        "tags": api.image_tag_get_all(ctx, image_id),
        "locations": [{"url": loc["url"], "metadata": loc["metadata"],
                       "status": loc["status"]} for loc in image["locations"]],
        "members": [m["member"] for m in api.image_member_find(ctx, image_id=image_id)],
    }


def main():
    url, new_id, other_id = sys.argv[1:4]
    db_options.set_defaults(cfg.CONF, connection=url)
    cfg.CONF([], project="glance")
    ctx = glance.context.RequestContext(is_admin=True)
    _create(ctx, new_id)
    print(json.dumps(_read(ctx, other_id)))


if __name__ == "__main__":
    main()
