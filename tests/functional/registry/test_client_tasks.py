"""RegistryClient task calls against a real glance-registry (SQLite, MariaDB, PostgreSQL)."""

import uuid

import pytest

from glance_registry import exceptions as exc
from tests.functional.registry.ctx import Ctx, admin


@pytest.fixture
def owner():
    return Ctx()


def _new(client, ctx, **values):
    values = {'type': 'location_import', 'owner': ctx.project_id, 'message': '',
              'input': {'image_id': 'img-' + ctx.project_id}, **values}
    return client.task_create(ctx, values)


def test_create_get_update_delete(client, owner):
    task = _new(client, owner, image_id='img-' + owner.project_id, user_id='u1')
    assert task['status'] == 'pending' and task['input'] == {'image_id': task['image_id']}
    assert client.task_get(owner, task['id']) == task
    moved = client.task_update(owner, task['id'], {'status': 'processing'},
                               from_state='pending')
    assert moved['status'] == 'processing'
    with pytest.raises(exc.Conflict) as e:
        client.task_update(owner, task['id'], {'status': 'processing'}, from_state='pending')
    assert e.value.status == 409
    done = client.task_update(owner, task['id'], {'status': 'success',
                                                  'result': {'image_id': 'x'}})
    assert done['result'] == {'image_id': 'x'}
    client.task_delete(owner, task['id'])
    with pytest.raises(exc.TaskNotFound):
        client.task_get(owner, task['id'])


def test_visibility(client, owner):
    task = _new(client, owner)
    with pytest.raises(exc.TaskForbidden) as e:
        client.task_get(Ctx(), task['id'])
    assert e.value.status == 403
    assert client.task_get(admin(), task['id'])['id'] == task['id']
    with pytest.raises(exc.TaskNotFound):
        client.task_get(owner, str(uuid.uuid4()))


def test_list_and_image_tasks(client, owner):
    image_id = 'img-' + owner.project_id
    first = _new(client, owner, image_id=image_id)
    second = _new(client, owner, image_id=image_id, status='failure')
    listed = client.task_list(owner, {'limit': 10, 'sort_dir': 'asc'})
    # NOTE: on MariaDB both may share a created_at second; the id breaks the tie (as Glance).
    expected = sorted([first, second], key=lambda t: (t['created_at'], t['id']))
    assert [t['id'] for t in listed] == [t['id'] for t in expected]
    assert client.task_list(owner, {'filters': {'status': 'failure'}})[0]['id'] == second['id']
    with pytest.raises(exc.InvalidSortKey):
        client.task_list(owner, {'sort_key': 'nope'})
    with pytest.raises(exc.TaskNotFound):
        client.task_list(owner, {'marker': str(uuid.uuid4())})
    rows = client.image_tasks(owner, 'img-' + owner.project_id)
    assert {t['id'] for t in rows} == {first['id'], second['id']}
    assert client.image_tasks(Ctx(), 'img-' + owner.project_id) == []


def test_unfinished_and_fail_are_admin_only(client, owner):
    task = _new(client, owner, type='import')
    with pytest.raises(exc.Forbidden):
        client.tasks_unfinished(owner)
    assert task['id'] in {t['id'] for t in client.tasks_unfinished(admin(), types=['import'])}
    moved = client.tasks_fail(admin(), [task['id']], 'gone', '2030-01-01T00:00:00')
    assert [(t['id'], t['status'], t['message']) for t in moved] == [
        (task['id'], 'failure', 'gone')]
    assert client.tasks_fail(admin(), [task['id']], 'again') == []


def test_bad_bodies_are_400(client, owner):
    with pytest.raises(exc.BadRequest):
        client.task_create(owner, {'type': 'import'})            # no owner
    with pytest.raises(exc.BadRequest):
        client.task_create(owner, {'type': 'import', 'owner': 'p', 'status': 'done'})
