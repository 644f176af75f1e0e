"""Task resources of the registry protocol (``glance_db.tasks.TaskRepo`` over JSON).

| Call | Body → answer |
|---|---|
| ``POST /tasks`` | ``{"task": values}`` → 201 ``{"task": task}`` |
| ``POST /tasks/search`` | ``{filters, marker, limit, sort_key, sort_dir}`` →
  ``{"tasks": [stub]}`` |
| ``GET /tasks/{id}`` | → ``{"task": task}`` (another owner's task: 403 TaskForbidden) |
| ``PATCH /tasks/{id}`` | ``{"values": {...}, "from_state": s|null}`` → ``{"task": task}`` |
| ``DELETE /tasks/{id}`` | → ``{"task": task-before}`` (soft delete) |
| ``GET /images/{id}/tasks`` | → ``{"tasks": [task]}`` (the viewer's, unexpired) |
| ``GET /tasks/unfinished`` | admin; ``?type=`` repeatable → ``{"tasks": [task]}`` |
| ``POST /tasks/fail`` | admin; ``{"ids": [...], "message": s, "expires_at": s|null}`` →
  ``{"tasks": moved}`` |
"""

import falcon

from glance_registry import exceptions
from glance_registry.resources import bodies
from glance_registry.resources.bodies import render

_TIME = {'type': ['string', 'null'], 'maxLength': 64}
_STATUS = {'enum': ['pending', 'processing', 'success', 'failure']}
TASK_VALUES = {
    'type': 'object',
    'properties': {
        'id': {'type': 'string', 'minLength': 1, 'maxLength': 36},
        'type': {'type': 'string', 'minLength': 1, 'maxLength': 30},
        'status': _STATUS,
        'owner': {'type': 'string', 'maxLength': 255},
        'expires_at': _TIME,
        'image_id': {'type': ['string', 'null'], 'maxLength': 36},
        'request_id': {'type': ['string', 'null'], 'maxLength': 64},
        'user_id': {'type': ['string', 'null'], 'maxLength': 64},
        'input': {'type': ['object', 'null']},
        'result': {'type': ['object', 'null']},
        'message': {'type': ['string', 'null']},
    },
    'additionalProperties': False,
}
TASK_CREATE = {'type': 'object', 'properties': {'task': dict(TASK_VALUES, required=[
    'type', 'owner'])}, 'required': ['task'], 'additionalProperties': False}
TASK_UPDATE = {'type': 'object', 'properties': {
    'values': TASK_VALUES, 'from_state': {'anyOf': [_STATUS, {'type': 'null'}]}},
    'required': ['values'], 'additionalProperties': False}
TASK_SEARCH = {'type': 'object', 'properties': {
    'filters': {'type': 'object', 'additionalProperties': {'type': ['string', 'null']}},
    'marker': {'type': ['string', 'null'], 'maxLength': 36},
    'limit': {'type': ['integer', 'null'], 'minimum': 0, 'maximum': bodies.INT64_MAX},
    'sort_key': {'type': 'string', 'maxLength': 64},
    'sort_dir': {'enum': ['asc', 'desc']},
}, 'additionalProperties': False}
TASK_FAIL = {'type': 'object', 'properties': {
    'ids': {'type': 'array', 'items': {'type': 'string', 'maxLength': 36}},
    'message': {'type': 'string'}, 'expires_at': _TIME,
}, 'required': ['ids', 'message'], 'additionalProperties': False}
bodies.register(TASK_CREATE, TASK_UPDATE, TASK_SEARCH, TASK_FAIL)


def _require_admin(ctx):
    if not ctx.is_admin:
        raise exceptions.Forbidden('Only an admin may do this')


def _viewer(ctx):
    return {'owner': ctx.project_id, 'is_admin': ctx.is_admin}


def _check_mutable(repo, ctx, task_id):
    """Raise NotFound for a task ``ctx`` cannot see, Forbidden for one it does not own."""
    task = repo.task_get(task_id, **_viewer(ctx))
    if not ctx.is_admin and task.get('owner') != ctx.project_id:
        raise exceptions.Forbidden('You do not own this task')


class TasksResource:
    """``/tasks``: create a task."""

    def __init__(self, repo):
        self.repo = repo

    def on_post(self, req, resp):
        """Create a task from ``{"task": values}``."""
        values = bodies.load(req, TASK_CREATE)['task']
        ctx = req.context.ctx
        if not ctx.is_admin:
            values['owner'] = ctx.project_id   # as image_create (glance_registry.rights)
        render(resp, {'task': self.repo.task_create(values)}, falcon.HTTP_201)


class TaskSearchResource:
    """``/tasks/search``: one page of task stubs."""

    def __init__(self, repo):
        self.repo = repo

    def on_post(self, req, resp):
        """Answer ``{"tasks": [...]}`` for a task list query."""
        query = bodies.load(req, TASK_SEARCH)
        render(resp, {'tasks': self.repo.task_list(**_viewer(req.context.ctx), **query)})


class TaskResource:
    """``/tasks/{task_id}``: show, update, soft-delete."""

    def __init__(self, repo):
        self.repo = repo

    def on_get(self, req, resp, task_id):
        """Show one task."""
        render(resp, {'task': self.repo.task_get(task_id, **_viewer(req.context.ctx))})

    def on_patch(self, req, resp, task_id):
        """Update a task; CAS on ``from_state``."""
        body = bodies.load(req, TASK_UPDATE)
        _check_mutable(self.repo, req.context.ctx, task_id)
        task = self.repo.task_update(task_id, body['values'], from_state=body.get('from_state'))
        render(resp, {'task': task})

    def on_delete(self, req, resp, task_id):
        """Soft-delete a task."""
        _check_mutable(self.repo, req.context.ctx, task_id)
        render(resp, {'task': self.repo.task_delete(task_id)})


class ImageTasksResource:
    """``/images/{image_id}/tasks``: the raw task rows of an image."""

    def __init__(self, repo):
        self.repo = repo

    def on_get(self, req, resp, image_id):
        """Answer ``{"tasks": [...]}``."""
        render(resp, {'tasks': self.repo.tasks_for_image(image_id, **_viewer(req.context.ctx))})


class UnfinishedTasksResource:
    """``/tasks/unfinished``: live pending/processing tasks (admin)."""

    service_only = True   # rights.ServiceGate: glance-api's own calls

    def __init__(self, repo):
        self.repo = repo

    def on_get(self, req, resp):
        """Answer ``{"tasks": [...]}``, narrowed by ``?type=``."""
        _require_admin(req.context.ctx)
        types = req.get_param_as_list('type') or None
        render(resp, {'tasks': self.repo.tasks_unfinished(types=types)})


class FailTasksResource:
    """``/tasks/fail``: move unfinished tasks to failure (admin)."""

    service_only = True   # rights.ServiceGate: glance-api's own calls

    def __init__(self, repo):
        self.repo = repo

    def on_post(self, req, resp):
        """Answer ``{"tasks": [...]}`` with the tasks that moved."""
        _require_admin(req.context.ctx)
        body = bodies.load(req, TASK_FAIL)
        moved = self.repo.tasks_fail_unfinished(body['ids'], body['message'],
                                                body.get('expires_at'))
        render(resp, {'tasks': moved})


def add_routes(app, repo):
    """Route the task resources over ``repo`` (a ``glance_db.tasks.TaskRepo``)."""
    app.add_route('/tasks', TasksResource(repo))
    app.add_route('/tasks/search', TaskSearchResource(repo))
    app.add_route('/tasks/unfinished', UnfinishedTasksResource(repo))
    app.add_route('/tasks/fail', FailTasksResource(repo))
    app.add_route('/tasks/{task_id}', TaskResource(repo))
    app.add_route('/images/{image_id}/tasks', ImageTasksResource(repo))
