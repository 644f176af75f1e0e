"""RegistryClient against a real glance-registry over a real ImageRepo (SQLite, MariaDB)."""

import pytest

from glance_registry import exceptions as exc
from tests.functional.registry.ctx import Ctx, admin


@pytest.fixture
def owner():
    return Ctx()


@pytest.fixture
def image(client, owner):
    return client.image_create(owner, {
        'name': 'cirros', 'owner': owner.project_id, 'visibility': 'private',
        'disk_format': 'qcow2', 'container_format': 'bare', 'min_ram': 64,
        'properties': {'os_distro': 'cirros', 'empty': None}, 'tags': ['one', 'two']})


def test_create_and_get_roundtrip(client, owner, image):
    assert image['status'] == 'queued'
    assert image['name'] == 'cirros' and image['min_ram'] == 64
    assert image['properties'] == {'os_distro': 'cirros', 'empty': None}
    assert image['tags'] == ['one', 'two']
    assert len(image['id']) == 36
    assert client.image_get(owner, image['id']) == image


def test_create_with_id_and_duplicate(client, owner):
    values = {'id': '6f2b9a3c-1d4e-4f5a-8b7c-0d1e2f3a4b5c', 'owner': owner.project_id}
    try:
        assert client.image_create(owner, values)['id'] == values['id']
        with pytest.raises(exc.Duplicate) as e:
            client.image_create(owner, values)
        assert e.value.status == 409
    finally:
        client.image_destroy(admin(), values['id'])


def test_private_image_is_invisible_to_others(client, image):
    with pytest.raises(exc.ImageNotFound) as e:
        client.image_get(Ctx(), image['id'])
    assert e.value.status == 404
    assert image['id'] in str(e.value)
    assert client.image_get(admin(), image['id'])['id'] == image['id']


def test_include_deleted_needs_admin(client, owner, image):
    before = client.image_destroy(owner, image['id'])
    assert before['status'] == 'queued' and before['deleted'] is False
    with pytest.raises(exc.ImageNotFound):
        client.image_get(owner, image['id'])
    with pytest.raises(exc.Forbidden):
        client.image_get(owner, image['id'], include_deleted=True)
    gone = client.image_get(admin(), image['id'], include_deleted=True)
    assert gone['deleted'] is True and gone['status'] == 'deleted'


def test_update_merges_and_purges_properties(client, owner, image):
    updated = client.image_update(owner, image['id'], {'name': 'new', 'properties': {'a': 'b'}})
    assert updated['name'] == 'new'
    assert updated['properties'] == {'os_distro': 'cirros', 'empty': None, 'a': 'b'}
    purged = client.image_update(owner, image['id'], {'properties': {'c': 'd'}},
                                 purge_props=True)
    assert purged['properties'] == {'c': 'd'}
    assert client.image_get(owner, image['id'])['properties'] == {'c': 'd'}


def test_cas_update_and_conflict(client, owner, image):
    saving = client.image_update(owner, image['id'], {'status': 'saving'}, from_state='queued')
    assert saving['status'] == 'saving'
    with pytest.raises(exc.Conflict) as e:
        client.image_update(owner, image['id'], {'status': 'saving'}, from_state='queued')
    assert e.value.status == 409
    active = client.image_update(owner, image['id'], {
        'status': 'active', 'size': 5, 'checksum': 'c' * 32,
        'locations': [{'url': 'file:///tmp/x', 'metadata': {'store': 'file'},
                       'status': 'active'}]}, from_state='saving')
    assert active['status'] == 'active' and active['size'] == 5
    assert [(loc['url'], loc['metadata']) for loc in active['locations']] == \
        [('file:///tmp/x', {'store': 'file'})]
    before = client.image_destroy(owner, image['id'], from_state='active')
    assert before['locations'][0]['url'] == 'file:///tmp/x'


def test_destroy_conflict_and_missing(client, owner, image):
    with pytest.raises(exc.Conflict):
        client.image_destroy(owner, image['id'], from_state='active')
    client.image_destroy(owner, image['id'], status='pending_delete')
    pending = client.image_get(admin(), image['id'], include_deleted=True)
    assert pending['status'] == 'pending_delete'
    with pytest.raises(exc.ImageNotFound):
        client.image_destroy(owner, image['id'])
    with pytest.raises(exc.ImageNotFound):
        client.image_update(owner, image['id'], {'name': 'x'})


@pytest.mark.parametrize('tag', ['plain', 'a/b', 'café ☃', '100% sure?', 'x#y&z=1'])
def test_tags_roundtrip(client, owner, image, tag):
    client.image_tag_add(owner, image['id'], tag)
    client.image_tag_add(owner, image['id'], tag)
    assert client.image_get(owner, image['id'])['tags'] == ['one', 'two', tag]
    client.image_tag_delete(owner, image['id'], tag)
    assert client.image_get(owner, image['id'])['tags'] == ['one', 'two']
    with pytest.raises(exc.TagNotFound):
        client.image_tag_delete(owner, image['id'], tag)


def test_members_roundtrip(client, owner, image):
    other = Ctx()
    client.image_update(owner, image['id'], {'visibility': 'shared'})
    member = client.member_create(owner, image['id'], other.project_id)
    assert member['status'] == 'pending' and member['member'] == other.project_id
    assert member['can_share'] is False
    with pytest.raises(exc.Duplicate):
        client.member_create(owner, image['id'], other.project_id)
    assert client.image_get(other, image['id'])['id'] == image['id']
    client.member_create(owner, image['id'], 'third', can_share=True)
    assert [m['member'] for m in client.member_list(owner, image['id'])] == \
        [other.project_id, 'third']
    assert [m['member'] for m in client.member_list(owner, image['id'], member='third')] == \
        ['third']
    assert client.member_get(owner, image['id'], 'third')['can_share'] is True
    accepted = client.member_update(other, image['id'], other.project_id, 'accepted')
    assert accepted['status'] == 'accepted'
    client.member_delete(owner, image['id'], other.project_id)
    with pytest.raises(exc.MemberNotFound):
        client.member_get(owner, image['id'], other.project_id)
    with pytest.raises(exc.ImageNotFound):
        client.image_get(other, image['id'])


def _query(**kw):
    query = {'filters': [], 'tags': [], 'visibility': None, 'member_status': 'accepted',
             'os_hidden': False, 'marker': None, 'limit': 20,
             'sort': [['created_at', 'desc'], ['id', 'desc']]}
    query.update(kw)
    return query


def test_list_filters_sort_and_paging(client):
    owner = Ctx()
    ids = [client.image_create(owner, {'name': 'img%d' % i, 'owner': owner.project_id,
                                       'size': i * 10, 'tags': ['even'] if i % 2 == 0 else [],
                                       'properties': {'flavor': 'f%d' % (i % 2)}})['id']
           for i in range(5)]
    by_name = [i['name'] for i in client.image_list(owner, _query(
        sort=[['name', 'asc'], ['created_at', 'desc'], ['id', 'desc']]))]
    assert by_name == ['img0', 'img1', 'img2', 'img3', 'img4']
    sized = client.image_list(owner, _query(filters=[['size', 'gte', 20], ['size', 'lte', 30]]))
    assert sorted(i['name'] for i in sized) == ['img2', 'img3']
    tagged = client.image_list(owner, _query(tags=['even']))
    assert sorted(i['name'] for i in tagged) == ['img0', 'img2', 'img4']
    prop = client.image_list(owner, _query(filters=[['flavor', 'eq', 'f1']]))
    assert sorted(i['name'] for i in prop) == ['img1', 'img3']
    page1 = client.image_list(owner, _query(limit=2))
    page2 = client.image_list(owner, _query(limit=2, marker=page1[-1]['id']))
    assert len(page1) == len(page2) == 2
    assert not {i['id'] for i in page1} & {i['id'] for i in page2}
    assert {i['id'] for i in page1 + page2} <= set(ids)
    assert client.image_list(Ctx(), _query(filters=[['owner', 'eq', owner.project_id]])) == []


@pytest.mark.parametrize('query,error', [
    (_query(marker='00000000-0000-0000-0000-000000000000'), exc.MarkerNotFound),
    (_query(sort=[['no_such_key', 'asc']]), exc.InvalidSortKey),
    (_query(filters=[['size', 'gt', 'big']]), exc.InvalidFilter),
    (_query(limit=-1), exc.BadRequest),
    (_query(visibility='everyone'), exc.BadRequest),
])
def test_list_errors(client, query, error):
    with pytest.raises(error) as e:
        client.image_list(Ctx(), query)
    assert e.value.status == 400


def test_bad_values_are_bad_request(client, owner, image):
    with pytest.raises(exc.BadRequest) as e:
        client.image_update(owner, image['id'], {'no_such_column': 1})
    assert e.value.status == 400
    with pytest.raises(exc.BadRequest):
        client.image_create(owner, {'min_ram': 2 ** 40})
    with pytest.raises(exc.BadRequest):
        client.member_update(owner, image['id'], 'p', 'maybe')
