"""Upload reservations and the scrub queue (``glance_db.scrub.ScrubRepo`` over JSON).

| Call | Body → answer |
|---|---|
| ``POST /images/{id}/reservations`` | ``{"url": s, "metadata": {}}`` → 201 ``{"id": n}`` |
| ``DELETE /reservations/{id}`` | → 204 (the reserved data is gone) |
| ``GET /scrub/jobs`` | admin; ``?scrub_time=&stall_time=&limit=`` → ``{"jobs": [...]}`` |
| ``POST /scrub/images/{id}/finish`` | admin; ``{"kind": s}`` → ``{"status": s|null}`` |
| ``POST /scrub/images/{id}/restore`` | admin → 204; 409 unless pending_delete |
"""

import falcon

from glance_registry import exceptions
from glance_registry.resources import bodies
from glance_registry import rights
from glance_registry.resources.bodies import render
from glance_registry.resources.images import writable_image

_KINDS = ('deleted_image', 'stalled_upload', 'location')


def _require_admin(ctx):
    """Raise Forbidden unless glance-api forwards an admin's call (the scrubber's)."""
    rights.require_service(ctx)
    if not ctx.is_admin:
        raise exceptions.Forbidden('Only an admin may do this')


class ReservationsResource:
    """``/images/{image_id}/reservations``: the URL an upload is about to write."""

    service_only = True   # rights.ServiceGate: glance-api's own calls

    def __init__(self, repo, images):
        self.repo = repo
        self.images = images   # glance_db ImageRepo: whose image it is

    def on_post(self, req, resp, image_id):
        """Reserve ``{"url", "metadata"}``; answer its id.

        Only for an image the caller may change: the scrubber deletes what is reserved.
        """
        writable_image(self.images, req.context.ctx, image_id)
        body = bodies.load(req)
        url, metadata = body.get('url') if isinstance(body, dict) else None, None
        if isinstance(body, dict):
            metadata = body.get('metadata') or {}
        if not isinstance(url, str) or not url or not isinstance(metadata, dict):
            raise exceptions.BadRequest('Expected {"url": string, "metadata": object}')
        render(resp, {'id': self.repo.reserve(image_id, url, metadata)}, falcon.HTTP_201)


class ReservationResource:
    """``/reservations/{location_id}``: release a reservation whose data is gone."""

    service_only = True   # rights.ServiceGate: glance-api's own calls

    def __init__(self, repo):
        self.repo = repo

    def on_delete(self, req, resp, location_id):
        """Mark the reserved location deleted."""
        rights.require_service(req.context.ctx)
        self.repo.release(int(location_id))
        resp.status = falcon.HTTP_204


class ScrubJobsResource:
    """``/scrub/jobs``: what the scrubber should delete now."""

    service_only = True   # rights.ServiceGate: glance-api's own calls

    def __init__(self, repo):
        self.repo = repo

    def on_get(self, req, resp):
        """Answer ``{"jobs": [...]}``."""
        _require_admin(req.context.ctx)
        # NOTE: bounded: past them a time is out of datetime's range, a LIMIT not SQL.
        seconds = {'min_value': 0, 'max_value': bodies.INT32_MAX, 'default': 0}
        jobs = self.repo.jobs(req.get_param_as_int('scrub_time', **seconds),
                              req.get_param_as_int('stall_time', **seconds),
                              limit=req.get_param_as_int('limit', min_value=1, default=1000,
                                                         max_value=bodies.INT64_MAX))
        render(resp, {'jobs': jobs})


class ScrubFinishResource:
    """``/scrub/images/{image_id}/finish``: close a job whose data is all deleted."""

    service_only = True   # rights.ServiceGate: glance-api's own calls

    def __init__(self, repo):
        self.repo = repo

    def on_post(self, req, resp, image_id):
        """Answer ``{"status": new status or null}``."""
        _require_admin(req.context.ctx)
        body = bodies.load(req)
        kind = body.get('kind') if isinstance(body, dict) else None
        if kind not in _KINDS:
            raise exceptions.BadRequest('kind must be one of %s' % ', '.join(_KINDS))
        render(resp, {'status': self.repo.finish(image_id, kind)})


class ScrubRestoreResource:
    """``/scrub/images/{image_id}/restore``: pending_delete → active."""

    service_only = True   # rights.ServiceGate: glance-api's own calls

    def __init__(self, repo):
        self.repo = repo

    def on_post(self, req, resp, image_id):
        """Restore the image (204)."""
        _require_admin(req.context.ctx)
        self.repo.restore(image_id)
        resp.status = falcon.HTTP_204


def add_routes(app, repo, images):
    """Route the reservation and scrub resources of ``repo`` (``images``: the ImageRepo)."""
    app.add_route('/images/{image_id}/reservations', ReservationsResource(repo, images))
    app.add_route('/reservations/{location_id:int}', ReservationResource(repo))
    app.add_route('/scrub/jobs', ScrubJobsResource(repo))
    app.add_route('/scrub/images/{image_id}/finish', ScrubFinishResource(repo))
    app.add_route('/scrub/images/{image_id}/restore', ScrubRestoreResource(repo))
