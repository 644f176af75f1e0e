"""The one exception -> HTTP table of the api, rendered as Glance's WebOb error bodies."""

import html
import json
import logging
import re

import falcon

from glance_api import exceptions as exc
from glance_registry import exceptions as reg_exc
from stores import exceptions as store_exc

LOG = logging.getLogger(__name__)

TITLES = {
    400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
    405: 'Method Not Allowed', 409: 'Conflict', 410: 'Gone',
    413: 'Request Entity Too Large', 415: 'Unsupported Media Type',
    416: 'Request Range Not Satisfiable', 431: 'Request Header Fields Too Large',
    500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable',
    502: 'Bad Gateway', 504: 'Gateway Timeout',
}
_MALFORMED = ('The server could not comply with the request since it is either malformed '
              'or otherwise incorrect.')
_ERRED = ('The server has either erred or is incapable of performing the requested '
          'operation.')
EXPLANATIONS = {
    400: _MALFORMED,
    401: ('This server could not verify that you are authorized to access the document you '
          'requested. Either you supplied the wrong credentials (e.g., bad password), or your '
          'browser does not understand how to supply the credentials required.'),
    403: 'Access was denied to this resource.',
    404: 'The resource could not be found.',
    405: _MALFORMED, 415: _MALFORMED,
    409: 'There was a conflict when trying to complete your request.',
    410: 'This resource is no longer available. No forwarding address is given.',
    413: 'The body of your request was too large for this server.',
    416: 'The Range requested is not available.',
    431: 'The request header fields were too large',
    500: _ERRED, 501: _ERRED,
    503: 'The server is currently unavailable. Please try again at a later time.',
}
_TEMPLATES = {
    405: 'The method ${REQUEST_METHOD} is not allowed for this resource. <br /><br />\n${detail}',
    415: ('The request media type ${CONTENT_TYPE} is not supported by this server.\n'
          '<br /><br />\n${detail}'),
}
EXPL, DETAIL = 'explanation', 'detail'

# Order matters: the first class an exception is an instance of wins.
TABLE = [
    (exc.BadRequestDetail, 400, DETAIL),
    (exc.BadRequest, 400, EXPL),
    (exc.Unauthorized, 401, EXPL),
    (exc.ForbiddenDetail, 403, DETAIL),
    (exc.Forbidden, 403, EXPL),
    (exc.NotFound, 404, EXPL),
    (exc.MethodNotAllowed, 405, DETAIL),
    (exc.ConflictDetail, 409, DETAIL),
    (exc.Conflict, 409, EXPL),
    (exc.Gone, 410, EXPL),
    (exc.LimitExceeded, 413, EXPL),
    (exc.UnsupportedMediaType, 415, DETAIL),
    (exc.RangeNotSatisfiable, 416, EXPL),
    (exc.RequestHeaderFieldsTooLarge, 431, DETAIL),
    (exc.MethodNotImplemented, 501, EXPL),
    (exc.ServiceUnavailable, 503, EXPL),
    (reg_exc.ImageNotFound, 404, None),
    (reg_exc.MemberNotFound, 404, None),
    (reg_exc.TagNotFound, 404, None),
    (reg_exc.MarkerNotFound, 400, EXPL),
    (reg_exc.InvalidFilter, 400, EXPL),
    (reg_exc.InvalidSortKey, 400, EXPL),
    # SECURITY: the registry's own words ("Database error: DataError", "cannot transition
    # from ... (wanted from_state=...)") are internals; a responder that knows the case
    # answers Glance's message, any other gets WebOb's default text (the message is logged).
    (reg_exc.BadRequest, 400, None),
    (reg_exc.Duplicate, 409, EXPL),
    (reg_exc.Conflict, 409, None),
    (reg_exc.Forbidden, 403, EXPL),
    (reg_exc.RegistryUnavailable, 503, None),
    (reg_exc.Unauthorized, 401, None),
    (store_exc.UnknownStore, 400, EXPL),
    (store_exc.StorageFull, 413, EXPL),
    (store_exc.ImageSizeLimitExceeded, 413, EXPL),
    (store_exc.StorageWriteDenied, 503, EXPL),
    (store_exc.BackendUnavailable, 503, EXPL),
    (store_exc.OperationTimeout, 503, EXPL),
    # NOTE: the store refused the service's own credentials or failed on its side: not
    # the caller's fault, and retryable once an operator fixed it (Glance: a bare 500).
    (store_exc.AuthorizationFailure, 503, EXPL),
    (store_exc.BackendException, 503, EXPL),
    (store_exc.SizeMismatch, 400, EXPL),
    (store_exc.NotFound, 404, EXPL),
    (store_exc.InUseByStore, 409, EXPL),
    (store_exc.Duplicate, 409, EXPL),
    (store_exc.StoreAddDisabled, 410, EXPL),
    (store_exc.UnknownScheme, 400, EXPL),
    (store_exc.BadStoreUri, 400, EXPL),
    (store_exc.StoreGetNotSupported, 400, EXPL),
]

_BR_RE = re.compile(r'<br.*?>', re.I | re.S)
_COMMENT_RE = re.compile(r'<!--|-->')
_TAG_RE = re.compile(r'<.*?>', re.S)


def _strip_tags(value):
    value = value.replace('\n', ' ').replace('\r', '')
    value = _BR_RE.sub('\n', value)
    return _TAG_RE.sub('', _COMMENT_RE.sub('', value))


def _html_escape(value):
    return html.escape(value, True).encode('ascii', 'xmlcharrefreplace').decode('ascii')


def _accept_q(ranges, offer):
    main = offer.split('/')[0]
    best, best_q = -1, 0.0
    for rng, q in ranges:
        spec = 2 if rng == offer else 1 if rng == main + '/*' else 0 if rng == '*/*' else -1
        if spec > best:
            best, best_q = spec, q
    return best_q if best >= 0 else 0.0


def negotiate(accept):
    """Return 'text/html', 'application/json' or 'text/plain' as WebOb picks for Accept."""
    if not accept or not accept.strip():
        return 'text/html'
    ranges = []
    for part in accept.split(','):
        items = [p.strip() for p in part.split(';')]
        q = 1.0
        for param in items[1:]:
            if param.lower().startswith('q='):
                try:
                    q = float(param[2:])
                except ValueError:
                    return 'text/html'
        if items[0]:
            ranges.append((items[0].lower(), q))
    offers = [(o, _accept_q(ranges, o)) for o in ('text/html', 'application/json')]
    offers = [o for o in offers if o[1] > 0]
    if not offers:
        return 'text/plain'
    return max(offers, key=lambda o: o[1])[0]


def _body_text(req, status, explanation, detail, escape):
    template = _TEMPLATES.get(status)
    if template:
        env = {'REQUEST_METHOD': req.method, 'CONTENT_TYPE': req.content_type or ''}
        out = template.replace('${REQUEST_METHOD}', escape(env['REQUEST_METHOD']))
        out = out.replace('${CONTENT_TYPE}', escape(env['CONTENT_TYPE']))
        return out.replace('${detail}', escape(detail or ''))
    return '%s<br /><br />\n%s\n\n' % (escape(explanation), escape(detail or ''))


def render(req, resp, status, explanation=None, detail=None, headers=None):
    """Fill resp with a WebOb-style error body chosen by the request's Accept header."""
    if explanation is None:
        explanation = EXPLANATIONS.get(status, '')
    title = TITLES.get(status, 'Error')
    status_line = '%d %s' % (status, title)
    resp.status = status
    for key, value in (headers or {}).items():
        resp.set_header(key, value)
    if req.method == 'HEAD':
        resp.content_type = 'text/html; charset=UTF-8'
        resp.text = ''
        return
    kind = negotiate(req.get_header('Accept'))
    if kind == 'application/json':
        body = _body_text(req, status, explanation, detail, lambda s: s)
        resp.content_type = 'application/json'
        resp.text = json.dumps({'message': body, 'code': status_line, 'title': title})
    elif kind == 'text/html':
        body = _body_text(req, status, explanation, detail, _html_escape)
        resp.content_type = 'text/html; charset=UTF-8'
        resp.text = ('<html>\n <head>\n  <title>%s</title>\n </head>\n <body>\n  <h1>%s</h1>\n'
                     '  %s\n </body>\n</html>' % (status_line, status_line, body))
    else:
        body = _strip_tags(_body_text(req, status, explanation, detail, lambda s: s))
        resp.content_type = 'text/plain; charset=UTF-8'
        resp.text = '%s\n\n%s' % (status_line, body)


def _lookup(ex):
    for cls, status, form in TABLE:
        if isinstance(ex, cls):
            return status, form
    return None, None


def _message(ex):
    # NOTE: 'msg' first: a store error keeps its formatted text there, while its
    # 'message' is the class's %-template.
    for attr in ('msg', 'message'):
        value = getattr(ex, attr, None)
        if isinstance(value, str):
            return value
    return str(ex)


def handle_exception(req, resp, ex, params):
    """Answer any exception raised by a responder through the table (500 if unknown)."""
    status, form = _lookup(ex)
    if status is None:
        LOG.exception('Unhandled error serving %s %s', req.method, req.path)
        render(req, resp, 500)
        return
    headers = getattr(ex, 'headers', None) if isinstance(ex, exc.ApiError) else None
    if isinstance(ex, (reg_exc.BadRequest, reg_exc.Conflict)):
        LOG.warning('Registry refused %s %s: %s', req.method, req.path, _message(ex))
    if form is None:
        render(req, resp, status, headers=headers)
    elif form == DETAIL:
        render(req, resp, status, detail=_message(ex), headers=headers)
    else:
        render(req, resp, status, explanation=_message(ex) or None, headers=headers)


def handle_falcon_error(req, resp, ex, params):
    """Render falcon's own errors (no route, bad method, ...) in Glance's format."""
    status = ex.status_code
    headers = dict(ex.headers or {})
    if status == 405:
        allow = [m for m in headers.get('Allow', '').replace(' ', '').split(',')
                 if m and m != 'OPTIONS']
        headers['Allow'] = ', '.join(allow)
    render(req, resp, status, explanation=ex.description or None, headers=headers)


def register(app):
    """Register the error handlers on a falcon app."""
    app.add_error_handler(Exception, handle_exception)
    app.add_error_handler(falcon.HTTPError, handle_falcon_error)
