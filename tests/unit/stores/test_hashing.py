"""ParallelHasher gives exactly hashlib's digests, whatever the chunking."""

import hashlib
import os
import random

import pytest

from stores.hashing import COALESCE_BYTES, ParallelHasher

MiB = 1024 * 1024
SIZES = [0, 1, 2047, 2048, 65536, MiB - 1, MiB, MiB + 1, 5 * MiB + 3]


def chunked(data, sizes):
    pos = 0
    while pos < len(data):
        step = sizes[pos % len(sizes)]
        yield data[pos:pos + step]
        pos += step


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("chunks", [[MiB], [4096], [1, 7, 100_000, 3 * MiB, 17]])
@pytest.mark.parametrize("parallel", [True, False])
def test_digests_equal_hashlib(size, chunks, parallel):
    data = os.urandom(size)
    hashers = [hashlib.md5(), hashlib.sha512(), hashlib.sha256()]
    with ParallelHasher(hashers, parallel=parallel) as hasher:
        for chunk in chunked(data, chunks):
            hasher.update(chunk)
    assert hashers[0].hexdigest() == hashlib.md5(data).hexdigest()
    assert hashers[1].hexdigest() == hashlib.sha512(data).hexdigest()
    assert hashers[2].hexdigest() == hashlib.sha256(data).hexdigest()


def test_reused_mutable_buffer_is_snapshotted():
    rng = random.Random(7)
    buf = bytearray(2 * COALESCE_BYTES)
    md5 = hashlib.md5()
    expected = hashlib.md5()
    with ParallelHasher([md5]) as hasher:
        for _ in range(20):
            buf[:] = rng.randbytes(len(buf))
            expected.update(buf)
            hasher.update(buf)  # the caller overwrites buf right after
            hasher.update(memoryview(buf)[:100])
            expected.update(buf[:100])
    assert md5.hexdigest() == expected.hexdigest()


def test_owned_buffers_are_hashed_without_a_copy():
    data = [bytearray(os.urandom(COALESCE_BYTES)) for _ in range(3)]
    md5, sha = hashlib.md5(), hashlib.sha512()
    seen = []

    class Spy:
        name = "spy"

        def update(self, chunk):
            seen.append(chunk)
    with ParallelHasher([md5, sha, Spy()]) as hasher:
        for chunk in data:
            hasher.update(chunk, owned=True)
    assert len(seen) == len(data)
    assert all(a is b for a, b in zip(seen, data, strict=True))
    joined = b"".join(data)
    assert md5.hexdigest() == hashlib.md5(joined).hexdigest()
    assert sha.hexdigest() == hashlib.sha512(joined).hexdigest()


def test_no_hashers_is_a_no_op():
    with ParallelHasher([]) as hasher:
        hasher.update(b"x" * MiB)


class Broken:
    name = "broken"

    def update(self, data):
        raise ValueError("boom")


def test_worker_error_is_reraised():
    hasher = ParallelHasher([hashlib.md5(), Broken()])
    with pytest.raises(ValueError, match="boom"):
        for _ in range(50):
            hasher.update(b"x" * MiB)
        hasher.close()


def test_abort_never_raises_and_stops_threads():
    hasher = ParallelHasher([hashlib.md5(), Broken()])
    for _ in range(3):
        try:
            hasher.update(b"x" * MiB)
        except ValueError:
            break
    hasher.abort()
    assert hasher._threads == []


def test_exception_in_block_aborts():
    md5 = hashlib.md5()
    with pytest.raises(KeyError):
        with ParallelHasher([md5]) as hasher:
            hasher.update(b"x" * MiB)
            raise KeyError("caller failed")
    assert hasher._threads == []
