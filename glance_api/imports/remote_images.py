"""Another Glance's images, for the glance-download import method.

The remote endpoint comes from the caller's service catalog (``X-Service-Catalog``, as
keystonemiddleware passes it; Glance's get_glance_endpoint), and both the metadata and the
data are fetched with the caller's token. SECURITY: every URL, the endpoint and each
redirect target, must pass ``[import_filtering_opts]`` (OSSA-2026-004); the token is only
sent to the endpoint's own host.
"""

import json
import logging
import urllib.parse

import requests

from glance_api.rules import url_filter
from stores import http_pinning

LOG = logging.getLogger(__name__)

MAX_REDIRECTS = 5
TIMEOUT = (10, 60)
MAX_METADATA = 1 << 20
CHUNK = 1 << 16


class RemoteImageError(Exception):
    """The remote image could not be fetched."""


def catalog_from_header(value):
    """Return the service catalog list of an ``X-Service-Catalog`` header ([] if unusable)."""
    try:
        catalog = json.loads(value or '[]')
    except ValueError:
        return []
    return catalog if isinstance(catalog, list) else []


def endpoint(ctx, region, interface):
    """Return the image endpoint URL of ``region`` for ``interface`` (Glance's lookup).

    :raises: RemoteImageError (Glance's GlanceEndpointNotFound)
    """
    for service in getattr(ctx, 'service_catalog', None) or ():
        if not isinstance(service, dict) or service.get('type') != 'image':
            continue
        for entry in service.get('endpoints') or ():
            if str(entry.get('region', '')).lower() == str(region).lower():
                url = entry.get('%sURL' % interface)
                if url:
                    return url.rstrip('/')
    raise RemoteImageError('%s glance endpoint not found for region %s'
                           % (interface, region))


def _open(conf, ctx, url):
    """GET ``url`` (streamed), re-checking the filter on every hop; return the response."""
    home = urllib.parse.urlsplit(url).netloc
    template = requests.Session()
    template.headers['Accept-Encoding'] = 'identity'
    for _ in range(MAX_REDIRECTS + 1):
        addresses = url_filter.pins(url, conf)
        if not addresses:
            raise RemoteImageError('URI for glance-download does not pass filtering: %s' % url)
        # SECURITY: connect to the addresses the filter accepted (no DNS rebinding).
        session = http_pinning.pinned_session(template, addresses)
        headers = {}
        if ctx.auth_token and urllib.parse.urlsplit(url).netloc == home:
            headers['X-Auth-Token'] = ctx.auth_token
        try:
            resp = session.get(url, headers=headers, stream=True, allow_redirects=False,
                               timeout=TIMEOUT)
        except requests.RequestException as e:
            raise RemoteImageError('Remote glance unavailable: %s' % e) from e
        if resp.is_redirect and resp.headers.get('Location'):
            resp.close()
            url = urllib.parse.urljoin(url, resp.headers['Location'])
            continue
        if resp.status_code != 200:
            resp.close()
            raise RemoteImageError('Remote glance answered %s for %s' % (resp.status_code, url))
        return resp
    raise RemoteImageError('Too many redirects from %s' % url)


def image(conf, ctx, base, image_id):
    """Return the remote image's JSON.

    :raises: RemoteImageError
    """
    resp = _open(conf, ctx, '%s/v2/images/%s' % (base, image_id))
    try:
        body = resp.raw.read(MAX_METADATA + 1, decode_content=False)
    finally:
        resp.close()
    try:
        data = json.loads(body)
    except ValueError:
        raise RemoteImageError('Remote image %s: not a JSON answer' % image_id) from None
    if len(body) > MAX_METADATA or not isinstance(data, dict):
        raise RemoteImageError('Remote image %s: unusable answer' % image_id)
    return data


def data(conf, ctx, base, image_id):
    """Return an iterator (with ``close``) over the remote image's data.

    :raises: RemoteImageError
    """
    resp = _open(conf, ctx, '%s/v2/images/%s/file' % (base, image_id))
    return _Chunks(resp)


class _Chunks:
    def __init__(self, resp):
        self._resp = resp

    def __iter__(self):
        try:
            while True:
                chunk = self._resp.raw.read(CHUNK, decode_content=False)
                if not chunk:
                    return
                yield chunk
        except (requests.RequestException, OSError) as e:
            raise RemoteImageError('Reading the remote image failed: %s' % e) from e

    def close(self):
        self._resp.close()
