"""The worker's reading of request heads in its event loop (glance_server.workers)."""

from glance_api.app import moves_image_data
from glance_server.workers import BODY_PREREAD_MAX, head_status

HEAD = b'GET /v2/images/x HTTP/1.1\r\nHost: a\r\n\r\n'


def test_an_incomplete_head_is_none_and_a_complete_one_its_length():
    assert head_status(HEAD[:-2]) is None
    assert head_status(b'\r\n' + HEAD) == (len(HEAD) + 2, False)


def test_a_small_metadata_body_is_awaited_but_not_a_transfer_or_large_body():
    post = b'POST /v2/images HTTP/1.1\r\nContent-Length: 10\r\n\r\n'
    assert head_status(post) == (len(post) + 10, False)
    big = post.replace(b'10', str(BODY_PREREAD_MAX + 1).encode())
    assert head_status(big) == (len(big), False)
    chunked = b'POST /v2/images HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'
    assert head_status(chunked) == (len(chunked), False)
    put = b'PUT /v2/images/x/file?a=1 HTTP/1.1\r\nContent-Length: 10\r\n\r\n'
    assert head_status(put, moves_image_data) == (len(put), True)


def test_requests_that_move_image_bytes():
    assert moves_image_data('PUT', '/v2/images/x/file')
    assert moves_image_data('GET', '/v2/images/x/file')
    assert moves_image_data('PUT', '/v2/images/x/stage')
    assert moves_image_data('POST', '/v1/images')
    assert moves_image_data('GET', '/v1.1/images/x')
    assert not moves_image_data('GET', '/v2/images/x')
    assert not moves_image_data('GET', '/v1/images/detail')
    assert not moves_image_data('HEAD', '/v1/images/x')
    assert not moves_image_data('POST', '/v2/images')
