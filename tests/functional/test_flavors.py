"""`[paste_deploy] flavor` fails closed: each service starts only on Glance's flavors for it.

A registry with anything but `keystone` or no flavor used to run with no authentication and
trust `X-Is-Admin` from anyone, while the api kept working; now both console scripts refuse
to start, as Glance did when no paste pipeline had that name.
"""
import subprocess

import pytest

from tests.conftest import script
from tests.functional.conftest import free_port

TIMEOUT = 60
BAD_REGISTRY = ["keystone+cachemanagement", "keystone+caching", "caching", "Keystone",
                "keystne", "noauth", "trusted-auth", "none"]
BAD_API = ["keystone+cachmanagement", "Keystone", "keystone+", "trusted-auth",
           "trusted-auth+cachemanagement", "noauth", "keystone+caching+cachemanagement"]


def _conf(tmp_path, name, flavor, extra=""):
    path = tmp_path / f"{name}.conf"
    path.write_text(f"""[DEFAULT]
bind_host = 127.0.0.1
bind_port = {free_port()}
workers = 1
registry_host = 127.0.0.1
registry_port = {free_port()}

[database]
connection = sqlite:///{tmp_path}/glance.sqlite

[glance_store]
filesystem_store_datadir = {tmp_path}/images

[paste_deploy]
flavor = {flavor}
{extra}""")
    return path


def _start(tmp_path, name, flavor, extra=""):
    return subprocess.run([script(name), "--config-file", str(_conf(tmp_path, name, flavor,
                                                                      extra))],
                          capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)


@pytest.mark.parametrize("flavor", BAD_REGISTRY)
def test_registry_refuses_to_start_on_a_flavor_it_has_no_pipeline_for(tmp_path, flavor):
    proc = _start(tmp_path, "glance-registry", flavor)
    assert proc.returncode != 0
    assert "Unknown [paste_deploy] flavor %r for glance-registry" % flavor in proc.stderr, \
        proc.stderr
    assert "accepted: 'keystone' or none" in proc.stderr


@pytest.mark.parametrize("flavor", BAD_API)
def test_api_refuses_to_start_on_a_flavor_it_has_no_pipeline_for(tmp_path, flavor):
    proc = _start(tmp_path, "glance-api", flavor)
    assert proc.returncode != 0
    assert "Unknown [paste_deploy] flavor" in proc.stderr, proc.stderr
    assert "for glance-api" in proc.stderr
    assert "'keystone+cachemanagement'" in proc.stderr   # the accepted list


def test_registry_refuses_keystone_with_no_service_roles(tmp_path):
    proc = _start(tmp_path, "glance-registry", "keystone",
                  "\n[keystone_authtoken]\nservice_token_roles =\n")
    assert proc.returncode != 0
    assert "service_token_roles is empty" in proc.stderr, proc.stderr


def test_noauth_registry_warns_loudly_at_start(tmp_path):
    # NOTE: an unset flavor is the embedded default; the service starts but says what it
    # trusts. Stop it once the warning is out.
    conf = _conf(tmp_path, "glance-registry", "")
    subprocess.run([script("glance-manage"), "--config-file", str(conf), "db", "sync"],
                   check=True, capture_output=True, timeout=TIMEOUT, cwd=tmp_path)
    proc = subprocess.Popen([script("glance-registry"), "--config-file", str(conf)],
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            start_new_session=True)
    try:
        line = ""
        for line in proc.stderr:
            if "SECURITY" in line:
                break
        assert "glance-registry runs with no authentication" in line
        assert "may change any image" in line
    finally:
        proc.terminate()
        proc.wait(TIMEOUT)
