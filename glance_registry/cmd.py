"""The ``glance-registry`` console script."""

import logging
import sys

from oslo_config import cfg

from glance_registry import config
from glance_server import gunicorn_runner
from glance_server import flavors

LOG = logging.getLogger(__name__)

# NOTE: each gthread thread may hold one DB connection; the DB pool (max_pool_size +
# max_overflow) is larger than this, so a thread never waits for a connection.
THREADS = 8


def load_conf(argv=None, default_config_files=None):
    """Parse the command line and config files into a new ConfigOpts.

    Without ``--config-file``, oslo.config looks for glance-registry.conf and glance.conf
    in ~/.glance, ~, /etc/glance and /etc, like Glance.
    """
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf(argv if argv is not None else sys.argv[1:], project='glance',
         prog='glance-registry', default_config_files=default_config_files)
    return conf


def app_factory(conf):
    """Return a callable building the app (engine, repo) in the calling process."""
    def build():
        from glance_server import metrics
        from glance_registry.app import create_app

        return metrics.wrap(conf, create_app(conf))   # + /metrics, outside keystone
    return build


def check_values(conf):
    """Convert every option once, so a bad value fails at start, not in every worker.

    :raises cfg.ConfigFileValueError:
    """
    for name in conf:
        value = getattr(conf, name)
        if isinstance(value, cfg.ConfigOpts.GroupAttr):
            for opt in value:
                getattr(value, opt)


def server_settings(conf):
    """Read and check the options of the server; return ``gunicorn_runner.serve`` kwargs.

    :raises cfg.Error: an option has a bad value. :raises ConnectionNotConfigured:
    """
    from glance_db.config import connection_url

    connection_url(conf)
    keepalive = (conf.client_socket_timeout or 2) if conf.http_keepalive else 0
    return {'bind_host': conf.bind_host, 'bind_port': conf.bind_port,
            'workers': conf.workers, 'threads': THREADS, 'proc_name': 'glance-registry',
            'keepalive': keepalive, 'backlog': conf.backlog,
            'header_timeout': conf.client_header_timeout}


def check_auth(conf):
    """Refuse an unknown flavor; warn loudly when the registry runs without authentication.

    :raises flavors.UnknownFlavor, app.NoServiceRoles:
    """
    from glance_registry import app

    if flavors.of(conf, 'glance-registry').keystone:
        app.service_token_roles(conf)
        return
    LOG.warning(
        'SECURITY: glance-registry runs with no authentication ([paste_deploy] flavor is '
        'unset): whoever reaches %s:%s acts as any project, admin included, and may change '
        'any image. Only glance-api may be able to reach this port (bind_host = 127.0.0.1 or '
        'a firewall); set flavor = keystone on both services otherwise. See '
        'docs/security.md.', conf.bind_host, conf.bind_port)


def main(argv=None):
    """Run glance-registry under gunicorn until SIGTERM."""
    from glance_db.config import ConnectionNotConfigured
    from glance_registry.app import NoServiceRoles

    logging.basicConfig(level=logging.INFO,
                        format='%(asctime)s %(process)d %(levelname)s %(name)s %(message)s')
    try:
        conf = load_conf(argv)
        check_values(conf)
        settings = server_settings(conf)
        check_auth(conf)
    except (cfg.Error, ConnectionNotConfigured, flavors.UnknownFlavor, NoServiceRoles) as e:
        sys.exit('ERROR: %s' % e)
    gunicorn_runner.serve(app_factory(conf), **settings)
