"""HTTP client of glance-registry (internals §4), used by glance-api on every request.

Imports only the standard library and glance_registry.exceptions: the api process must not
load SQLAlchemy or the registry app.
"""

import json
import uuid
from http import client as http_client
from urllib.parse import quote, urlencode

from glance_registry import exceptions, wire
from glance_registry.client_catalog import CatalogCalls

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; json is the fallback
    orjson = None

# Characters quote() leaves alone: ids made of these (every uuid) skip it.
_UNRESERVED = frozenset('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~')


def _quote(part):
    # PERF: urllib's quote() was ~4% of glance-api's CPU per image-show.
    return part if _UNRESERVED.issuperset(part) else quote(part, safe='')


def _dumps(obj):
    if orjson is not None:
        # PERF: orjson is ~5x faster; json takes what it refuses (ints beyond 64 bits).
        try:
            return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            pass
    return json.dumps(obj, separators=(',', ':')).encode()


def _loads(data):
    if orjson is not None:
        try:
            return orjson.loads(data)
        except ValueError:
            pass
    return json.loads(data)


class RegistryClient(CatalogCalls):
    """Talk to glance-registry over a pool of keep-alive HTTP connections.

    Every method takes ``ctx`` first: an object with ``project_id, user_id, roles,
    is_admin, request_id, auth_token``. Errors are ``glance_registry.exceptions`` classes.
    Build one per process (after fork): its connections must not be shared across fork.
    """

    def __init__(self, host, port, *, timeout=60, pool_maxsize=32, connect_timeout=None,
                 service_token=None):
        read = timeout or None  # Glance: registry_client_timeout = 0 means no timeout
        connect = connect_timeout or (min(read, 10.0) if read else 10.0)
        self._pool = wire.ConnectionPool(host, int(port), pool_maxsize, connect, read)
        self._where = '%s:%s' % (host, port)
        # () -> the api's own token or None: sent as X-Service-Token on every call, so the
        # registry knows glance-api forwards it (glance_registry.rights).
        self._service_token = service_token

    @classmethod
    def from_conf(cls, conf):
        """Build a client from ``registry_host/registry_port/registry_client_timeout``."""
        return cls(conf.registry_host, conf.registry_port,
                   timeout=conf.registry_client_timeout)

    def close(self):
        """Close the pooled connections."""
        self._pool.close()

    @staticmethod
    def _headers(ctx):
        """Return the identity header lines of ``ctx``, encoded."""
        lines = ['X-Is-Admin: %s\r\n' % ('True' if ctx.is_admin else 'False'),
                 'X-Roles: %s\r\n' % ','.join(r.lower() for r in ctx.roles or ())]
        for name, value in (('X-Project-Id', ctx.project_id), ('X-User-Id', ctx.user_id),
                            ('X-Openstack-Request-Id', ctx.request_id),
                            ('X-Auth-Token', getattr(ctx, 'auth_token', None))):
            if value:
                lines.append('%s: %s\r\n' % (name, value))
        text = ''.join(lines)
        # SECURITY: a CR or LF inside a value would let it add headers or requests.
        if text.count('\n') != len(lines) or text.count('\r') != len(lines):
            raise ValueError('Invalid header value in the request context')
        return text.encode('latin-1')

    def _send(self, method, url, headers, body):
        try:
            return self._pool.request(method, url, body, headers)
        except (OSError, http_client.HTTPException) as e:  # refused, timeout, dropped
            raise exceptions.RegistryUnavailable(
                'Registry at %s is unavailable: %s' % (self._where, str(e) or type(e).__name__)
            ) from e

    def _service_header(self):
        if self._service_token is None:
            return b''
        try:
            token = self._service_token()
        except Exception as e:  # noqa: BLE001 - e.g. Keystone down: the registry is unusable
            raise exceptions.RegistryUnavailable(str(e)) from e
        if not token:
            return b''
        if '\n' in token or '\r' in token:
            raise ValueError('Invalid service token')
        return b'X-Service-Token: %s\r\n' % token.encode('latin-1')

    def _call(self, ctx, method, url, body=None, expect=200):
        """Send one request; return the decoded JSON answer (None for 204)."""
        headers = self._headers(ctx) + self._service_header()
        if body is not None:
            body = _dumps(body)
            headers += b'Content-Type: application/json\r\n'
        status, data = self._send(method, url, headers, body)
        if status == expect:
            return _loads(data) if data else None
        raise self._error(status, data)

    @staticmethod
    def _error(status, data):
        try:
            error = json.loads(data)['error']
            code, message = error['code'], error['message']
        except (ValueError, KeyError, TypeError):
            code, message = None, data[:200].decode('utf-8', 'replace')
        if code is None and status in (502, 503, 504):
            # NOTE: 502/504 without the registry's JSON come from a load balancer in front
            # of it (HAProxy in `make cluster`) whose registry node died or did not answer:
            # the same unavailability as a refused connection, not an unknown error.
            code = 'RegistryUnavailable'
        elif code is None and status in (414, 431):
            # NOTE: gunicorn's own refusal of a request line or headers too long.
            code = 'BadRequest'
        elif status == 401:
            # NOTE: keystonemiddleware's own 401 body carries the number 401 as its code.
            code = 'Unauthorized'
        cls = exceptions.CODES.get(code)
        if cls is None:
            return exceptions.RegistryError(
                'Registry answered %s %s: %s' % (status, code, message), status)
        return cls(message, status=status)

    @staticmethod
    def _path(*parts):
        return '/'.join(_quote(part) for part in parts)

    @staticmethod
    def _image_url(image_id, *rest):
        return '/'.join(['/images', _quote(image_id)] + [_quote(part) for part in rest])

    def image_create(self, ctx, values):
        """Create an image from ``values`` and return it.

        :raises Duplicate: the id is taken.
        """
        # NOTE: the id is chosen here so that a create sent twice is a Duplicate, not two
        # images.
        if not values.get('id'):
            values = {**values, 'id': str(uuid.uuid4())}
        return self._call(ctx, 'POST', '/images', {'image': values}, 201)['image']

    def image_get(self, ctx, image_id, include_deleted=False):
        """Return the image if ``ctx`` may see it.

        :raises ImageNotFound: missing, deleted or invisible.
        """
        url = self._image_url(image_id)
        if include_deleted:
            url += '?include_deleted=true'
        return self._call(ctx, 'GET', url)['image']

    def image_list(self, ctx, query):
        """Return the images the list query of internals §2.1 selects for ``ctx``."""
        return self._call(ctx, 'POST', '/images/search', query)['images']

    def image_update(self, ctx, image_id, values, from_state=None, purge_props=False):
        """Update an image; with ``from_state`` only if it is still in that state.

        :raises Conflict: the image left ``from_state``. :raises ImageNotFound:
        """
        body = {'values': values, 'from_state': from_state, 'purge_props': purge_props}
        return self._call(ctx, 'PATCH', self._image_url(image_id), body)['image']

    def image_destroy(self, ctx, image_id, from_state=None, status=None):
        """Soft-delete an image; return it as it was before (with its locations).

        ``status='pending_delete'`` is the delayed delete (locations left for the scrubber).
        :raises Conflict: the image left ``from_state``. :raises ImageNotFound:
        """
        params = {k: v for k, v in (('from_state', from_state), ('status', status)) if v}
        url = self._image_url(image_id)
        if params:
            url += '?' + urlencode(params)
        return self._call(ctx, 'DELETE', url)['image']

    def image_tag_add(self, ctx, image_id, tag):
        """Add a tag to an image (idempotent)."""
        self._call(ctx, 'PUT', self._image_url(image_id, 'tags', tag), expect=204)

    def image_tag_delete(self, ctx, image_id, tag):
        """Remove a tag from an image.

        :raises TagNotFound:
        """
        self._call(ctx, 'DELETE', self._image_url(image_id, 'tags', tag), expect=204)

    def member_list(self, ctx, image_id, member=None):
        """Return the live members of an image (only ``member``'s when given)."""
        url = self._image_url(image_id, 'members')
        if member:
            url += '?' + urlencode({'member': member})
        return self._call(ctx, 'GET', url)['members']

    def member_create(self, ctx, image_id, member, can_share=False):
        """Add ``member`` to an image; return the member.

        :raises Duplicate:
        """
        body = {'member': member, 'can_share': can_share}
        return self._call(ctx, 'POST', self._image_url(image_id, 'members'), body,
                          201)['member']

    def member_get(self, ctx, image_id, member):
        """Return one member.

        :raises MemberNotFound:
        """
        return self._call(ctx, 'GET', self._image_url(image_id, 'members', member))['member']

    def member_update(self, ctx, image_id, member, status):
        """Set a member's status and return the member."""
        url = self._image_url(image_id, 'members', member)
        return self._call(ctx, 'PUT', url, {'status': status})['member']

    def member_delete(self, ctx, image_id, member):
        """Remove a member."""
        self._call(ctx, 'DELETE', self._image_url(image_id, 'members', member), expect=204)

    # --- usage (glance_registry.resources.usage)

    def usage(self, ctx, owner, names=(), image_id=None):
        """Return ``{name: int}`` usage figures of ``owner`` (all four when ``names`` is empty).

        ``image_id`` is left out of ``image_size_total``.

        :raises: Forbidden (not the owner and not admin).
        """
        query = [('name', n) for n in names]
        if image_id is not None:
            query.append(('image_id', image_id))
        url = '/usage/' + _quote(owner)
        if query:
            url += '?' + urlencode(query)
        return self._call(ctx, 'GET', url)['usage']

    # --- reservations and the scrub queue (glance_registry.resources.scrub)

    def reserve_location(self, ctx, image_id, url, metadata):
        """Record that ``url`` is about to be written for the image; return the row id.

        :raises: ImageNotFound.
        """
        body = {'url': url, 'metadata': metadata or {}}
        return self._call(ctx, 'POST', self._image_url(image_id, 'reservations'), body,
                          201)['id']

    def release_location(self, ctx, location_id):
        """Mark a reserved (pending_delete) location's data gone."""
        self._call(ctx, 'DELETE', '/reservations/%d' % int(location_id), expect=204)

    def scrub_jobs(self, ctx, scrub_time, stall_time, limit=1000):
        """Return the scrub queue (admin ``ctx``), see glance_db.scrub.ScrubRepo.jobs."""
        query = urlencode({'scrub_time': int(scrub_time), 'stall_time': int(stall_time),
                           'limit': int(limit)})
        return self._call(ctx, 'GET', '/scrub/jobs?' + query)['jobs']

    def scrub_finish(self, ctx, image_id, kind):
        """Close a scrub job; return the image's new status or None (lost race)."""
        url = '/scrub/images/%s/finish' % _quote(image_id)
        return self._call(ctx, 'POST', url, {'kind': kind})['status']

    def scrub_restore(self, ctx, image_id):
        """pending_delete → active.

        :raises: ImageNotFound, Conflict.
        """
        self._call(ctx, 'POST', '/scrub/images/%s/restore' % _quote(image_id), {}, 204)

    # --- tasks (glance_registry.resources.tasks)

    def task_create(self, ctx, values):
        """Create a task; return it (``values``: columns and input/result/message)."""
        return self._call(ctx, 'POST', '/tasks', {'task': values}, 201)['task']

    def task_get(self, ctx, task_id):
        """Return one task.

        :raises: TaskNotFound, TaskForbidden.
        """
        return self._call(ctx, 'GET', '/tasks/' + _quote(task_id))['task']

    def task_list(self, ctx, query):
        """Return task stubs for ``{filters, marker, limit, sort_key, sort_dir}``.

        :raises: InvalidSortKey, TaskNotFound (marker).
        """
        return self._call(ctx, 'POST', '/tasks/search', query)['tasks']

    def task_update(self, ctx, task_id, values, from_state=None):
        """Update a task; CAS on its status when ``from_state`` is given.

        :raises: TaskNotFound, Conflict.
        """
        body = {'values': values, 'from_state': from_state}
        return self._call(ctx, 'PATCH', '/tasks/' + _quote(task_id), body)['task']

    def task_delete(self, ctx, task_id):
        """Soft-delete a task; return it as it was."""
        return self._call(ctx, 'DELETE', '/tasks/' + _quote(task_id))['task']

    def image_tasks(self, ctx, image_id):
        """Return the raw task rows of an image visible to ``ctx``."""
        return self._call(ctx, 'GET', self._image_url(image_id, 'tasks'))['tasks']

    def tasks_unfinished(self, ctx, types=()):
        """Return the live pending/processing tasks (admin ``ctx``)."""
        query = ''.join('%stype=%s' % ('&' if i else '?', _quote(t))
                        for i, t in enumerate(types))
        return self._call(ctx, 'GET', '/tasks/unfinished' + query)['tasks']

    def tasks_fail(self, ctx, ids, message, expires_at=None):
        """Move the still unfinished tasks ``ids`` to failure; return those that moved."""
        body = {'ids': list(ids), 'message': message, 'expires_at': expires_at}
        return self._call(ctx, 'POST', '/tasks/fail', body)['tasks']
