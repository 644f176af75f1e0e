"""Well-formed bodies of the routes that read one, for test_fuzz to poison one leaf at a time.

A fuzzed body far from the route's shape stops at the first validation; a valid body with
one value swapped for a lone surrogate, a huge number or a wrong type reaches the database.
Keys are (method, uri template) as the apps' routers hold them; ``{...}`` values are filled
in by the fuzz test from its seeded resources.
"""

NS_PROPERTY = {"type": "string", "title": "T", "description": "d", "enum": ["a", "b"],
               "default": "a", "maxLength": 5, "minLength": 1, "pattern": "^a",
               "operators": ["<or>"], "readonly": False}
OBJECT = {"name": "fz-o2", "description": "d", "required": ["q"],
          "properties": {"q": {"type": "integer", "title": "Q", "minimum": 1, "maximum": 9}}}
API = {
    ("POST", "/v2/images"): {
        "name": "fz", "disk_format": "raw", "container_format": "bare",
        "visibility": "private", "tags": ["a"], "min_ram": 1, "min_disk": 1,
        "protected": False, "os_hidden": False, "foo": "bar"},
    ("PATCH", "/v2/images/{image_id}"): [
        {"op": "replace", "path": "/name", "value": "n"},
        {"op": "add", "path": "/foo", "value": "v"},
        {"op": "replace", "path": "/tags", "value": ["a", "b"]},
        {"op": "replace", "path": "/min_ram", "value": 2}],
    ("POST", "/v2/images/{image_id}/members"): {"member": "fz-someone"},
    ("PUT", "/v2/images/{image_id}/members/{member_id}"): {"status": "accepted"},
    ("POST", "/v2/images/{image_id}/import"): {
        "method": {"name": "web-download", "uri": "http://127.0.0.1:9/x"},
        "stores": ["file"], "all_stores": False, "all_stores_must_succeed": True},
    ("POST", "/v2/images/{image_id}/locations"): {
        "url": "http://127.0.0.1:9/x",
        "validation_data": {"os_hash_algo": "sha512", "os_hash_value": "ab"}},
    ("POST", "/v2/tasks"): {
        "type": "import", "input": {
            "import_from": "http://127.0.0.1:9/x", "import_from_format": "raw",
            "image_properties": {"name": "t", "disk_format": "raw",
                                 "container_format": "bare"}}},
    ("POST", "/v2/metadefs/namespaces"): {
        "namespace": "fz-new", "display_name": "d", "description": "d",
        "visibility": "public", "protected": False, "properties": {"p": NS_PROPERTY},
        "objects": [OBJECT], "tags": [{"name": "t"}],
        "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "p_",
                                        "properties_target": "image"}]},
    ("PUT", "/v2/metadefs/namespaces/{namespace}"): {
        "namespace": "{namespace}", "display_name": "d", "description": "d",
        "visibility": "public", "protected": False},
    ("POST", "/v2/metadefs/namespaces/{namespace}/objects"): OBJECT,
    ("PUT", "/v2/metadefs/namespaces/{namespace}/objects/{object_name}"): OBJECT,
    ("POST", "/v2/metadefs/namespaces/{namespace}/properties"): dict(NS_PROPERTY, name="fz-p2"),
    ("PUT", "/v2/metadefs/namespaces/{namespace}/properties/{property_name}"):
        dict(NS_PROPERTY, name="fz-p2"),
    ("POST", "/v2/metadefs/namespaces/{namespace}/tags"): {"tags": [{"name": "a"},
                                                                    {"name": "b"}]},
    ("PUT", "/v2/metadefs/namespaces/{namespace}/tags/{tag_name}"): {"name": "fz-t2"},
    ("POST", "/v2/metadefs/namespaces/{namespace}/resource_types"): {
        "name": "OS::Nova::Server", "prefix": "p_", "properties_target": "image"},
}

_SEARCH = {"filters": [["name", "eq", "x"], ["size", "gte", 1], ["foo", "in", ["a", "b"]]],
           "tags": ["t"], "visibility": "all", "member_status": "all", "os_hidden": False,
           "marker": None, "limit": 5, "sort": [["name", "asc"], ["id", "desc"]]}
_IMAGE = {"name": "x", "status": "queued", "visibility": "private", "owner": "fz", "size": 1,
          "virtual_size": 1, "min_ram": 0, "min_disk": 0, "protected": False,
          "checksum": "c", "properties": {"a": "b"}, "tags": ["t"],
          "locations": [{"url": "http://127.0.0.1:9/x", "metadata": {"store": "http"},
                         "status": "active"}]}
_ITEM = {"name": "fz-n", "description": "d", "required": ["a"], "properties": {"a": {}},
         "schema": {"type": "string", "title": "T"}, "prefix": "p_",
         "properties_target": "image"}
REGISTRY = {
    ("POST", "/images"): {"image": _IMAGE},
    ("POST", "/images/search"): _SEARCH,
    ("PATCH", "/images/{image_id}"): {"values": {"name": "y", "properties": {"a": "c"},
                                                 "tags": ["u"]},
                                      "from_state": "queued", "purge_props": False},
    ("POST", "/images/{image_id}/members"): {"member": "fz-someone", "can_share": False},
    ("PUT", "/images/{image_id}/members/{member}"): {"status": "accepted"},
    ("POST", "/images/{image_id}/reservations"): {"url": "http://127.0.0.1:9/x",
                                                  "metadata": {"store": "http"}},
    ("POST", "/tasks"): {"task": {"type": "import", "status": "pending", "owner": "fz",
                                  "input": {"a": 1}, "image_id": None,
                                  "expires_at": "2026-01-01T00:00:00"}},
    ("POST", "/tasks/search"): {"filters": {"status": "pending"}, "marker": None, "limit": 5,
                                "sort_key": "created_at", "sort_dir": "asc"},
    ("PATCH", "/tasks/{task_id}"): {"values": {"status": "processing", "message": "m",
                                               "expires_at": "2026-01-01T00:00:00Z"},
                                    "from_state": "pending"},
    ("POST", "/tasks/fail"): {"ids": ["{task_id}"], "message": "m",
                              "expires_at": "2026-01-01T00:00:00"},
    ("POST", "/cache/nodes"): {"node": "http://fz"},
    ("POST", "/cache/search"): {"node": "http://fz"},
    ("POST", "/cache/images"): {"node": "http://fz", "image_id": "{image_id}", "size": 1,
                                "checksum": "c"},
    ("POST", "/cache/hits"): {"node": "http://fz", "image_id": "{image_id}"},
    ("POST", "/cache/delete"): {"node": "http://fz", "image_id": "{image_id}"},
    ("POST", "/scrub/images/{image_id}/finish"): {"kind": "deleted_image"},
    ("POST", "/metadefs/namespaces"): {
        "namespace": {"namespace": "fz-new", "owner": "fz", "visibility": "public",
                      "protected": False, "display_name": "d", "description": "d"},
        "contents": {"objects": [{"name": "o"}], "tags": [{"name": "t"}],
                     "properties": {"p": {"type": "string", "title": "T"}},
                     "resource_type_associations": [{"name": "OS::Glance::Image",
                                                     "prefix": "p_"}]}},
    ("POST", "/metadefs/search"): {"visibility": "public", "resource_types": ["OS::Glance::Image"],
                                   "marker": None, "limit": 5, "sort_key": "created_at",
                                   "sort_dir": "asc"},
    ("PUT", "/metadefs/namespaces/{ns}"): {"values": {"namespace": "{ns}", "display_name": "d",
                                                      "visibility": "public"}},
    ("POST", "/metadefs/namespaces/{ns}/{kind}"): {"item": _ITEM},
    ("PUT", "/metadefs/namespaces/{ns}/{kind}"): {"names": ["a", "b"], "append": True},
    ("PUT", "/metadefs/namespaces/{ns}/{kind}/{name}"): {"item": _ITEM},
}
