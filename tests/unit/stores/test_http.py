"""The http driver against a real local web server: redirects, errors, ranges."""

import os
import socket
import uuid

import pytest

from stores import exceptions
from stores.http import MAX_REDIRECTS

DATA = os.urandom(2 * 1024 * 1024 + 3)


@pytest.fixture
def served(http_server):
    """Serve DATA under a new name; return (base_url, name)."""
    base_url, docroot = http_server
    name = str(uuid.uuid4())
    with open(os.path.join(docroot, name), "wb") as f:
        f.write(DATA)
    return base_url, name


@pytest.mark.parametrize("hops", [1, 3, MAX_REDIRECTS])
def test_redirects_are_followed(http_store, served, hops):
    base_url, name = served
    url = "%s/redirect/%d/%s" % (base_url, hops, name)
    chunks, size = http_store.get(url)
    assert (b"".join(chunks), size) == (DATA, len(DATA))
    assert http_store.get_size(url) == len(DATA)


def test_307_redirect_is_followed(http_store, served):
    base_url, name = served
    chunks, _ = http_store.get("%s/redirect307/%s" % (base_url, name))
    assert b"".join(chunks) == DATA


def test_too_many_redirects(http_store, served):
    base_url, name = served
    url = "%s/redirect/%d/%s" % (base_url, MAX_REDIRECTS + 1, name)
    with pytest.raises(exceptions.MaxRedirectsExceeded):
        http_store.get(url)
    with pytest.raises(exceptions.MaxRedirectsExceeded):
        http_store.get_size(url)


def test_redirect_to_another_scheme_is_refused(http_store, served):
    base_url, name = served
    with pytest.raises(exceptions.BadStoreUri):
        http_store.get("%s/redirect-file/%s" % (base_url, name))


@pytest.mark.parametrize("status,error", [
    (404, exceptions.NotFound), (410, exceptions.NotFound),
    (500, exceptions.BackendUnavailable), (503, exceptions.BackendUnavailable),
    (403, exceptions.BadStoreUri), (418, exceptions.BadStoreUri),
])
def test_error_status(http_store, http_server, status, error):
    url = "%s/status/%d" % (http_server[0], status)
    with pytest.raises(error):
        http_store.get(url)
    with pytest.raises(error):
        http_store.get_size(url)


def _closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_server_down_is_backend_unavailable(http_store):
    url = "http://127.0.0.1:%d/files/x" % _closed_port()
    with pytest.raises(exceptions.BackendUnavailable):
        http_store.get(url)
    with pytest.raises(exceptions.BackendUnavailable):
        http_store.get_size(url)


def test_truncated_body_is_backend_unavailable(http_store, served):
    base_url, name = served
    chunks, size = http_store.get("%s/truncated/%s" % (base_url, name))
    assert size == len(DATA)
    with pytest.raises(exceptions.BackendUnavailable):
        b"".join(chunks)


@pytest.mark.parametrize("offset,length", [(5, 10), (1024 * 1024 + 1, None), (0, 7)])
def test_range_ignored_by_server_is_applied_here(http_store, served, offset, length):
    base_url, name = served
    chunks, size = http_store.get("%s/norange/%s" % (base_url, name), offset, length)
    end = None if length is None else offset + length
    assert b"".join(chunks) == DATA[offset:end]
    assert size == len(DATA)


def test_size_falls_back_to_get_when_head_refused(http_store, served):
    base_url, name = served
    assert http_store.get_size("%s/nohead/%s" % (base_url, name)) == len(DATA)


@pytest.mark.parametrize("url", ["http://", "http://host:port/x", "ftp://host/x", "nothing"])
def test_malformed_url(http_store, url):
    with pytest.raises(exceptions.BadStoreUri):
        http_store.get(url)


def test_options_reach_the_session(tmp_path):
    from tests.unit.stores.conftest import make_conf
    from stores.http import HttpStore

    ca = tmp_path / "ca.pem"
    ca.write_text("")
    store = HttpStore(make_conf(https_ca_certificates_file=str(ca), https_insecure=False,
                                http_proxy_information={"http": "10.0.0.1:3128"}))
    assert store.session.verify == str(ca)
    assert store.session.proxies == {"http": "10.0.0.1:3128"}
    assert HttpStore(make_conf(https_insecure=False)).session.verify is True
    assert HttpStore(make_conf()).session.verify is False
