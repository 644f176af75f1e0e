"""The cinder driver's answers that need no Cinder: the owner of a volume location."""

import pytest
from oslo_config import cfg

from stores import exceptions
from stores.cinder import CinderStore


class FakeCinderApi:
    """Answers GET /volumes/{id} from a dict; other volumes are NotFound."""

    def __init__(self, volumes):
        self.volumes, self.calls = volumes, []

    def call(self, method, path, body=None):
        self.calls.append((method, path))
        volume_id = path.rsplit("/", 1)[-1]
        if volume_id not in self.volumes:
            raise exceptions.NotFound(message="no volume %s" % volume_id)
        return {"volume": self.volumes[volume_id]}


@pytest.fixture
def store():
    conf = cfg.ConfigOpts()
    conf([], project="glance-clone-test", default_config_files=[])
    store = CinderStore(conf, "volumes")
    conf.set_override("cinder_endpoint_template", "http://127.0.0.1:1/v3", "volumes")
    store.api = FakeCinderApi({
        "v-admin": {"id": "v-admin", "os-vol-tenant-attr:tenant_id": "p1"},
        "v-user": {"id": "v-user"}})
    return store


@pytest.mark.parametrize("url", ["cinder://v-admin", "cinder://volumes/v-admin"])
def test_location_project_is_the_volumes_project(store, url):
    assert store.location_project(url) == "p1"
    assert store.api.calls == [("GET", "/volumes/v-admin")]


def test_location_project_unknown_when_cinder_hides_it(store):
    # NOTE: Cinder shows the project to admins only; "" matches no caller's project.
    assert store.location_project("cinder://v-user") == ""


def test_location_project_of_missing_volume_or_bad_uri(store):
    with pytest.raises(exceptions.NotFound):
        store.location_project("cinder://nope")
    with pytest.raises(exceptions.BadStoreUri):
        store.location_project("rbd://a/b/c/d")


class FakeResponse:
    def __init__(self, status_code, body):
        self.status_code, self._body = status_code, body
        self.text = str(body)
        self.content = b"x"

    def json(self):
        return self._body


def _api(attempts, answers):
    from stores.cinder import CinderApi
    conf = cfg.ConfigOpts()
    conf([], project="glance-clone-test", default_config_files=[])
    CinderStore(conf, "volumes")    # registers the options
    conf.set_override("cinder_endpoint_template", "http://127.0.0.1:1/v3", "volumes")
    conf.set_override("cinder_attachment_retry_attempts", attempts, "volumes")
    api = CinderApi(conf.volumes)
    sent = []

    def send(method, path, body):
        sent.append((method, path))
        return answers.pop(0)
    api._send = send
    return api, sent


BUSY = FakeResponse(400, {"badRequest": {"message": "Invalid volume: Volume status must be "
                                                    "available to reserve, but the status "
                                                    "is attaching."}})
BODY = {"attachment": {"volume_uuid": "v1", "mode": "ro", "connector": {}}}


def test_attach_waits_while_the_volume_is_attached_elsewhere():
    # As glance_store's cinder_attachment_retry_attempts: the hash task of a location
    # Cinder just added holds the volume for a while; a download waits instead of failing.
    api, sent = _api(2, [BUSY, FakeResponse(200, {"attachment": {"id": "a1"}})])
    assert api.attach(BODY) == {"id": "a1"}
    assert sent == [("POST", "/attachments")] * 2


def test_attach_gives_up_after_the_attempts():
    api, sent = _api(2, [BUSY, BUSY])
    with pytest.raises(exceptions.InUseByStore):
        api.attach(BODY)
    assert len(sent) == 2
