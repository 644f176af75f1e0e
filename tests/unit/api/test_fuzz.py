"""Random query strings and JSON bodies never make the api answer 5xx."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.api.conftest import P1, PATCH20, PATCH21, Env

ENV = Env()
IMAGE = ENV.create(name='fuzz', foo='bar')
KEYS = st.sampled_from(['limit', 'marker', 'sort', 'sort_key', 'sort_dir', 'name', 'id',
                        'status', 'created_at', 'updated_at', 'size_min', 'size_max', 'tag',
                        'visibility', 'member_status', 'os_hidden', 'protected', 'owner',
                        'min_ram', 'changes-since', 'foo', 'virtual_size_max', 'checksum'])
VALUES = st.one_of(st.text(max_size=30), st.sampled_from([
    'in:a,"b', 'gte:2026-01-01T00:00:00Z', 'in:"x, y",z', 'name:asc,size', '-1', '0', '5',
    'true', 'false', 'lt:', ':', 'eq:2026-13-45']))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12)
OPS = st.lists(st.fixed_dictionaries({
    'op': st.sampled_from(['add', 'remove', 'replace', 'move']),
    'path': st.sampled_from(['/name', '/tags', '/x', '/locations/0', '/min_ram', '/owner',
                             '/visibility', '/a/b', 'bad', '/~2', '/protected', '/foo']),
}, optional={'value': JSON}), max_size=4)
FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FAST
@given(st.lists(st.tuples(KEYS, VALUES), max_size=6))
def test_list_query_never_5xx(params):
    from urllib.parse import urlencode
    resp = ENV.client.simulate_get('/v2/images', query_string=urlencode(params), headers=P1)
    assert resp.status_code < 500, resp.text


@FAST
@given(JSON)
def test_create_body_never_5xx(body):
    resp = ENV.client.simulate_post('/v2/images', body=json.dumps(body), headers=P1)
    assert resp.status_code < 500, resp.text


@FAST
@given(st.one_of(OPS, JSON), st.sampled_from([PATCH21, PATCH20, 'application/json']))
def test_patch_never_5xx(ops, media):
    resp = ENV.client.simulate_patch('/v2/images/' + IMAGE['id'], body=json.dumps(ops),
                                     headers=dict(P1, **{'Content-Type': media}))
    assert resp.status_code < 500, resp.text


@FAST
@given(st.binary(max_size=40))
def test_raw_bytes_never_5xx(raw):
    for method, path in (('POST', '/v2/images'), ('POST', '/v2/images/%s/members' % IMAGE['id'])):
        resp = ENV.client.simulate_request(method, path, body=raw, headers=P1)
        assert resp.status_code < 500, resp.text
