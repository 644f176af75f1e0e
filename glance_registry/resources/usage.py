"""Usage resource of the registry protocol (``glance_db.usage.UsageRepo`` over JSON).

| Call | Answer |
|---|---|
| ``GET /usage/{owner}`` | ``{"usage": {name: int}}``; ``?name=`` repeatable (default all four),
  ``?image_id=`` leaves that image out of ``image_size_total``. The owner itself or an
  admin only (403 otherwise). |
"""

from glance_registry import exceptions
from glance_registry.resources.bodies import render

_NAMES = ('image_size_total', 'image_stage_total', 'image_count_total',
          'image_count_uploading')


class UsageResource:
    """``/usage/{owner}``: what the owner's images use, as Glance's quota code counts it."""

    def __init__(self, repo):
        self.repo = repo

    def on_get(self, req, resp, owner):
        """Answer ``{"usage": {...}}``."""
        ctx = req.context.ctx
        if not ctx.is_admin and ctx.project_id != owner:
            raise exceptions.Forbidden('Only the owner or an admin may read its usage')
        names = req.get_param_as_list('name') or list(_NAMES)
        unknown = [n for n in names if n not in _NAMES]
        if unknown:
            raise exceptions.BadRequest('Unknown usage name: %s' % ', '.join(unknown))
        image_id = req.get_param('image_id')
        render(resp, {'usage': self.repo.usage(owner, names, image_id=image_id)})
