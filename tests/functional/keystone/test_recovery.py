"""Start-up recovery authenticates under every Keystone flavor, not just `keystone`.

Recovery (failing the tasks a dead api left running) calls the registry on the service's own
behalf. It used to fetch a service token only when the flavor was exactly `keystone`, so
under `keystone+caching` it got a 401, logged a warning, and left the image in `importing`.
"""
import os
import signal
import time

import pytest

from tests.functional.conftest import Stack
from tests.functional.keystone.conftest import KEYSTONE_FLAVOR, guide_authtoken
from tests.functional.test_tasks_locations import (  # noqa: F401 - www is a fixture
    SHA512, filtering_conf, www,
)

pytestmark = pytest.mark.keystone

TASK_WAIT = 30
INTERRUPTED = "Task interrupted: the glance-api worker running it stopped"


@pytest.fixture
def caching_stack(tmp_path_factory, keystone, www):  # noqa: F811 - the imported fixture
    root = tmp_path_factory.mktemp("ks-caching")
    api_extra = (
        "\n[DEFAULT]\nworkers = 1\nimage_cache_dir = %s/cache\n"
        "worker_self_reference_url = http://w1\n" % root
        + filtering_conf(www)
        + "\n[paste_deploy]\nflavor = keystone+caching\n\n"
        + guide_authtoken("glance-api.conf", keystone.url))
    registry_extra = ("\n[DEFAULT]\nworkers = 1\n" + KEYSTONE_FLAVOR
                      + guide_authtoken("glance-registry.conf", keystone.url))
    stack = Stack(root, "sqlite:///%s/glance.sqlite" % root, "ks-caching",
                  api_extra=api_extra, registry_extra=registry_extra)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def test_keystone_caching_recovers_an_interrupted_location_import(caching_stack, keystone,
                                                                  www):  # noqa: F811
    owner = keystone.user(caching_stack.api_url, "demo")
    image = owner.create_image(name="loc", disk_format="raw", container_format="bare")
    resp = owner.post("/v2/images/%s/locations" % image["id"],
                      json={"url": "http://127.0.0.1:%d/slow" % www,
                            "validation_data": {"os_hash_algo": "sha512",
                                                "os_hash_value": SHA512}})
    assert resp.status_code == 202, resp.text
    deadline = time.monotonic() + TASK_WAIT
    while owner.show(image["id"])["status"] != "importing":
        assert time.monotonic() < deadline, owner.get(
            "/v2/images/%s/tasks" % image["id"]).text
        time.sleep(0.1)
    api = caching_stack.procs.pop("glance-api")
    os.killpg(api.pid, signal.SIGKILL)   # a crash: no clean-up runs
    api.wait(10)
    caching_stack.stop()
    caching_stack.start()
    owner = keystone.user(caching_stack.api_url, "demo")
    rows = owner.get("/v2/images/%s/tasks" % image["id"]).json()["tasks"]
    assert [(t["status"], t["message"]) for t in rows] == [("failure", INTERRUPTED)]
    shown = owner.show(image["id"])
    assert (shown["status"], shown["os_hash_algo"], shown["checksum"]) == ("queued", None,
                                                                         None)
    assert "Could not check for interrupted tasks" not in caching_stack.log_tail("glance-api",
                                                                                 400)
