"""Discovery: GET /v2/info/import, /v2/info/usage (any authenticated caller, no policy),
/v2/info/stores and /v2/info/stores/detail (docs/glance-api.md §5.1, §6)."""

from glance_api import exceptions
from glance_api.rules import policy
from glance_api.rules import quota
from glance_api.web.bodies import write_json
from glance_api.web.bodies import reject_body
from glance_api.web.context import request_context

NO_MULTI_STORE = 'Multi backend is not supported at this site.'


def _check_multi_store(conf):
    if not conf.enabled_backends:
        raise exceptions.NotFound(NO_MULTI_STORE)


class StoresInfoResource:
    """The enabled stores, for any authenticated caller."""

    body_reject = ('GET',)

    def __init__(self, conf, stores):
        self.conf = conf
        self.stores = stores

    def on_get(self, req, resp):
        """List the stores (404 without multi-store)."""
        reject_body(req)
        _check_multi_store(self.conf)
        resp.media = {'stores': self.stores.describe()}


class StoresDetailResource:
    """The enabled stores with their type, weight and driver properties (admin/service)."""

    body_reject = ('GET',)

    def __init__(self, conf, stores, enforcer=None):
        self.conf = conf
        self.stores = stores
        self.enforcer = enforcer or policy.Enforcer(conf)

    def on_get(self, req, resp):
        """List the stores in detail (403 unless stores_info_detail allows it)."""
        reject_body(req)
        # NOTE: Glance checks the policy first, so a non-admin without multi-store gets 403.
        self.enforcer.enforce(request_context(req), 'stores_info_detail', {})
        _check_multi_store(self.conf)
        resp.media = {'stores': self.stores.describe(detail=True)}


class ImportInfoResource:
    """The import methods enabled at this site (docs/glance-api.md §5.1)."""

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
    """Quota usage; empty without Keystone unified limits (docs/glance-api.md §6)."""

    allowed = ('GET',)

    def __init__(self, conf, registry):
        self.conf = conf
        self.registry = registry

    def on_get(self, req, resp):
        """Return the caller's project usage and limits (``{"usage": {}}`` when off)."""
        write_json(resp, quota.usage_document(self.conf, self.registry, req.context.ctx))
