"""oslo.middleware's cors and http_proxy_to_wsgi in front of the api (glance_api.app).

The comparison with real Glance 33 is tests/functional/test_cors.py; these check the wiring.
"""

import pytest
from oslo_config import cfg

from glance_api import config
from tests.unit.api.conftest import P1, Env, make_conf

ORIGIN = 'https://dash.example.com'
FORWARDED = {'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'images.example.com'}


def test_cors_defaults_are_glances():
    conf = make_conf()
    assert conf.cors.allowed_origin is None
    assert conf.cors.allow_methods == ['GET', 'PUT', 'POST', 'DELETE', 'PATCH']
    assert 'X-Auth-Token' in conf.cors.allow_headers
    assert conf.cors.expose_headers == config.CORS_DEFAULTS['expose_headers']
    assert conf.cors.max_age == 3600 and conf.cors.allow_credentials is True
    assert conf.oslo_middleware.enable_proxy_headers_parsing is False


def test_allowed_origin_gets_cors_headers_and_nothing_else_changes():
    env = Env(**{'cors.allowed_origin': [ORIGIN]})
    plain = env.client.simulate_get('/v2/images', headers=P1)
    with_origin = env.client.simulate_get('/v2/images', headers=dict(P1, Origin=ORIGIN))
    assert with_origin.status_code == plain.status_code == 200
    assert with_origin.json == plain.json
    assert with_origin.headers['access-control-allow-origin'] == ORIGIN
    assert with_origin.headers['vary'] == 'Origin'
    assert not [k for k in plain.headers if k.startswith('access-control')]
    other = env.client.simulate_get('/v2/images', headers=dict(P1, Origin='https://x.example'))
    assert not [k for k in other.headers if k.startswith('access-control')]


def test_preflight_and_refused_options():
    env = Env(**{'cors.allowed_origin': [ORIGIN]})
    ok = env.client.simulate_options('/v2/images', headers={
        'Origin': ORIGIN, 'Access-Control-Request-Method': 'PUT',
        'Access-Control-Request-Headers': 'X-Auth-Token'})
    assert ok.status_code == 200 and ok.text == ''
    assert ok.headers['access-control-allow-methods'] == 'PUT'
    assert ok.headers['access-control-allow-headers'] == 'X-Auth-Token'
    refused = env.client.simulate_options('/v2/images', headers={
        'Origin': ORIGIN, 'Access-Control-Request-Method': 'TRACE'})
    assert refused.status_code == 200 and refused.text == ''
    assert 'access-control-allow-origin' not in refused.headers
    # NOTE: with no Origin the api's own 405 still becomes the cors filter's empty 200.
    assert env.client.simulate_options('/v2/images', headers=P1).status_code == 200


def test_healthcheck_is_outside_the_filters():
    env = Env(**{'cors.allowed_origin': [ORIGIN]})
    resp = env.client.simulate_get('/healthcheck', headers={'Origin': ORIGIN})
    assert resp.status_code == 200
    assert 'access-control-allow-origin' not in resp.headers


@pytest.mark.parametrize('parsing, base', [(False, 'http://falconframework.org'),
                                           (True, 'https://images.example.com')])
def test_forwarded_scheme_and_host_only_when_enabled(parsing, base):
    env = Env(**{'oslo_middleware.enable_proxy_headers_parsing': parsing})
    created = env.client.simulate_post('/v2/images', json={'name': 'x'},
                                       headers=dict(P1, **FORWARDED))
    assert created.headers['location'] == '%s/v2/images/%s' % (base, created.json['id'])
    versions = env.client.simulate_get('/', headers=dict(FORWARDED, **{
        'X-Forwarded-Prefix': '/image'}))
    prefix = '/image' if parsing else ''
    assert versions.json['versions'][0]['links'][0]['href'] == base + prefix + '/v2/'


@pytest.mark.parametrize('group, name, value', [
    ('cors', 'max_age', 'abc'), ('cors', 'allow_credentials', 'maybe'),
    ('oslo_middleware', 'enable_proxy_headers_parsing', 'perhaps')])
def test_bad_values_are_found_at_start(tmp_path, group, name, value):
    path = tmp_path / 'glance-api.conf'
    path.write_text('[%s]\n%s = %s\n' % (group, name, value))
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf(['--config-file', str(path)], project='glance', default_config_files=[],
         default_config_dirs=[])
    with pytest.raises(cfg.ConfigFileValueError, match=name):
        config.check_middleware_opts(conf)
