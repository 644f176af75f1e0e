"""Version negotiation (URL prefix or vnd Accept header) and the versions document."""

import json

_ALWAYS = ('v2', 'v2.0', 'v2.1', 'v2.2', 'v2.3', 'v2.4', 'v2.5', 'v2.6', 'v2.7', 'v2.9',
           'v2.15', 'v2.17')
_WITH_CACHE = ('v2.14', 'v2.16', 'v2.18')
_WITH_BACKENDS = ('v2.8', 'v2.10', 'v2.11', 'v2.12', 'v2.13')
V1 = ('v1', 'v1.0', 'v1.1')
VND_MIME = 'application/vnd.openstack.images-'


def accepted_versions(conf):
    """Return the version ids routed to the v2 api for this configuration."""
    accepted = set(_ALWAYS)
    if conf.image_cache_dir:
        accepted.update(_WITH_CACHE)
    if conf.enabled_backends:
        accepted.update(_WITH_BACKENDS)
    if conf.enable_v1_api:
        accepted.update(V1)
    return frozenset(accepted)


def version_list(conf):
    """Return [(id, status)] in Glance 33's (quirky) order."""
    if conf.image_cache_dir:
        versions = [('2.18', 'CURRENT'), ('2.17', 'SUPPORTED'), ('2.16', 'SUPPORTED'),
                    ('2.15', 'SUPPORTED'), ('2.14', 'SUPPORTED')]
    else:
        versions = [('2.15', 'SUPPORTED')]
    if conf.enabled_backends:
        versions += [(v, 'SUPPORTED') for v in ('2.13', '2.12', '2.11', '2.10', '2.9', '2.8')]
    else:
        versions.append(('2.9', 'SUPPORTED'))
    if not conf.image_cache_dir:
        versions.append(('2.17', 'CURRENT'))
    versions += [(v, 'SUPPORTED') for v in ('2.7', '2.6', '2.5', '2.4', '2.3', '2.2', '2.1',
                                            '2.0')]
    if conf.enable_v1_api:
        # NOTE: Queens listed v1 last, both entries DEPRECATED.
        versions += [('1.1', 'DEPRECATED'), ('1.0', 'DEPRECATED')]
    return versions


def application_url(environ):
    """Return scheme://host[:port]/script_name of the request, like WebOb."""
    scheme = environ.get('wsgi.url_scheme', 'http')
    host = environ.get('HTTP_HOST')
    if not host:
        host = environ.get('SERVER_NAME', 'localhost')
        port = environ.get('SERVER_PORT')
        if port and port != {'http': '80', 'https': '443'}.get(scheme):
            host = '%s:%s' % (host, port)
    return '%s://%s%s' % (scheme, host, environ.get('SCRIPT_NAME', ''))


class Negotiator:
    """Decide, per request, between the versions document and the v2 api."""

    def __init__(self, conf):
        self.conf = conf
        self.accepted = accepted_versions(conf)
        self.versions = version_list(conf)

    def document(self, environ):
        """Return the versions JSON body for this request."""
        base = (self.conf.public_endpoint or application_url(environ)).rstrip('/')
        return json.dumps({'versions': [
            {'id': 'v' + vid, 'status': status,
             'links': [{'rel': 'self', 'href': '%s/v%s/' % (base, vid.split('.')[0])}]}
            for vid, status in self.versions]}).encode('utf-8')

    def route(self, environ):
        """Return None to serve the versions document (300/200), else the new PATH_INFO.

        The second element says whether the answer is the explicit /versions (200).
        """
        path = environ.get('PATH_INFO', '')
        stripped = path.lstrip('/')
        first = stripped.split('/', 1)[0]
        if first == 'versions':
            return None, True
        accept = environ.get('HTTP_ACCEPT', '')
        if accept.startswith(VND_MIME):
            requested, rest = accept[len(VND_MIME):], path
        else:
            requested, rest = first, stripped[len(first):]
        if requested not in self.accepted:
            return None, False
        return ('/v1' if requested in V1 else '/v2') + rest, False
