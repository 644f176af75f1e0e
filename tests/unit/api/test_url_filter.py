"""[import_filtering_opts] (OSSA-2026-004): encoded IPs, loopback/link-local, lists."""

import socket

import pytest

from glance_api.rules import url_filter
from tests.unit.api.conftest import make_conf

ENCODED_LOOPBACK = [
    'http://2130706433/x',              # decimal
    'http://0x7f000001/x',              # hex
    'http://017700000001/x',            # octal
    'http://0177.0.0.1/x',              # octal octet
    'http://127.1/x',                   # shorthand
    'http://127.0x0.0.1/x',             # mixed
    'http://0x7f.1/x',
]
LOOPBACK_OR_LINK_LOCAL = [
    'http://127.0.0.1/x', 'http://127.8.9.10/x', 'http://[::1]/x',
    'http://[::ffff:127.0.0.1]/x',       # IPv4-mapped IPv6
    'http://[::ffff:7f00:1]/x',
    'http://169.254.169.254/latest/meta-data',
    'http://[fe80::1]/x', 'http://[::ffff:169.254.169.254]/x',
]


@pytest.fixture
def conf():
    return make_conf()


@pytest.mark.parametrize('url', ENCODED_LOOPBACK)
def test_encoded_addresses_are_refused(conf, url):
    """Numeric encodings inet_aton would accept never pass, even when loopback is allowed."""
    assert not url_filter.passes(url, conf)
    conf.set_override('allowed_hosts', ['127.0.0.1'], group='import_filtering_opts')
    assert not url_filter.passes(url, conf)


@pytest.mark.parametrize('url', LOOPBACK_OR_LINK_LOCAL)
def test_loopback_and_link_local_are_refused(conf, url):
    """Loopback and link-local targets are refused by default."""
    assert not url_filter.passes(url, conf)


def test_private_and_public_addresses_pass(conf):
    """RFC 1918 and public addresses pass on the default ports."""
    for url in ('http://10.1.2.3/x', 'https://192.168.0.1/x', 'http://8.8.8.8:80/x',
                'https://[2001:db8::1]:443/x'):
        assert url_filter.passes(url, conf), url


def test_ports_and_schemes(conf):
    """Default ports are 80/443; default schemes http/https; no scheme fails."""
    assert not url_filter.passes('http://10.1.2.3:8080/x', conf)
    assert not url_filter.passes('ftp://10.1.2.3/x', conf)
    assert not url_filter.passes('//10.1.2.3/x', conf)
    assert not url_filter.passes('', conf)
    assert not url_filter.passes('http://10.1.2.3:99999/x', conf)
    conf.set_override('allowed_ports', [], group='import_filtering_opts')
    conf.set_override('disallowed_ports', [8080], group='import_filtering_opts')
    assert url_filter.passes('http://10.1.2.3:8081/x', conf)
    assert not url_filter.passes('http://10.1.2.3:8080/x', conf)


def test_allowed_hosts_admit_loopback_and_ignore_deny_list(conf):
    """An allowed host passes even if loopback; with an allow-list the deny-list is ignored."""
    group = 'import_filtering_opts'
    conf.set_override('allowed_hosts', ['127.0.0.1'], group=group)
    conf.set_override('disallowed_hosts', ['127.0.0.1'], group=group)
    assert url_filter.passes('http://127.0.0.1/x', conf)
    assert not url_filter.passes('http://10.1.2.3/x', conf)   # not in the allow-list
    assert url_filter.validated_addresses('http://127.0.0.1/x', conf) == ['127.0.0.1']


def test_disallowed_hosts_match_addresses(conf, monkeypatch):
    """A denied IP also refuses names resolving to it."""
    conf.set_override('disallowed_hosts', ['10.9.9.9'], group='import_filtering_opts')
    assert not url_filter.passes('http://10.9.9.9/x', conf)
    monkeypatch.setattr(url_filter.socket, 'getaddrinfo', lambda host, port, *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, '', ('10.9.9.9', port))])
    with pytest.raises(url_filter.FilterRefused):
        url_filter.validated_addresses('http://alias.example/x', conf)


def test_names_must_resolve(conf, monkeypatch):
    """A name that does not resolve is refused; one resolving to loopback too."""
    def fake_getaddrinfo(host, port, *args, **kwargs):
        if host == 'good.example.':
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, '', ('10.0.0.5', port))]
        if host == 'local.example.':
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, '', ('::ffff:127.0.0.1', port,
                                                                   0, 0))]
        raise socket.gaierror(socket.EAI_NONAME, 'no such host')
    monkeypatch.setattr(url_filter.socket, 'getaddrinfo', fake_getaddrinfo)
    assert url_filter.passes('http://good.example/x', conf)
    assert not url_filter.passes('http://nosuch.example/x', conf)
    assert not url_filter.passes('http://local.example/x', conf)


def test_normalize_hostname():
    """IPs come back canonical; encodings are refused (None)."""
    assert url_filter.normalize_hostname('::FFFF:127.0.0.1') == '::ffff:7f00:1'
    assert url_filter.normalize_hostname('127.000.000.001') is None
    assert url_filter.normalize_hostname('2130706433') is None
    assert url_filter.normalize_hostname('0x7f000001') is None
    assert url_filter.normalize_hostname('10.1') is None
