"""``application`` for external WSGI servers (uwsgi, mod_wsgi, gunicorn glance_api.wsgi).

Config files: ``GLANCE_API_CONFIG`` (comma-separated paths) or Glance's default search
(glance-api.conf in ~/.glance, ~, /etc/glance, /etc).
"""

import os

from glance_api import cmd
from glance_api.app import create_app
from glance_server import metrics


def _config_files():
    paths = os.environ.get('GLANCE_API_CONFIG')
    return [p.strip() for p in paths.split(',') if p.strip()] if paths else None


_conf = cmd.load_conf([], default_config_files=_config_files())
application = metrics.wrap(_conf, create_app(_conf))
