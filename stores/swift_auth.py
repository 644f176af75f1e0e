"""Swift accounts: glance_store's accounts file, and Keystone sessions for auth v2/v3.

An account is a dict of ``auth_address``, ``auth_version``, ``user`` (``project:user``) and
``key``, or ``application_credential_id``/``_secret``, plus ``project_name``/``project_id``
and the user/project domain ids and names.
"""

import configparser
import logging
import re
import urllib.parse

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v2 as ks_v2
from keystoneauth1.identity import v3 as ks_v3

from stores import exceptions

LOG = logging.getLogger(__name__)

_VERSIONED_PATH = re.compile(r"v\d+(\.\d+)?$")
# The keys of an account reference besides auth_address, user and key.
_DOMAIN_KEYS = ("user_domain_id", "user_domain_name", "project_domain_id",
                "project_domain_name")
_APP_CRED_KEYS = ("application_credential_id", "application_credential_secret")


def load_references(path, auth_version):
    """Return {reference: account} from a swift accounts file (glance_store's rules).

    An account (see :func:`account_settings`) uses an application credential when its section has
    ``application_credential_id`` and ``application_credential_secret``, else ``user``
    and ``key``. ``auth_version`` is the default of sections without one. A section
    without usable credentials is logged and left out, as glance_store does: its
    locations then fail with BadStoreUri, and if it is the default reference,
    ``configure`` fails.
    :raises: BadStoreConfiguration (the file is missing or not an ini file)
    """
    parser = configparser.ConfigParser()
    try:
        with open(path) as f:
            parser.read_file(f)
    except (OSError, configparser.Error) as e:
        raise exceptions.BadStoreConfiguration(
            store_name="swift", reason="swift config file %s: %s" % (path, e)) from None
    refs = {}
    for section in parser.sections():
        raw = {k: _unquote(v) for k, v in parser.items(section)}
        ref = account_settings(raw, raw.get("auth_version") or auth_version)
        if ref is None:
            LOG.error("Invalid format of swift store config file %s: reference %s needs "
                      "auth_address and either user and key or application_credential_id "
                      "and application_credential_secret", path, section)
            continue
        refs[section] = ref
    return refs


def account_settings(raw, auth_version):
    """Return the account of ``raw`` settings, or None if it has no usable credentials.

    Keys: auth_address, auth_version, user, key, application_credential_id/_secret,
    project_name, project_id and the four domain keys (domain id ``default`` when neither
    the id nor the name is given, as glance_store).
    """
    if not raw.get("auth_address"):
        return None
    ref = {"auth_address": raw["auth_address"], "auth_version": str(auth_version),
           "user": None, "key": None, "application_credential_id": None,
           "application_credential_secret": None, "project_name": None,
           "project_id": None}
    if all(raw.get(k) for k in _APP_CRED_KEYS):
        ref.update({k: raw[k] for k in _APP_CRED_KEYS})
        ref["project_name"] = raw.get("project_name") or None
        ref["project_id"] = raw.get("project_id") or None
    elif raw.get("user") and raw.get("key"):
        ref["user"], ref["key"] = raw["user"], raw["key"]
    else:
        return None
    for kind in ("user", "project"):
        ref[kind + "_domain_id"] = raw.get(kind + "_domain_id") or None
        ref[kind + "_domain_name"] = raw.get(kind + "_domain_name") or None
        if not ref[kind + "_domain_id"] and not ref[kind + "_domain_name"]:
            ref[kind + "_domain_id"] = "default"
    return ref


def _versioned(auth_url, version):
    """Add /v3 (or /v2.0) to a versionless Keystone URL, as swiftclient does."""
    path = urllib.parse.urlsplit(auth_url).path.rstrip("/")
    if _VERSIONED_PATH.match(path.rsplit("/", 1)[-1]):
        return auth_url
    return auth_url.rstrip("/") + ("/v2.0" if version == "2" else "/v3")


def _unquote(value):
    if value and value[0] in "\"'":
        if len(value) == 1 or value[-1] != value[0]:
            raise exceptions.BadStoreConfiguration(
                store_name="swift", reason="Non-closed quote: %s" % value)
        return value[1:-1]
    return value


def keystone_session(ref, insecure, cacert, timeout):
    """Return a keystoneauth session that authenticates as account ``ref`` (v2 or v3).

    :raises: BadStoreUri (a user without its project)
    """
    version = ref["auth_version"]
    auth_url = _versioned(ref["auth_address"], version)
    domains = {k: ref[k] for k in _DOMAIN_KEYS if ref.get(k)}
    if ref["application_credential_id"]:
        # NOTE: project_name/project_id are not sent: Keystone scopes the token to
        # the credential's own project (glance_store does not send them either).
        auth = ks_v3.ApplicationCredential(
            auth_url=auth_url,
            application_credential_id=ref["application_credential_id"],
            application_credential_secret=ref["application_credential_secret"])
    else:
        try:
            project, user = ref["user"].split(":")
        except ValueError:
            raise exceptions.BadStoreUri(
                message="Badly formed tenant:user '%s' in Swift URI"
                        % ref["user"]) from None
        if version == "2":
            auth = ks_v2.Password(auth_url=auth_url, username=user,
                                  password=ref["key"], tenant_name=project)
        else:
            auth = ks_v3.Password(auth_url=auth_url, username=user, password=ref["key"],
                                  project_name=project, **domains)
    verify = False if insecure and not cacert else (cacert or True)
    sess = ks_session.Session(auth=auth, verify=verify, timeout=timeout)
    return sess
