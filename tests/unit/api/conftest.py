"""Fixtures: a glance-api app over the fake registry, and identity headers."""

import json
import wsgiref.validate

import falcon.testing
import pytest
from oslo_config import cfg

from glance_api import config
from glance_api.app import create_app
from tests.unit.api.fakes import FakeRegistry, FakeStores

# NOTE: Glance (WebOb) sends Content-Type on its empty 204s and so do we; the WSGI lint that
# falcon's test client runs forbids that, so its content-type check is switched off here.
wsgiref.validate.check_content_type = lambda status, headers: None

P1 = {'X-Identity-Status': 'Confirmed', 'X-Roles': 'member,reader', 'X-Project-Id': 'p1',
      'X-User-Id': 'u1'}
P2 = dict(P1, **{'X-Project-Id': 'p2', 'X-User-Id': 'u2'})
P3 = dict(P1, **{'X-Project-Id': 'p3', 'X-User-Id': 'u3'})
READER = dict(P1, **{'X-Roles': 'reader'})
ADMIN = dict(P1, **{'X-Roles': 'admin,member,reader', 'X-Project-Id': 'adminp'})
PATCH21 = 'application/openstack-images-v2.1-json-patch'
PATCH20 = 'application/openstack-images-v2.0-json-patch'


def make_conf(tmp_path=None, **overrides):
    """Return a ConfigOpts with the api options and the given [DEFAULT] overrides."""
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf([], project='glance', default_config_files=[], default_config_dirs=[])
    for key, value in overrides.items():
        group = None
        if '.' in key:
            group, key = key.split('.')
        conf.set_override(key, value, group=group)
    return conf


class Env:
    """An app, its fake registry and stores, and a falcon test client."""

    def __init__(self, **overrides):
        self.conf = make_conf(**overrides)
        self.registry = FakeRegistry()
        self.stores = FakeStores()
        self.app = create_app(self.conf, registry=self.registry, stores=self.stores)
        self.client = falcon.testing.TestClient(self.app)

    def create(self, headers=P1, **body):
        """Create an image through the api; return its JSON."""
        resp = self.client.simulate_post('/v2/images', json=body, headers=headers)
        assert resp.status_code == 201, resp.text
        return resp.json

    def patch(self, image_id, ops, headers=P1, media=PATCH21):
        """PATCH an image with JSON-patch ops."""
        return self.client.simulate_patch('/v2/images/%s' % image_id, body=json.dumps(ops),
                                          headers=dict(headers, **{'Content-Type': media}))

    def message(self, resp):
        """Return the 'message' of a JSON error body."""
        return resp.json['message']


@pytest.fixture
def env():
    return Env()


def json_headers(headers):
    """Return headers asking for JSON error bodies."""
    return dict(headers, Accept='application/json')
