"""filesystem_store_timeout: a file call that hangs gives Glance's 503, not a hung request.

A FIFO in place of an image file makes ``open()`` block in the kernel, as a dead NFS mount
does; the api (real gunicorn, ``filesystem_store_timeout = 1``) must answer 503 with
Glance's message and keep serving other requests meanwhile.
"""
import os
import threading
import time

import pytest
import requests

from tests.functional.conftest import User, running_stack


@pytest.fixture(scope="module")
def tstack(tmp_path_factory, worker_id_safe):
    with running_stack(tmp_path_factory, "sqlite", "fs-timeout", worker_id_safe,
                       api_extra="[glance_store]\nfilesystem_store_timeout = 1\n"
                                 "filesystem_store_thread_pool_size = 2\n") as running:
        yield running


def _hang_on_open(path):
    """Replace the file at ``path`` by a FIFO; return a function that unblocks readers."""
    os.unlink(path)
    os.mkfifo(path)

    def release():
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # a waiting reader lets this open
        os.close(fd)
    return release


def test_download_from_a_hanging_file_answers_503(tstack):
    user = User(tstack.api_url)
    image = user.create_image(disk_format="raw", container_format="bare")
    assert user.upload(image["id"], b"x" * 4096).status_code == 204
    other = user.create_image(disk_format="raw", container_format="bare")
    assert user.upload(other["id"], b"y" * 100).status_code == 204
    release = _hang_on_open(tstack.datadir / image["id"])
    try:
        started = time.monotonic()
        resp = user.get("/v2/images/%s/file" % image["id"],
                        headers={"Accept": "application/json"})
        elapsed = time.monotonic() - started
        assert resp.status_code == 503, resp.text
        assert "Operation timed out after 1s. Check storage health and connectivity." \
            in resp.text
        assert 1 <= elapsed < 10
        # The worker is not stuck: other images are served while the open still hangs.
        ok = user.get("/v2/images/%s/file" % other["id"])
        assert (ok.status_code, ok.content) == (200, b"y" * 100)
        assert user.show(image["id"])["status"] == "active"   # nothing changed
    finally:
        release()


def test_many_hanging_calls_do_not_hold_the_api(tstack):
    """More hung calls than pool threads: each still fails at its deadline."""
    user = User(tstack.api_url)
    releases, ids = [], []
    for _ in range(3):
        image = user.create_image(disk_format="raw", container_format="bare")
        assert user.upload(image["id"], b"z" * 10).status_code == 204
        ids.append(image["id"])
        releases.append(_hang_on_open(tstack.datadir / image["id"]))
    try:
        results = []

        def fetch(image_id):
            results.append(requests.get(tstack.api_url + "/v2/images/%s/file" % image_id,
                                        headers=dict(user.session.headers), timeout=30))
        threads = [threading.Thread(target=fetch, args=(i,)) for i in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(r.status_code for r in results) == [503, 503, 503]
        assert user.get("/healthcheck").status_code == 200
    finally:
        for release in releases:
            try:
                release()
            except OSError:
                pass   # no reader left waiting on this one
