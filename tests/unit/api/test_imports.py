"""glance_api.imports.resources / import_flows / import_plugins: request checks, store lists,
plugins on real files, and the restart rollback of an interrupted import."""
import gzip
import types
import zipfile

import pytest

from glance_api.data import signatures
from glance_api import exceptions as exc
from glance_api.imports import flows as import_flows
from glance_api.imports import plugins as import_plugins
from glance_api.imports import resources as imports
from glance_api.imports import staging
from glance_api.web.context import RequestContext
from tests import image_corpus
from tests.unit.api.conftest import make_conf
from tests.unit.api.fakes import FakeRegistry


@pytest.mark.parametrize("current, stores, subtract, expected", [
    ("", ["fast"], False, "fast"),
    ("fast", ["cheap"], False, "cheap,fast"),
    ("cheap,fast", ["fast"], True, "cheap"),
    (None, [None], False, ""),
    ("fast", ["nope"], True, "fast"),
])
def test_merge_stores(current, stores, subtract, expected):
    props = {} if current is None else {"k": current}
    assert import_flows.merge_stores(props, "k", stores, subtract) == expected


@pytest.mark.parametrize("body, message", [
    ({}, "Import request requires a 'method' field."),
    ({"method": {}}, "Import request requires a 'name' field."),
    ({"method": {"name": "glance-download"}}, "Unknown import method name 'glance-download'."),
    ({"method": {"name": "web-download"}, "all_stores_must_succeed": 1},
     "'all_stores_must_succeed' must be boolean value only"),
    ({"method": {"name": "web-download"}, "all_stores": None},
     "'all_stores' must be boolean value only"),
])
def test_validate_body(body, message):
    with pytest.raises(exc.BadRequest) as info:
        imports.validate_body(make_conf(), body)
    assert info.value.message == message


@pytest.mark.parametrize("status, method, error, message", [
    ("active", "glance-direct", exc.Conflict,
     "Image with status active cannot be target for import"),
    ("queued", "copy-image", exc.Conflict,
     "Only images with status active can be targeted for copying"),
    ("uploading", "web-download", exc.Conflict,
     "Image needs to be in 'queued' state to use 'web-download' method"),
    ("queued", "glance-direct", exc.Conflict,
     "Image needs to be staged before 'glance-direct' method can be used"),
])
def test_check_image_status(status, method, error, message):
    image = {"status": status, "disk_format": "raw", "container_format": "bare"}
    with pytest.raises(error, match=message):
        imports.check_image(image, method, {"name": method})


def test_check_image_glance_download_fields():
    image = {"status": "queued", "disk_format": "raw", "container_format": "bare"}
    method = {"name": "glance-download", "glance_region": "R", "glance_image_id": "nope"}
    with pytest.raises(exc.BadRequest, match="Remote image id does not look like a UUID: nope"):
        imports.check_image(image, "glance-download", method)
    method["glance_image_id"] = "6c0d5a2e-7b0a-4bd7-9d1b-0d8e1d3c1b11"
    imports.check_image(image, "glance-download", method)
    assert method["glance_service_interface"] == "public"


class Job:
    def __init__(self, conf, roles=("member",), image=None):
        self.conf = conf
        self.ctx = types.SimpleNamespace(roles=list(roles))
        self.image = image or {"container_format": "bare", "disk_format": "raw"}
        self.image_id = "img"
        self.values, self.props = {}, {}

    def set_values(self, **values):
        self.values.update(values)

    def set_properties(self, props):
        self.props.update(props)


def test_inject_metadata_skips_ignored_roles():
    conf = make_conf(**{"inject_metadata_properties.inject": {"a": "1"}})
    member, admin = Job(conf), Job(conf, roles=("admin", "member"))
    import_plugins.inject_image_metadata(member, "p")
    import_plugins.inject_image_metadata(admin, "p")
    assert (member.props, admin.props) == ({"a": "1"}, {})


def test_decompression(tmp_path):
    data = b"disk" * 1000
    gz = tmp_path / "img"
    gz.write_bytes(gzip.compress(data))
    job = Job(make_conf())
    assert import_plugins.image_decompression(job, str(gz)) == str(gz)
    assert gz.read_bytes() == data and job.values == {"size": len(data)}
    archive = tmp_path / "img2"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a", data)
        z.writestr("b", data)
    with pytest.raises(import_plugins.PluginRefused, match="more than one file"):
        import_plugins.image_decompression(job, str(archive))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img", "img2"]


def test_convert_file_qcow2_to_raw(tmp_path):
    path = image_corpus.build("qcow2", tmp_path)[0]
    new_path, values = import_plugins.convert_file(make_conf(), str(path), "qcow2")
    assert new_path == str(path) + ".raw" and not path.exists()
    assert values == {"virtual_size": 10 * 1024 * 1024, "disk_format": "raw",
                      "container_format": "bare", "size": 10 * 1024 * 1024}


@pytest.mark.parametrize("name, message", [
    ("qcow2-backing-file", "Image has disallowed configuration"),
    ("raw-as-qcow2", "Image format mismatch"),
    ("vmdk-flat-descriptor", "Image has disallowed configuration"),
])
def test_convert_file_refusals(tmp_path, name, message):
    path, disk_format, _cf = image_corpus.build(name, tmp_path)
    with pytest.raises(import_plugins.PluginRefused, match=message):
        import_plugins.convert_file(make_conf(), str(path), disk_format)


def _interrupted(tmp_path, method, staged):
    conf = make_conf(node_staging_uri="file://%s/staging" % tmp_path)
    registry = FakeRegistry()
    ctx = RequestContext(roles=["admin"], is_admin=True)
    image = registry.image_create(ctx, {
        "status": "importing", "disk_format": "raw", "container_format": "bare", "size": 4,
        "properties": {import_flows.LOCK: "t1", import_flows.IMPORTING: "",
                       import_flows.FAILED: ""}})
    api = types.SimpleNamespace(conf=conf, registry=registry, stores=object(),
                                staging=staging.Staging(conf),
                                signatures=signatures.Signatures(conf))
    if staged:
        (tmp_path / "staging").mkdir(exist_ok=True)
        (tmp_path / "staging" / image["id"]).write_bytes(b"data")
    task = {"id": "t1", "type": "api_image_import",
            "input": {"image_id": image["id"], "backend": [None],
                      "import_req": {"method": {"name": method}}}}
    import_flows.rollback_interrupted(api, ctx, task)
    return registry.image_get(ctx, image["id"]), api.staging.has(image["id"])


def test_interrupted_glance_direct_with_staged_data_is_uploading(tmp_path):
    image, staged = _interrupted(tmp_path, "glance-direct", staged=True)
    assert (image["status"], image["size"], staged) == ("uploading", 4, True)
    assert import_flows.LOCK not in image["properties"]


@pytest.mark.parametrize("method, staged", [("glance-direct", False), ("web-download", True)])
def test_interrupted_import_is_queued_without_staged_data(tmp_path, method, staged):
    image, left = _interrupted(tmp_path, method, staged)
    assert (image["status"], image["size"], left) == ("queued", None, False)
    assert import_flows.LOCK not in image["properties"]


def test_remote_endpoint_from_catalog():
    from glance_api.imports import remote_images
    catalog = remote_images.catalog_from_header(
        '[{"type": "image", "endpoints": [{"region": "RegionTwo", '
        '"publicURL": "http://g2/", "internalURL": "http://g2i"}]}]')
    ctx = types.SimpleNamespace(service_catalog=catalog)
    assert remote_images.endpoint(ctx, "regiontwo", "public") == "http://g2"
    assert remote_images.endpoint(ctx, "RegionTwo", "internal") == "http://g2i"
    with pytest.raises(remote_images.RemoteImageError):
        remote_images.endpoint(ctx, "RegionOne", "public")
    assert remote_images.catalog_from_header("not json") == []
