"""Storage quotas: ``user_storage_quota`` and Keystone unified limits (docs/glance-api.md §14).

``user_storage_quota`` (Glance's glance.api.common.check_quota and quota.ImageProxy): the
bytes a project may keep, counted as Σ size × live locations of its images. An upload of a
known size over what remains is refused before any byte is read; otherwise the body is read
through :class:`QuotaReader`, which refuses the byte that would pass the quota *while the
data streams*, so nothing over the quota is ever written; after the write the quota is
checked again (two concurrent uploads may both have fitted on their own) and the data is
deleted on a refusal. Ignored when ``use_keystone_limits`` is on, as in Glance.

``use_keystone_limits`` (glance.quota.keystone): oslo.limit's Enforcer reads the project's
limits from Keystone; usage comes from the registry (glance_db.usage). Sizes in MiB.
"""

import logging
import re

from glance_api import exceptions

LOG = logging.getLogger(__name__)

_QUOTA = re.compile(r'^(\d+)((K|M|G|T)?B)?$')
_FACTORS = {'B': 1, 'KB': 1024, 'MB': 1024 ** 2, 'GB': 1024 ** 3, 'TB': 1024 ** 4}
MIB = 1024 ** 2

IMAGE_SIZE_TOTAL = 'image_size_total'
IMAGE_STAGE_TOTAL = 'image_stage_total'
IMAGE_COUNT_TOTAL = 'image_count_total'
IMAGE_COUNT_UPLOADING = 'image_count_uploading'
ALL_LIMITS = (IMAGE_SIZE_TOTAL, IMAGE_STAGE_TOTAL, IMAGE_COUNT_TOTAL, IMAGE_COUNT_UPLOADING)
# Byte figures are compared in MiB, as Glance does.
_IN_MIB = frozenset((IMAGE_SIZE_TOTAL, IMAGE_STAGE_TOTAL))


def parse_user_storage_quota(value):
    """Return ``user_storage_quota`` in bytes, or None when it is 0 (unlimited).

    :raises: ValueError for a value Glance refuses (digits, then B/KB/MB/GB/TB)
    """
    match = _QUOTA.match(value or '')
    if not match:
        raise ValueError('Invalid value for option user_storage_quota: %s' % value)
    quota = int(match.group(1)) * _FACTORS[match.group(2) or 'B']
    return quota if quota > 0 else None


def storage_quota_full(image_size, remaining):
    """Return Glance's 413 for StorageQuotaFull."""
    return exceptions.LimitExceeded(
        'Image exceeds the storage quota: The size of the data %s will exceed the limit. '
        '%s bytes remaining.' % (image_size, remaining))


def remaining_storage(conf, registry, ctx, image_id=None):
    """Return the bytes ``ctx``'s project may still store, or None when unlimited."""
    if conf.use_keystone_limits:
        return None
    quota = parse_user_storage_quota(conf.user_storage_quota)
    if quota is None:
        return None
    used = registry.usage(ctx, ctx.project_id, names=(IMAGE_SIZE_TOTAL,),
                          image_id=image_id)[IMAGE_SIZE_TOTAL]
    return quota - used


def check_storage(conf, registry, ctx, size, image_id=None):
    """Refuse ``size`` bytes more (unknown size: refuse only when nothing remains).

    Returns the remaining bytes (None when unlimited).

    :raises: exceptions.LimitExceeded (413)
    """
    remaining = remaining_storage(conf, registry, ctx, image_id)
    if remaining is None:
        return None
    if size is None:
        if remaining <= 0:
            LOG.warning('Project %s attempted to upload an image of unknown size that will '
                        'exceed the quota. %d bytes remaining.', ctx.project_id, remaining)
            raise storage_quota_full(None, remaining)
        return remaining
    if size > remaining:
        LOG.warning('Project %s attempted to upload an image of size %d that will exceed '
                    'the quota. %d bytes remaining.', ctx.project_id, size, remaining)
        raise storage_quota_full(size, remaining)
    return remaining


class QuotaReader:
    """File-like view of ``stream`` that refuses to read past ``remaining`` bytes."""

    def __init__(self, stream, remaining):
        self._stream = stream
        self._remaining = remaining
        self.bytes_read = 0

    def read(self, size=-1):
        """Return up to ``size`` bytes; raise LimitExceeded past the quota."""
        data = self._stream.read(size)
        self.bytes_read += len(data)
        if self.bytes_read > self._remaining:
            raise storage_quota_full(self.bytes_read, self._remaining)
        return data

    def __getattr__(self, name):
        # NOTE: inspection wrappers ask the stream for optional attributes.
        return getattr(self._stream, name)


# --- Keystone unified limits -------------------------------------------------------


def _usage_figures(registry, ctx, project_id, names):
    figures = registry.usage(ctx, project_id, names=names)
    return {name: (value // MIB if name in _IN_MIB else value)
            for name, value in figures.items()}


def bind_oslo_limit(conf):
    """Register ``[oslo_limit]`` on ``conf`` and make oslo.limit read it.

    oslo.limit reads the global ``cfg.CONF``; this process's configuration is ``conf``
    (passed down), so the library's module-level CONF is pointed at it once, at
    start-up, when ``use_keystone_limits`` is on.
    """
    from keystoneauth1 import loading
    from oslo_limit import limit, opts
    group = 'oslo_limit'
    # NOTE: oslo_limit.opts.register_opts registers its keystoneauth options on the global
    # CONF whatever it is given; the same registrations, on ``conf``.
    loading.register_session_conf_options(conf, group)
    loading.register_adapter_conf_options(conf, group, include_deprecated=False)
    loading.register_auth_conf_options(conf, group)
    conf.register_opts(opts._options, group=group)
    if conf.oslo_limit.auth_type:
        conf.register_opts(loading.get_auth_plugin_conf_options(
            loading.get_plugin_loader(conf.oslo_limit.auth_type)), group=group)
    limit.CONF = conf


def _enforcer(registry, ctx):
    from oslo_limit import limit   # NOTE: only deployments using unified limits load it

    def usage(project_id, resource_names):
        return _usage_figures(registry, ctx, project_id, list(resource_names))

    return limit.Enforcer(usage)


def enforce(conf, registry, ctx, deltas, project_id=None):
    """Enforce Keystone limits ``{name: delta}`` for the project (no-op when off).

    :raises: exceptions.LimitExceeded (413, Glance's body); oslo.limit's
             SessionInitError propagates (a 500: the server is misconfigured, as Glance)
    """
    if not conf.use_keystone_limits:
        return
    from oslo_limit import exception as ol_exc
    project_id = project_id or ctx.project_id
    try:
        _enforcer(registry, ctx).enforce(project_id, dict(deltas))
    except ol_exc.ProjectOverLimit as e:
        raise exceptions.LimitExceeded(
            'The request returned a 413 Request Entity Too Large. This generally means '
            'that rate limiting or a quota threshold was breached.\n\nThe response body:\n'
            '%s' % e) from None
    except ol_exc.SessionInitError as e:
        LOG.error('Failed to initialize oslo_limit, likely due to incorrect or '
                  'insufficient configuration: %s', e)
        raise


def usage_document(conf, registry, ctx):
    """Return the body of ``GET /v2/info/usage``."""
    if not conf.use_keystone_limits:
        return {'usage': {}}
    usage = _enforcer(registry, ctx).calculate_usage(ctx.project_id, list(ALL_LIMITS))
    return {'usage': {name: {'usage': figure.usage, 'limit': figure.limit}
                      for name, figure in usage.items()}}


def setup(conf):
    """Check the quota options at start-up and bind oslo.limit when it is used.

    A ``user_storage_quota`` Glance would refuse stops the api here, not with a 500 on
    each upload later.

    :raises: ValueError
    """
    parse_user_storage_quota(conf.user_storage_quota)
    if conf.use_keystone_limits:
        bind_oslo_limit(conf)

