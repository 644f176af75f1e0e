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
    cfg.IntOpt("filesystem_store_timeout", default=0, min=0,
               help="Timeout for filesystem operations (seconds). 0 disables the "
                    "protection (blocking IO). When > 0, the calls that can hang on a "
                    "dead network filesystem (opening, sizing and deleting image files, "
                    "free-space checks) run in a thread pool, and one that exceeds the "
                    "timeout fails with 503 instead of holding the request forever. "
                    "Recommended: 30 seconds for network storage."),
    cfg.IntOpt("filesystem_store_thread_pool_size", default=10, min=1,
               help="Thread pool size for timeout-protected operations (only with "
                    "filesystem_store_timeout > 0); one pool per store and process."),
    cfg.IntOpt("filesystem_store_threadpool_threshold", default=75, min=0, max=100,
               help="Thread pool usage (percent) above which a warning is logged that "
                    "the pool is getting busy (only with filesystem_store_timeout > 0)."),
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

RBD_OPTS = [
    cfg.IntOpt("rbd_store_chunk_size", default=8, min=1,
               help="Size, in megabytes, to chunk RADOS images into: the RBD object size "
                    "(rounded down to a power of two) and the size of each read and write. "
                    "For optimal performance, the value should be a power of two."),
    cfg.StrOpt("rbd_store_pool", default="images",
               help="RADOS pool in which images are stored."),
    cfg.StrOpt("rbd_store_user",
               help="RADOS user to authenticate as (only needed with cephx). When unset, "
                    "librados picks the user from the client section of "
                    "``rbd_store_ceph_conf``."),
    cfg.StrOpt("rbd_store_ceph_conf", default="",
               help="Ceph configuration file path. When empty, librados searches the "
                    "standard locations (``$CEPH_CONF``, /etc/ceph/ceph.conf, ...)."),
    cfg.IntOpt("rados_connect_timeout", default=-1,
               help="Timeout, in seconds, for connecting to the Ceph cluster (also used "
                    "for monitor and OSD operations). Less than 0: no timeout is set and "
                    "librados' defaults apply."),
    cfg.BoolOpt("rbd_thin_provisioning", default=False,
                help="Do not write chunks made only of null bytes: the RBD image gets "
                     "holes that read back as zeros and use no space, and the zeros are "
                     "not sent over the network."),
]

# glance_store's Swift options (single-tenant mode; stores/swift.py).
SWIFT_OPTS = [
    cfg.BoolOpt("swift_store_auth_insecure", default=False,
                help="Do not verify the server certificate of the Swift authentication "
                     "service and storage (ignored when ``swift_store_cacert`` is set)."),
    cfg.StrOpt("swift_store_cacert", sample_default="/etc/ssl/certs/ca-certificates.crt",
               help="Path to the CA bundle used to verify the Swift servers."),
    cfg.StrOpt("swift_store_region", sample_default="RegionTwo",
               help="The region of the Swift endpoint to use (Keystone catalog)."),
    cfg.StrOpt("swift_store_endpoint",
               help="The storage URL to use instead of the one from the service catalog "
                    "or authentication (the account URL, without the container)."),
    cfg.StrOpt("swift_store_endpoint_type", default="publicURL",
               choices=("publicURL", "adminURL", "internalURL"),
               help="Endpoint type of the Swift service in the service catalog."),
    cfg.StrOpt("swift_store_service_type", default="object-store",
               help="Service type of the Swift service in the service catalog."),
    cfg.StrOpt("swift_store_container", default="glance",
               help="Name of the container (single-tenant store) that holds the images."),
    cfg.IntOpt("swift_store_large_object_size", default=5 * 1024, min=1,
               help="Size threshold, in MB, from which images are stored as segments "
                    "plus a manifest (a Swift large object)."),
    cfg.IntOpt("swift_store_large_object_chunk_size",
               default=200, min=1,
               help="Size, in MB, of the segments of a large object."),
    cfg.BoolOpt("swift_store_create_container_on_put", default=False,
                help="Create the container when an image is added and it is missing."),
    cfg.BoolOpt("swift_store_multi_tenant", default=False,
                help="Store images in each tenant's own Swift account. Not supported by "
                     "this driver: setting it disables adding images to the store."),
    cfg.IntOpt("swift_store_multiple_containers_seed", default=0, min=0, max=32,
               help="Number of hex characters of the image id appended to the container "
                    "name to spread images over 16^N containers (0: one container)."),
    cfg.ListOpt("swift_store_admin_tenants", default=[],
                help="Tenants granted admin access to the containers of a multi-tenant "
                     "store."),
    cfg.BoolOpt("swift_store_ssl_compression", default=True,
                help="Compress HTTPS Swift requests at the SSL layer."),
    cfg.IntOpt("swift_store_retry_get_count", default=0, min=0,
               help="Number of times a failed Swift download is retried."),
    cfg.IntOpt("swift_store_expire_soon_interval", min=0, default=60,
               help="Seconds before token expiry within which a new token is requested."),
    cfg.BoolOpt("swift_store_use_trusts", default=True,
                help="Use trusts for the multi-tenant Swift store."),
    cfg.BoolOpt("swift_buffer_on_upload", default=False,
                help="Buffer image segments on disk before upload (accepted; this driver "
                     "streams segments through a bounded in-memory queue)."),
    cfg.StrOpt("swift_upload_buffer_dir",
               help="Directory to buffer image segments in (``swift_buffer_on_upload``)."),
    cfg.StrOpt("default_swift_reference", default="ref1",
               help="Reference (section of ``swift_store_config_file``) of the account "
                    "that new images are stored in."),
    # NOTE: glance_store accepts only "3" now; "1" (tempauth, /auth/v1.0) and "2" are
    # accepted too, as older glance_store releases did.
    cfg.StrOpt("swift_store_auth_version", default="3", choices=("1", "2", "3"),
               help="The authentication version to be used."),
    cfg.StrOpt("swift_store_auth_address",
               help="The address where the Swift authentication service is listening "
                    "(used when ``swift_store_config_file`` is not set)."),
    cfg.StrOpt("swift_store_user", secret=True,
               help="The user to authenticate against the Swift authentication service "
                    "(``project:user`` for Keystone)."),
    cfg.StrOpt("swift_store_key", secret=True,
               help="Auth key for the user authenticating against the Swift "
                    "authentication service."),
    cfg.StrOpt("swift_store_application_credential_id", secret=True,
               help="Keystone application credential ID to authenticate against Swift "
                    "with (together with ``swift_store_application_credential_secret`` "
                    "and ``swift_store_auth_address``) instead of ``swift_store_user`` "
                    "and ``swift_store_key``; such locations carry no credentials. Used "
                    "when ``swift_store_config_file`` is not set."),
    cfg.StrOpt("swift_store_application_credential_secret", secret=True,
               help="Secret of the application credential "
                    "``swift_store_application_credential_id``."),
    cfg.StrOpt("swift_store_project_name",
               deprecated_for_removal=True,
               deprecated_reason="The option 'project_name' in the Swift back-end "
                                 "configuration file is used instead.",
               help="Project name for authenticating with application credentials against "
                    "the Swift authentication service. Keystone scopes the token to the "
                    "application credential's own project."),
    cfg.StrOpt("swift_store_project_id",
               deprecated_for_removal=True,
               deprecated_reason="The option 'project_id' in the Swift back-end "
                                 "configuration file is used instead.",
               help="Project ID for authenticating with application credentials against "
                    "the Swift authentication service. Keystone scopes the token to the "
                    "application credential's own project."),
    cfg.StrOpt("swift_store_config_file",
               help="Path of the file with the Swift account references: sections with "
                    "``auth_address`` and either ``user`` (``project:user`` for "
                    "Keystone) and ``key``, or ``application_credential_id`` and "
                    "``application_credential_secret`` (and optionally ``project_name``, "
                    "``project_id``); optionally ``auth_version``, ``user_domain_id`` or "
                    "``user_domain_name``, ``project_domain_id`` or "
                    "``project_domain_name`` (default: domain id ``default``). When set, "
                    "locations are ``swift+config://<reference>/...`` and carry no "
                    "credentials."),
]

# glance_store's S3 options (stores/s3.py).
S3_OPTS = [
    cfg.StrOpt("s3_store_host",
               help="The host where the S3 server is listening: a DNS name or an IP "
                    "address, optionally with http:// or https:// and a port."),
    cfg.StrOpt("s3_store_region_name", default="",
               help="The S3 region name (empty: derived from the host, or none)."),
    cfg.StrOpt("s3_store_access_key", secret=True,
               help="The S3 access key."),
    cfg.StrOpt("s3_store_secret_key", secret=True,
               help="The S3 secret key."),
    cfg.StrOpt("s3_store_bucket",
               help="The S3 bucket to store the images in."),
    cfg.BoolOpt("s3_store_create_bucket_on_put", default=False,
                help="Create the bucket when an image is added and it is missing."),
    cfg.StrOpt("s3_store_bucket_url_format", default="auto",
               choices=("auto", "virtual", "path"),
               help="The S3 calling format: ``path`` (https://host/bucket/key), "
                    "``virtual`` (https://bucket.host/key) or ``auto``."),
    cfg.IntOpt("s3_store_large_object_size", default=100, min=0,
               help="Size, in MB, from which images are uploaded as a multipart upload."),
    cfg.IntOpt("s3_store_large_object_chunk_size", default=10,
               help="Multipart upload part size, in MB (at least 5)."),
    cfg.IntOpt("s3_store_thread_pools", default=10,
               help="The number of threads that upload the parts of a multipart upload."),
    cfg.StrOpt("s3_store_cacert", default="",
               help="Path to the CA bundle used to verify the S3 server certificate."),
    cfg.BoolOpt("s3_store_enable_data_integrity_protection", default=False,
                help="Use ``s3_store_request_checksum_calculation`` and "
                     "``s3_store_response_checksum_validation`` (else checksums only when "
                     "required)."),
    cfg.StrOpt("s3_store_request_checksum_calculation", default="when_required",
               choices=("when_supported", "when_required"),
               help="When boto3 computes request checksums."),
    cfg.StrOpt("s3_store_response_checksum_validation", default="when_required",
               choices=("when_supported", "when_required"),
               help="When boto3 validates response checksums."),
]

CINDER_OPTS = [
    cfg.StrOpt("cinder_endpoint_template",
               help="Template of the Cinder endpoint, e.g. "
                    "``http://127.0.0.1:8776/v3/%(tenant)s`` (or without the project)."),
    cfg.IntOpt("cinder_http_retries", default=3,
               help="Number of cinderclient retries on failed http calls."),
    cfg.IntOpt("cinder_attachment_retry_attempts", min=1, default=5,
               help="Maximum number of attempts of an attachment create that Cinder "
                    "refuses with 400 (the volume is attaching, or attached to another "
                    "reader); the waits between them double from 1 s up to 10 s."),
    cfg.IntOpt("cinder_state_transition_timeout", default=300,
               help="Time period, in seconds, to wait for a cinder volume transition "
                    "to complete."),
    cfg.BoolOpt("cinder_api_insecure", default=False,
                help="Allow to perform insecure SSL requests to cinder."),
    cfg.StrOpt("cinder_ca_certificates_file",
               help="Location of a CA certificates file used for cinder client requests."),
    cfg.StrOpt("cinder_catalog_info", default="volumev3::publicURL",
               help="Where to find Cinder in the service catalog, as "
                    "``<service_type>:<service_name>:<interface>`` (service-user mode)."),
    cfg.StrOpt("cinder_os_region_name", deprecated_name="os_region_name",
               help="Region name of the Cinder service in the catalog."),
    cfg.StrOpt("cinder_store_auth_address",
               help="The address where the cinder authentication service (Keystone v3) "
                    "is listening. With ``cinder_store_user_name``, "
                    "``cinder_store_password`` and ``cinder_store_project_name`` (or an "
                    "application credential) the store acts as that service user and "
                    "finds Cinder in its catalog."),
    cfg.StrOpt("cinder_store_user_name",
               help="User name to authenticate against cinder."),
    cfg.StrOpt("cinder_store_user_domain_name", default="Default",
               help="Domain of the cinder_store_user_name user."),
    cfg.StrOpt("cinder_store_password", secret=True,
               help="Password for the user authenticating against cinder."),
    cfg.StrOpt("cinder_store_application_credential_id",
               help="Application credential id used instead of the user and password "
                    "(with cinder_store_auth_address)."),
    cfg.StrOpt("cinder_store_application_credential_secret", secret=True,
               help="Secret of cinder_store_application_credential_id."),
    cfg.StrOpt("cinder_store_project_name",
               help="Project name where the image volume is stored in cinder."),
    cfg.StrOpt("cinder_store_project_domain_name", default="Default",
               help="Domain of the cinder_store_project_name project."),
    cfg.StrOpt("cinder_volume_type",
               help="Volume type that will be used for volume creation in cinder."),
    cfg.StrOpt("rootwrap_config", default="/etc/glance/rootwrap.conf",
               help="Path to the rootwrap configuration file to use for running commands "
                    "as root."),
]

DRIVER_OPTS = {"file": FILESYSTEM_OPTS, "http": HTTP_OPTS, "rbd": RBD_OPTS,
               "swift": SWIFT_OPTS, "s3": S3_OPTS, "cinder": CINDER_OPTS}


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
