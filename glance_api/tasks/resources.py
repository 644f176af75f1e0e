"""The deprecated /v2/tasks API (admin-only by default) and GET /v2/images/{id}/tasks."""

import json
import urllib.parse
import uuid

import jsonschema

from glance_api.web import errors
from glance_api import exceptions as exc
from glance_api.rules import policy
from glance_api.images import schema_defs
from glance_api.tasks import lifecycle as tasks
from glance_api.rules import url_filter
from glance_api.web.bodies import read_json, write_json
from glance_api.web.bodies import validate_limit
from glance_registry import exceptions as reg_exc

STATUSES = ('pending', 'processing', 'success', 'failure')
DELETE_MESSAGE = ('This operation is currently not permitted on Glance Tasks. They are auto '
                  'deleted after reaching the time based on their expires_at property.')

_CREATE_SCHEMA = {'name': 'task', 'properties': schema_defs.TASK['properties'],
                  'additionalProperties': False}
_CREATE_VALIDATOR = jsonschema.validators.validator_for(_CREATE_SCHEMA)(_CREATE_SCHEMA)


def _enforce_access(api, ctx):
    api.policy.enforce(ctx, 'tasks_api_access', {'project_id': ctx.project_id})


def _list_query(api, params):
    sort_dir = params.pop('sort_dir', 'desc')
    if sort_dir not in ('asc', 'desc'):
        raise exc.BadRequest('Invalid sort direction: %s' % sort_dir)
    query = {'sort_key': params.pop('sort_key', 'created_at'), 'sort_dir': sort_dir}
    limit, marker = params.pop('limit', None), params.pop('marker', None)
    if params.get('status') and params['status'] not in STATUSES:
        raise exc.BadRequest('Invalid status value: %s' % params['status'])
    if params.get('type') and params['type'] != 'import':
        raise exc.BadRequest('Invalid type value: %s' % params['type'])
    if marker is not None:
        if not _uuid_like(marker):
            raise exc.BadRequest('Invalid marker format')
        query['marker'] = marker
    limit = api.conf.limit_param_default if limit is None else validate_limit(limit)
    query['limit'] = min(api.conf.api_limit_max, limit)
    query['filters'] = {k: v for k, v in params.items() if v}
    return query


def _uuid_like(value):
    try:
        return str(uuid.UUID(value)).replace('-', '') == value.replace('-', '').lower()
    except (TypeError, ValueError, AttributeError):
        return False


def _query_params(req):
    # NOTE: WebOb's request.params: a repeated key keeps its last value.
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in req.params.items()}


class TasksResource:
    """GET (list) and POST (create) /v2/tasks (deprecated; admin-only by default)."""

    allowed = ('GET', 'POST')

    def __init__(self, api, starters):
        self.api = api
        self.starters = starters   # task type -> fn(api, ctx, task) run in the pool

    def on_get(self, req, resp):
        """List task stubs."""
        api, ctx = self.api, req.context.ctx
        _enforce_access(api, ctx)
        params = _query_params(req)
        query = _list_query(api, dict(params))
        try:
            found = api.registry.task_list(ctx, query) if query['limit'] else []
        except reg_exc.TaskNotFound:
            raise exc.BadRequest('Task with the given id %s was not found'
                                 % query['marker']) from None
        except reg_exc.InvalidSortKey:
            raise exc.BadRequest('Sort key supplied was not valid.') from None
        params.pop('marker', None)
        first = '/v2/tasks'
        if params:
            first += '?' + _urlencode(params)
        body = {'tasks': [tasks.stub_view(t) for t in found], 'first': first,
                'schema': '/v2/schemas/tasks'}
        if found and len(found) == query['limit']:
            body['next'] = '/v2/tasks?' + _urlencode(dict(params, marker=found[-1]['id']))
        write_json(resp, body)

    def on_post(self, req, resp):
        """Create a task and start it."""
        api, ctx = self.api, req.context.ctx
        _enforce_access(api, ctx)
        body = read_json(req)
        for key in ('type', 'input'):
            if not isinstance(body, dict) or key not in body:
                raise exc.BadRequest("Task '%s' is required" % key)
        error = jsonschema.exceptions.best_match(_CREATE_VALIDATOR.iter_errors(body))
        if error is not None:
            raise exc.InvalidObject('task', str(error))
        task_input = body['input']
        if body['type'] == 'import':
            _check_import_from(api, (task_input or {}).get('import_from'))
        image_id = (task_input or {}).get('image_id') if isinstance(task_input, dict) else None
        task = tasks.create(api, ctx, body['type'], task_input, image_id)
        api.task_pool.spawn(self.starters[body['type']], api, ctx, task)
        write_json(resp, tasks.full_view(task), status=201)
        resp.set_header('Location', '%s://%s/v2/tasks/%s' % (req.scheme, req.netloc,
                                                             task['id']))


def _check_import_from(api, location):
    """Glance's validate_legacy_import_from_uri: http(s) only, and it must pass filtering."""
    if not location:
        raise exc.BadRequest('Invalid location: %s' % location)
    if isinstance(location, str) and location.startswith(('file:///', 'filesystem:///')):
        raise exc.BadRequest('File based imports are not allowed. Please use a non-local '
                             'source of image data.')
    if not isinstance(location, str) or not location.startswith('http'):
        raise exc.BadRequest("The given uri is not valid. Please specify a valid uri from "
                             "the following list of supported uri ['http']")
    if not url_filter.passes(location, api.conf):
        raise exc.BadRequest('URI for legacy import task does not pass filtering: %s'
                             % location)


def _urlencode(params):
    return urllib.parse.urlencode(params)


class TaskResource:
    """GET /v2/tasks/{task_id}; DELETE answers 405 with Glance's own message."""

    allowed = ('GET', 'DELETE')

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp, task_id):
        """Show one task."""
        api, ctx = self.api, req.context.ctx
        _enforce_access(api, ctx)
        try:
            task = api.registry.task_get(ctx, task_id)
        except reg_exc.TaskNotFound:
            raise exc.NotFound('Could not find task %s' % task_id) from None
        except reg_exc.TaskForbidden as e:
            raise exc.Forbidden(e.message) from None
        write_json(resp, tasks.full_view(task))

    def on_delete(self, req, resp, task_id):
        """Refuse: tasks are deleted when they expire."""
        _enforce_access(self.api, req.context.ctx)
        render_plain_405(req, resp, DELETE_MESSAGE, 'GET')


def render_plain_405(req, resp, explanation, allow):
    """Answer 405 whose body is exactly ``explanation`` (WebOb ``body_template``)."""
    errors.render(req, resp, 405, headers={'Allow': allow})
    status_line = '405 Method Not Allowed'
    kind = errors.negotiate(req.get_header('Accept'))
    if req.method == 'HEAD':
        return
    if kind == 'application/json':
        resp.text = json.dumps({'message': explanation, 'code': status_line,
                                'title': 'Method Not Allowed'})
    elif kind == 'text/html':
        resp.text = ('<html>\n <head>\n  <title>%s</title>\n </head>\n <body>\n  <h1>%s</h1>\n'
                     '  %s\n </body>\n</html>' % (status_line, status_line,
                                                   errors._html_escape(explanation)))
    else:
        resp.text = '%s\n\n%s' % (status_line, explanation)


class ImageTasksResource:
    """GET /v2/images/{image_id}/tasks: the image's tasks as Glance's raw DB rows."""

    allowed = ('GET',)
    body_reject = ('GET',)

    def __init__(self, api):
        self.api = api

    def on_get(self, req, resp, image_id):
        """List the tasks of an image."""
        api, ctx = self.api, req.context.ctx
        try:
            image = api.registry.image_get(ctx, image_id)
            policy.enforce_image(api.policy, ctx, 'get_image', image)
        except (reg_exc.ImageNotFound, exc.NotFound, exc.Forbidden):
            raise exc.NotFound('') from None
        rows = api.registry.image_tasks(ctx, image_id)
        write_json(resp, {'tasks': [tasks.raw_row(t) for t in rows]})
