"""Fixtures of the store tests: configured drivers and a real local HTTP server."""

import http.server
import os
import re
import sys
import threading

import pytest
from oslo_config import cfg

from stores import config
from stores.filesystem import FilesystemStore
from stores.http import HttpStore

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class Handler(http.server.BaseHTTPRequestHandler):
    """Serve files of ``server.docroot`` with a few test-controlled behaviours.

    /files/<name>            the file, honouring Range
    /norange/<name>          the file, ignoring Range (200 with the whole body)
    /nohead/<name>           the file; HEAD answers 405
    /redirect/<n>/<name>     302 chain of n hops ending at /files/<name>
    /redirect307/<name>      one 307 hop to /files/<name>
    /redirect-file/<name>    302 to file:///etc/passwd
    /status/<code>           an empty answer with that status
    /truncated/<name>        announces the full length, sends half, closes
    """

    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def do_HEAD(self):  # noqa: N802 - http.server naming
        if self.path.startswith("/nohead/"):
            self._empty(405)
        else:
            self._route(head=True)

    def do_GET(self):  # noqa: N802
        self._route(head=False)

    def _route(self, head):
        parts = self.path.split("/")
        kind = parts[1] if len(parts) > 1 else ""
        if kind == "redirect":
            hops = int(parts[2])
            target = ("/files/%s" % parts[3] if hops <= 1
                      else "/redirect/%d/%s" % (hops - 1, parts[3]))
            return self._redirect(302, target)
        if kind == "redirect307":
            return self._redirect(307, "/files/%s" % parts[2])
        if kind == "redirect-file":
            return self._redirect(302, "file:///etc/passwd")
        if kind == "status":
            return self._empty(int(parts[2]))
        if kind in ("files", "norange", "nohead", "truncated") and len(parts) == 3:
            return self._file(parts[2], head, kind)
        return self._empty(404)

    def _redirect(self, code, target):
        self.send_response(code)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _empty(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _file(self, name, head, kind):
        path = os.path.join(self.server.docroot, name)
        if not os.path.isfile(path):
            return self._empty(404)
        with open(path, "rb") as f:
            data = f.read()
        start, end, status = 0, len(data), 200
        match = _RANGE.match(self.headers.get("Range", ""))
        if match and kind != "norange":
            start = int(match.group(1))
            end = min(len(data), int(match.group(2)) + 1) if match.group(2) else len(data)
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(data))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        body = data[start:end]
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, len(data)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if head:
            return
        if kind == "truncated":
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)


class QuietServer(http.server.ThreadingHTTPServer):
    """A threaded server that does not print clients hanging up early."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


@pytest.fixture(scope="session")
def http_server(tmp_path_factory):
    """Run a threaded HTTP server on 127.0.0.1:<ephemeral>; yield (base_url, docroot)."""
    docroot = str(tmp_path_factory.mktemp("docroot"))
    server = QuietServer(("127.0.0.1", 0), Handler)
    server.docroot = docroot
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1], docroot
    server.shutdown()
    server.server_close()


def make_conf(group="glance_store", **overrides):
    """Return a ConfigOpts with the store options registered and ``overrides`` set."""
    conf = cfg.ConfigOpts()
    conf([], project="glance-clone-test")
    config.register_opts(conf)
    if group != "glance_store":
        config.register_opts(conf, group=group)
    for name, value in overrides.items():
        conf.set_override(name, value, group=group)
    return conf


@pytest.fixture
def datadir(tmp_path):
    """Return an empty data directory."""
    path = tmp_path / "images"
    path.mkdir()
    return str(path)


@pytest.fixture
def file_store(datadir):
    """Return a configured FilesystemStore writing to ``datadir``."""
    store = FilesystemStore(make_conf(filesystem_store_datadir=datadir))
    store.configure()
    return store


@pytest.fixture
def http_store():
    """Return a configured HttpStore."""
    return HttpStore(make_conf())

