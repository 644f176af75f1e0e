"""The staging area of interoperable import and ``PUT /v2/images/{image_id}/stage``.

Staged data lives in a file store (Glance 33): the reserved ``os_glance_staging_store``
in multi-store mode (its ``filesystem_store_datadir``), else the directory of
``[DEFAULT] node_staging_uri`` (``file:///tmp/staging/``). The image's data is the file
``<dir>/<image id>``; import plugins leave siblings ``<image id>.<suffix>`` there.
"""

import glob
import logging
import os

from oslo_config import cfg

import stores
from glance_api import exceptions as exc
from glance_api.rules import policy
from glance_api.rules import quota
from glance_api.data import uploads
from glance_server import bodies
from glance_api.images.resources import get_image
from glance_registry import exceptions as reg_exc
from stores import config as store_config
from stores import exceptions as store_exc

LOG = logging.getLogger(__name__)

STAGING_STORE = 'os_glance_staging_store'
STAGE_HOST = 'os_glance_stage_host'

# NOTE: name, default and help as Glance 33's glance/common/config.py.
staging_opts = [
    cfg.StrOpt('node_staging_uri',
               default='file:///tmp/staging/',
               help="""
The URL provides location where the temporary data will be stored

This option is for Glance internal use only. Glance will save the
image data uploaded by the user to 'staging' endpoint during the
image import process.

This option does not change the 'staging' API endpoint by any means.

NOTE: It is discouraged to use same path as [task]/work_dir

NOTE: 'file://<absolute-directory-path>' is the only option
api_image_import flow will support for now.

NOTE: The staging path must be on shared filesystem available to all
Glance API nodes.

Possible values:
    * String starting with 'file://' followed by absolute FS path

Related options:
    * [task]/work_dir

"""),
]


def register_opts(conf):
    """Register ``node_staging_uri`` on conf."""
    conf.register_opts(staging_opts)


def list_opts():
    """Return the options of this module for oslo-config-generator."""
    return [(None, staging_opts)]


class Staging:
    """The staging file store of one process, built on first use."""

    def __init__(self, conf):
        self.conf = conf
        self._store = None

    @property
    def store(self):
        """Return the staging file store (created and configured on first use).

        :raises: store_exc.BadStoreConfiguration
        """
        if self._store is None:
            self._store = self._build()
        return self._store

    def _build(self):
        driver = stores.load_driver('file')
        if self.conf.enabled_backends:
            # NOTE: same default directory as the store registry gives reserved stores.
            store_config.register_group_opts(self.conf, [cfg.StrOpt(
                'filesystem_store_datadir', default='/var/lib/glance/%s' % STAGING_STORE,
                help='Directory used by the reserved store %s.' % STAGING_STORE)],
                STAGING_STORE)
            store = driver(self.conf, STAGING_STORE)
        else:
            uri = self.conf.node_staging_uri or ''
            if not uri.startswith('file://'):
                raise store_exc.BadStoreConfiguration(
                    store_name='node_staging_uri',
                    reason="'node_staging_uri' is not set correctly. Could not load "
                           "staging store.")
            private = cfg.ConfigOpts()
            store_config.register_group_opts(private, driver.OPTIONS,
                                             store_config.GLANCE_STORE_GROUP)
            private.set_override('filesystem_store_datadir', uri[len('file://'):],
                                 group=store_config.GLANCE_STORE_GROUP)
            store = driver(private)
        store.configure()
        return store

    @property
    def directory(self):
        """Return the staging directory."""
        return self.store.datadir

    def path(self, image_id):
        """Return the path of the image's staged data."""
        return os.path.join(self.directory, str(image_id))

    def has(self, image_id):
        """Return True if data of the image is staged."""
        return os.path.exists(self.path(image_id))

    def discard(self, image_id):
        """Remove the image's staged data, plugin leftovers and partial writes (a dead
        worker's hidden temporary files); never raises."""
        try:
            base = self.path(image_id)
        except store_exc.StoreError:
            LOG.warning('No staging area to clean for image %s', image_id, exc_info=True)
            return
        partial = os.path.join(self.directory, '.%s.*' % glob.escape(str(image_id)))
        for path in [base] + glob.glob(glob.escape(base) + '.*') + glob.glob(partial):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError:
                LOG.warning('Could not remove staged data %s', path, exc_info=True)


def self_reference_url(conf):
    """Return the URL this worker records as ``os_glance_stage_host`` (None: none)."""
    return conf.worker_self_reference_url or conf.public_endpoint


class StageResource:
    """PUT /v2/images/{image_id}/stage: stage data for a glance-direct import (204)."""

    allowed = ('PUT',)

    def __init__(self, api, staging):
        self.api = api
        self.staging = staging

    def on_put(self, req, resp, image_id):
        """Store the body in the staging area; the image becomes ``uploading``."""
        if 'glance-direct' not in self.api.conf.enabled_import_methods:
            raise exc.NotFound("'glance-direct' method is not available at this site.")
        content_type = (req.get_header('Content-Type') or '').split(';', 1)[0].strip()
        if content_type != 'application/octet-stream':
            raise exc.UnsupportedMediaType('Invalid content type %s' % (content_type or None))
        size = uploads.parse_size(req.get_header('x-openstack-image-size'))
        if size is None:
            size = req.content_length or None
        ctx = req.context.ctx
        try:
            stage(self.api, self.staging, ctx, image_id, bodies.fast_body(req.stream), size)
        except exc.ApiError:
            # NOTE: refused before the body was read to its end: drop the rest so the
            # client gets the answer (as the upload does).
            bodies.drain(req.stream)
            raise
        resp.status = '204 No Content'


def stage(api, staging, ctx, image_id, stream, size):
    """Write ``stream`` to the staging area for a queued image (Glance's ``stage``).

    :raises: NotFound, Forbidden, InvalidImageStatusTransition / Conflict (409),
             LimitExceeded (413), BadRequest, store errors
    """
    quota.enforce(api.conf, api.registry, ctx,
                  {quota.IMAGE_STAGE_TOTAL: (size or 0) // quota.MIB})
    image = get_image(api.registry, ctx, image_id)
    policy.enforce_image(api.policy, ctx, 'modify_image', image)
    if size is not None and size > api.conf.image_size_cap:
        raise uploads.too_large()
    store = staging.store
    try:
        api.registry.image_update(ctx, image_id, {'status': 'uploading'}, from_state='queued')
    except reg_exc.Conflict:
        current = api.registry.image_get(ctx, image_id)
        raise exc.InvalidImageStatusTransition(current['status'], 'uploading') from None
    try:
        quota.enforce(api.conf, api.registry, ctx, {quota.IMAGE_COUNT_UPLOADING: 0})
        reader = uploads.SizeLimitedReader(stream, api.conf.image_size_cap)
        try:
            written = store.add(image_id, reader, size).size
        except store_exc.Duplicate:
            raise exc.Conflict('The image %s has data on staging' % image_id) from None
        except store_exc.ImageSizeLimitExceeded as e:
            raise uploads.too_large(e.msg) from e
        except store_exc.StorageFull as e:
            raise exc.LimitExceeded('Image storage media is full: %s' % e.msg) from e
        except store_exc.StorageWriteDenied as e:
            raise exc.ServiceUnavailable('Insufficient permissions on image storage media: '
                                         '%s' % e.msg) from e
        values = {'size': written}
        host = self_reference_url(api.conf)
        if host:
            values['properties'] = {STAGE_HOST: host}
        api.registry.image_update(ctx, image_id, values, from_state='uploading')
    except exc.Conflict:
        # NOTE: someone else's staged data: the image goes back, their file stays.
        _unstage(api, ctx, image_id, None)
        raise
    except BaseException:
        _unstage(api, ctx, image_id, staging)
        raise


def _unstage(api, ctx, image_id, staging):
    if staging is not None:
        staging.discard(image_id)
    try:
        api.registry.image_update(ctx, image_id, {'status': 'queued', 'size': None},
                                  from_state='uploading')
    except Exception:  # NOTE: cleanup never hides the original error
        LOG.warning('Could not restore image %s to queued after a failed stage', image_id,
                    exc_info=True)
