"""The ``glance-api`` console script: the api app under gunicorn."""

import logging
import sys

from oslo_config import cfg

from glance_api import config
from glance_api import exceptions
from glance_api.rules import property_protections
from glance_server import flavors

LOG = logging.getLogger(__name__)


def load_conf(argv=None, default_config_files=None):
    """Parse the command line and config files into a new ConfigOpts.

    Without ``--config-file``, oslo.config looks for glance-api.conf and glance.conf in
    ~/.glance, ~, /etc/glance and /etc, like Glance (so /etc/glance/glance-api.conf is
    read when present).
    """
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf(argv if argv is not None else sys.argv[1:], project='glance', prog='glance-api',
         default_config_files=default_config_files)
    return conf


def app_factory(conf, service_auth=None):
    """Return a callable building the app (registry client, stores) in each worker.

    ``service_auth`` (made in the master) gives every worker the same service token.
    """
    def build():
        from glance_api.app import create_app
        from glance_server import metrics

        app = create_app(conf, service_auth=service_auth)
        return metrics.wrap(conf, app)   # + /metrics, beside /healthcheck
    return build


def warn_unauthenticated(conf):
    """Warn loudly when the api runs without authentication (a valid flavor assumed)."""
    if flavors.of(conf, 'glance-api').keystone:
        return
    LOG.warning(
        'SECURITY: glance-api runs with no authentication ([paste_deploy] flavor is %r): '
        'every caller acts as the project and roles its headers claim, and a request '
        'without them as an admin. Use a keystone flavor (with [keystone_authtoken]) '
        'anywhere but a closed test set-up. See docs/security.md.',
        conf.paste_deploy.flavor or '')


def main(argv=None):
    """Run glance-api under gunicorn until SIGTERM."""
    try:
        conf = load_conf(argv)
        flavors.of(conf, 'glance-api')
        config.check_middleware_opts(conf)   # NOTE: read in each worker, so checked here
    except (cfg.Error, flavors.UnknownFlavor) as e:
        sys.exit('ERROR: %s' % e)
    try:
        property_protections.load(conf)   # NOTE: a bad rules file stops the start here.
    except exceptions.InvalidPropertyProtectionConfiguration as e:
        sys.exit('ERROR: %s' % e)
    # NOTE: logging starts once the configuration is known good, so a refusal is the only
    # thing a failed start prints.
    logging.basicConfig(level=logging.INFO,
                        format='%(asctime)s %(process)d %(levelname)s %(name)s %(message)s')
    warn_unauthenticated(conf)
    from glance_api import wiring
    from glance_api.web.service_auth import ServiceAuth
    # NOTE: one service token for the master and every worker it forks (the registries'
    # token caches then know it once), renewed by each process when it nears expiry.
    service_auth = ServiceAuth(conf)
    wiring.recover_on_start(conf, service_auth)   # tasks a dead api left pending/processing
    from glance_api.app import moves_image_data
    from glance_server import gunicorn_runner
    gunicorn_runner.serve(
        app_factory(conf, service_auth), bind_host=conf.bind_host, bind_port=conf.bind_port,
        workers=conf.workers, threads=conf.threads, proc_name='glance-api',
        transfer_threads=conf.transfer_threads, transfer_process=conf.transfer_process,
        transfer_nice=conf.transfer_nice, header_timeout=conf.client_header_timeout,
        moves_image_data=moves_image_data,
        # SECURITY: python-glanceclient's v1 headers have underscores
        # (x-image-meta-disk_format), which gunicorn drops by default. They are read into
        # the same WSGI keys as the dashed names; keystonemiddleware removes identity
        # headers by those keys, so neither spelling passes a forged identity
        # (docs/security.md).
        header_map='dangerous' if conf.enable_v1_api else None)
