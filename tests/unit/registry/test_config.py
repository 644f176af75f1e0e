"""Options, the keystone seam and the import boundary of glance_registry."""

import subprocess
import sys

from keystonemiddleware import auth_token
from oslo_config import cfg

from glance_registry import config
from glance_registry.app import create_app
from glance_server import token_memo
from tests.unit.registry.fakes import FakeRepo
from glance_db.repos import Repos


def test_glance_defaults(conf):
    assert (conf.bind_host, conf.bind_port, conf.workers) == ('0.0.0.0', 9191, None)
    assert (conf.registry_host, conf.registry_port) == ('0.0.0.0', 9191)
    assert conf.registry_client_timeout == 600
    assert conf.paste_deploy.flavor is None
    assert conf.database.connection is None


def test_config_file_overrides(tmp_path):
    path = tmp_path / 'glance-registry.conf'
    path.write_text('[DEFAULT]\nbind_host = 127.0.0.1\nbind_port = 19191\nworkers = 3\n'
                    '[paste_deploy]\nflavor = keystone\n'
                    '[database]\nconnection = sqlite:///x.db\n')
    from glance_registry.cmd import load_conf

    conf = load_conf(['--config-file', str(path)])
    assert (conf.bind_host, conf.bind_port, conf.workers) == ('127.0.0.1', 19191, 3)
    assert conf.paste_deploy.flavor == 'keystone'
    assert conf.database.connection == 'sqlite:///x.db'


def test_client_opts_alone():
    conf = cfg.ConfigOpts()
    config.register_client_opts(conf)
    conf([], default_config_files=[])
    assert conf.registry_port == 9191
    assert not hasattr(conf, 'bind_port')


def test_list_opts_names():
    groups = dict(config.list_opts())
    names = {o.name for o in groups['DEFAULT']}
    assert {'bind_host', 'bind_port', 'workers', 'registry_host', 'registry_port',
            'registry_client_timeout'} <= names
    assert [o.name for o in groups['paste_deploy']] == ['flavor']


def test_keystone_flavor_wraps_with_auth_token(conf):
    conf.set_override('flavor', 'keystone', group='paste_deploy')
    app = create_app(conf, Repos(images=FakeRepo()))
    # keystonemiddleware's auth_token, behind the per-worker memo of what it concluded
    assert isinstance(app, token_memo.TokenMemo)
    assert isinstance(app._auth, auth_token.AuthProtocol)


def test_client_does_not_load_the_database_stack():
    code = ('import sys, glance_registry.client, glance_registry.exceptions, '
            'glance_server.gunicorn_runner; '
            'print(sorted(m for m in ("sqlalchemy", "falcon", "glance_db", "pymysql", '
            '"glance_registry.app") if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == '[]'
