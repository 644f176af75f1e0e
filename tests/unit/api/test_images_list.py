"""GET /v2/images: query parsing, errors, links, visibility defaults (docs/glance-api.md §3.4)."""

import pytest

from tests.unit.api.conftest import ADMIN, P1, P2, READER, Env, json_headers


def _list(env, query='', headers=P1):
    return env.client.simulate_get('/v2/images', query_string=query,
                                   headers=json_headers(headers))


def _last_query(env):
    return [c for c in env.registry.calls if c[0] == 'image_list'][-1][1]


def test_default_query(env):
    resp = _list(env)
    assert resp.json == {'images': [], 'first': '/v2/images', 'schema': '/v2/schemas/images'}
    assert _last_query(env) == {
        'filters': [], 'tags': [], 'visibility': None, 'member_status': 'accepted',
        'os_hidden': False, 'marker': None, 'limit': 25,
        'sort': [['created_at', 'desc'], ['id', 'desc']]}


@pytest.mark.parametrize('query,filters', [
    ('name=in:"glass, darkly",share me', [['name', 'in', ['glass, darkly', 'share me']]]),
    ('name=foo', [['name', 'eq', 'foo']]),
    ('status=in:active,queued', [['status', 'in', ['active', 'queued']]]),
    ('size_min=5&size_max=10', [['size', 'gte', 5], ['size', 'lte', 10]]),
    ('created_at=gte:2026-01-01T00:00:00Z', [['created_at', 'gte', '2026-01-01T00:00:00']]),
    ('updated_at=2026-01-01T01:00:00%2B01:00', [['updated_at', 'eq', '2026-01-01T00:00:00']]),
    ('owner=p9&hw_x=1', [['owner', 'eq', 'p9'], ['hw_x', 'eq', '1']]),
    ('protected=true', [['protected', 'eq', True]]),
    ('min_ram=512', [['min_ram', 'eq', 512]]),
])
def test_filters(env, query, filters):
    assert _list(env, query).status_code == 200
    assert _last_query(env)['filters'] == filters


def test_tags_visibility_member_status_hidden(env):
    _list(env, 'tag=a&tag=b&visibility=all&member_status=pending&os_hidden=TRUE')
    query = _last_query(env)
    assert (query['tags'], query['visibility'], query['member_status'], query['os_hidden']) \
        == (['a', 'b'], 'all', 'pending', True)


@pytest.mark.parametrize('query,message', [
    ('limit=x', 'limit param must be an integer'),
    ('limit=-1', 'limit param must be positive'),
    ('sort_key=foo', 'Invalid sort key: foo. It must be one of the following: name, status, '
                     'container_format, disk_format, size, id, created_at, updated_at.'),
    ('sort_dir=up', 'Invalid sort direction: up'),
    ('sort=name:up', 'Invalid sort direction: up'),
    ('sort=name&sort_key=id', 'Old and new sorting syntax cannot be combined'),
    ('sort_key=name&sort_key=id&sort_key=size&sort_dir=asc&sort_dir=desc',
     'Number of sort dirs does not match the number of sort keys'),
    ('visibility=x', 'Invalid visibility value: x'),
    ('member_status=x', 'Invalid status: x'),
    ('os_hidden=maybe', "Invalid value 'maybe' for 'os_hidden' filter. Valid values are "
                        "'true' or 'false'."),
    ('protected=TRUE', "Invalid value 'TRUE' for 'protected' filter."),
    ('changes-since=2020-01-01', 'The "changes-since" filter is no longer available on v2.'),
    ('name=zz:foo', "Unable to filter by unknown operator 'zz'."),
    ('created_at=gte:yesterday', 'Bad "created_at" query filter format. Use ISO 8601 '
                                 'DateTime notation.'),
    ('created_at=zz:2026-01-01T00:00:00Z', 'Unable to filter on a unknown operator.'),
    ('size_min=big', 'Unable to filter on a range with a non-numeric value.'),
    ('name=in:"a', 'Invalid filter value "a. The quote is not closed.'),
    ('marker=nope', 'No image found with ID nope'),
])
def test_list_errors(env, query, message):
    resp = _list(env, query)
    assert resp.status_code == 400
    assert env.message(resp).startswith(message)


def test_sort_parsing(env):
    _list(env, 'sort=name:asc,size')
    assert _last_query(env)['sort'] == [['name', 'asc'], ['size', 'desc'],
                                        ['created_at', 'desc'], ['id', 'desc']]
    _list(env, 'sort=name:asc')
    assert _last_query(env)['sort'] == [['name', 'asc'], ['created_at', 'asc'], ['id', 'asc']]
    _list(env, 'sort_key=name&sort_key=size&sort_dir=asc')
    assert _last_query(env)['sort'] == [['name', 'asc'], ['size', 'asc'],
                                        ['created_at', 'asc'], ['id', 'asc']]


def test_limit_capped_and_zero():
    env = Env(api_limit_max=3, limit_param_default=2)
    _list(env, 'limit=50')
    assert _last_query(env)['limit'] == 3
    _list(env)
    assert _last_query(env)['limit'] == 2
    env.create(name='a')
    resp = _list(env, 'limit=0')
    assert resp.json['images'] == [] and 'next' not in resp.json


def test_links_quirks(env):
    ids = [env.create(name='n%d' % i)['id'] for i in range(3)]
    resp = _list(env, 'limit=2&sort=name:asc')
    names = [i['name'] for i in resp.json['images']]
    assert names == ['n0', 'n1']
    assert resp.json['first'] == '/v2/images?limit=2&sort=name%3Aasc'
    assert resp.json['next'] == '/v2/images?limit=2&sort=name%3Aasc&marker=' + ids[1]
    resp = _list(env, 'limit=2&sort=name:asc&marker=' + ids[1])
    assert [i['name'] for i in resp.json['images']] == ['n2']
    assert 'next' not in resp.json
    assert resp.json['first'] == '/v2/images?limit=2&sort=name%3Aasc'
    resp = _list(env, 'tag=t1&tag=t2&name=in:a,b')
    assert resp.json['first'] == '/v2/images?tag=t2&name=in%3Aa%2Cb'


def test_next_when_page_exactly_full(env):
    env.create(name='only')
    resp = _list(env, 'limit=1')
    assert resp.json['next'].endswith('limit=1&marker=' + resp.json['images'][0]['id'])


def test_visibility_defaults(env):
    shared = env.create(name='shared')
    env.create(name='community', visibility='community')
    env.create(name='private', visibility='private')
    env.create(name='hidden', os_hidden=True)
    names = sorted(i['name'] for i in _list(env).json['images'])
    assert names == ['community', 'private', 'shared']
    assert [i['name'] for i in _list(env, 'os_hidden=true').json['images']] == ['hidden']
    assert _list(env, headers=P2).json['images'] == []
    assert [i['name'] for i in _list(env, 'visibility=community', P2).json['images']] == \
        ['community']
    env.registry.member_create(None, shared['id'], 'p2')
    assert _list(env, headers=P2).json['images'] == []
    pending = _list(env, 'member_status=pending', P2).json['images']
    assert [i['name'] for i in pending] == ['shared']
    admin_names = sorted(i['name'] for i in _list(env, headers=ADMIN).json['images'])
    assert admin_names == ['private', 'shared']


def test_reader_may_list_member_without_reader_may_not(env):
    assert _list(env, headers=READER).status_code == 200
    resp = _list(env, headers=dict(P1, **{'X-Roles': 'member'}))
    assert resp.status_code == 403
    assert env.message(resp).startswith('You are not authorized to complete get_images action.')
