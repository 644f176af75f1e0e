"""The image-cache calls of the registry client against a real registry (centralized_db)."""

import time
import uuid

import pytest

from glance_registry import exceptions
from tests.functional.registry.ctx import admin


def test_cache_records_per_node(client):
    ctx = admin()
    node_a, node_b = 'http://a-%s:9292' % uuid.uuid4().hex, 'http://b-%s:9292' % uuid.uuid4().hex
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    client.cache_node_create(ctx, node_a)
    with pytest.raises(exceptions.Duplicate):
        client.cache_node_create(ctx, node_a)
    assert client.cache_list(ctx, node_a) == []
    client.cache_add(ctx, node_a, first, 10)
    time.sleep(0.01)
    client.cache_add(ctx, node_a, second, 20, 'c' * 32)
    client.cache_add(ctx, node_a, second, 20)   # a repeat is ignored
    client.cache_add(ctx, node_b, first, 10)    # an unknown node is recorded on the way
    entries = client.cache_list(ctx, node_a)
    assert [e['image_id'] for e in entries] == [first, second]
    assert set(entries[0]) == {'id', 'image_id', 'last_accessed', 'last_modified', 'size',
                               'hits', 'checksum'}
    assert isinstance(entries[0]['last_accessed'], float)
    assert [(e['size'], e['hits'], e['checksum']) for e in entries] == [
        (10, 0, None), (20, 0, 'c' * 32)]
    time.sleep(1.1)   # NOTE: MySQL DATETIME keeps whole seconds
    client.cache_hit(ctx, node_a, first)
    entries = client.cache_list(ctx, node_a)
    assert [(e['image_id'], e['hits']) for e in entries] == [(second, 0), (first, 1)]
    assert sorted(client.cache_nodes(ctx, first)) == sorted([node_a, node_b])
    assert client.cache_delete(ctx, node_a, first) == 1
    assert client.cache_nodes(ctx, first) == [node_b]
    assert client.cache_delete(ctx, node_a) == 1
    assert client.cache_list(ctx, node_a) == []
    assert [e['image_id'] for e in client.cache_list(ctx, node_b)] == [first]


def test_cache_bad_body_is_400(client):
    with pytest.raises(exceptions.BadRequest):
        client.cache_add(admin(), 'http://n', 'x' * 40, 1)
