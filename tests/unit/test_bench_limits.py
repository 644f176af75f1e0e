"""The benchmark's bare pipeline does the work it claims to measure."""

import hashlib
import os

from benchmarks import limits


def test_bare_pipeline_receives_and_hashes_every_byte(tmp_path):
    # More chunks than the receiver's ring, and a partial last chunk.
    size = (limits.BARE_RING * 2 + 3) * limits.CHUNK + 12345
    expected = hashlib.md5()
    for piece in limits.bare_stream(size):
        expected.update(piece)
    mbps, md5 = limits.bare_pipeline(size, str(tmp_path))
    assert mbps > 0
    assert md5 == expected.hexdigest()
    assert os.listdir(tmp_path) == []  # the written file is removed
