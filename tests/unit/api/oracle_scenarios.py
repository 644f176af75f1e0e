"""Request scenarios replayed against real Glance 33 and this api (see test_oracle.py)."""

import json
import re

P1 = {'X-Identity-Status': 'Confirmed', 'X-Roles': 'member,reader', 'X-Project-Id': 'p1',
      'X-User-Id': 'u1', 'Accept': 'application/json'}
P2 = dict(P1, **{'X-Project-Id': 'p2'})
ADMIN = dict(P1, **{'X-Roles': 'admin,member,reader', 'X-Project-Id': 'adm'})
PJ = 'application/openstack-images-v2.1-json-patch'
P20 = 'application/openstack-images-v2.0-json-patch'
_DROPPED = ('created_at', 'updated_at', 'id', 'self', 'file')


class Recorder:
    """Send requests through `send` and keep normalised (status, headers, body) answers."""

    def __init__(self, send):
        self.send = send
        self.ids = {}
        self.out = []

    def req(self, method, path, headers, body=None, raw=None, qs=''):
        headers = dict(headers)
        if body is not None:
            raw = json.dumps(body)
            headers.setdefault('Content-Type', 'application/json')
        return self.send(method, path, headers, raw, qs)

    def create(self, name, headers, **body):
        status, _h, text = self.req('POST', '/v2/images', headers, dict(body, name=name))
        assert status == 201, text
        self.ids[name] = json.loads(text)['id']
        return self.ids[name]

    def rec(self, name, answer):
        status, headers, text = answer
        for key, value in self.ids.items():
            text = text.replace(value, '<%s>' % key)
            name = name.replace(value, '<%s>' % key)
        text = re.sub(r'http://[^/"]+/', 'http://HOST/', text)
        try:
            body = json.loads(text)
        except ValueError:
            body = text
        if isinstance(body, dict):
            for key in _DROPPED:
                body.pop(key, None)
            if isinstance(body.get('images'), list):
                body['images'] = [i.get('name') for i in body['images']]
            if isinstance(body.get('tags'), list):
                body['tags'] = sorted(body['tags'])   # a set in Glance: order is random
            for member in body.get('members') or ():
                member.pop('created_at', None)
                member.pop('updated_at', None)
        keep = {k: headers.get(k) for k in ('allow', 'accept-patch')}
        self.out.append((name, status, keep, body))


def _patch(r, name, image, ops, headers=P1, media=PJ):
    r.rec(name, r.req('PATCH', '/v2/images/' + r.ids[image],
                      dict(headers, **{'Content-Type': media}), ops))


def images_scenario(r):
    """Create/patch/delete/tag/member error rows."""
    img = r.create('A', P1, foo='bar', disk_format='raw', container_format='bare', tags=['t'])
    for name, body in (('ro', {'status': 'active'}), ('reserved', {'deleted': 'x'}),
                       ('locations', {'locations': []}), ('owner', {'owner': 'p2'}),
                       ('public', {'visibility': 'public'}), ('minram', {'min_ram': -5}),
                       ('selfattr', {'self': 'x'}), ('badid', {'id': 'x'}),
                       ('nullprop', {'foo': None})):
        r.rec('create-' + name, r.req('POST', '/v2/images', P1, body))
    r.rec('create-badjson', r.req('POST', '/v2/images', P1, raw='{x'))
    r.rec('create-nobody', r.req('POST', '/v2/images', P1, raw=''))
    r.rec('show-p2', r.req('GET', '/v2/images/' + img, P2))
    r.rec('405', r.req('DELETE', '/v2/images', P1))
    r.rec('405-html', r.req('DELETE', '/v2/images', dict(P1, Accept='text/html')))
    r.rec('405-plain', r.req('PUT', '/v2/images/' + img, dict(P1, Accept='text/plain')))
    r.rec('405-unknown', r.req('FOO', '/v2/images', P1))
    r.rec('404', r.req('GET', '/v2/nope', P1))
    r.rec('body-reject', r.req('GET', '/v2/images/' + img, P1, raw='{}'))
    r.rec('patch-415', r.req('PATCH', '/v2/images/' + img, P1, []))
    _patch(r, 'patch-ok', 'A', [{'op': 'replace', 'path': '/name', 'value': 'A'},
                                {'op': 'add', 'path': '/x', 'value': 'y'}])
    _patch(r, 'patch-409', 'A', [{'op': 'replace', 'path': '/nope', 'value': 'b'}])
    _patch(r, 'patch-owner', 'A', [{'op': 'replace', 'path': '/owner', 'value': 'b'}])
    _patch(r, 'patch-rm', 'A', [{'op': 'remove', 'path': '/name'}])
    _patch(r, 'patch-ptr', 'A', [{'op': 'add', 'path': '/a/b', 'value': 'x'}])
    _patch(r, 'patch-loc', 'A', [{'op': 'add', 'path': '/locations/-',
                                  'value': {'url': 'http://x/y', 'metadata': {}}}])
    _patch(r, 'patch-locempty', 'A', [{'op': 'replace', 'path': '/locations', 'value': []}])
    _patch(r, 'patch-v20-add', 'A', [{'add': '/name', 'value': 'x'}], media=P20)
    _patch(r, 'patch-v20-two', 'A', [{'add': '/k', 'remove': '/k'}], media=P20)
    _patch(r, 'patch-public', 'A', [{'op': 'replace', 'path': '/visibility', 'value': 'public'}])
    r.rec('deact-queued', r.req('POST', '/v2/images/%s/actions/deactivate' % img, P1))
    r.rec('tag-put', r.req('PUT', '/v2/images/%s/tags/zz' % img, P1))
    r.rec('tag-del-missing', r.req('DELETE', '/v2/images/%s/tags/nope' % img, P1))
    r.rec('tag-long', r.req('PUT', '/v2/images/%s/tags/%s' % (img, 'x' * 256), P1))
    members_rows(r, img)
    _patch(r, 'protect', 'A', [{'op': 'replace', 'path': '/protected', 'value': True}])
    r.rec('del-protected', r.req('DELETE', '/v2/images/' + img, P1))
    _patch(r, 'unprotect', 'A', [{'op': 'replace', 'path': '/protected', 'value': False}])
    r.rec('del', r.req('DELETE', '/v2/images/' + img, P1))
    r.rec('del-again', r.req('DELETE', '/v2/images/' + img, P1))
    return r.out


def members_rows(r, img):
    """Member rows on a shared image owned by p1."""
    url = '/v2/images/%s/members' % img
    r.rec('mem-add', r.req('POST', url, P1, {'member': 'p2'}))
    r.rec('mem-dup', r.req('POST', url, P1, {'member': 'p2'}))
    r.rec('mem-empty', r.req('POST', url, P1, {'member': ''}))
    r.rec('mem-nokey', r.req('POST', url, P1, {'x': 1}))
    r.rec('mem-owner-accept', r.req('PUT', url + '/p2', P1, {'status': 'accepted'}))
    r.rec('mem-bad-status', r.req('PUT', url + '/p2', P2, {'status': 'x'}))
    r.rec('mem-list-p2', r.req('GET', url, P2))
    r.rec('mem-missing', r.req('GET', url + '/p9', P1))
    r.rec('mem-del-self', r.req('DELETE', url + '/p2', P2))


def list_scenario(r):
    """Visibility defaults, filters, paging links, versions and schemas."""
    r.create('A', P1, tags=['t1'])
    r.create('B', P1, visibility='community')
    r.create('C', P1, visibility='private')
    r.create('D', P1, os_hidden=True)
    r.create('E', ADMIN, visibility='public')
    r.create('F', P2)
    for name, headers, qs in (
            ('p1', P1, 'sort=name:asc'), ('p2', P2, 'sort=name:asc'),
            ('admin', ADMIN, 'sort=name:asc'), ('admin-all', ADMIN, 'sort=name:asc&visibility=all'),
            ('hidden', P1, 'os_hidden=true'), ('comm', P2, 'visibility=community'),
            ('in', P1, 'name=in:A,"C"&sort_key=name&sort_dir=asc'), ('tag', P1, 'tag=t1'),
            ('page', P1, 'limit=2&sort=name:desc'),
            ('links', P1, 'limit=1&tag=x&tag=t1&sort=name:asc'),
            ('badsort', P1, 'sort_key=foo'), ('op', P1, 'name=zz:x'),
            ('date', P1, 'created_at=gte:nope'), ('range', P1, 'size_min=x'),
            ('hidden-bad', P1, 'os_hidden=x'), ('marker', P1, 'marker=nope'),
            ('quote', P1, 'name=in:"a'), ('limit', P1, 'limit=-1')):
        r.rec('list-' + name, r.req('GET', '/v2/images', headers, qs=qs))
    r.rec('list-page2', r.req('GET', '/v2/images', P1,
                              qs='limit=2&sort=name:desc&marker=' + r.ids['C']))
    r.req('POST', '/v2/images/%s/members' % r.ids['A'], P1, {'member': 'p2'})
    r.rec('list-p2-pending', r.req('GET', '/v2/images', P2, qs='member_status=pending'))
    r.rec('mem-nonshared', r.req('GET', '/v2/images/%s/members' % r.ids['C'], P1))
    r.rec('mem-nonshared-show', r.req('GET', '/v2/images/%s/members/p2' % r.ids['C'], P1))
    r.rec('deact-other', r.req('POST', '/v2/images/%s/actions/deactivate' % r.ids['F'], P1))
    for path in ('/v1/images', '/v2/', '/v2/images/%s/tasks' % r.ids['A'], '/v2/info/import',
                 '/v2/schemas/image', '/v2/schemas/images', '/v2/schemas/member',
                 '/v2/schemas/members', '/v2/schemas/task', '/v2/schemas/tasks',
                 *('/v2/schemas/metadefs/' + name for name in (
                     'namespace', 'namespaces', 'resource_type', 'resource_types', 'property',
                     'properties', 'object', 'objects', 'tag', 'tags'))):
        r.rec('get ' + path, r.req('GET', path, P1))
    r.rec('head', r.req('HEAD', '/v2/images', P1))
    return r.out
