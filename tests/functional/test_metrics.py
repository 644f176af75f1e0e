"""GET /metrics on glance-api and glance-registry (Prometheus text; beyond Glance).

Each service runs two gunicorn workers: the counters must add up across them, so every
delta below is exact whichever worker served a request or the scrape.
"""
import concurrent.futures
import os
import time

import pytest
import requests

from tests.functional.conftest import Stack, User

parser = pytest.importorskip("prometheus_client.parser")

SHOW_ROUTE = "/v2/images/{image_id}"


@pytest.fixture(scope="module")
def metered(tmp_path_factory):
    """A stack of its own (two workers each), so no other test moves its counters."""
    root = tmp_path_factory.mktemp("stack-metrics")
    running = Stack(root, f"sqlite:///{root}/glance.sqlite", "metrics")
    running.prom_dir = root / "prom"
    saved = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(running.prom_dir)   # read at spawn only
    try:
        try:
            running.start()
        finally:
            if saved is None:
                del os.environ["PROMETHEUS_MULTIPROC_DIR"]
            else:
                os.environ["PROMETHEUS_MULTIPROC_DIR"] = saved
        yield running
    finally:
        running.stop()


def scrape(url):
    """Return {(sample name, sorted label items): value} from ``url``/metrics."""
    resp = requests.get(url + "/metrics", timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in parser.text_string_to_metric_families(resp.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before, after, name, **labels):
    return value(after, name, **labels) - value(before, name, **labels)


def worker_pids(metered):
    """Return the pids of the api workers that wrote samples so far."""
    files = os.listdir(metered.prom_dir / "glance-api")
    return {f.rsplit("_", 1)[1] for f in files if f.startswith("counter_")}


def test_counts_latency_and_bytes_add_up_across_workers(metered):
    user = User(metered.api_url)
    # NOTE: bursts of concurrent new connections until both workers have served (and so
    # written) something: one at a time, a loaded machine may hand them all to one worker.
    deadline = time.monotonic() + 60
    while len(worker_pids(metered)) < 2 and time.monotonic() < deadline:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: requests.get(metered.api_url + "/healthcheck",
                                                 timeout=10), range(8)))
    assert len(worker_pids(metered)) == 2
    api0, reg0 = scrape(metered.api_url), scrape(metered.registry_url)
    data = os.urandom(256 * 1024 + 3)

    images = [user.create_image(disk_format="raw", container_format="bare") for _ in range(3)]
    for _ in range(7):
        # NOTE: a new connection each, so both workers serve some of them.
        resp = requests.get(f"{metered.api_url}/v2/images/{images[0]['id']}",
                            headers=dict(user.session.headers), timeout=10)
        assert resp.status_code == 200
    assert user.get("/v2/images/%s" % ("0" * 32)).status_code == 404
    assert user.upload(images[0]["id"], data).status_code == 204
    assert user.get(f"/v2/images/{images[0]['id']}/file").content == data
    bad = user.upload(images[1]["id"], b"x" * 10, **{"x-openstack-image-size": "11"})
    assert bad.status_code == 400

    api1, reg1 = scrape(metered.api_url), scrape(metered.registry_url)
    requests_total = "glance_http_requests_total"
    assert delta(api0, api1, requests_total, route="/v2/images", method="POST",
                 status="201") == 3
    assert delta(api0, api1, requests_total, route=SHOW_ROUTE, method="GET",
                 status="200") == 7
    assert delta(api0, api1, requests_total, route=SHOW_ROUTE, method="GET",
                 status="404") == 1
    assert delta(api0, api1, requests_total, route="/v2/images/{image_id}/file",
                 method="PUT", status="204") == 1
    assert delta(api0, api1, "glance_http_request_duration_seconds_count", route=SHOW_ROUTE,
                 method="GET", status="200") == 7
    assert delta(api0, api1, "glance_http_request_duration_seconds_bucket", route=SHOW_ROUTE,
                 method="GET", status="200", le="+Inf") == 7
    assert delta(api0, api1, "glance_http_request_duration_seconds_sum", route=SHOW_ROUTE,
                 method="GET", status="200") > 0
    assert delta(api0, api1, "glance_store_bytes_in_total", store="file") == len(data)
    assert delta(api0, api1, "glance_store_bytes_out_total", store="file") == len(data)
    assert delta(api0, api1, "glance_upload_failures_total", reason="BadRequest") == 1
    # /metrics itself is not counted
    assert not [k for k in api1 if ("route", "/metrics") in k[1]]
    # the registry: one image create per api create (its own route templates)
    assert delta(reg0, reg1, requests_total, route="/images", method="POST",
                 status="201") == 3


def test_metrics_need_no_credentials_and_healthcheck_is_counted(metered):
    before = scrape(metered.api_url)
    for _ in range(4):
        assert requests.get(metered.api_url + "/healthcheck", timeout=10).status_code == 200
    after = scrape(metered.api_url)
    assert delta(before, after, "glance_http_requests_total", route="/healthcheck",
                 method="GET", status="200") == 4
