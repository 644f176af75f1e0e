"""The registry's one render(): compact UTF-8 JSON, whatever a stored string holds."""
import json

from glance_registry.resources import bodies


def test_dumps_is_compact_utf8():
    expected = '{"name":"café","n":%d}' % 2 ** 70
    assert bodies.dumps({'name': 'café', 'n': 2 ** 70}) == expected.encode()


def test_a_lone_surrogate_stored_earlier_is_answered_as_u_fffd():
    # NOTE: decoding refuses "\ud800" now; a row written before that must not make every
    # later read of it a 500.
    data = bodies.dumps({'input': {'x': 'a\ud800b'}, 'big': 2 ** 70})
    assert json.loads(data) == {'input': {'x': 'a\ufffdb'}, 'big': 2 ** 70}
