"""The install guides' config files load unchanged, and the generated samples are current."""
import subprocess
from pathlib import Path

import pytest
from oslo_config import cfg

ETC = Path(__file__).resolve().parents[2] / "etc"
GUIDES = sorted((ETC / "install-guide").glob("*.conf"))
RESERVED_STORES = ("os_glance_staging_store", "os_glance_tasks_store")
# NOTE: options the older guides set that today's keystonemiddleware no longer knows; real
# Glance 33 ignores them the same way (oslo.config skips unknown keys), so they stay legal.
REMOVED_UPSTREAM = {("keystone_authtoken", "auth_uri")}


def register_keystone(conf, group="keystone_authtoken"):
    """Register keystonemiddleware's options and the configured auth plugin's options."""
    from keystoneauth1 import loading
    from keystonemiddleware.auth_token import _opts

    for name, opts in _opts.list_opts():
        conf.register_opts(opts, group=name)
    loading.register_auth_conf_options(conf, group)
    # NOTE: keystoneauth registers the plugin's own options (username, password, ...) on load,
    # exactly as keystonemiddleware does at start-up; nothing is contacted.
    loading.load_auth_from_conf_options(conf, group)


def register_backends(conf):
    """Register each multi-store backend's driver options (as the store registry does)."""
    from stores import config as store_config

    types = dict(conf.enabled_backends, **{name: "file" for name in RESERVED_STORES})
    for group, store_type in types.items():
        store_config.register_opts(conf, group=group, store_type=store_type)


def load(path):
    """Build a ConfigOpts with every option the service reading this file registers."""
    conf = cfg.ConfigOpts()
    if "registry" in path.name:
        config = pytest.importorskip("glance_registry.config")
        config.register_opts(conf)
    else:
        config = pytest.importorskip("glance_api.config")
        store_config = pytest.importorskip("stores.config")
        config.register_opts(conf)
        store_config.register_opts(conf)
    # glance-manage reads either file for [database].
    db_config = pytest.importorskip("glance_db.config")
    if "database" not in conf:
        db_config.register_opts(conf)
    conf(args=["--config-file", str(path)], project="glance", default_config_files=[],
         default_config_dirs=[])
    register_keystone(conf)
    if "enabled_backends" in conf and conf.enabled_backends:
        register_backends(conf)
    return conf


def known_names(conf, group):
    """Return {name in a file: opt} for a group, deprecated names included."""
    # NOTE: oslo.config has no public way to list an option's deprecated names; these
    # private tables have been stable for a decade.
    table = conf._opts if group == "DEFAULT" else conf._groups[group]._opts
    names = {}
    for info in table.values():
        opt = info["opt"]
        names[opt.name] = names[opt.dest] = opt
        for old in opt.deprecated_opts:
            if old.group in (None, group):
                names[old.name or opt.name] = opt
    return names


def file_items(path):
    """Return [(section, key, value)] exactly as written in an ini file."""
    sections = {}
    cfg.ConfigParser(str(path), sections).parse()
    return [(section, key, values[-1]) for section, keys in sections.items()
            for key, values in keys.items()]


@pytest.mark.parametrize("path", GUIDES, ids=[p.name for p in GUIDES])
def test_install_guide_file_loads_unchanged(path):
    conf = load(path)
    for section, key, _value in file_items(path):
        if (section, key) in REMOVED_UPSTREAM:
            continue
        assert section == "DEFAULT" or section in conf, f"unknown section [{section}]"
        names = known_names(conf, section)
        assert key in names, f"unknown option [{section}] {key}"
        opt = names[key]
        group = conf if section == "DEFAULT" else conf[section]
        getattr(group, opt.dest)  # parses the value: ConfigFileValueError if it is bad


def test_install_guide_values_as_written():
    conf = load(ETC / "install-guide" / "glance-api.conf")
    assert conf.database.connection == "mysql+pymysql://glance:GLANCE_DBPASS@controller/glance"
    assert conf.paste_deploy.flavor == "keystone"
    assert conf.glance_store.stores == ["file", "http"]
    assert conf.glance_store.default_store == "file"
    assert conf.glance_store.filesystem_store_datadir == "/var/lib/glance/images/"
    assert conf.keystone_authtoken.www_authenticate_uri == "http://controller:5000"
    assert conf.keystone_authtoken.memcached_servers == ["controller:11211"]
    assert conf.keystone_authtoken.username == "glance"


def test_legacy_names_still_apply():
    conf = load(ETC / "install-guide" / "glance-api-legacy.conf")
    assert conf.registry_host == "controller"
    assert conf.keystone_authtoken.auth_url == "http://controller:35357"
    assert conf.keystone_authtoken.project_domain_name == "default"


def test_multistore_sections():
    conf = load(ETC / "install-guide" / "glance-api-multistore.conf")
    assert conf.enabled_backends == {"fast": "file", "cheap": "file"}
    assert conf.glance_store.default_backend == "fast"
    assert conf.fast.filesystem_store_datadir == "/var/lib/glance/fast_images/"
    assert conf.os_glance_staging_store.filesystem_store_datadir == \
        "/var/lib/glance/os_glance_staging_store/"


@pytest.mark.parametrize("name", ["glance-api.conf.sample", "glance-registry.conf.sample"])
def test_generated_samples_are_current(tmp_path, name):
    for module in ("glance_api.config", "glance_registry.config", "glance_db.config",
                   "stores.config"):
        pytest.importorskip(module)
    committed = ETC / name
    assert committed.exists(), f"run tools/genconfig.sh (or tox -e genconfig) to create {name}"
    subprocess.run(["bash", str(ETC.parent / "tools" / "genconfig.sh"), str(tmp_path)],
                   check=True, capture_output=True, timeout=120)
    assert (tmp_path / name).read_text() == committed.read_text(), \
        f"etc/{name} is stale: run tools/genconfig.sh"
