"""A compare-and-swap lost to another request answers as Glance 33 (which has none).

The registry fake lets "another request" change the image just before this request's first
write, which is the window a real race hits (tests/functional/test_races.py runs the real
thing on MariaDB).
"""

import pytest

from glance_api.app import create_app
from glance_registry import exceptions as reg_exc
from tests.unit.api.conftest import ADMIN, P1, Env, json_headers
from tests.unit.api.fakes import FakeRegistry, FakeStore, FakeStores

JADMIN = json_headers(ADMIN)


class RacingRegistry(FakeRegistry):
    """Runs ``race(image_row)`` once, before the first image write."""

    race = None

    def _before_write(self, image_id):
        race, self.race = self.race, None
        if race is not None:
            race(self.images[image_id])

    def image_update(self, ctx, image_id, values, from_state=None, purge_props=False):
        self._before_write(image_id)
        return super().image_update(ctx, image_id, values, from_state, purge_props)

    def image_destroy(self, ctx, image_id, from_state=None, status=None):
        self._before_write(image_id)
        return super().image_destroy(ctx, image_id, from_state, status)


@pytest.fixture
def env():
    env = Env()
    env.registry, env.store = RacingRegistry(), FakeStore()
    env.client.app = create_app(env.conf, registry=env.registry, stores=FakeStores(env.store))
    return env


def _active(env):
    image = env.create(headers=ADMIN)
    env.registry.images[image['id']].update(status='active', locations=[
        {'id': 1, 'url': 'file:///x', 'metadata': {}, 'status': 'active'}])
    return image['id']


def _delete(env, image_id):
    return env.client.simulate_delete('/v2/images/' + image_id, headers=JADMIN)


def test_delete_finding_another_delete_under_way_is_204(env):
    image_id = _active(env)
    env.registry.race = lambda row: row.update(status='pending_delete')
    resp = _delete(env, image_id)
    assert (resp.status_code, resp.text) == (204, '')
    # NOTE: the other delete owns the bytes and the row now.
    assert env.store.deleted == [] and not env.registry.images[image_id]['deleted']


def test_delete_finding_the_image_gone_is_204(env):
    image_id = _active(env)
    env.registry.race = lambda row: row.update(status='deleted', deleted=True)
    assert _delete(env, image_id).status_code == 204
    resp = _delete(env, image_id)
    assert resp.status_code == 404
    assert env.message(resp).startswith('Failed to find image %s to delete' % image_id)


def test_queued_image_deleted_meanwhile_is_204(env):
    image_id = env.create(headers=ADMIN)['id']
    env.registry.race = lambda row: row.update(status='deleted', deleted=True)
    assert _delete(env, image_id).status_code == 204


def test_delete_starts_over_after_another_status_change(env):
    image_id = _active(env)
    env.registry.race = lambda row: row.update(status='deactivated')
    assert _delete(env, image_id).status_code == 204
    row = env.registry.images[image_id]
    assert row['deleted'] and row['status'] == 'deleted'
    assert env.store.deleted == ['file:///x']


def test_delete_of_an_image_protected_meanwhile_is_403(env):
    image_id = _active(env)
    env.registry.race = lambda row: row.update(status='deactivated', protected=True)
    resp = _delete(env, image_id)
    assert resp.status_code == 403
    assert env.message(resp).startswith(
        'Image %s is protected and cannot be deleted.' % image_id)
    assert env.store.deleted == [] and not env.registry.images[image_id]['deleted']


def _deactivate(env, image_id):
    return env.client.simulate_post('/v2/images/%s/actions/deactivate' % image_id,
                                    headers=JADMIN)


def test_deactivate_losing_to_another_deactivate_is_204(env):
    image_id = _active(env)
    env.registry.race = lambda row: row.update(status='deactivated')
    assert _deactivate(env, image_id).status_code == 204


@pytest.mark.parametrize('status', ['pending_delete', 'queued'])
def test_deactivate_losing_to_another_status_is_glance_403(env, status):
    image_id = _active(env)
    env.registry.race = lambda row: row.update(status=status)
    resp = _deactivate(env, image_id)
    assert resp.status_code == 403
    assert env.message(resp).startswith(
        "Not allowed to deactivate image in status '%s'" % status)


def test_deactivate_losing_to_a_delete_is_404(env):
    image_id = _active(env)
    env.registry.race = lambda row: row.update(status='deleted', deleted=True)
    resp = _deactivate(env, image_id)
    assert resp.status_code == 404
    assert env.message(resp).startswith('No image found with ID %s' % image_id)


@pytest.mark.parametrize('error, status, text', [
    (reg_exc.Conflict('cannot transition from active to saving in update '
                      '(wanted from_state=queued)'), 409,
     'There was a conflict when trying to complete your request.'),
    (reg_exc.BadRequest('Database error: IntegrityError'), 400,
     'The server could not comply with the request since it is either malformed or '
     'otherwise incorrect.'),
])
def test_registry_words_never_reach_the_user(env, error, status, text):
    image_id = env.create(headers=P1)['id']

    def fail(row):
        raise error
    env.registry.race = fail
    resp = env.patch(image_id, [{'op': 'replace', 'path': '/name', 'value': 'n'}],
                     headers=json_headers(P1))
    assert resp.status_code == status
    assert env.message(resp) == text + '<br /><br />\n\n\n'
