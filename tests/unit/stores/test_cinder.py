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
