"""The file store serves, sizes and deletes only files inside its own data directories.

A location comes from the image row; one pointing at a host file (glance-api.conf with its
service password) must be refused by every operation, symlinks and ".." resolved, with the
answer of a missing file (NotFound: the api then answers as Glance does for an image whose
data is gone) and one log line saying why.
"""

import io
import logging
import os

import pytest

import stores
from stores import exceptions
from stores.filesystem import FilesystemStore
from tests.unit.stores.conftest import make_conf

SECRET = b"[keystone_authtoken]\npassword = s3cret\n"


@pytest.fixture(params=[0, 5], ids=["direct", "timeout-pool"])
def store(request, datadir):
    """A configured file store, calling the filesystem directly or through its pool."""
    conf = make_conf(filesystem_store_datadir=datadir,
                     filesystem_store_timeout=request.param)
    store = FilesystemStore(conf)
    store.configure()
    return store


@pytest.fixture
def secret(tmp_path):
    """A file beside (not inside) the data directory."""
    path = tmp_path / "glance-api.conf"
    path.write_bytes(SECRET)
    return path


def refused(store, url, caplog):
    """Assert that every operation on ``url`` is NotFound; return the log text."""
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="stores.filesystem"):
        for call in (store.get, store.get_size, store.open_file, store.delete):
            with pytest.raises(exceptions.NotFound):
                call(url)
    return caplog.text


def test_image_in_the_datadir_still_works(store, datadir):
    url = store.add("img", io.BytesIO(b"image data"), 10).url
    assert b"".join(store.get(url)[0]) == b"image data"
    assert b"".join(store.get(url, offset=6)[0]) == b"data"
    assert store.get_size(url) == 10
    fileobj, size = store.open_file(url)
    with fileobj:
        assert (fileobj.read(), size) == (b"image data", 10)
    store.delete(url)
    assert not os.path.exists(os.path.join(datadir, "img"))


@pytest.mark.parametrize("scheme", ["file", "filesystem"])
def test_host_file_is_refused_and_kept(store, secret, caplog, scheme):
    log = refused(store, "%s://%s" % (scheme, secret), caplog)
    assert secret.read_bytes() == SECRET
    assert "Refusing location %s://%s of file store file: %s is not inside its data " \
           "directories" % (scheme, secret, secret) in log
    assert log.count("Refusing location") == 4   # one line per refused call


def test_refused_like_a_missing_file(store, secret, tmp_path):
    # NOTE: the same exception and message as for a file that does not exist, so the
    # answer tells nothing about which host files exist.
    with pytest.raises(exceptions.NotFound) as existing:
        store.get("file://%s" % secret)
    with pytest.raises(exceptions.NotFound) as missing:
        store.get("file://%s" % (tmp_path / "no-such-file"))
    assert str(existing.value) == "Image %s not found" % secret
    assert str(missing.value) == "Image %s not found" % (tmp_path / "no-such-file")


@pytest.mark.parametrize("tail", ["../glance-api.conf", "sub/../../glance-api.conf",
                                  "./../images/../glance-api.conf"])
def test_dot_dot_out_of_the_datadir_is_refused(store, datadir, secret, caplog, tail):
    log = refused(store, "file://%s/%s" % (datadir, tail), caplog)
    assert secret.read_bytes() == SECRET
    assert "is not inside its data directories (%s)" % datadir in log


def test_symlink_out_of_the_datadir_is_refused(store, datadir, secret, caplog):
    link = os.path.join(datadir, "innocent-looking")
    os.symlink(secret, link)
    log = refused(store, "file://%s" % link, caplog)
    assert os.path.islink(link) and secret.read_bytes() == SECRET
    assert "%s is not inside" % secret in log   # the resolved path is logged


def test_symlinked_directory_out_of_the_datadir_is_refused(store, datadir, secret, caplog):
    os.symlink(secret.parent, os.path.join(datadir, "up"))
    refused(store, "file://%s/up/glance-api.conf" % datadir, caplog)
    assert secret.read_bytes() == SECRET


def test_sibling_with_the_datadir_as_prefix_is_refused(store, datadir, caplog):
    # A string prefix test would take <tmp>/images-evil/x for a file of <tmp>/images.
    sibling = datadir + "-evil"
    os.mkdir(sibling)
    with open(os.path.join(sibling, "x"), "wb") as f:
        f.write(SECRET)
    refused(store, "file://%s/x" % sibling, caplog)
    assert os.path.exists(os.path.join(sibling, "x"))


def test_the_datadir_itself_is_refused(store, datadir, caplog):
    refused(store, "file://%s" % datadir, caplog)
    refused(store, "file://%s/." % datadir, caplog)
    assert os.path.isdir(datadir)


def test_symlink_within_the_datadir_is_served(store, datadir):
    store.add("target", io.BytesIO(b"data"), 4)
    os.symlink(os.path.join(datadir, "target"), os.path.join(datadir, "alias"))
    assert b"".join(store.get("file://%s/alias" % datadir)[0]) == b"data"


def test_symlinked_datadir_serves_its_images(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    store = FilesystemStore(make_conf(filesystem_store_datadir=str(link)))
    store.configure()
    url = store.add("img", io.BytesIO(b"data"), 4).url
    assert url == "file://%s/img" % link
    assert b"".join(store.get(url)[0]) == b"data"
    # and the real path of the same file is inside too
    assert store.get_size("file://%s/img" % real) == 4


def test_every_datadir_of_datadirs_is_served(tmp_path, caplog):
    low, high = tmp_path / "low", tmp_path / "high"
    store = FilesystemStore(make_conf(filesystem_store_datadirs=["%s:1" % low,
                                                                 "%s:2" % high]))
    store.configure()
    (low / "old").write_bytes(b"old")
    assert b"".join(store.get("file://%s/old" % low)[0]) == b"old"
    (tmp_path / "outside").write_bytes(SECRET)
    log = refused(store, "file://%s/outside" % tmp_path, caplog)
    assert "(%s, %s)" % (high, low) in log


@pytest.fixture
def multi(tmp_path):
    """A registry with two file stores, fast and slow, each with its own directory."""
    conf = make_conf()
    for store_id in ("fast", "slow"):
        stores.config.register_opts(conf, group=store_id, store_type="file")
        conf.set_override("filesystem_store_datadir", str(tmp_path / store_id),
                          group=store_id)
    return stores.StoreRegistry(conf, enabled_backends="fast:file, slow:file",
                                default_backend="fast")


def test_multi_store_file_of_another_store_is_refused(multi, tmp_path, caplog):
    added = multi.for_store("slow").add("img", io.BytesIO(b"slow data"), 9)
    url, metadata = added.url, added.metadata
    assert metadata == {"store": "slow"}
    assert b"".join(multi.for_location(url, metadata).get(url)[0]) == b"slow data"
    # The row says the data is in "fast"; fast serves nothing of slow's directory.
    fast = multi.for_location(url, {"store": "fast"})
    assert fast is multi.for_store("fast")
    log = refused(fast, url, caplog)
    assert "of file store fast" in log and "(%s)" % (tmp_path / "fast") in log
    assert (tmp_path / "slow" / "img").read_bytes() == b"slow data"


def test_multi_store_host_file_without_metadata_is_refused(multi, secret, caplog):
    url = "file://%s" % secret
    refused(multi.for_location(url), url, caplog)
    assert secret.read_bytes() == SECRET
