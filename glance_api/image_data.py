"""The image data resource: PUT/GET /v2/images/{image_id}/file (glance-api.md §4.1, §4.2)."""

import falcon

from glance_api import downloads
from glance_api import exceptions
from glance_api import policy
from glance_api import uploads

_OCTET_STREAM = 'application/octet-stream'


def request_context(req):
    """Return the RequestContext the context middleware attached to ``req``."""
    return getattr(req.context, 'ctx', None) or req.context


def reject_body(req):
    """Raise BodyNotAllowed when a body-less route gets a body (Glance's body_reject)."""
    if (req.content_length or 0) > 0 or 'chunked' in (req.get_header('Transfer-Encoding')
                                                     or '').lower():
        raise exceptions.BodyNotAllowed()


def media_type(req):
    """Return the request media type without parameters, as WebOb's content_type."""
    value = req.get_header('Content-Type')
    if value is None:
        return None
    return value.split(';', 1)[0].strip()


class ImageDataResource:
    """Upload and download of an image's bytes."""

    # Glance's body_reject: the app's method guard answers 400 for a body on GET.
    body_reject = ('GET',)

    def __init__(self, conf, registry, stores, enforcer=None):
        self.conf = conf
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
        body = uploads.fast_body(req.stream)
        uploads.upload(self.conf, self.registry, self.stores, request_context(req), image_id,
                       body, req.content_length or None, declared, store_id,
                       enforcer=self.enforcer)
        resp.status = falcon.HTTP_204

    def on_get(self, req, resp, image_id):
        """Send the image data (200), a range of it (206), or nothing (204)."""
        reject_body(req)
        plan = downloads.prepare(
            self.registry, self.stores, request_context(req), image_id,
            range_header=req.get_header('Range'),
            content_range_header=req.get_header('Content-Range'), enforcer=self.enforcer)
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
