"""glance-scrubber: delete the image data queued for deletion (docs/glance-api.md §17).

As Glance's scrubber it deletes, ``scrub_time`` seconds after the delete, the data of
images deleted with ``delayed_delete`` and then marks them ``deleted``; ``--restore ID``
brings such an image back to ``active``; ``--daemon`` runs every ``wakeup_time`` seconds.

Beyond Glance it also deletes what failed or interrupted uploads left in the stores: every
upload records the URL it writes before its first byte (glance_api.data.uploads.Reservation). A
failed upload whose store could not be reached leaves that record; an api that died
mid-upload leaves it and its image in ``saving``: once the image has not been touched for
``stalled_upload_time`` seconds, the scrubber deletes the partial data and returns the image
to ``queued`` so the user can upload again. A live upload renews its image from a timer
(glance_api.data.uploads.Heartbeat), whatever its client does, and the option refuses values a
renewal could miss: the scrubber never deletes data under a running upload.

The scrubber reaches the database only through glance-registry (admin calls) and the data
only through ``stores``, as glance-api does.
"""

import concurrent.futures
import logging
import sys
import time

from oslo_config import cfg

from glance_api import config
from glance_api.data import uploads
from glance_api.web.service_auth import ServiceAuth
from glance_registry import exceptions as registry_exc
from glance_server import flavors
from stores import exceptions as store_exc

LOG = logging.getLogger(__name__)

# Three heartbeats of a running upload: one may be lost and the next late without the
# upload looking stalled.
STALLED_UPLOAD_MIN = 3 * uploads.HEARTBEAT_SECONDS

scrubber_opts = [
    cfg.IntOpt('scrub_time', default=0, min=0,
               help='Seconds an image spends in pending_delete before the scrubber '
                    'deletes its data.'),
    cfg.IntOpt('scrub_pool_size', default=1, min=1,
               help='Number of images scrubbed in parallel.'),
    cfg.IntOpt('wakeup_time', default=300, min=0,
               help='Seconds between scrubber runs in daemon mode.'),
    cfg.IntOpt('stalled_upload_time', default=600, min=0,
               help='Seconds an image may stay in saving without its upload renewing it '
                    'before the scrubber takes the upload for one whose glance-api died: '
                    'it deletes the partial data and returns the image to queued (not in '
                    'Glance). A running upload renews its image every %d seconds until it '
                    'ends, however slowly its client sends (glance-api fails an upload '
                    'whose client sends nothing for client_socket_timeout seconds with '
                    '400, and returns its image to queued itself), so a live upload is '
                    'never taken for a stalled one. 0 disables; 1 to %d are refused, as a '
                    'renewal that is late or lost could then let the scrubber delete the '
                    'data of a running upload.'
                    % (uploads.HEARTBEAT_SECONDS, STALLED_UPLOAD_MIN - 1)),
]

cli_opts = [
    cfg.BoolOpt('daemon', short='D', default=False,
                help='Run as a long-running process that scrubs every wakeup_time '
                     'seconds.'),
    cfg.StrOpt('restore', metavar='<IMAGE_ID>',
               help='Restore the image from pending_delete to active.'),
]


def register_opts(conf):
    """Register the scrubber's options (the api's too: registry client and stores)."""
    config.register_opts(conf)
    conf.register_opts(scrubber_opts)


def list_opts():
    """Return the glance-scrubber.conf options for oslo-config-generator."""
    return [(None, config.registry_config.client_opts + scrubber_opts + cli_opts
             + [opt for opt in config.api_opts
                if opt.dest in ('delayed_delete', 'enabled_backends')]),
            ('paste_deploy', config.paste_deploy_opts)]


class Scrubber:
    """One scrubbing pass over the registry's scrub queue."""

    def __init__(self, conf, registry, stores):
        self.conf = conf
        self.registry = registry
        self.stores = stores

    def run(self, ctx):
        """Scrub every job due now; return {"scrubbed": n, "failed": n, "locations": n}."""
        jobs = self.registry.scrub_jobs(ctx, self.conf.scrub_time,
                                        self.conf.stalled_upload_time)
        totals = {'scrubbed': 0, 'failed': 0, 'locations': 0}
        if not jobs:
            return totals
        with concurrent.futures.ThreadPoolExecutor(self.conf.scrub_pool_size) as pool:
            for ok, count in pool.map(lambda job: self._scrub(ctx, job), jobs):
                totals['scrubbed' if ok else 'failed'] += 1
                totals['locations'] += count
        return totals

    def _scrub(self, ctx, job):
        image_id = job['image_id']
        LOG.info('Scrubbing image %s (%s) from %d locations.', image_id, job['kind'],
                 len(job['locations']))
        deleted = 0
        for loc in job['locations']:
            if not self._delete(ctx, image_id, loc):
                LOG.warning("One or more image locations couldn't be scrubbed from "
                            "backend. Leaving image '%s' in '%s' status", image_id,
                            job['image_status'])
                return False, deleted
            deleted += 1
        if job['kind'] != 'location':
            status = self.registry.scrub_finish(ctx, image_id, job['kind'])
            LOG.info('Image %s has been scrubbed successfully (now %s)', image_id,
                     status or job['image_status'])
        return True, deleted

    def _delete(self, ctx, image_id, loc):
        try:
            store = self.stores.for_location(loc['url'], loc.get('metadata'))
            store.delete(loc['url'])
        except store_exc.NotFound:
            LOG.info("Image location for image '%s' not found in backend; Marking image "
                     "location deleted in db.", image_id)
        except Exception as e:
            LOG.error('Unable to scrub image %s from a location. Reason: %s ', image_id, e)
            return False
        self.registry.release_location(ctx, loc['id'])
        return True

    def restore(self, ctx, image_id):
        """pending_delete → active.

        :raises: registry ImageNotFound, Conflict
        """
        self.registry.scrub_restore(ctx, image_id)


def load_conf(argv=None):
    """Parse the command line and glance-scrubber.conf (or the given files)."""
    conf = cfg.ConfigOpts()
    register_opts(conf)
    conf.register_cli_opts(cli_opts)
    conf(argv if argv is not None else sys.argv[1:], project='glance',
         prog='glance-scrubber')
    check_stalled_upload_time(conf)
    return conf


def check_stalled_upload_time(conf):
    """Refuse a ``stalled_upload_time`` under which a live upload could look stalled.

    :raises cfg.Error:
    """
    value = conf.stalled_upload_time
    if 0 < value < STALLED_UPLOAD_MIN:
        raise cfg.Error(
            'stalled_upload_time = %d is too short: a running upload renews its image every '
            '%d seconds, so glance-scrubber could delete the data of a live upload. Use at '
            'least %d, or 0 to never scrub stalled uploads.'
            % (value, uploads.HEARTBEAT_SECONDS, STALLED_UPLOAD_MIN))


def main(argv=None):
    """Run the scrubber once, as a daemon, or restore one image."""
    try:
        conf = load_conf(argv)
    except cfg.Error as e:
        sys.exit('ERROR: %s' % e)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format='%(asctime)s %(process)d %(levelname)s %(name)s %(message)s')
    if conf.restore and conf.daemon:
        sys.exit('ERROR: The restore and daemon options should not be set together. '
                 'Please use either of them in one request.')
    from glance_api import wiring
    try:
        auth = ServiceAuth(conf)
    except flavors.UnknownFlavor as e:
        sys.exit('ERROR: %s' % e)
    scrubber = Scrubber(conf, wiring.make_registry(conf, auth), wiring.make_stores(conf))
    if conf.daemon:
        daemon(scrubber, conf, auth)
    try:
        ctx = auth.context(user_id='glance-scrubber')
        if conf.restore:
            scrubber.restore(ctx, conf.restore)
            return 0
        totals = scrubber.run(ctx)
    except registry_exc.RegistryError as e:   # not found, conflict, registry down
        sys.exit('ERROR: %s' % e)
    _log_totals(totals)
    return 1 if totals['failed'] else 0


def _log_totals(totals):
    LOG.info('Scrubbed %(scrubbed)d images (%(locations)d locations), %(failed)d left for '
             'the next run', totals)


def daemon(scrubber, conf, auth, sleep=time.sleep, runs=None):
    """Scrub every ``wakeup_time`` seconds (``runs`` times, or forever).

    A run that fails (registry or Keystone unreachable) is logged and retried at the next
    wake-up; a new admin context each run keeps a Keystone token from expiring.
    """
    done = 0
    while runs is None or done < runs:
        try:
            _log_totals(scrubber.run(auth.context(user_id='glance-scrubber')))
        except Exception:  # noqa: BLE001 - a daemon outlives a bad run
            LOG.exception('Scrubber run failed; retrying in %d seconds', conf.wakeup_time)
        done += 1
        sleep(conf.wakeup_time)
