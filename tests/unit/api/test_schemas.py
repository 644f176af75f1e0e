"""/v2/schemas/* documents (docs/glance-api.md §3.1, §8)."""

import json

import pytest

from tests.unit.api.conftest import P1, Env


def test_image_schema(env):
    resp = env.client.simulate_get('/v2/schemas/image', headers=P1)
    assert resp.status_code == 200
    schema = resp.json
    assert schema['name'] == 'image'
    assert schema['additionalProperties'] == {'type': 'string'}
    assert [link['rel'] for link in schema['links']] == ['self', 'enclosure', 'describedby']
    assert 'required' not in schema
    assert schema['properties']['disk_format']['enum'] == [
        None, 'ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop']
    assert schema['properties']['status']['readOnly'] is True


def test_collection_and_member_schemas(env):
    images = env.client.simulate_get('/v2/schemas/images', headers=P1).json
    assert images['properties']['images']['items']['name'] == 'image'
    assert [link['rel'] for link in images['links']] == ['first', 'next', 'describedby']
    member = env.client.simulate_get('/v2/schemas/member', headers=P1).json
    assert set(member) == {'name', 'properties'}
    assert member['properties']['status']['enum'] == ['pending', 'accepted', 'rejected']
    members = env.client.simulate_get('/v2/schemas/members', headers=P1).json
    assert members['properties']['members']['items'] == member
    tasks = env.client.simulate_get('/v2/schemas/tasks', headers=P1).json
    assert 'input' not in tasks['properties']['tasks']['items']['properties']
    task = env.client.simulate_get('/v2/schemas/task', headers=P1).json
    assert 'input' in task['properties']


def test_formats_from_config_and_custom_properties(tmp_path):
    (tmp_path / 'schema-image.json').write_text(json.dumps(
        {'properties': {'os_distro': {'type': 'string'}}, 'required': ['os_distro']}))
    conf_file = tmp_path / 'glance-api.conf'
    conf_file.write_text('[image_format]\ndisk_formats = raw,qcow2\n')
    from falcon.testing import TestClient
    from oslo_config import cfg

    from glance_api import config
    from glance_api.app import create_app
    from tests.unit.api.fakes import FakeRegistry, FakeStores
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf(['--config-file', str(conf_file)], project='glance')
    client = TestClient(create_app(conf, registry=FakeRegistry(), stores=FakeStores()))
    schema = client.simulate_get('/v2/schemas/image', headers=P1).json
    assert schema['properties']['disk_format']['enum'] == [None, 'raw', 'qcow2']
    assert schema['properties']['os_distro'] == {'type': 'string', 'is_base': False}
    assert schema['required'] == ['os_distro']
    resp = client.simulate_post('/v2/images', json={'disk_format': 'vmdk', 'os_distro': 'x'},
                                headers=P1)
    assert resp.status_code == 400
    resp = client.simulate_post('/v2/images', json={}, headers=P1)
    assert resp.status_code == 400
    assert client.simulate_post('/v2/images', json={'os_distro': 'x'},
                                headers=P1).status_code == 201


def test_schemas_get_only():
    env = Env()
    resp = env.client.simulate_put('/v2/schemas/members', headers=P1)
    assert resp.status_code == 405 and resp.headers['allow'] == 'GET'
    assert env.client.simulate_get('/v2/schemas/nope', headers=P1).status_code == 404


@pytest.mark.parametrize('name', ['namespace', 'namespaces', 'resource_type',
                                  'resource_types', 'property', 'properties', 'object',
                                  'objects', 'tag', 'tags'])
def test_metadef_schemas(env, name):
    # NOTE: the documents themselves are compared with real Glance 33 in test_oracle.
    path = '/v2/schemas/metadefs/' + name
    resp = env.client.simulate_get(path, headers=P1)
    assert resp.status_code == 200
    # NOTE: Glance names the resource_type schemas after associations.
    assert resp.json['name'] == name.replace('resource_type', 'resource_type_association')
    assert env.client.simulate_post(path, headers=P1).headers['allow'] == 'GET'
    assert env.client.simulate_get(path, headers=P1, body=b'x').status_code == 400


def test_info_import_and_usage(env):
    resp = env.client.simulate_get('/v2/info/import', headers=P1)
    assert resp.json == {'import-methods': {
        'description': 'Import methods available.', 'type': 'array',
        'value': ['glance-direct', 'web-download', 'copy-image']}}
    assert env.client.simulate_get('/v2/info/usage', headers=P1).json == {'usage': {}}
