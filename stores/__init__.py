"""Image data stores: drivers found through entry points, and the registry of them.

The library imports nothing else of this project (like glance_store).
"""

import logging
from importlib import metadata

from oslo_config import cfg

from stores import config
from stores import exceptions
from stores.base import AddResult, Store, scheme_of

__all__ = ["AddResult", "StoreRegistry", "Store", "exceptions", "load_driver"]

LOG = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "glance_clone.stores"
RESERVED_PREFIX = "os_glance_"
# Type names glance_store also accepts for the same drivers.
ALIASES = {"filesystem": "file", "https": "http"}
# NOTE: used only when the package metadata is missing (running from a bare checkout);
# the entry points in pyproject.toml are the source of truth.
_BUILTIN = {"file": "stores.filesystem:FilesystemStore", "http": "stores.http:HttpStore"}


def load_driver(type_name):
    """Return the driver class for ``type_name``, or None (logged once) if unavailable."""
    type_name = ALIASES.get(type_name, type_name)
    found = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
             if ep.name == type_name]
    if found:
        entry = found[0]
    elif type_name in _BUILTIN:
        entry = metadata.EntryPoint(type_name, _BUILTIN[type_name], ENTRY_POINT_GROUP)
    else:
        LOG.error("Store driver %r is not installed (no %s entry point); it is disabled.",
                  type_name, ENTRY_POINT_GROUP)
        return None
    try:
        return entry.load()
    except Exception as e:  # a broken optional SDK disables only its driver
        LOG.error("Store driver %r (%s) could not be loaded and is disabled: %s: %s",
                  type_name, entry.value, type(e).__name__, e)
        return None


def parse_backends(enabled_backends):
    """Return an ordered {store id: type} from a dict, pairs, or "id:type, ..." string."""
    if not enabled_backends:
        return {}
    if isinstance(enabled_backends, str):
        pairs = [item.split(":", 1) for item in enabled_backends.split(",") if item.strip()]
    elif isinstance(enabled_backends, dict):
        pairs = list(enabled_backends.items())
    else:
        pairs = list(enabled_backends)
    backends = {}
    for pair in pairs:
        if len(pair) != 2 or not str(pair[0]).strip() or not str(pair[1]).strip():
            raise exceptions.BadStoreConfiguration(
                store_name="enabled_backends", reason="expected id:type, got %r" % (pair,))
        backends[str(pair[0]).strip()] = ALIASES.get(str(pair[1]).strip(), str(pair[1]).strip())
    return backends


class StoreRegistry:
    """The configured stores of one process, by id, scheme and location.

    Multi-store mode when ``enabled_backends`` ({id: type}, as ``[DEFAULT]
    enabled_backends``) is given; otherwise single-store mode from ``[glance_store]
    stores`` and ``default_store``. ``reserved_stores`` ({id: type}, ids starting
    ``os_glance_``) are the consuming service's internal stores, hidden from users.

    :raises: BadStoreConfiguration when the default store is missing or unusable
    """

    def __init__(self, conf, enabled_backends=None, default_backend=None,
                 reserved_stores=None):
        config.register_opts(conf)
        self.conf = conf
        self._stores = {}
        self._types = {}
        backends = parse_backends(enabled_backends)
        self.multi_store = bool(backends)
        if self.multi_store:
            self._load_multi(backends, parse_backends(reserved_stores))
            default_id = default_backend or conf.glance_store.default_backend
            self._default = self._check_default(default_id)
        else:
            self._load_single()
            self._default = self._single_default(conf.glance_store.default_store)

    def _load_multi(self, backends, reserved):
        for store_id in backends:
            if store_id.startswith(RESERVED_PREFIX):
                raise exceptions.BadStoreConfiguration(
                    store_name=store_id,
                    reason="store identifiers starting with %r are reserved" % RESERVED_PREFIX)
        for store_id, type_name in reserved.items():
            if type_name == "file":
                # Reserved stores get their own directory by default, as in glance_store.
                config.register_group_opts(self.conf, [cfg.StrOpt(
                    "filesystem_store_datadir", default="/var/lib/glance/%s" % store_id,
                    help="Directory used by the reserved store %s." % store_id)], store_id)
        for store_id, type_name in list(backends.items()) + list(reserved.items()):
            config.register_opts(self.conf, group=store_id, store_type=type_name)
            self._add(store_id, type_name, backend_group=store_id)

    def _load_single(self):
        for name in self.conf.glance_store.stores:
            type_name = ALIASES.get(name.strip(), name.strip())
            if type_name and type_name not in self._stores:
                self._add(type_name, type_name, backend_group=None)

    def _add(self, store_id, type_name, backend_group):
        cls = load_driver(type_name)
        if cls is None:
            return
        try:
            store = cls(self.conf, backend_group)
        except exceptions.BadStoreConfiguration as e:
            LOG.error("Store %s is disabled: %s", store_id, e)
            return
        try:
            store.configure()
        except exceptions.BadStoreConfiguration as e:
            # As glance_store: the store still serves reads, adding is disabled.
            store.add_enabled = False
            LOG.warning("Failed to configure store %s correctly: %s Disabling add method.",
                        store_id, e)
        self._stores[store_id] = store
        self._types[store_id] = type_name

    def _check_default(self, default_id):
        if not default_id:
            raise exceptions.BadStoreConfiguration(
                store_name="default_backend",
                reason="'default_backend' config option is not set.")
        if default_id not in self._stores:
            raise exceptions.BadStoreConfiguration(
                store_name=default_id, reason="Store for identifier %s not found" % default_id)
        return self._stores[default_id]

    def _single_default(self, scheme):
        for store in self._stores.values():
            if scheme in store.schemes:
                return store
        raise exceptions.BadStoreConfiguration(
            store_name=scheme,
            reason="default_store %s is not one of the enabled stores %s"
                   % (scheme, ", ".join(self._stores)))

    @property
    def default(self):
        """Return the store new images go to."""
        return self._default

    def store_ids(self, include_reserved=False):
        """Return the store ids in configuration order (reserved ones hidden)."""
        return [sid for sid in self._stores
                if include_reserved or not sid.startswith(RESERVED_PREFIX)]

    def for_store(self, store_id):
        """Return the store with this id.

        :raises: UnknownStore
        """
        try:
            return self._stores[store_id]
        except (KeyError, TypeError):
            raise exceptions.UnknownStore(store=store_id) from None

    def for_location(self, url, metadata=None):
        """Return the store holding ``url``: by ``metadata["store"]``, then by scheme.

        :raises: UnknownScheme, BadStoreUri
        """
        scheme = scheme_of(url)
        store_id = (metadata or {}).get("store") if self.multi_store else None
        store = self._stores.get(store_id) if isinstance(store_id, str) else None
        if store is not None and scheme in store.schemes:
            return store
        candidates = [s for s in self._stores.values() if scheme in s.schemes]
        if not candidates:
            raise exceptions.UnknownScheme(scheme=scheme)
        for candidate in candidates:
            if candidate.owns(url):
                return candidate
        return candidates[0]

    def describe(self, detail=False):
        """Return the list of ``GET /v2/info/stores`` (``/detail`` when ``detail``)."""
        result = []
        for store_id in self.store_ids():
            store = self._stores[store_id]
            entry = {"id": store_id}
            if store.description:
                entry["description"] = store.description
            if store is self._default:
                entry["default"] = "true"
            if store.read_only:
                entry["read-only"] = "true"
            if detail:
                entry["type"] = self._types[store_id]
                entry["weight"] = store.weight
                entry["properties"] = store.properties()
            result.append(entry)
        return result
