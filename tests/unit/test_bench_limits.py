"""The benchmark's pipeline ceiling does the work it claims to measure."""

import hashlib
import os

from benchmarks import limits


def test_pipeline_ceiling_receives_and_hashes_every_byte(tmp_path):
    # More chunks than the receiver's ring, and a partial last chunk.
    size = (limits.CEILING_RING * 2 + 3) * limits.CHUNK + 12345
    expected = hashlib.md5()
    for piece in limits.ceiling_stream(size):
        expected.update(piece)
    mbps, md5 = limits.pipeline_ceiling(size, str(tmp_path))
    assert mbps > 0
    assert md5 == expected.hexdigest()
    assert os.listdir(tmp_path) == []  # the written file is removed
