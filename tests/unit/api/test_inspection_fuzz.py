"""Fuzz glance_api.data.inspection with mutated headers of the corpus images
(tests/image_corpus.py).

Whatever the bytes, the only way out is a decision (a virtual size or None) or the named
refusal (InvalidImageData, Glance's 415), within a bounded time; the import path's file
inspection (import_plugins.inspect_path) likewise raises only PluginRefused.
"""
import time
import types

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glance_api import exceptions
from glance_api.imports import plugins as import_plugins
from glance_api.data import inspection
from tests import image_corpus

HEADER = 4096          # bytes of each image the mutations touch (headers, descriptors)
LIMIT = 2.0            # seconds one input may take
FORMATS = ["raw", "qcow2", "vmdk", "vhd", "vhdx", "vdi", "iso", "ami", "aki"]
CONF = types.SimpleNamespace(
    image_format=types.SimpleNamespace(require_image_format_match=True,
                                       gpt_safety_checks_nonfatal=[],
                                       vmdk_allowed_types=["streamOptimized",
                                                           "monolithicSparse"]))
SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Return the first 64 KiB of every corpus image (enough for all header regions)."""
    image_corpus.qemu_img("--version")
    root = tmp_path_factory.mktemp("fuzz-corpus")
    heads = {}
    for name in image_corpus.CASES:
        (root / name).mkdir()
        path, _fmt, _cf = image_corpus.build(name, root / name)
        with open(path, "rb") as f:
            heads[name] = f.read(64 * 1024)
    return heads


MUTATIONS = st.lists(st.tuples(st.integers(0, HEADER - 1), st.integers(0, 255)),
                     min_size=1, max_size=24)


def mutate(data, edits, cut):
    data = bytearray(data)
    for offset, value in edits:
        if offset < len(data):
            data[offset] = value
    return bytes(data[:cut]) if cut else bytes(data)


class Chunks:
    def __init__(self, data, size):
        self._data, self._pos, self._size = data, 0, size

    def read(self, n=-1):
        n = self._size if n is None or n < 0 else min(n, self._size)
        chunk = self._data[self._pos:self._pos + n]
        self._pos += len(chunk)
        return chunk


@SETTINGS
@given(name=st.sampled_from(sorted(image_corpus.CASES)), edits=MUTATIONS,
       cut=st.one_of(st.just(0), st.integers(1, 70000)),
       disk_format=st.sampled_from(FORMATS), chunk=st.sampled_from([512, 4096, 65536]))
def test_stream_inspection_only_refuses(corpus, name, edits, cut, disk_format, chunk):
    data = mutate(corpus[name], edits, cut)
    start = time.monotonic()
    reader = inspection.wrap({"container_format": "bare"}, Chunks(data, chunk))
    while reader.read(chunk):
        pass
    try:
        size = inspection.virtual_size(reader, disk_format, CONF.image_format)
    except exceptions.InvalidImageData:
        size = None
    assert size is None or isinstance(size, int)
    assert time.monotonic() - start < LIMIT


@SETTINGS
@given(name=st.sampled_from(sorted(image_corpus.CASES)), edits=MUTATIONS)
def test_file_inspection_only_refuses(corpus, tmp_path, name, edits):
    path = tmp_path / "fuzzed"
    path.write_bytes(mutate(corpus[name], edits, 0))
    start = time.monotonic()
    try:
        import_plugins.inspect_path(CONF, str(path))
    except import_plugins.PluginRefused:
        pass
    assert time.monotonic() - start < LIMIT
