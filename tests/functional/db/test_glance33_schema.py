"""Drop-in check against real Glance 33: its databases are ours and ours are its."""

import json
import os
import pathlib
import subprocess
import sys
import uuid

import pytest

from glance_db.api import ImageRepo
from glance_db.engine import create_engine
from tests.unit.db.backends import scratch_database
from tests.unit.db.schemadump import differences, dump

pytestmark = pytest.mark.oracle
ROOT = pathlib.Path(__file__).resolve().parents[3]
HERE = pathlib.Path(__file__).resolve().parent
HEAD = "2024_1_contract01"
BACKENDS = [pytest.param("sqlite", id="sqlite"),
            pytest.param("mariadb", id="mariadb", marks=pytest.mark.mariadb)]


@pytest.fixture(scope="session")
def glance33():
    """Return the bin/ directory of a venv with real Glance 33.0.0 (built once)."""
    proc = subprocess.run(["bash", str(ROOT / "tools" / "glance33-venv.sh")],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        pytest.skip("pip could not install glance==33.0.0: %s" % proc.stderr[-500:])
    return pathlib.Path(proc.stdout.strip().splitlines()[-1]) / "bin"


def _conf(tmp_path, url):
    conf = tmp_path / ("glance-%s.conf" % uuid.uuid4().hex[:8])
    conf.write_text("[database]\nconnection = %s\n" % url)
    return str(conf)


def _run(args, **kw):
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)
    return proc.returncode, proc.stdout.strip(), proc.stderr


def _our_manage(conf, *args):
    return _run([sys.executable, "-m", "glance_db.manage", "--config-file", conf, *args],
                cwd=str(ROOT))


def _real_sync(glance33, url, tmp_path):
    code, out, err = _run([str(glance33 / "glance-manage"), "--config-file",
                           _conf(tmp_path, url), "db_sync"])
    assert code == 0, err[-2000:]
    assert "Database is synced successfully." in out


@pytest.fixture(scope="module", params=BACKENDS)
def real_db(request, glance33, tmp_path_factory):
    """Yield (backend, URL) of a database made by real Glance 33's db_sync."""
    tmp_path = tmp_path_factory.mktemp("real")
    with scratch_database(request.param, tmp_path) as url:
        _real_sync(glance33, url, tmp_path)
        yield request.param, url


EXTRA_INDEX = ("owner_created_at_image_idx", ("owner", "created_at"), False)


def test_real_glance_database_is_current_for_us(real_db, tmp_path):
    _, url = real_db
    conf = _conf(tmp_path, url)
    assert _our_manage(conf, "db", "version")[:2] == (0, HEAD)
    assert _our_manage(conf, "db", "check")[0] == 0
    # sync adds our one index (glance_db/migration.py: EXTRA_INDEXES), once
    assert _our_manage(conf, "db", "sync")[:2] == (
        0, "Database is up to date. No migrations needed.\n"
           "Added index owner_created_at_image_idx on images (owner, created_at), which "
           "Glance's schema lacks and Glance ignores.")
    assert EXTRA_INDEX in dump(url)["images"]["indexes"]
    assert _our_manage(conf, "db", "sync")[:2] == (
        0, "Database is up to date. No migrations needed.")
    assert _our_manage(conf, "db", "version")[:2] == (0, HEAD)


def test_images_cross_read(glance33, real_db):
    _, url = real_db
    engine = create_engine(url)
    repo = ImageRepo(engine)
    ours = repo.image_create({"name": "from-us", "owner": "p9", "visibility": "public",
                              "status": "active", "size": 7,
                              "properties": {"k": "v"}, "tags": ["a", "b"],
                              "locations": [{"url": "file:///x", "metadata": {"s": 1}}]})
    repo.member_create(ours["id"], "p3")
    theirs_id = str(uuid.uuid4())
    code, out, err = _run([str(glance33 / "python"), str(HERE / "glance33_dbapi.py"),
                           url, theirs_id, ours["id"]])
    assert code == 0, err[-2000:]
    assert json.loads(out.splitlines()[-1]) == {
        "name": "from-us", "status": "active", "owner": "p9", "visibility": "public",
        "size": 7, "properties": {"k": "v"}, "tags": ["a", "b"],
        "locations": [{"url": "file:///x", "metadata": {"s": 1}, "status": "active"}],
        "members": ["p3"]}
    theirs = repo.image_get(theirs_id, project_id="p1", is_admin=False)
    engine.dispose()
    assert {k: theirs[k] for k in ("name", "status", "visibility", "owner", "size",
                                   "virtual_size", "checksum", "os_hash_algo", "min_ram",
                                   "min_disk", "protected", "os_hidden", "deleted")} == {
        "name": "from-glance", "status": "active", "visibility": "private", "owner": "p1",
        "size": 123, "virtual_size": 456, "checksum": "c" * 32, "os_hash_algo": "sha512",
        "min_ram": 1, "min_disk": 2, "protected": True, "os_hidden": False, "deleted": False}
    assert theirs["properties"] == {"hw_disk_bus": "scsi", "os_distro": "cirros"}
    assert theirs["tags"] == ["t1", "t2"]
    assert theirs["locations"] == [{
        "id": theirs["locations"][0]["id"], "status": "active", "metadata": {"store": "fast"},
        "url": "file:///var/lib/glance/images/%s" % theirs_id}]
    assert theirs["created_at"] and theirs["updated_at"]


def test_schema_equals_real_glance(real_db, tmp_path):
    backend, real_url = real_db
    with scratch_database(backend, tmp_path) as our_url:
        code, out, err = _our_manage(_conf(tmp_path, our_url), "db", "sync")
        assert code == 0, err
        real, ours = dump(real_url), dump(our_url)
    assert sorted(real) == sorted(ours)
    # Glance's schema and our one index (which an earlier test's sync may have added to
    # the real database already)
    assert EXTRA_INDEX in ours["images"]["indexes"]
    for schema in (real, ours):
        schema["images"]["indexes"] = [
            ix for ix in schema["images"]["indexes"] if ix != EXTRA_INDEX]
    assert differences(real, ours) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_glance_runs_on_our_database(glance33, backend, tmp_path):
    with scratch_database(backend, tmp_path) as url:
        conf = _conf(tmp_path, url)
        assert _our_manage(conf, "db", "sync")[0] == 0
        code, out, err = _run([str(glance33 / "glance-manage"), "--config-file", conf,
                               "db_sync"])
        assert code == 0, err[-2000:]
        assert "Database is up to date. No migrations needed." in out
        code, out, err = _run([str(glance33 / "glance-manage"), "--config-file", conf,
                               "db", "check"])
        assert code == 0, err[-2000:] + out
        engine = create_engine(url)
        ours = ImageRepo(engine).image_create({"name": "from-us", "owner": "p9",
                                               "status": "active", "size": 7})
        theirs_id = str(uuid.uuid4())
        code, out, err = _run([str(glance33 / "python"), str(HERE / "glance33_dbapi.py"),
                               url, theirs_id, ours["id"]])
        assert code == 0, err[-2000:]
        assert json.loads(out.splitlines()[-1])["name"] == "from-us"
        # Glance's writes keep our index: a project's own page finds Glance's image
        page = ImageRepo(engine).image_list(project_id="p1", visibility="private", limit=20)
        engine.dispose()
        assert [i["id"] for i in page] == [theirs_id]


def test_venv_script_is_idempotent(glance33):
    code, out, _ = _run(["bash", str(ROOT / "tools" / "glance33-venv.sh")])
    assert code == 0 and pathlib.Path(out.splitlines()[-1]) / "bin" == glance33
    assert os.access(glance33 / "glance-manage", os.X_OK)
