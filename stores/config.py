"""Options of the stores library: glance_store's names, groups and defaults.

Single-store mode reads everything from ``[glance_store]``. Multi-store mode
(``[DEFAULT] enabled_backends = fast:file, web:http``, owned by the api's config and
handed to :class:`stores.StoreRegistry`) reads each backend's driver options, plus
``store_description`` and ``weight``, from the group named after the backend id.
"""

from oslo_config import cfg

GLANCE_STORE_GROUP = "glance_store"
LOCATION_STRATEGY_GROUP = "store_type_location_strategy"

STORE_OPTS = [
    cfg.ListOpt("stores", default=["file", "http"],
                deprecated_for_removal=True, deprecated_since="Rocky",
                deprecated_reason="Use ``enabled_backends`` instead.",
                help="List of enabled Glance stores (single-store mode): a comma "
                     "separated list of store types such as ``file`` and ``http``."),
    cfg.StrOpt("default_store", default="file",
               choices=("file", "filesystem", "http", "https", "swift", "swift+http",
                        "swift+https", "swift+config", "rbd", "cinder", "vsphere", "s3"),
               deprecated_for_removal=True, deprecated_since="Rocky",
               deprecated_reason="Use ``default_backend`` instead.",
               help="The default scheme to use for storing images (single-store mode)."),
    cfg.StrOpt("default_backend",
               help="The store identifier (a key of ``enabled_backends``) of the default "
                    "backend in which data will be stored (multi-store mode)."),
]

LOCATION_STRATEGY_OPTS = [
    cfg.ListOpt("store_type_preference", default=[],
                help="The store names to use to get store preference order, used by the "
                     "``store_type`` location strategy. The name must be registered by "
                     "one of the stores defined by the ``stores`` config option."),
]

MULTI_BACKEND_OPTS = [
    cfg.StrOpt("store_description",
               help="Information about the store backend shown to end users by "
                    "``GET /v2/info/stores``."),
    cfg.IntOpt("weight", default=0,
               help="Relative weight of this store over the others; locations in "
                    "higher-weighted stores are preferred. Equal weights are equivalent."),
]

FILESYSTEM_OPTS = [
    cfg.StrOpt("filesystem_store_datadir", default="/var/lib/glance/images",
               help="Directory to which the filesystem backend store writes images. "
                    "Created at start up if missing; it must be writable. Either this "
                    "or ``filesystem_store_datadirs`` may be set, not both."),
    cfg.MultiStrOpt("filesystem_store_datadirs",
                    help="List of ``<directory>:<optional integer priority>``. Images go "
                         "to the highest-priority directory with enough free space; ties "
                         "go to the one with the most free space."),
    cfg.StrOpt("filesystem_store_metadata_file",
               help="Path to a JSON file (an object, or a list of objects, with string "
                    "keys ``id`` and ``mountpoint``) whose matching entry is returned as "
                    "the location metadata of new images."),
    cfg.IntOpt("filesystem_store_file_perm", default=0,
               help="File access permissions (read as octal, e.g. 640) for image files; "
                    "zero or negative leaves the default permissions unchanged."),
    # PERF: glance_store defaults to 64 KiB. 1 MiB chunks cut the per-chunk Python
    # overhead on the read, write and hashing paths 16-fold and let hashlib run long
    # stretches without the GIL; memory per transfer stays a few MiB.
    cfg.IntOpt("filesystem_store_chunk_size", default=1024 * 1024, min=1,
               help="Chunk size, in bytes, used when reading or writing image files. "
                    "Default 1 MiB (glance_store: 64 KiB), chosen for throughput."),
    cfg.BoolOpt("filesystem_thin_provisioning", default=False,
                help="Do not write chunks made only of null bytes: the file gets holes "
                     "(sparse) that read back as zeros and use no space."),
]

HTTP_OPTS = [
    cfg.StrOpt("https_ca_certificates_file",
               help="Path to the CA bundle used to verify the remote server certificate. "
                    "When set, ``https_insecure`` is ignored."),
    cfg.BoolOpt("https_insecure", default=True,
                help="Do not verify the remote server certificate (ignored when "
                     "``https_ca_certificates_file`` is set)."),
    cfg.DictOpt("http_proxy_information", default={},
                help="Proxies per scheme, e.g. ``http:10.0.0.1:3128, https:10.0.0.1:1080``."),
]

DRIVER_OPTS = {"file": FILESYSTEM_OPTS, "http": HTTP_OPTS}


def register_group_opts(conf, opts, group):
    """Register ``opts`` in ``group``, keeping any option already registered there."""
    for opt in opts:
        try:
            conf.register_opt(opt, group=group)
        except cfg.DuplicateOptError:
            # NOTE: a reserved store pre-registers filesystem_store_datadir with its
            # own default; that registration wins, as in glance_store.
            pass


def register_opts(conf, group=None, store_type=None):
    """Register the store options in ``[glance_store]`` or in a backend's group.

    ``group=None``: the ``[glance_store]`` options plus every driver's options there
    (single-store mode). Otherwise the driver options of ``store_type`` (all drivers
    when None) plus ``store_description``/``weight`` in ``group``.
    """
    if group is None or group == GLANCE_STORE_GROUP:
        register_group_opts(conf, STORE_OPTS, GLANCE_STORE_GROUP)
        register_group_opts(conf, LOCATION_STRATEGY_OPTS, LOCATION_STRATEGY_GROUP)
        for opts in DRIVER_OPTS.values():
            register_group_opts(conf, opts, GLANCE_STORE_GROUP)
        return
    types = [store_type] if store_type else list(DRIVER_OPTS)
    for name in types:
        register_group_opts(conf, DRIVER_OPTS.get(name, []), group)
    register_group_opts(conf, MULTI_BACKEND_OPTS, group)


def list_opts():
    """Return the options for oslo-config-generator."""
    driver_opts = [opt for opts in DRIVER_OPTS.values() for opt in opts]
    return [
        (GLANCE_STORE_GROUP, STORE_OPTS + driver_opts),
        (LOCATION_STRATEGY_GROUP, LOCATION_STRATEGY_OPTS),
    ]
