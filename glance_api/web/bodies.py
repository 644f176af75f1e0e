"""Reading JSON request bodies and writing JSON answers the way Glance does."""

import json

import falcon

from glance_api import exceptions as exc

# SECURITY: a JSON body is read whole; refuse absurd ones instead of filling memory.
MAX_JSON_BODY = 16 * 1024 * 1024


def has_body(req):
    """Return True if the request carries a body (Content-Length > 0 or chunked)."""
    if req.content_length:
        return True
    return 'chunked' in (req.get_header('Transfer-Encoding') or '').lower()


def read_json(req):
    """Return the decoded JSON body.

    A string holding a lone UTF-16 surrogate (``"\\ud800"``, legal JSON that is no text) is
    malformed here: no database column or UTF-8 answer can hold it.
    :raises: BadRequest with Glance's messages for a missing, malformed or odd body.
    """
    if not has_body(req):
        raise exc.BadRequest('Body expected in request.')
    raw = req.bounded_stream.read(MAX_JSON_BODY + 1)
    if len(raw) > MAX_JSON_BODY:
        raise exc.LimitExceeded('The request body is too large.')
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError:
        raise exc.BadRequest('Malformed JSON in request body.') from None
    try:
        body = json.loads(text)
        _check_text(text, body)
    except (ValueError, RecursionError):
        raise exc.BadRequest('Malformed JSON in request body.') from None
    if not isinstance(body, (dict, list)):
        raise exc.BadRequest('Unexpected body type. Expected list/dict.')
    return body


def _check_text(text, body):
    """Raise ValueError (a UnicodeEncodeError) if a decoded string holds a lone surrogate.

    Strict UTF-8 decoding already refused encoded surrogates, so only a ``\\u`` escape can
    make one; json.loads pairs valid surrogate escapes into one character.
    """
    if '\\u' in text:
        json.dumps(body, ensure_ascii=False).encode('utf-8')


def write_json(resp, obj, status=200):
    """Answer with obj as JSON (non-ASCII kept, like Glance)."""
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps(obj, ensure_ascii=False)


def write_empty(resp, status=204):
    """Answer with an empty body and WebOb's default content type, as Glance does."""
    resp.status = status
    resp.content_type = 'text/html; charset=UTF-8'
    resp.text = ''


def isotime(value):
    """Format a registry timestamp ('2026-11-22T04:01:02.123456') as Glance's '...Z'."""
    if not value:
        return value
    return value[:19] + 'Z'


def reject_body(req):
    """Raise BodyNotAllowed when a body-less route gets a body (Glance's body_reject)."""
    if (req.content_length or 0) > 0 or 'chunked' in (req.get_header('Transfer-Encoding')
                                                     or '').lower():
        raise exc.BodyNotAllowed()


def media_type(req):
    """Return the request media type without parameters, as WebOb's content_type."""
    value = req.get_header('Content-Type')
    if value is None:
        return None
    return value.split(';', 1)[0].strip()


def validate_limit(limit):
    """Return the ``limit`` query parameter as an int (Glance's 400s otherwise)."""
    try:
        limit = int(limit)
    except ValueError:
        raise exc.BadRequest('limit param must be an integer') from None
    if limit < 0:
        raise exc.BadRequest('limit param must be positive')
    return limit
