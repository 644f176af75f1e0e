"""``[import_filtering_opts]``: which http(s) URLs glance-api may fetch (Glance 33's
glance.common.utils.get_validated_address, the OSSA-2026-004 SSRF filter).

A URL passes when its scheme, host and port pass the allow/deny lists (an allow-list, when
set, makes its deny-list ignored), its host is a plain IP or a resolvable name (decimal,
hex, octal and shorthand IP encodings are refused), and it resolves to at least one address
that is neither loopback nor link-local (IPv4-mapped IPv6 checked as IPv4) nor a denied IP,
unless the host is explicitly allowed. Redirect targets must pass again. A fetch then
connects only to the addresses the check accepted (:func:`pins`), never to what a second
resolution of the name would give (DNS rebinding).
"""

import ipaddress
import socket
import urllib.parse

from oslo_config import cfg

GROUP = 'import_filtering_opts'

# NOTE: names, defaults and help texts as Glance 33's glance/async_/flows/_internal_plugins.
import_filtering_opts = [

    cfg.ListOpt('allowed_schemes',
                item_type=cfg.types.String(quotes=True),
                bounds=True,
                default=['http', 'https'],
                help=("""
Specify the "whitelist" of allowed url schemes for web-download.

This option provides whitelisting of uri schemes that will be allowed when
an end user imports an image using the web-download import method. The
whitelist has priority such that if there is also a blacklist defined for
schemes, the blacklist will be ignored.  Host and port filtering, however,
will be applied.

See the Glance Administration Guide for more information.

Possible values:
    * List containing normalized url schemes as they are returned from
      urllib.parse. For example ['ftp','https']
    * Hint: leave the whitelist empty if you want the disallowed_schemes
      blacklist to be processed

Related options:
    * disallowed_schemes
    * allowed_hosts
    * disallowed_hosts
    * allowed_ports
    * disallowed_ports

""")),
    cfg.ListOpt('disallowed_schemes',
                item_type=cfg.types.String(quotes=True),
                bounds=True,
                default=[],
                help=("""
Specify the "blacklist" of uri schemes disallowed for web-download.

This option provides blacklisting of uri schemes that will be rejected when
an end user imports an image using the web-download import method.  Note
that if a scheme whitelist is defined using the 'allowed_schemes' option,
*this option will be ignored*.  Host and port filtering, however, will be
applied.

See the Glance Administration Guide for more information.

Possible values:
    * List containing normalized url schemes as they are returned from
      urllib.parse. For example ['ftp','https']
    * By default the list is empty

Related options:
    * allowed_schemes
    * allowed_hosts
    * disallowed_hosts
    * allowed_ports
    * disallowed_ports

""")),
    cfg.ListOpt('allowed_hosts',
                item_type=cfg.types.HostAddress(),
                bounds=True,
                default=[],
                help=("""
Specify the "whitelist" of allowed target hosts for web-download.

This option provides whitelisting of hosts that will be allowed when an end
user imports an image using the web-download import method. The whitelist
has priority such that if there is also a blacklist defined for hosts, the
blacklist will be ignored.  The uri must have already passed scheme
filtering before this host filter will be applied.  If the uri passes, port
filtering will then be applied.

See the Glance Administration Guide for more information.

Possible values:
    * List containing normalized hostname or ip like it would be returned
      in the urllib.parse netloc without the port
    * By default the list is empty
    * Hint: leave the whitelist empty if you want the disallowed_hosts
      blacklist to be processed

Related options:
    * allowed_schemes
    * disallowed_schemes
    * disallowed_hosts
    * allowed_ports
    * disallowed_ports

""")),
    cfg.ListOpt('disallowed_hosts',
                item_type=cfg.types.HostAddress(),
                bounds=True,
                default=[],
                help=("""
Specify the "blacklist" of hosts disallowed for web-download.

This option provides blacklisting of hosts that will be rejected when an end
user imports an image using the web-download import method.  Note that if a
host whitelist is defined using the 'allowed_hosts' option, *this option
will be ignored*.

The uri must have already passed scheme filtering before this host filter
will be applied.  If the uri passes, port filtering will then be applied.

See the Glance Administration Guide for more information.

Possible values:
    * List containing normalized hostname or ip like it would be returned
      in the urllib.parse netloc without the port
    * By default the list is empty

Related options:
    * allowed_schemes
    * disallowed_schemes
    * allowed_hosts
    * allowed_ports
    * disallowed_ports

""")),
    cfg.ListOpt('allowed_ports',
                item_type=cfg.types.Integer(min=1, max=65535),
                bounds=True,
                default=[80, 443],
                help=("""
Specify the "whitelist" of allowed ports for web-download.

This option provides whitelisting of ports that will be allowed when an end
user imports an image using the web-download import method.  The whitelist
has priority such that if there is also a blacklist defined for ports, the
blacklist will be ignored.  Note that scheme and host filtering have already
been applied by the time a uri hits the port filter.

See the Glance Administration Guide for more information.

Possible values:
    * List containing ports as they are returned from urllib.parse netloc
      field.  Thus the value is a list of integer values, for example
      [80, 443]
    * Hint: leave the whitelist empty if you want the disallowed_ports
      blacklist to be processed

Related options:
    * allowed_schemes
    * disallowed_schemes
    * allowed_hosts
    * disallowed_hosts
    * disallowed_ports
""")),
    cfg.ListOpt('disallowed_ports',
                item_type=cfg.types.Integer(min=1, max=65535),
                bounds=True,
                default=[],
                help=("""
Specify the "blacklist" of disallowed ports for web-download.

This option provides blacklisting of target ports that will be rejected when
an end user imports an image using the web-download import method.  Note
that if a port whitelist is defined using the 'allowed_ports' option, *this
option will be ignored*.  Note that scheme and host filtering have already
been applied by the time a uri hits the port filter.

See the Glance Administration Guide for more information.

Possible values:
    * List containing ports as they are returned from urllib.parse netloc
      field.  Thus the value is a list of integer values, for example
      [22, 88]
    * By default this list is empty

Related options:
    * allowed_schemes
    * disallowed_schemes
    * allowed_hosts
    * disallowed_hosts
    * allowed_ports

""")),
]


def register_opts(conf):
    """Register ``[import_filtering_opts]`` on conf."""
    conf.register_opts(import_filtering_opts, group=GROUP)


class FilterRefused(ValueError):
    """The URL must not be fetched (scheme, host, port or address refused)."""


def normalize_hostname(host):
    """Return ``host`` as a canonical IP, or the name if it resolves; None when refused.

    Refuses encoded IPs (``2130706433``, ``0x7f000001``, ``017700000001``, ``127.1``),
    which ``ipaddress`` rejects but ``inet_aton`` would accept.
    """
    if not host:
        return host
    for cls in (ipaddress.IPv4Address, ipaddress.IPv6Address):
        try:
            return str(cls(host))
        except ValueError:
            pass
    if all(c.isdigit() or c == '.' for c in host):
        return None
    # NOTE: the trailing dot forces a DNS lookup instead of numeric parsing, so
    # "0x7f000001" or "127.0x0.0.1" fail here.
    try:
        socket.getaddrinfo(host if host.endswith('.') else host + '.', 80)
    except (socket.gaierror, UnicodeError):
        return None
    return host


def _lists(opts, name):
    allowed, denied = list(getattr(opts, 'allowed_' + name)), list(
        getattr(opts, 'disallowed_' + name))
    return allowed, ([] if allowed and denied else denied)


def _resolve(host, port):
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    addresses = []
    try:
        infos = socket.getaddrinfo(host if host.endswith('.') else host + '.', port)
    except (socket.gaierror, UnicodeError) as exc:
        raise FilterRefused('failed to resolve external host %s: %s' % (host, exc)) from None
    for info in infos:
        addr = ipaddress.ip_address(info[4][0].split('%', 1)[0])
        if addr not in addresses:
            addresses.append(addr)
    return addresses


def _denied_ip(addr, host, denied_hosts):
    for entry in denied_hosts:
        if entry == host:
            continue
        try:
            if addr == ipaddress.ip_address(entry):
                return True
        except ValueError:
            if str(addr) == entry:
                return True
    return False


def pinned_addresses(host, port, opts):
    """Return the addresses of ``host`` that may be connected to (in resolver order).

    :raises: FilterRefused when none may.
    """
    normalized = normalize_hostname(host)
    if not normalized:
        raise FilterRefused('invalid external host: %s' % host)
    allowed_hosts, denied_hosts = _lists(opts, 'hosts')
    whitelisted = bool(allowed_hosts and normalized in allowed_hosts)
    usable = []
    for addr in _resolve(normalized, port):
        if whitelisted:
            usable.append(str(addr))
        check = addr.ipv4_mapped if getattr(addr, 'ipv4_mapped', None) else addr
        if check.is_loopback or check.is_link_local:
            continue
        if not _denied_ip(addr, normalized, denied_hosts):
            usable.append(str(addr))
    if not usable:
        raise FilterRefused('no allowed addresses for external host: %s' % host)
    return usable


def validated_addresses(url, conf):
    """Check ``url`` against ``[import_filtering_opts]``; return its usable addresses.

    :raises: FilterRefused.
    """
    if not url:
        raise FilterRefused('empty external URI')
    if not isinstance(url, str):   # NOTE: a JSON body may hold any type there
        raise FilterRefused('malformed external URI: %r' % (url,))
    opts = conf[GROUP]
    try:
        parsed = urllib.parse.urlparse(url)
        host, port = parsed.hostname, parsed.port
    except ValueError:
        raise FilterRefused('malformed external URI: %s' % url) from None
    allowed, denied = _lists(opts, 'schemes')
    if not parsed.scheme or (allowed and parsed.scheme not in allowed) \
            or parsed.scheme in denied:
        raise FilterRefused('scheme not allowed for external URI: %s' % url)
    normalized = normalize_hostname(host)
    allowed, denied = _lists(opts, 'hosts')
    if not normalized or (allowed and normalized not in allowed) or normalized in denied:
        raise FilterRefused('host not allowed for external URI: %s' % url)
    allowed, denied = _lists(opts, 'ports')
    if port and ((allowed and port not in allowed) or port in denied):
        raise FilterRefused('port not allowed for external URI: %s' % url)
    return pinned_addresses(normalized, port or (443 if parsed.scheme == 'https' else 80),
                            opts)


def passes(url, conf):
    """Return True if ``url`` passes ``[import_filtering_opts]`` (Glance's validate_uri)."""
    return pins(url, conf) is not None


def pins(url, conf):
    """Return the addresses a fetch of ``url`` may connect to, or None when it is refused.

    SECURITY: the fetch must connect to these and not resolve the name again, or DNS
    rebinding gets past the filter (see stores.http_pinning).
    """
    try:
        return validated_addresses(url, conf)
    except FilterRefused:
        return None


def fetch_kwargs(store, conf):
    """Keyword arguments that make an http store re-check every redirect hop and connect
    only to the addresses each check accepted."""
    if getattr(store, 'type_name', None) != 'http':
        return {}
    return {'url_check': lambda url: pins(url, conf)}


def list_opts():
    """Return the options for oslo-config-generator."""
    return [(GROUP, import_filtering_opts)]
