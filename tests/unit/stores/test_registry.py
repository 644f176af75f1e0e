"""StoreRegistry: single- and multi-store configuration, lookups, /v2/info/stores."""

import io
import logging
import sys

import pytest

import stores
from stores import config
from stores import exceptions
from stores.filesystem import FilesystemStore
from stores.http import HttpStore
from tests.unit.stores.conftest import make_conf


def test_single_store_mode(datadir):
    registry = stores.StoreRegistry(make_conf(filesystem_store_datadir=datadir))
    assert registry.multi_store is False
    assert registry.store_ids() == ["file", "http"]
    assert isinstance(registry.default, FilesystemStore)
    assert isinstance(registry.for_location("http://example.com/x"), HttpStore)
    assert registry.for_location("file:///x/y") is registry.default
    assert registry.for_store("http").read_only


def test_single_store_default_http(datadir):
    conf = make_conf(filesystem_store_datadir=datadir, default_store="http")
    assert isinstance(stores.StoreRegistry(conf).default, HttpStore)


def test_single_store_default_not_enabled(datadir):
    conf = make_conf(filesystem_store_datadir=datadir, stores=["http"])
    with pytest.raises(exceptions.BadStoreConfiguration):
        stores.StoreRegistry(conf)


def test_unknown_lookups(datadir):
    registry = stores.StoreRegistry(make_conf(filesystem_store_datadir=datadir))
    with pytest.raises(exceptions.UnknownScheme):
        registry.for_location("swift://x/y")
    with pytest.raises(exceptions.BadStoreUri):
        registry.for_location("garbage")
    with pytest.raises(exceptions.UnknownStore) as caught:
        registry.for_store("bogus")
    assert str(caught.value) == "Store for identifier bogus not found"


@pytest.fixture
def multi(tmp_path):
    """A registry with enabled_backends = fast:file, cheap:file, web:http."""
    conf = make_conf()
    for group in ("fast", "cheap", "web", "os_glance_staging_store"):
        config.register_opts(conf, group=group)
    conf.set_override("filesystem_store_datadir", str(tmp_path / "fast"), group="fast")
    conf.set_override("store_description", "Fast store", group="fast")
    conf.set_override("filesystem_store_datadir", str(tmp_path / "cheap"), group="cheap")
    conf.set_override("weight", 5, group="cheap")
    conf.set_override("filesystem_store_datadir", str(tmp_path / "staging"),
                      group="os_glance_staging_store")
    conf.set_override("default_backend", "fast", group="glance_store")
    return stores.StoreRegistry(conf, enabled_backends="fast:file, cheap:file, web:http",
                                reserved_stores={"os_glance_staging_store": "file"})


def test_multi_store_ids_and_describe(multi):
    assert multi.multi_store
    assert multi.store_ids() == ["fast", "cheap", "web"]
    assert multi.store_ids(include_reserved=True)[-1] == "os_glance_staging_store"
    assert multi.describe() == [
        {"id": "fast", "description": "Fast store", "default": "true"},
        {"id": "cheap"},
        {"id": "web", "read-only": "true"},
    ]
    detail = {d["id"]: d for d in multi.describe(detail=True)}
    assert detail["cheap"]["weight"] == 5
    assert detail["cheap"]["type"] == "file"
    assert detail["cheap"]["properties"]["data_dir"].endswith("/cheap")
    assert detail["web"]["properties"] == {}


def test_multi_store_add_records_store_and_location_lookup(multi):
    cheap = multi.for_store("cheap")
    added = cheap.add("img", io.BytesIO(b"abc"), 3)
    url, metadata = added.url, added.metadata
    assert metadata == {"store": "cheap"}
    assert multi.for_location(url, metadata) is cheap
    # Without metadata the path prefix still finds the right file store.
    assert multi.for_location(url) is cheap
    assert multi.for_location(url, {"store": "web"}) is cheap
    assert multi.default is multi.for_store("fast")


def test_reserved_store_is_usable(multi, tmp_path):
    staging = multi.for_store("os_glance_staging_store")
    url = staging.add("img", io.BytesIO(b"abc"), 3).url
    assert url == "file://%s/img" % (tmp_path / "staging")


def test_reserved_store_default_datadir():
    conf = make_conf()
    config.register_opts(conf, group="web", store_type="http")
    conf.set_override("default_backend", "web", group="glance_store")
    registry = stores.StoreRegistry(conf, {"web": "http"},
                                    reserved_stores={"os_glance_tasks_store": "file"})
    assert conf.os_glance_tasks_store.filesystem_store_datadir == \
        "/var/lib/glance/os_glance_tasks_store"
    assert registry.store_ids() == ["web"]


def test_default_backend_argument_wins(tmp_path):
    conf = make_conf()
    config.register_opts(conf, group="a", store_type="file")
    conf.set_override("filesystem_store_datadir", str(tmp_path), group="a")
    registry = stores.StoreRegistry(conf, {"a": "file", "w": "http"}, default_backend="w")
    assert isinstance(registry.default, HttpStore)


@pytest.mark.parametrize("backends,default", [
    ({"w": "http"}, None), ({"w": "http"}, "nope"), ({"os_glance_x": "http"}, "os_glance_x"),
])
def test_bad_multi_store_configuration(backends, default):
    with pytest.raises(exceptions.BadStoreConfiguration):
        stores.StoreRegistry(make_conf(), backends, default_backend=default)


def test_unusable_datadir_disables_add_only(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    registry = stores.StoreRegistry(make_conf(filesystem_store_datadir=str(blocker / "d")))
    store = registry.default
    assert "write_access" not in store.capabilities
    with pytest.raises(exceptions.StoreAddDisabled):
        store.add("img", io.BytesIO(b"abc"), 3)


def test_broken_driver_is_disabled_with_one_log_line(tmp_path, monkeypatch, caplog, datadir):
    dist = tmp_path / "broken_store-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-store\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[glance_clone.stores]\nbroken = broken_store_module:Store\n")
    (tmp_path / "broken_store_module.py").write_text("import no_such_sdk_module\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    conf = make_conf(filesystem_store_datadir=datadir, stores=["file", "broken"])
    with caplog.at_level(logging.ERROR, logger="stores"):
        registry = stores.StoreRegistry(conf)
    assert registry.store_ids() == ["file"]
    lines = [r.getMessage() for r in caplog.records if "broken" in r.getMessage()]
    assert len(lines) == 1 and "no_such_sdk_module" in lines[0]
    sys.modules.pop("broken_store_module", None)


def test_list_opts_covers_groups():
    groups = dict(config.list_opts())
    names = {opt.name for opt in groups["glance_store"]}
    assert {"stores", "default_store", "default_backend", "filesystem_store_datadir",
            "filesystem_store_chunk_size", "https_insecure"} <= names
    assert [o.name for o in groups["store_type_location_strategy"]] == ["store_type_preference"]
    chunk = [o for o in groups["glance_store"] if o.name == "filesystem_store_chunk_size"][0]
    assert chunk.default == 1024 * 1024


def test_datadir_default_is_glances():
    assert make_conf().glance_store.filesystem_store_datadir == "/var/lib/glance/images"
