"""Options, policy_file overrides, keystone seam, cmd/wsgi/control entry points."""

import os
import subprocess
import sys
import time

from glance_api import cmd
from glance_api import config
from glance_api.cli import control
from tests.unit.api.conftest import P1, Env, json_headers, make_conf


def test_defaults():
    conf = make_conf()
    assert (conf.bind_port, conf.registry_port, conf.limit_param_default,
            conf.api_limit_max, conf.image_member_quota, conf.image_location_quota,
            conf.hashing_algorithm, conf.image_size_cap) == \
        (9292, 9191, 25, 1000, 128, 10, 'sha512', 1099511627776)
    assert config.registry_address(conf) == ('127.0.0.1', 9191)
    conf.set_override('registry_host', '10.0.0.5')
    assert config.registry_address(conf) == ('10.0.0.5', 9191)
    names = {opt.name for _group, opts in config.list_opts() for opt in opts}
    assert {'show_image_direct_url', 'enabled_backends', 'disk_formats', 'flavor'} <= names


def test_load_conf_reads_file(tmp_path):
    path = tmp_path / 'glance-api.conf'
    path.write_text('[DEFAULT]\nbind_port = 9999\nimage_tag_quota = 3\n'
                    'enabled_import_methods = [glance-direct,web-download]\n')
    conf = cmd.load_conf(['--config-file', str(path)])
    assert conf.bind_port == 9999 and conf.image_tag_quota == 3
    assert conf.enabled_import_methods == ['glance-direct', 'web-download']


def test_policy_file_is_honoured(tmp_path):
    policy = tmp_path / 'policy.yaml'
    policy.write_text('"get_images": "!"\n"publicize_image": ""\n')
    env = Env(**{'oslo_policy.policy_file': str(policy)})
    resp = env.client.simulate_get('/v2/images', headers=json_headers(P1))
    assert resp.status_code == 403
    resp = env.client.simulate_post('/v2/images', json={'visibility': 'public'}, headers=P1)
    assert resp.status_code == 201


def test_keystone_flavor_requires_identity():
    env = Env(**{'paste_deploy.flavor': 'keystone'})
    app = env.app.v2_app
    assert type(app).__name__ == 'TokenMemo'
    assert type(app._auth).__name__ == 'AuthProtocol'
    # versions and healthcheck need no token
    assert env.client.simulate_get('/').status_code == 300
    assert env.client.simulate_get('/healthcheck').status_code == 200


def test_wsgi_module_builds_app(tmp_path, monkeypatch):
    path = tmp_path / 'glance-api.conf'
    path.write_text('[DEFAULT]\nregistry_port = 1\n')
    env = dict(os.environ, GLANCE_API_CONFIG=str(path), PYTHONPATH=os.getcwd())
    out = subprocess.run([sys.executable, '-c', 'import glance_api.wsgi as w; '
                          'print(callable(w.application))'],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == 'True', out.stderr


def test_control_start_status_stop(tmp_path, capsys, monkeypatch):
    pid_file = tmp_path / 'api.pid'
    script = tmp_path / 'glance-api'
    script.write_text('#!/bin/sh\nexec sleep 30\n')
    script.chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (tmp_path, os.environ['PATH']))
    args = ['api', '--pid-file', str(pid_file)]
    assert control.main(args[:1] + ['status'] + args[1:]) == 1
    assert 'glance-api is stopped' in capsys.readouterr().out
    assert control.main(args[:1] + ['start'] + args[1:]) == 0
    pid = int(pid_file.read_text())
    time.sleep(0.1)
    assert control.main(args[:1] + ['status'] + args[1:]) == 0
    assert 'glance-api (pid %d) is running...' % pid in capsys.readouterr().out
    assert control.main(args[:1] + ['stop'] + args[1:]) == 0
    assert not pid_file.exists()
    assert 'Stopping glance-api (pid %d) with signal(15)' % pid in capsys.readouterr().out
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
