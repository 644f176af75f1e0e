"""GET /v2/info/import and /v2/info/usage (no policy, any authenticated caller)."""

from glance_api import quota
from glance_api.bodies import write_json


class ImportInfoResource:
    """The import methods enabled at this site (glance-api.md §5.1)."""

    allowed = ('GET',)
    body_reject = ('GET',)

    def __init__(self, conf):
        self.conf = conf

    def on_get(self, req, resp):
        """Return the import-methods discovery document."""
        write_json(resp, {'import-methods': {
            'description': 'Import methods available.', 'type': 'array',
            'value': list(self.conf.enabled_import_methods)}})


class UsageInfoResource:
    """Quota usage; empty without Keystone unified limits (glance-api.md §6)."""

    allowed = ('GET',)

    def __init__(self, conf, registry):
        self.conf = conf
        self.registry = registry

    def on_get(self, req, resp):
        """Return the caller's project usage and limits (``{"usage": {}}`` when off)."""
        write_json(resp, quota.usage_document(self.conf, self.registry, req.context.ctx))
