"""Options of the glance-api service, with Glance's names, groups and defaults."""

from oslo_config import cfg
from oslo_middleware import cors
from oslo_middleware import http_proxy_to_wsgi
from oslo_policy import opts as policy_opts

from glance_registry import config as registry_config
from glance_server import metrics as registry_metrics

DEFAULT_DISK_FORMATS = ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi',
                        'iso', 'ploop']
DEFAULT_CONTAINER_FORMATS = ['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed']

bind_opts = [
    cfg.HostAddressOpt('bind_host', default='0.0.0.0',
                       help='Address to bind the glance-api server to.'),
    cfg.PortOpt('bind_port', default=9292, help='Port the glance-api server listens on.'),
    cfg.IntOpt('workers', min=0,
               help='Number of glance-api worker processes (default: number of CPUs).'),
    cfg.IntOpt('threads', default=8, min=1,
               help='Threads per worker process serving requests that do not move image '
                    'data: image-show, lists, updates, members, tasks, metadefs.'),
    cfg.IntOpt('transfer_threads', default=64, min=1,
               help='Threads per worker process serving requests that move image data: '
                    'PUT and GET /v2/images/{image_id}/file, PUT .../stage, and the Images '
                    'API v1 create, update and download. Kept apart from threads, so that '
                    'slow uploads and downloads never delay a metadata call; a transfer '
                    'arriving when all are busy waits for one. Each running transfer holds '
                    'a few MiB of buffers.'),
    cfg.BoolOpt('transfer_process', default=True,
                help='Serve the requests that move image data (see transfer_threads) in a '
                     'process of their own beside each worker process, which the worker '
                     'hands the connection to once it has read the request head. A '
                     'hundred slow transfers then share neither the GIL nor the CPU '
                     'priority of the threads that answer metadata calls. Linux only; '
                     'when False (or elsewhere), transfers run in the worker\'s '
                     'transfer_threads pool. Not a Glance option.'),
    cfg.IntOpt('transfer_nice', default=10, min=0, max=19,
               help='Nice increment of the transfer process (transfer_process): when the '
                    'CPU is short, image-show, lists and updates run first and transfers '
                    'take what is left. 0 gives both the same priority. Not a Glance '
                    'option.'),
    cfg.IntOpt('client_header_timeout', default=60, min=1,
               help='Seconds a client has to send the request line and headers of a '
                    'request (and a metadata request\'s body of up to 64 KiB), counted from '
                    'the connection\'s accept or, on a kept-alive connection, from the first '
                    'byte of its next request. A connection that sends nothing, or too '
                    'slowly, is closed. Heads are read by each worker\'s event loop, not by '
                    'a thread, so slow clients hold no thread. Not a Glance option: Glance '
                    'bounds every socket operation with client_socket_timeout, which here '
                    'bounds upload bodies only.'),
]

api_opts = [
    cfg.BoolOpt('enable_v1_api', default=True, deprecated_for_removal=True,
                deprecated_reason='The Images API v1 was removed from Glance in Rocky; '
                                  'it is served here for clients of that era.',
                help='Serve the Images API v1 (/v1, /v1.0, /v1.1) beside v2, through the '
                     'same registry and database, as Glance Queens did. When False, /v1 '
                     'is gone and the versions document lists v2 only (as Glance 33).'),
    cfg.BoolOpt('show_image_direct_url', default=False,
                help='Show the URL of the image data in the direct_url image attribute.'),
    cfg.BoolOpt('show_multiple_locations', default=False,
                deprecated_for_removal=True,
                help='Show all image locations in the locations attribute (security '
                     'risk).'),
    cfg.IntOpt('image_size_cap', default=1099511627776, min=1, max=9223372036854775808,
               help='Maximum size of an image in bytes.'),
    cfg.StrOpt('hashing_algorithm', default='sha512',
               help='Secure hashing algorithm used for os_hash_value.'),
    cfg.StrOpt('user_storage_quota', default='0',
               help='Maximum total bytes a project may store (B, KB, MB, GB, TB '
                    'suffixes; 0 is unlimited).'),
    cfg.BoolOpt('use_keystone_limits', default=False,
                help='Utilize per-tenant resource limits registered in Keystone '
                     '(image_size_total, image_stage_total, image_count_total, '
                     'image_count_uploading); [oslo_limit] says how to reach Keystone. '
                     'When on, user_storage_quota is ignored.'),
    cfg.IntOpt('image_member_quota', default=128,
               help='Maximum members per image (negative: unlimited).'),
    cfg.IntOpt('image_property_quota', default=128,
               help='Maximum extra properties per image (negative: unlimited).'),
    cfg.IntOpt('image_tag_quota', default=128,
               help='Maximum tags per image (negative: unlimited).'),
    cfg.IntOpt('image_location_quota', default=10,
               help='Maximum locations per image (negative: unlimited).'),
    cfg.IntOpt('limit_param_default', default=25, min=1,
               help='Default number of items returned by a list request.'),
    cfg.IntOpt('api_limit_max', default=1000, min=1,
               help='Maximum number of items a list request may return.'),
    cfg.DictOpt('enabled_backends',
                help='Key:value pairs of store identifier and store type.'),
    cfg.ListOpt('enabled_import_methods',
                item_type=cfg.types.String(
                    choices=['glance-direct', 'web-download', 'copy-image',
                             'glance-download'], quotes=True),
                bounds=True,   # NOTE: Glance's syntax: [glance-direct,web-download]
                default=['glance-direct', 'web-download', 'copy-image'],
                help='Import methods offered by this site.'),
    cfg.StrOpt('public_endpoint',
               help='Public URL endpoint shown in the versions response.'),
    cfg.StrOpt('image_cache_dir', help='Base directory of the image cache.'),
    cfg.BoolOpt('allow_anonymous_access', default=False,
                help='Give unauthenticated requests a read-only anonymous context.'),
    cfg.IntOpt('max_request_id_length', default=64,
               help='Longest accepted x-openstack-request-id header.'),
    cfg.BoolOpt('delayed_delete', default=False,
                help='Keep image data for the scrubber instead of deleting it now.'),
    cfg.IntOpt('client_socket_timeout', default=900, min=0,
               help='Seconds glance-api waits for the next bytes of an image upload body '
                    '(PUT /v2/images/{image_id}/file). A client that sends nothing for '
                    'that long gets 400: the upload is cancelled, its partial data deleted '
                    'and the image returned to queued. A client that keeps sending, '
                    'however slowly, is served to the end: a running upload keeps renewing '
                    'its image, so glance-scrubber never takes it for a stalled one '
                    '(stalled_upload_time). 0 waits forever, the image staying in '
                    'saving while the connection is open. Glance applies this timeout to '
                    'every socket operation of a client; here it bounds upload bodies '
                    'only.'),
]

# NOTE: as Glance 33's glance/image_cache (image_cache_dir is in api_opts above).
cache_opts = [
    cfg.StrOpt('image_cache_driver', default='centralized_db',
               choices=('centralized_db', 'sqlite', 'xattr'), ignore_case=True,
               help='Where the image cache keeps its records: centralized_db (the '
                    'registry database, per worker_self_reference_url), sqlite or xattr '
                    '(a file in image_cache_dir).'),
    cfg.IntOpt('image_cache_max_size', default=10 * 1024 ** 3, min=0,
               help='Cache size in bytes above which glance-cache-pruner evicts the least '
                    'recently used images (a threshold, not a hard limit).'),
    cfg.IntOpt('image_cache_stall_time', default=86400, min=0,
               help='Seconds an incomplete cached image may stay untouched before '
                    'glance-cache-cleaner removes it.'),
    cfg.StrOpt('image_cache_sqlite_db', default='cache.db', deprecated_for_removal=True,
               help='Name of the sqlite file of the sqlite/xattr cache drivers, relative '
                    'to image_cache_dir.'),
]

# NOTE: help texts as Glance 33's glance/common/property_utils.py.
property_opts = [
    cfg.StrOpt('property_protection_file',
               help="""
The location of the property protection file.

Provide a valid path to the property protection file which contains
the rules for property protections and the roles/policies associated
with them.

A property protection file, when set, restricts the Glance image
properties to be created, read, updated and/or deleted by a specific
set of users that are identified by either roles or policies.
If this configuration option is not set, by default, property
protections won't be enforced. If a value is specified and the file
is not found, the glance-api service will fail to start.
More information on property protections can be found at:
https://docs.openstack.org/glance/latest/admin/property-protections.html

Possible values:
    * Empty string
    * Valid path to the property protection configuration file

Related options:
    * property_protection_rule_format

"""),
    cfg.StrOpt('property_protection_rule_format',
               default='roles',
               choices=('roles', 'policies'),
               help="""
Rule format for property protection.

Provide the desired way to set property protection on Glance
image properties. The two permissible values are ``roles``
and ``policies``. The default value is ``roles``.

If the value is ``roles``, the property protection file must
contain a comma separated list of user roles indicating
permissions for each of the CRUD operations on each property
being protected. If set to ``policies``, a policy defined in
policy.yaml is used to express property protections for each
of the CRUD operations. Examples of how property protections
are enforced based on ``roles`` or ``policies`` can be found at:
https://docs.openstack.org/glance/latest/admin/property-protections.html#examples

Possible values:
    * roles
    * policies

Related options:
    * property_protection_file

"""),
]

image_format_opts = [
    cfg.ListOpt('container_formats', default=DEFAULT_CONTAINER_FORMATS,
                help='Supported values for the container_format image attribute.'),
    cfg.ListOpt('disk_formats', default=DEFAULT_DISK_FORMATS,
                help='Supported values for the disk_format image attribute.'),
    cfg.ListOpt('vmdk_allowed_types', default=['streamOptimized', 'monolithicSparse'],
                help='Allowed VMDK create-types.'),
    cfg.BoolOpt('require_image_format_match', default=True,
                help='When enabled, glance will inspect the content of uploads and '
                     'require that they match the disk_format set on the image. A '
                     'mismatch will abort the upload with an error. Disabling this may '
                     'be required in the case of false match (or mismatch) issues, but '
                     'those are bugs that should be filed and fixed. Enabling this '
                     'feature improves security and consistency by ensuring that images '
                     'claiming to be a given format have content matching that format.'),
    cfg.ListOpt('gpt_safety_checks_nonfatal', default=[],
                help='List of safety check names to consider non-fatal when validating '
                     'disk_format=gpt images (or images detected as gpt). Since MBR is '
                     'very loosely-defined and GPT (which is strictly defined) depends on '
                     'the MBR structure, it is easy to craft a GPT disk image that works, '
                     'but is not valid according to the spec. While not recommended, it '
                     'is possible to disable MBR or GPT-specific safety checks if '
                     'necessary for compatibility. This can include "mbr" and/or '
                     '"gptmbr" to avoid failing format validation if those checks fail. '
                     'Use this with caution as it makes glance relax its definition of '
                     'what a valid GPT disk image looks like and prevents strict '
                     'adherence to the GPT spec.'),
]

paste_deploy_opts = [
    cfg.StrOpt('flavor',
               help='Deployment flavor, one of Glance\'s api pipelines: "keystone" '
                    '(tokens validated by keystonemiddleware with [keystone_authtoken]), '
                    '"keystone+caching", "keystone+cachemanagement", "caching", '
                    '"cachemanagement", or unset (no authentication). Any other value stops '
                    'the service at start. With a keystone flavor every call to the '
                    'registry also carries the [keystone_authtoken] service user\'s token '
                    'as X-Service-Token; that user needs one of the registry\'s '
                    'service_token_roles (default "service").'),
    cfg.StrOpt('config_file', help='Name of the paste configuration file (unused).'),
]


# Glance 33's defaults for oslo.middleware's [cors] options
# (glance.common.config.set_cors_middleware_defaults): the headers a browser client of the
# Images API sends and reads, and every method the API has but OPTIONS, HEAD and TRACE.
CORS_DEFAULTS = {
    'allow_headers': ['Content-MD5', 'X-Image-Meta-Checksum', 'X-Storage-Token',
                      'Accept-Encoding', 'X-Auth-Token', 'X-Identity-Status', 'X-Roles',
                      'X-Service-Catalog', 'X-User-Id', 'X-Tenant-Id',
                      'X-OpenStack-Request-ID'],
    'expose_headers': ['X-Image-Meta-Checksum', 'X-Auth-Token', 'X-Subject-Token',
                       'X-Service-Token', 'X-OpenStack-Request-ID'],
    'allow_methods': ['GET', 'PUT', 'POST', 'DELETE', 'PATCH'],
}


def set_config_defaults():
    """Give oslo.middleware's [cors] options Glance's defaults, for the sample generator.

    oslo-config-generator calls this (the ``oslo.config.opts.defaults`` entry point of
    ``glance.api``) before it lists ``oslo.middleware.cors``, as it calls Glance's. The
    service itself sets the same defaults on its own ConfigOpts (``register_opts``).
    """
    cors.set_defaults(**CORS_DEFAULTS)


def register_opts(conf):
    """Register the api options (and the policy and store options) on conf."""
    conf.register_opts(bind_opts)
    # One definition of registry_host/port/timeout, shared with glance-registry.conf.
    registry_config.register_client_opts(conf)
    conf.register_opts(api_opts)
    conf.register_opts(property_opts)
    conf.register_opts(cache_opts)
    conf.register_opts(image_format_opts, group='image_format')
    conf.register_opts(paste_deploy_opts, group='paste_deploy')
    policy_opts.set_defaults(conf)
    _register_store_opts(conf)
    # NOTE: [task], do_secure_hash, [import_filtering_opts]
    from glance_api.tasks import lifecycle as tasks
    tasks.register_opts(conf)
    # NOTE: node_staging_uri, import plugin options
    from glance_api.imports import resources as imports
    imports.register_opts(conf)
    from glance_api import notifier   # NOTE: default_publisher_id, disabled_notifications
    notifier.register_opts(conf)
    registry_metrics.register_opts(conf)   # [DEFAULT] enable_metrics
    # [cors] and [oslo_middleware] enable_proxy_headers_parsing, read by oslo.middleware's
    # filters in front of the api (glance_api.app); listed in the sample through the
    # oslo.middleware.cors and oslo.middleware.http_proxy_to_wsgi namespaces, as Glance's.
    conf.register_opts(cors.CORS_OPTS, group='cors')
    conf.register_opts(http_proxy_to_wsgi.OPTS, group='oslo_middleware')
    # NOTE: on this ConfigOpts only; cors.set_defaults would change them for every one.
    for name, value in CORS_DEFAULTS.items():
        conf.set_default(name, value, group='cors')


def check_middleware_opts(conf):
    """Parse every [cors] and [oslo_middleware] option now, so a bad value stops the start.

    :raises oslo_config.cfg.Error: a value that is not of its option's type.
    """
    for group, opts in (('cors', cors.CORS_OPTS),
                        ('oslo_middleware', http_proxy_to_wsgi.OPTS)):
        for opt in opts:
            getattr(conf[group], opt.dest)


def _register_store_opts(conf):
    # NOTE: the stores package is written in parallel; until its config module exists
    # the api still starts (with only its own options).
    try:
        from stores import config as store_config
    except ImportError:
        return
    store_config.register_opts(conf)


def registry_address(conf):
    """Return (host, port) to reach the registry; 0.0.0.0 means this host."""
    host = conf.registry_host
    if host in ('0.0.0.0', '::', ''):
        host = '127.0.0.1'
    return host, conf.registry_port


def list_opts():
    """Return the api options for oslo-config-generator."""
    return [
        (None, bind_opts + registry_config.client_opts + api_opts + property_opts
         + cache_opts),
        ('image_format', image_format_opts),
        ('paste_deploy', paste_deploy_opts),
    ] + _task_opts() + _notifier_opts()


def _notifier_opts():
    from glance_api import notifier
    return notifier.list_opts() + registry_metrics.list_opts()


def _task_opts():
    from glance_api.imports import resources as imports
    from glance_api.tasks import lifecycle as tasks
    return tasks.list_opts() + imports.list_opts()
