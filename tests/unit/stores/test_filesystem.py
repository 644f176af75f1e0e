"""The filesystem driver's own behaviour: atomic writes, cleanup, errors, options."""

import hashlib
import io
import json
import os
import resource
import signal
import stat
import subprocess
import uuid

import pytest

from stores import exceptions
from stores.filesystem import FilesystemStore
from tests.unit.stores.conftest import make_conf

MiB = 1024 * 1024
DATA = os.urandom(2 * MiB + 5)


class FailingStream:
    """A stream that serves ``good`` bytes, then raises ``error``."""

    def __init__(self, good, error):
        self.data = io.BytesIO(good)
        self.error = error

    def read(self, n):
        chunk = self.data.read(n)
        if not chunk:
            raise self.error
        return chunk


class WatchingStream(io.BytesIO):
    """Record, at every read, whether ``path`` is already visible."""

    def __init__(self, data, path):
        super().__init__(data)
        self.path = path
        self.seen = []

    def read(self, n=-1):
        self.seen.append(os.path.exists(self.path))
        return super().read(n)


def add(store, data, size="auto", image_id=None, hashers=()):
    size = len(data) if size == "auto" else size
    image_id = str(uuid.uuid4()) if image_id is None else image_id
    return store.add(image_id, io.BytesIO(data), size, hashers)


def test_location_and_file_content(file_store, datadir):
    url = add(file_store, DATA, image_id="img-1").url
    assert url == "file://%s/img-1" % datadir
    with open(os.path.join(datadir, "img-1"), "rb") as f:
        assert f.read() == DATA
    assert os.listdir(datadir) == ["img-1"]


def test_unknown_size_is_accepted(file_store, datadir):
    hasher = hashlib.sha512()
    assert add(file_store, DATA, size=None, hashers=[hasher]).size == len(DATA)
    assert hasher.hexdigest() == hashlib.sha512(DATA).hexdigest()


def test_final_name_appears_only_when_complete(file_store, datadir):
    stream = WatchingStream(DATA, os.path.join(datadir, "img-2"))
    file_store.add("img-2", stream, len(DATA))
    assert stream.seen and not any(stream.seen)
    assert os.listdir(datadir) == ["img-2"]


def test_duplicate_keeps_original(file_store, datadir):
    add(file_store, DATA, image_id="img-3")
    with pytest.raises(exceptions.Duplicate):
        add(file_store, b"other", image_id="img-3")
    with open(os.path.join(datadir, "img-3"), "rb") as f:
        assert f.read() == DATA
    assert os.listdir(datadir) == ["img-3"]


@pytest.mark.parametrize("declared", [len(DATA) - 1, len(DATA) + 1, 0, MiB])
def test_size_mismatch_leaves_no_file(file_store, datadir, declared):
    with pytest.raises(exceptions.SizeMismatch):
        add(file_store, DATA, size=declared)
    assert os.listdir(datadir) == []


def test_stream_error_leaves_no_file_and_is_reraised(file_store, datadir):
    error = ConnectionResetError("client went away")
    with pytest.raises(ConnectionResetError) as caught:
        file_store.add("img-4", FailingStream(DATA, error), None)
    assert caught.value is error
    assert os.listdir(datadir) == []


def test_hasher_error_leaves_no_file(file_store, datadir):
    class Broken:
        name = "broken"

        def update(self, data):
            raise RuntimeError("hasher failed")

    with pytest.raises(RuntimeError, match="hasher failed"):
        add(file_store, DATA, hashers=[Broken()])
    assert os.listdir(datadir) == []


def test_file_too_large_for_the_filesystem_is_storage_full(file_store, datadir):
    # A real kernel error without privileges: RLIMIT_FSIZE makes write() fail with
    # EFBIG past the limit (glance_store maps EFBIG and ENOSPC to StorageFull).
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (MiB, old_limit[1]))
    try:
        with pytest.raises(exceptions.StorageFull):
            add(file_store, DATA)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert os.listdir(datadir) == []


@pytest.fixture
def tiny_fs(tmp_path):
    """Mount a 1 MiB tmpfs (needs privileges; skipped otherwise)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                                 capture_output=True).returncode == 0
    except OSError:
        mounted = False
    if not mounted:
        pytest.skip("cannot mount a tmpfs here")
    yield str(mnt)
    subprocess.run(["umount", str(mnt)], check=True)


def test_no_space_left_is_storage_full(tiny_fs):
    store = FilesystemStore(make_conf(filesystem_store_datadir=tiny_fs))
    store.configure()
    with pytest.raises(exceptions.StorageFull):
        add(store, DATA)
    assert os.listdir(tiny_fs) == []


def _in_unprivileged_child(fn):
    """Run ``fn`` in a forked child as user nobody if we are root; return its exit code."""
    if os.geteuid() != 0:
        try:
            fn()
        except SystemExit as e:
            return e.code
        return 0
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            fn()
            code = 0
        except SystemExit as e:
            code = e.code
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_permission_denied_is_write_denied(file_store, datadir):
    os.chmod(datadir, 0o555)

    def attempt():
        try:
            add(file_store, DATA)
        except exceptions.StorageWriteDenied:
            raise SystemExit(7) from None
        raise SystemExit(3)

    try:
        assert _in_unprivileged_child(attempt) == 7
    finally:
        os.chmod(datadir, 0o755)
    assert os.listdir(datadir) == []


def test_thin_provisioning_makes_sparse_file(datadir):
    store = FilesystemStore(make_conf(filesystem_store_datadir=datadir,
                                      filesystem_thin_provisioning=True))
    store.configure()
    data = bytes(4 * MiB) + b"tail" + bytes(MiB)
    url = add(store, data, image_id="sparse").url
    path = os.path.join(datadir, "sparse")
    assert os.path.getsize(path) == len(data)
    # Only the one chunk holding "tail" is allocated, not the 5 MiB of zeros.
    assert os.stat(path).st_blocks * 512 <= MiB
    assert b"".join(store.get(url)[0]) == data


def test_file_perm_option(datadir):
    store = FilesystemStore(make_conf(filesystem_store_datadir=datadir,
                                      filesystem_store_file_perm=640))
    store.configure()
    add(store, DATA, image_id="perm")
    assert stat.S_IMODE(os.stat(os.path.join(datadir, "perm")).st_mode) == 0o640
    assert os.stat(datadir).st_mode & stat.S_IXGRP


def test_file_perm_without_owner_read_is_rejected(datadir):
    store = FilesystemStore(make_conf(filesystem_store_datadir=datadir,
                                      filesystem_store_file_perm=240))
    with pytest.raises(exceptions.BadStoreConfiguration):
        store.configure()


def test_datadir_is_created(tmp_path):
    target = tmp_path / "a" / "b"
    store = FilesystemStore(make_conf(filesystem_store_datadir=str(target)))
    store.configure()
    assert target.is_dir()


def test_uncreatable_datadir_is_bad_configuration(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"x")
    store = FilesystemStore(make_conf(filesystem_store_datadir=str(blocker / "images")))
    with pytest.raises(exceptions.BadStoreConfiguration):
        store.configure()


def test_datadirs_highest_priority_wins(tmp_path):
    low, high = tmp_path / "low", tmp_path / "high"
    store = FilesystemStore(make_conf(filesystem_store_datadirs=[
        "%s:100" % low, "%s:200" % high]))
    store.configure()
    url = add(store, DATA, image_id="prio").url
    assert url == "file://%s/prio" % high
    assert store.owns(url) and store.owns("file://%s/x" % low)
    assert not store.owns("file://%s/x" % tmp_path)


def test_datadirs_conflicting_priorities_rejected(tmp_path):
    store = FilesystemStore(make_conf(filesystem_store_datadirs=[
        "%s:1" % tmp_path, "%s:2" % tmp_path]))
    with pytest.raises(exceptions.BadStoreConfiguration):
        store.configure()


def test_datadirs_with_explicit_datadir_rejected(tmp_path):
    store = FilesystemStore(make_conf(filesystem_store_datadir=str(tmp_path / "a"),
                                      filesystem_store_datadirs=[str(tmp_path / "b")]))
    with pytest.raises(exceptions.BadStoreConfiguration):
        store.configure()


def test_metadata_file(tmp_path, datadir):
    meta = tmp_path / "meta.json"
    meta.write_text(json.dumps({"id": "nfs-1", "mountpoint": datadir}))
    store = FilesystemStore(make_conf(filesystem_store_datadir=datadir,
                                      filesystem_store_metadata_file=str(meta)))
    store.configure()
    metadata = add(store, DATA).metadata
    assert metadata == {"id": "nfs-1", "mountpoint": datadir}


@pytest.mark.parametrize("content", ["not json", json.dumps({"id": 1, "mountpoint": "/"}),
                                     json.dumps([{"id": "x"}])])
def test_bad_metadata_file(tmp_path, datadir, content):
    meta = tmp_path / "meta.json"
    meta.write_text(content)
    store = FilesystemStore(make_conf(filesystem_store_datadir=datadir,
                                      filesystem_store_metadata_file=str(meta)))
    with pytest.raises(exceptions.BadStoreConfiguration):
        store.configure()


def test_open_file_for_zero_copy(file_store):
    url = add(file_store, DATA).url
    fileobj, size = file_store.open_file(url)
    with fileobj:
        assert size == len(DATA)
        assert fileobj.fileno() >= 0
        assert fileobj.read() == DATA
    with pytest.raises(exceptions.NotFound):
        file_store.open_file(url + "-missing")


@pytest.mark.parametrize("image_id", ["", ".", "..", "a/b", "../x"])
def test_unsafe_image_id_rejected(file_store, datadir, image_id):
    with pytest.raises(exceptions.BadStoreUri):
        add(file_store, DATA, image_id=image_id)
    assert os.listdir(datadir) == []


def test_relative_location_rejected(file_store):
    with pytest.raises(exceptions.BadStoreUri):
        file_store.get("file://relative/path")
    with pytest.raises(exceptions.BadStoreUri):
        file_store.get("file://")


def test_configure_removes_only_stale_partial_uploads(datadir):
    stale = os.path.join(datadir, ".img.abc.part")
    fresh = os.path.join(datadir, ".img.def.part")
    image = os.path.join(datadir, "old-image")
    for path in (stale, fresh, image):
        with open(path, "wb") as f:
            f.write(b"x")
    two_days_ago = os.stat(stale).st_mtime - 2 * 86400
    os.utime(stale, (two_days_ago, two_days_ago))
    os.utime(image, (two_days_ago, two_days_ago))
    FilesystemStore(make_conf(filesystem_store_datadir=datadir)).configure()
    assert sorted(os.listdir(datadir)) == [".img.def.part", "old-image"]
