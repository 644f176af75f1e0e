"""Where a v1 image's data comes from: the request body, ``x-image-meta-location`` or
``x-glance-api-copy-from`` (the map's §2.4 step 6, §4.2-4.4).

Everything is checked before the image is reserved, so a refused source leaves no orphan
row. SECURITY: location and copy-from URLs pass ``[import_filtering_opts]``
(glance_api.rules.url_filter) like web-download, and every fetch (the size probe, the copy,
each redirect) connects only to the addresses the filter accepted: no SSRF to loopback,
link-local or metadata addresses (Queens' OSSN-0078).
"""

import logging
import threading

from glance_api import exceptions as exc
from glance_api.data import uploads
from glance_api.rules import url_filter
from glance_api.web.bodies import has_body, media_type
from glance_registry import exceptions as reg_exc
from glance_server import bodies
from stores import exceptions as store_exc

LOG = logging.getLogger(__name__)
OCTET_STREAM = 'application/octet-stream'
_EXTERNAL = ('http', 'https')


class Source:
    """The one data source of a create or update (``kind`` None, body, location, copy_from)."""

    def __init__(self, kind, req, url=None):
        self.kind = kind
        self.req = req
        self.url = url
        self.remote_size = None

    @classmethod
    def of(cls, api, req, core, image=None):
        """Return the request's source, checked against the image (None: a create).

        :raises: BadRequest, Conflict, LimitExceeded as Glance v1 answers them
        """
        _check_store(api, core.get('store'))
        copy_from = req.get_header('x-glance-api-copy-from')
        found = [kind for kind, present in (
            ('body', has_body(req) and not _empty_chunked_from_reservation(req, core)),
            ('location', 'location' in core), ('copy_from', copy_from is not None))
            if present]
        if len(found) > 1:
            raise exc.BadRequest("It's invalid to provide multiple image sources.")
        if not found:
            return cls(None, req)
        kind = found[0]
        if image is not None and image['status'] != 'queued':
            if kind == 'body':
                raise exc.Conflict('Cannot upload to an unqueued image')
            raise exc.BadRequest('Attempted to update Location field for an image not in '
                                 'queued status.')
        for key, label in (('disk_format', 'Disk'), ('container_format', 'Container')):
            if not core.get(key) and not (image or {}).get(key):
                raise exc.BadRequest('%s format is not specified.' % label)
        if kind == 'body':
            _check_body(api.conf, req, core)
            return cls(kind, req)
        url = core['location'] if kind == 'location' else copy_from
        return cls(kind, req, check_url(api.conf, url))

    def enforce(self, api, ctx, target):
        """Check the rules this source needs: upload_image, copy_from, set_image_location."""
        if self.kind in ('body', 'copy_from'):
            api.policy.enforce(ctx, 'upload_image', target)
        if self.kind == 'copy_from':
            api.policy.enforce(ctx, 'copy_from', target)
        if self.kind == 'location':
            api.policy.enforce(ctx, 'set_image_location', target)

    def size_location(self, api, declared):
        """Size a location's remote data once its policy passed, before any row changes.

        :raises: NotFound, BadRequest, Conflict (a declared size the remote lacks)
        """
        if self.kind != 'location':
            return
        store = _http_store(api)
        try:
            size = store.get_size(self.url, **url_filter.fetch_kwargs(store, api.conf))
        except store_exc.NotFound:
            raise exc.NotFound('The external source %s was not found' % self.url) from None
        except store_exc.StoreError:
            raise exc.BadRequest("External sources are not supported: '%s'"
                                 % self.url) from None
        if declared and size and declared != size:
            raise exc.Conflict('Provided image size must match the stored image size. '
                               '(provided size: %d, stored size: %d)' % (declared, size))
        self.remote_size = size or declared or 0

    def apply(self, api, ctx, image, core):
        """Give the reserved (queued) image its data; return the image as it is now."""
        if self.kind == 'body':
            declared = core.get('size') or None
            return uploads.upload(
                api.conf, api.registry, api.stores, ctx, image['id'],
                bodies.fast_body(self.req.stream), self.req.content_length or None,
                None if declared is None else str(declared),
                core.get('store') if api.conf.enabled_backends else None,
                enforcer=api.policy, notifier=api.notifier,
                expected_checksum=core.get('checksum'), signatures=api.signatures)
        if self.kind == 'location':
            return _set_location(api, ctx, image, self.url, self.remote_size)
        if self.kind == 'copy_from':
            _start_copy(api, ctx, image, self.url, core)
        return image


def _check_store(api, store_id):
    # NOTE: checked before the row is reserved, so an unknown store leaves no orphan.
    if store_id is None or not api.conf.enabled_backends:
        return
    try:
        api.stores.for_store(store_id)
    except store_exc.UnknownStore:
        raise exc.BadRequest('Required store %s is invalid' % store_id) from None


def _empty_chunked_from_reservation(req, core):
    # NOTE: glanceclient sends a non-tty stdin as data; an empty chunked body with a
    # declared size of 0 is Queens' active 0-byte image, handled as "no source".
    return not req.content_length and core.get('size') == 0


def _check_body(conf, req, core):
    if media_type(req) != OCTET_STREAM:
        raise exc.BadRequest('Content-Type must be application/octet-stream')
    size = req.content_length or core.get('size')
    if size is not None and size > conf.image_size_cap:
        raise exc.BadRequest('Denying attempt to upload image larger than %d bytes.'
                             % conf.image_size_cap)


def check_url(conf, url):
    """Return ``url`` if v1 may read it; 400 otherwise (Glance's texts).

    :raises: BadRequest
    """
    if not url:
        raise exc.BadRequest('External source should not be empty')
    scheme = url.split(':', 1)[0].lower() if ':' in url else ''
    if scheme not in _EXTERNAL or not url_filter.passes(url, conf):
        raise exc.BadRequest("External sources are not supported: '%s'" % url)
    return url


def _http_store(api):
    return api.import_http_store


def _set_location(api, ctx, image, url, size):
    values = {'status': 'active', 'size': size,
              'locations': [{'url': url, 'metadata': {}, 'status': 'active'}]}
    try:
        return api.registry.image_update(ctx, image['id'], values, from_state='queued')
    except reg_exc.Conflict:
        raise exc.Conflict('Image operation conflicts') from None


def _start_copy(api, ctx, image, url, core):
    """Copy ``url`` into the store in a thread; the answer (queued) does not wait.

    A copy that fails leaves the image ``killed`` (Queens) with no data: uploads.upload
    deletes what it wrote before it puts the image back in queued.
    """
    thread = threading.Thread(target=_copy, args=(api, ctx, image, url, core),
                              name='v1-copy-from', daemon=True)
    thread.start()


def _copy(api, ctx, image, url, core):
    store = _http_store(api)
    try:
        chunks, size = store.get(url, **url_filter.fetch_kwargs(store, api.conf))
        try:
            uploads.upload(api.conf, api.registry, api.stores, ctx, image['id'],
                           uploads.ChunkReader(chunks), size or None, None,
                           core.get('store') if api.conf.enabled_backends else None,
                           enforcer=api.policy, notifier=api.notifier,
                           expected_checksum=core.get('checksum'), signatures=api.signatures)
        finally:
            close = getattr(chunks, 'close', None)
            if close is not None:
                close()
    except Exception as e:  # noqa: BLE001 - a thread has nobody to raise to
        LOG.warning('v1 copy-from of image %s failed: %s', image['id'], e)
        try:
            api.registry.image_update(ctx, image['id'], {'status': 'killed'},
                                      from_state='queued')
        except Exception:  # noqa: BLE001 - e.g. deleted meanwhile
            LOG.warning('Could not mark image %s killed', image['id'], exc_info=True)
