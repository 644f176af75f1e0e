"""``[paste_deploy] flavor``: the pipelines Glance had for each service, and nothing else.

Glance looked the flavor up as a paste pipeline name (``glance-api-keystone+caching``) and
refused to start when no pipeline had that name. A typo here must not quietly drop token
validation (a registry that runs with no authentication trusts ``X-Is-Admin`` from anyone),
so each service accepts exactly its own flavors, spelled as Glance spelled them, and refuses
to start on anything else.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Flavor:
    """What one flavor turns on."""

    name: str            # '' for no flavor
    keystone: bool       # tokens validated by keystonemiddleware
    caching: bool        # downloads go through the image cache
    cachemanagement: bool   # /v2/cache routes


def _flavor(name):
    parts = name.split('+') if name else []
    return Flavor(name=name, keystone='keystone' in parts,
                  caching='caching' in parts or 'cachemanagement' in parts,
                  cachemanagement='cachemanagement' in parts)


# The pipelines of Glance's glance-api-paste.ini that this service serves. ``trusted-auth``
# (identity headers believed without a token) is left out on purpose: docs/security.md.
API_FLAVORS = {name: _flavor(name) for name in (
    '', 'keystone', 'keystone+caching', 'keystone+cachemanagement', 'caching',
    'cachemanagement')}
# glance-registry-paste.ini: the trusted-auth default pipeline and keystone.
REGISTRY_FLAVORS = {name: _flavor(name) for name in ('', 'keystone')}
SIDES = {'glance-api': API_FLAVORS, 'glance-registry': REGISTRY_FLAVORS}


class UnknownFlavor(ValueError):
    """The configured flavor is not one this service has a pipeline for."""


def parse(flavor, service):
    """Return the Flavor of ``[paste_deploy] flavor`` for ``service``.

    :param service: 'glance-api' or 'glance-registry'.
    :raises UnknownFlavor: any other spelling, with the accepted ones in the message.
    """
    known = SIDES[service]
    found = known.get(flavor or '')
    if found is None:
        accepted = ', '.join(repr(name) for name in known if name) + ' or none'
        raise UnknownFlavor(
            'Unknown [paste_deploy] flavor %r for %s (no such pipeline); accepted: %s'
            % (flavor, service, accepted))
    return found


def of(conf, service):
    """Return the Flavor ``conf`` sets for ``service`` (see parse)."""
    return parse(conf.paste_deploy.flavor, service)
