"""The read cases of the store contract on the (read-only) http driver.

The objects are files served by a loopback ``http.server`` that the test starts.
"""
import functools
import http.server
import threading

import pytest

from stores.http import HttpStore
from tests.functional.stores.conftest import make_store
from tests.functional.stores.contract import StoreContract, free_port


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def web_root(tmp_path_factory):
    """Serve a directory on 127.0.0.1; yield (directory, base URL)."""
    root = tmp_path_factory.mktemp("web")
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class TestHttpContract(StoreContract):
    read_only = True
    outage_seconds = 15

    @pytest.fixture
    def store(self, web_root):
        self.root, self.base_url = web_root
        return make_store(HttpStore, "web")

    def put_object(self, store, name, data):
        (self.root / name).write_bytes(data)
        return "%s/%s" % (self.base_url, name)

    def _remove(self, store, url):
        path = self.root / url.rsplit("/", 1)[1]
        path.unlink(missing_ok=True)

    def unavailable_store(self, store):
        return store

    def url_for(self, other, url):
        return url.replace(self.base_url, "http://127.0.0.1:%d" % free_port())
