"""``glance-manage db load_metadefs PATH``: the path given in order, as Glance 33 takes it."""
import pytest

from tests.functional.conftest import User
from tests.functional.test_metadefs import FIXTURES

COMMON = "/v2/metadefs/namespaces/OS::Glance::CommonImageProperties"
ADMIN = "admin,member,reader"


def test_load_metadefs_takes_the_path_in_order(stack):
    admin = User(stack.api_url, roles=ADMIN)
    stack.manage("db", "unload_metadefs")
    assert admin.get(COMMON).status_code == 404
    stack.manage("db", "load_metadefs", str(FIXTURES))
    assert admin.get(COMMON).status_code == 200
    # then merge (positional too, as Glance's action_args): loads again over what is there
    stack.manage("db", "load_metadefs", str(FIXTURES), "True")
    assert admin.get(COMMON).status_code == 200
    with pytest.raises(RuntimeError, match="takes at most 4 arguments"):
        stack.manage("db", "load_metadefs", str(FIXTURES), "1", "1", "1", "1")
    with pytest.raises(RuntimeError, match="takes at most 1 arguments"):
        stack.manage("db", "export_metadefs", str(FIXTURES), "extra")
