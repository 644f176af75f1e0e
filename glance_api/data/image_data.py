"""The image data resource: PUT/GET /v2/images/{image_id}/file (docs/glance-api.md §4.1, §4.2)."""

import falcon

from glance_api.data import downloads
from glance_api import exceptions
from glance_api.web import metrics
from glance_api import notifier
from glance_api.rules import policy
from glance_api.data import uploads
from glance_server import bodies
from glance_api.web.bodies import media_type, reject_body
from glance_api.web.context import request_context

_OCTET_STREAM = 'application/octet-stream'



class ImageDataResource:
    """Upload and download of an image's bytes."""

    # Glance's body_reject: the app's method guard answers 400 for a body on GET.
    body_reject = ('GET',)

    def __init__(self, conf, registry, stores, enforcer=None, cache=None, notifier=None,
                 converter=None, signatures=None):
        self.notifier = notifier
        # glance_api.data.signatures.Signatures: checks signed images (None: not checked)
        self.signatures = signatures   # glance_api.notifier.Notifier (None: no notifications)
        # glance_api.imports.upload_conversion.Converter, or None (convert_plain_uploads off)
        self.converter = converter
        self.conf = conf
        self.cache = cache   # glance_api.cache.image_cache.ImageCache when downloads are cached
        self.registry = registry
        self.stores = stores
        self.enforcer = enforcer or policy.Enforcer(conf)

    def on_put(self, req, resp, image_id):
        """Store the request body as the image's data (204).

        :raises: UnsupportedMediaType (415) and everything uploads.upload raises
        """
        content_type = media_type(req)
        if content_type != _OCTET_STREAM:
            raise exceptions.UnsupportedMediaType('Invalid content type %s' % content_type)
        declared = req.get_header('x-openstack-image-size')
        uploads.parse_size(declared)  # 400 before anything is looked up, as Glance
        store_id = None
        if self.conf.enabled_backends:
            store_id = req.get_header('X-Image-Meta-Store')
        # NOTE: Glance takes ``request.content_length or None``: 0 means unknown.
        body = bodies.fast_body(req.stream)
        if self.converter is not None and self.converter.upload(
                self, request_context(req), image_id, body, req.content_length or None,
                declared, store_id):
            resp.status = falcon.HTTP_204   # converted and stored
            return
        try:
            uploads.upload(self.conf, self.registry, self.stores, request_context(req),
                           image_id, body, req.content_length or None, declared, store_id,
                           enforcer=self.enforcer, notifier=self.notifier,
                           signatures=self.signatures)
        except exceptions.ApiError:
            # NOTE: refused (4xx) before the body was read to its end: drop the rest so
            # the client gets the answer (see uploads.drain).
            bodies.drain(req.stream)
            raise
        resp.status = falcon.HTTP_204

    def on_get(self, req, resp, image_id):
        """Send the image data (200), a range of it (206), or nothing (204)."""
        reject_body(req)
        plan = downloads.prepare(
            self.registry, self.stores, request_context(req), image_id,
            range_header=req.get_header('Range'),
            content_range_header=req.get_header('Content-Range'), enforcer=self.enforcer,
            cache=self.cache, prefer=downloads.parse_prefer(req.get_param('prefer')))
        resp.status = plan.status
        if plan.status == 204:
            return
        for name, value in plan.headers.items():
            resp.set_header(name, value)
        resp.content_length = plan.length
        # PERF: a FileSlice has read() and fileno(): falcon hands it to the server's
        # wsgi.file_wrapper and gunicorn sends it with sendfile(2); chunk iterators are
        # streamed as they are.
        resp.stream = plan.body
        if plan.image is not None:
            resp.stream = notifier.count_sent(plan.body, self._sent_callback(req, plan))

    def _sent_callback(self, req, plan):
        """Return what runs once the body is sent: image.send and the bytes-out metric."""
        return sent_callback(self.notifier, self.stores, request_context(req), plan)


def sent_callback(send_notifier, stores, ctx, plan):
    """Return what runs once a download's body is sent (v2 and v1 alike): image.send and
    the bytes-out metric."""
    # NOTE: counted against the first active location (the one normally served).
    try:
        location = next(loc for loc in plan.image['locations']
                        if loc.get('status') == 'active')
        store_id = stores.for_location(location['url'], location.get('metadata')).store_id
    except Exception:  # NOTE: a label is not worth failing a download for
        store_id = 'unknown'

    def sent(bytes_sent):
        metrics.bytes_out(store_id, bytes_sent)
        if send_notifier is not None and send_notifier.wants('image.send'):
            # Glance: ERROR priority when fewer bytes went out than were due.
            send = send_notifier.info if bytes_sent == plan.length else send_notifier.error
            send('image.send', notifier.format_send(plan.image, ctx, bytes_sent))
    return sent
