"""The store contract on the filesystem driver (a private directory per test)."""

import os

import pytest
from oslo_config import cfg

from stores.filesystem import FilesystemStore
from tests.functional.stores.contract import StoreContract


class TestFilesystemContract(StoreContract):
    duplicate = "raise"

    @pytest.fixture
    def store(self, tmp_path):
        conf = cfg.ConfigOpts()
        conf([], project="glance-clone-test", default_config_files=[])
        store = FilesystemStore(conf, "local")
        conf.set_override("filesystem_store_datadir", str(tmp_path / "images"), "local")
        store._read_options()
        store.configure()
        self.datadir = store.datadir
        return store

    def leftovers(self, store, url):
        name = url.rsplit("/", 1)[-1]
        return [entry for entry in os.listdir(self.datadir)
                if entry == name or entry.startswith("." + name + ".")]
