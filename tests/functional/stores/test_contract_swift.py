"""The store contract on the Swift driver, against the real Swift of tools/swift.sh.

Two configurations: credentials in the options (locations ``swift+http://user:key@...``)
and a ``swift_store_config_file`` reference (locations ``swift+config://ref1/...``).
"""
import contextlib
import io
import re
import time

import pytest
import swiftclient

from stores import exceptions
from stores.swift import SwiftStore
from tests.functional.stores.conftest import SWIFT_KEY, SWIFT_USER, make_store, unique
from tests.functional.stores.contract import MiB, StoreContract, free_port, payload

CONTAINER = "glance-contract"
# 2 "MB" threshold, 1 "MB" segments (glance_store's MB: 1000 KiB).
LARGE_OPTS = {"swift_store_large_object_size": 2, "swift_store_large_object_chunk_size": 1}


def client(swift_url):
    return swiftclient.Connection(authurl=swift_url + "/auth/v1.0", user=SWIFT_USER,
                                  key=SWIFT_KEY, auth_version="1", retries=0)


class SwiftContractBase(StoreContract):
    duplicate = "overwrite"  # as glance_store: a PUT replaces the object
    large_size = 3 * MiB + 123
    outage_seconds = 10
    container = CONTAINER

    @pytest.fixture
    def store(self, swift_url):
        self.swift_url = swift_url
        return self.make(self.container)

    def client(self):
        """A swiftclient connection to the account the store writes to."""
        return client(self.swift_url)

    def options(self, container, auth_address=None, key=SWIFT_KEY):
        raise NotImplementedError

    def make(self, container, **kwargs):
        opts = dict(LARGE_OPTS, swift_store_container=container,
                    swift_store_create_container_on_put=True)
        opts.update(self.options(container, **kwargs))
        return make_store(SwiftStore, "swift1", **opts)

    def leftovers(self, store, url):
        loc = store.parse(url)
        try:
            _, listing = self.client().get_container(
                loc.container, prefix=loc.obj, full_listing=True)
        except swiftclient.ClientException as e:
            if e.http_status == 404:
                return []
            raise
        return [o["name"] for o in listing
                if re.fullmatch(re.escape(loc.obj) + r"(-\d{5})?", o["name"])]

    def unavailable_store(self, store):
        return self.make(CONTAINER, auth_address="http://127.0.0.1:%d/auth/v1.0" % free_port())

    def bad_auth_store(self, store):
        return self.make(self.container, key="wrong-key")

    @contextlib.contextmanager
    def full_store(self, store, room):
        container = unique("glance-full")
        conn = self.client()
        conn.put_container(container, headers={"X-Container-Meta-Quota-Bytes": str(room)})
        try:
            yield self.make(container)
        finally:
            _, listing = conn.get_container(container, full_listing=True)
            for entry in listing:
                conn.delete_object(container, entry["name"])
            conn.delete_container(container)

    # --- Swift specifics --------------------------------------------------------

    def test_large_object_is_a_dlo_of_segments(self, store):
        data = payload(self.large_size, seed=4)
        url = store.add("seg-" + unique("img"), io.BytesIO(data), len(data)).url
        try:
            loc = store.parse(url)
            conn = self.client()
            headers = conn.head_object(loc.container, loc.obj)
            assert headers["x-object-manifest"] == "%s/%s-" % (loc.container, loc.obj)
            segments = self.leftovers(store, url)
            assert len(segments) == 1 + 4  # manifest + ceil(3 MiB / 1000 KiB) segments
        finally:
            store.delete(url)
        assert self.leftovers(store, url) == []

    def test_delete_removes_orphan_segments(self, store):
        """A manifest never written (upload died): delete(url) still finds the segments."""
        name = unique("orphan")
        conn = self.client()
        conn.put_container(self.container)
        conn.put_object(self.container, name + "-00001", b"a" * 10)
        conn.put_object(self.container, name + "-00002", b"b" * 10)
        url = store.location_for(name).uri()
        store.delete(url)
        assert self.leftovers(store, url) == []
        with pytest.raises(exceptions.NotFound):
            store.delete(url)

    def test_missing_container_without_create(self, store):
        bad = make_store(SwiftStore, "swift1", **dict(
            self.options(self.container), swift_store_container=unique("absent"),
            swift_store_create_container_on_put=False))
        with pytest.raises(exceptions.BackendException):
            bad.add("x", io.BytesIO(b"abc"), 3)

    def test_properties(self, store):
        props = store.properties()
        assert props["container"] == self.container
        assert props["large_object_size"] == 2 * 1000 * 1024


class TestSwiftContract(SwiftContractBase):
    """Credentials in the options: locations carry them (glance_store's behaviour)."""

    def options(self, container, auth_address=None, key=SWIFT_KEY):
        return {"swift_store_auth_address": auth_address or self.swift_url + "/auth/v1.0",
                "swift_store_user": SWIFT_USER, "swift_store_key": key,
                "swift_store_auth_version": "1"}

    def url_for(self, other, url):
        loc = other.parse(url)
        new = other.location_for(loc.obj)
        new.container = loc.container
        return new.uri()

    def test_location_format(self, store):
        url = store.location_for("abc").uri()
        host = self.swift_url.split("://", 1)[1]
        assert url == "swift+http://test%%3Atester:testing@%s/auth/v1.0/%s/abc" % (
            host, CONTAINER)
        loc = store.parse(url)
        assert (loc.user, loc.key, loc.container, loc.obj) == (
            SWIFT_USER, SWIFT_KEY, CONTAINER, "abc")


class TestSwiftConfigFileContract(SwiftContractBase):
    """Accounts in ``swift_store_config_file``: ``swift+config://ref1/...`` locations."""

    @pytest.fixture(autouse=True)
    def _tmp(self, tmp_path):
        self.tmp_path = tmp_path

    def options(self, container, auth_address=None, key=SWIFT_KEY):
        path = self.tmp_path / ("swift-%s.conf" % unique("accounts"))
        path.write_text("[ref1]\nauth_address = %s\nuser = %s\nkey = %s\nauth_version = 1\n"
                        % (auth_address or self.swift_url + "/auth/v1.0", SWIFT_USER, key))
        return {"swift_store_config_file": str(path), "default_swift_reference": "ref1"}

    def test_location_format(self, store):
        assert store.location_for("abc").uri() == "swift+config://ref1/%s/abc" % CONTAINER


def test_abort_while_down_then_delete_later(swift_url, swift_relay):
    """Swift goes away mid-upload: abort fails promptly with BackendUnavailable, the
    segments stay, and ``delete(writer.location)`` removes them once Swift is back."""
    case = TestSwiftContract()
    case.swift_url = swift_url
    store = case.make(CONTAINER, auth_address=swift_relay.url + "/auth/v1.0")
    writer = store.begin_add(unique("down"), None)
    data = payload(MiB)
    for _ in range(3):
        writer.write(data)
    time.sleep(0.5)  # let the first segments land
    swift_relay.cut()
    started = time.monotonic()
    with pytest.raises(exceptions.BackendUnavailable):
        writer.abort()
    assert time.monotonic() - started < 30
    swift_relay.resume()
    direct = case.make(CONTAINER)
    left = case.leftovers(direct, writer.location)
    assert left, "expected segments left behind while Swift was down"
    store.delete(writer.location)
    assert case.leftovers(direct, writer.location) == []
