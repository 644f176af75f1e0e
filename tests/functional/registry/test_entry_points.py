"""The glance-registry console script and glance_registry.wsgi:application."""

import importlib
import subprocess
import sys

import falcon.testing

from tests.conftest import script


def test_wsgi_application_reads_env_config(tmp_path, sqlite_url, monkeypatch):
    conf = tmp_path / 'reg.conf'
    conf.write_text('[database]\nconnection = %s\n' % sqlite_url)
    monkeypatch.setenv('GLANCE_REGISTRY_CONFIG', str(conf))
    sys.modules.pop('glance_registry.wsgi', None)
    app = importlib.import_module('glance_registry.wsgi').application
    try:
        assert falcon.testing.simulate_get(app, '/healthcheck').text == 'OK'
        resp = falcon.testing.simulate_post(app, '/images', json={'image': {'name': 'w'}},
                                            headers={'X-Is-Admin': 'True'})
        assert resp.status_code == 201
        got = falcon.testing.simulate_get(app, '/images/%s' % resp.json['image']['id'],
                                          headers={'X-Is-Admin': 'True'})
        assert got.json['image']['name'] == 'w'
    finally:
        sys.modules.pop('glance_registry.wsgi', None)


def test_missing_database_connection_is_a_clear_error(tmp_path):
    conf = tmp_path / 'reg.conf'
    conf.write_text('[DEFAULT]\nbind_host = 127.0.0.1\nbind_port = 0\n')
    proc = subprocess.run([script('glance-registry'), '--config-file', str(conf)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert 'connection' in proc.stderr and 'Traceback' not in proc.stderr


def test_bad_option_value_is_a_clear_error(tmp_path):
    conf = tmp_path / 'reg.conf'
    conf.write_text('[database]\nconnection = sqlite://\nmax_pool_size = many\n')
    proc = subprocess.run([script('glance-registry'), '--config-file', str(conf)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert 'max_pool_size' in proc.stderr and 'Traceback' not in proc.stderr
