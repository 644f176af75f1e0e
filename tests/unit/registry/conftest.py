"""Fixtures for unit tests of the registry app: the app over a FakeRepo."""

import falcon.testing
import pytest
from oslo_config import cfg

from glance_registry import config
from tests.unit.registry.fakes import FakeRepo
from glance_db.repos import Repos

ADMIN = {'X-Project-Id': 'admin-project', 'X-User-Id': 'admin-user', 'X-Roles': 'admin,member',
         'X-Is-Admin': 'True'}
USER = {'X-Project-Id': 'p1', 'X-User-Id': 'u1', 'X-Roles': 'member,reader',
        'X-Is-Admin': 'False'}


@pytest.fixture
def conf():
    c = cfg.ConfigOpts()
    config.register_opts(c)
    c([], project='glance', default_config_files=[])
    return c


@pytest.fixture
def repo():
    return FakeRepo()


@pytest.fixture
def client(conf, repo):
    from glance_registry.app import create_app

    return falcon.testing.TestClient(create_app(conf, Repos(images=repo)), headers=USER)
