"""Wiring: every collaborator of the api, built once per process and handed to resources.

``build(conf)`` makes the registry client, the stores, the api's own Keystone identity, the
policy enforcer, schemas, the task pool and runners, the notifier, the image cache (and its
prefetch worker), the staging area, the import http store, the plain-upload converter and
the signed-image verifiers (the key manager),
and returns them as one ``Api``; ``glance_api.app`` routes resources over it. Nothing is
added to an ``Api`` later, and nothing is built lazily by the threads that share it.
Start-up recovery of interrupted tasks (``recover_on_start``) lives here too: it is the
only caller that needs a registry before the workers exist.
"""

import functools
import logging

from glance_api.cache import image_cache
from glance_api.cache.resources import CacheWorker
from glance_api.data import signatures
from glance_api.images import schemas
from glance_api.images.views import ImageView
from glance_api.imports import flows as import_flows
from glance_api.imports import staging
from glance_api.imports import upload_conversion
from glance_api.notifier import Notifier
from glance_api.rules import property_protections
from glance_api.rules import quota
from glance_api.rules.policy import Enforcer
from glance_api.tasks import legacy_import
from glance_api.tasks import lifecycle as tasks
from glance_api.tasks import location_import
from glance_api.web.service_auth import ServiceAuth

LOG = logging.getLogger(__name__)


class Api:
    """What every resource is handed: the config and the collaborators, built once."""

    def __init__(self, conf, registry, stores, service_auth=None):
        self.conf = conf
        self.registry = registry
        self.stores = stores
        # the api's own identity at the registry (service token, service context)
        self.service_auth = service_auth or ServiceAuth(conf)
        self.policy = Enforcer(conf)
        props, required = schemas.load_custom_properties(conf)
        self.schema = schemas.ImageSchema(conf, props, required)
        self.protections = property_protections.load(conf, self.policy)  # None: not set
        self.view = ImageView(conf, self.protections)
        self.task_pool = tasks.TaskPool(conf.wsgi.task_pool_threads)
        self.task_starters = task_starters()
        self.image_cache = image_cache.from_conf(conf, registry, stores,   # None: off
                                                 self.service_auth)
        self.cache_downloads = self.image_cache is not None and image_cache.caching_enabled(conf)
        # NOTE: its thread starts with the first queued image (PUT /v2/cache/{id}).
        self.cache_worker = (CacheWorker(self.service_auth, registry, self.image_cache)
                             if self.image_cache is not None else None)
        self.notifier = Notifier(conf)   # [oslo_messaging_notifications]; no-op when unset
        self.staging = staging.Staging(conf)
        self.import_http_store = import_flows.http_store(conf)   # web-download's reader
        self.converter = (upload_conversion.Converter(conf, self.staging)
                          if conf.image_conversion.convert_plain_uploads else None)
        # signed images: the key manager that holds their certificates ([key_manager])
        self.signatures = signatures.Signatures(conf)


def task_starters():
    """Return {task type: runner(api, ctx, task)} for POST /v2/tasks."""
    return {'location_import': location_import.run_location_import,
            'api_image_import': location_import.run_other,
            'import': legacy_import.run}


def make_registry(conf, service_auth):
    """Return a registry client that sends ``service_auth``'s token with every call."""
    from glance_api.config import registry_address
    from glance_registry.client import RegistryClient
    host, port = registry_address(conf)
    return RegistryClient(host, port, timeout=conf.registry_client_timeout or None,
                          service_token=service_auth.token if service_auth.keystone else None)


def make_stores(conf):
    """Return the StoreRegistry of ``conf``'s stores (single or multi-store)."""
    import stores
    return stores.StoreRegistry(conf, enabled_backends=conf.enabled_backends)


def build(conf, registry=None, stores=None, service_auth=None):
    """Return the ``Api`` of this process (registry client and stores made if not given).

    :raises flavors.UnknownFlavor: ``[paste_deploy] flavor`` is not one of the api's.
    """
    service_auth = service_auth or ServiceAuth(conf)
    service_auth.prefetch()
    if registry is None:
        registry = make_registry(conf, service_auth)
    if stores is None:
        stores = make_stores(conf)
    quota.setup(conf)
    return Api(conf, registry, stores, service_auth)


def recover_on_start(conf, auth=None):
    """Fail the tasks this host left unfinished (run once, before the workers start).

    The image of each is put back: a location import's to ``queued``, an interoperable
    import's to a retryable state (``imports.flows.rollback_interrupted``).
    """
    auth = auth or ServiceAuth(conf)
    auth.check_roles()
    registry = make_registry(conf, auth)
    # NOTE: the stores are made only when an import's data must be deleted.
    api = functools.cache(lambda: Api(conf, registry, make_stores(conf), auth))
    try:
        ctx = auth.context()

        def rollback(task):
            image_id = (task.get('input') or {}).get('image_id') or task.get('image_id')
            if task['type'] == 'location_import' and image_id:
                location_import.revert(registry, ctx, image_id)
            elif task['type'] == 'api_image_import' and image_id:
                import_flows.rollback_interrupted(api(), ctx, task)

        return tasks.recover(conf, registry, ctx, rollback)
    except Exception as e:  # noqa: BLE001 - the api must start anyway
        LOG.warning('Could not check for interrupted tasks: %s', e)
        return []
    finally:
        registry.close()
