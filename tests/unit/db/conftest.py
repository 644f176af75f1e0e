"""Fixtures: one scratch database per backend and test module, emptied before each test."""

import pytest
from sqlalchemy import delete

from glance_db.api import ImageRepo
from glance_db.engine import create_engine
from glance_db.models import metadata
from tests.unit.db.backends import BACKEND_PARAMS, scratch_database


@pytest.fixture(scope="module", params=BACKEND_PARAMS)
def db_engine(request, tmp_path_factory):
    """Yield an engine on a fresh database of the parametrized backend with the schema."""
    with scratch_database(request.param, tmp_path_factory.mktemp("db")) as url:
        engine = create_engine(url)
        metadata.create_all(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def repo(db_engine):
    """Return an ImageRepo over an emptied database."""
    with db_engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(delete(table))
    return ImageRepo(db_engine)
