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


def app_factory(conf):
    """Return a callable building the app (registry client, stores) in each worker."""
    def build():
        from glance_api.app import create_app
        from glance_server import metrics

        return metrics.wrap(conf, create_app(conf))   # + /metrics, beside /healthcheck
    return build


def check_auth(conf):
    """Refuse an unknown flavor; warn loudly when the api runs without authentication.

    :raises flavors.UnknownFlavor:
    """
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
    logging.basicConfig(level=logging.INFO,
                        format='%(asctime)s %(process)d %(levelname)s %(name)s %(message)s')
    try:
        conf = load_conf(argv)
        check_auth(conf)
    except (cfg.Error, flavors.UnknownFlavor) as e:
        sys.exit('ERROR: %s' % e)
    try:
        property_protections.load(conf)   # NOTE: a bad rules file stops the start here.
    except exceptions.InvalidPropertyProtectionConfiguration as e:
        sys.exit('ERROR: %s' % e)
    from glance_api import wiring
    wiring.recover_on_start(conf)   # tasks a dead api left pending/processing
    from glance_api.app import moves_image_data
    from glance_server import gunicorn_runner
    gunicorn_runner.serve(
        app_factory(conf), bind_host=conf.bind_host, bind_port=conf.bind_port,
        workers=conf.workers, threads=conf.threads, proc_name='glance-api',
        transfer_threads=conf.transfer_threads, header_timeout=conf.client_header_timeout,
        moves_image_data=moves_image_data,
        # SECURITY: python-glanceclient's v1 headers have underscores
        # (x-image-meta-disk_format), which gunicorn drops by default. They are read into
        # the same WSGI keys as the dashed names; keystonemiddleware removes identity
        # headers by those keys, so neither spelling passes a forged identity
        # (docs/security.md).
        header_map='dangerous' if conf.enable_v1_api else None)
