"""Tasks: options, the pool that runs them, their life cycle and their views.

Tasks run in a bounded thread pool inside the api worker that accepted them (as Glance's
``tasks_pool``). A task row records the host that runs it (``HOST_KEY`` in its input,
never shown); when an api starts, the tasks its host left pending or processing are moved
to failure (``recover``), so an image is never stuck behind a dead worker.
"""

import concurrent.futures
import datetime
import logging
import socket
import threading

from oslo_config import cfg

from glance_api.rules import url_filter
from glance_api.web.bodies import isotime

LOG = logging.getLogger(__name__)

# NOTE: Glance's pool holds 1024 threads; a location import mostly waits on the network,
# but each holds a connection, so fewer per worker.
POOL_SIZE = 16
HOST_KEY = '_glance_clone_host'
INTERNAL_ERROR = 'Task failed due to Internal Error'
INTERRUPTED = 'Task interrupted: the glance-api worker running it stopped'
UNFINISHED = ('pending', 'processing')

# NOTE: names, groups, defaults and help as Glance 33's glance/common/config.py.
task_opts = [
    cfg.IntOpt('task_time_to_live',
               default=48,
               help="Time in hours for which a task lives after, either "
                    "succeeding or failing",
               deprecated_opts=[cfg.DeprecatedOpt('task_time_to_live',
                                                  group='DEFAULT')]),
]
hash_opts = [
    cfg.BoolOpt('do_secure_hash', default=True,
                help="""
Calculate hash and checksum for the image.

This configuration option indicates that /v2/images/{image_id}/locations
POST API will calculate hash and checksum of the image on the fly.
If False it will silently ignore the hash and checksum calculation.

Possible values:
    * True
    * False
"""),
    cfg.IntOpt('http_retries', default=3,
               help="""
The number of times to retry when any operation fails.
"""),
    cfg.StrOpt('worker_self_reference_url',
               default=None,
               help="""
The URL to this worker.

If this is set, other glance workers will know how to contact this one
directly if needed. For image import, a single worker stages the image
and other workers need to be able to proxy the import request to the
right one.

If unset, this will be considered to be `public_endpoint`, which
normally would be set to the same value on all workers, effectively
disabling the proxying behavior.

Possible values:
    * A URL by which this worker is reachable from other workers

Related options:
    * public_endpoint

"""),
]


# NOTE: name, group, default and help text as Glance 33's glance/common/config.py.
wsgi_opts = [
    cfg.IntOpt('task_pool_threads', default=POOL_SIZE, min=1, help="""
The number of threads (per worker process) in the pool for processing
asynchronous tasks. This controls how many asynchronous tasks (i.e. for
image interoperable import) each worker can run at a time. If this is
too large, you *may* have increased memory footprint per worker and/or you
may overwhelm other system resources such as disk or outbound network
bandwidth. If this is too small, image import requests will have to wait
until a thread becomes available to begin processing."""),
]


def register_opts(conf):
    """Register the task and secure-hash options (and the URL filter's) on conf."""
    conf.register_opts(task_opts, group='task')
    conf.register_opts(wsgi_opts, group='wsgi')
    conf.register_opts(hash_opts)
    url_filter.register_opts(conf)


def list_opts():
    """Return the options of this module for oslo-config-generator."""
    return ([(None, hash_opts), ('task', task_opts), ('wsgi', wsgi_opts)]
            + url_filter.list_opts())


def host_marker(conf):
    """Return the name this api host writes into the tasks it runs: Glance's
    ``worker_self_reference_url``, else this host's name and port."""
    return conf.worker_self_reference_url or '%s:%s' % (socket.gethostname(), conf.bind_port)


def expiry(conf):
    """Return when a task finishing now expires (``[task] task_time_to_live``)."""
    when = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    return (when + datetime.timedelta(hours=conf.task.task_time_to_live)).isoformat()


class TaskPool:
    """A bounded pool of threads running tasks, made on first use (after fork)."""

    def __init__(self, size=POOL_SIZE):
        self._size = size
        self._lock = threading.Lock()
        self._pool = None

    def spawn(self, fn, *args):
        """Run ``fn(*args)`` in the pool; its errors are logged, never raised here."""
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self._size, thread_name_prefix='glance-task')
            future = self._pool.submit(fn, *args)
        future.add_done_callback(_log_failure)
        return future

    def shutdown(self, wait=True):
        """Stop taking tasks; wait for the running ones when ``wait``."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait)


def _log_failure(future):
    error = future.exception()
    if error is not None:
        LOG.error('Task thread failed: %r', error)


# --- task life cycle through the registry (every status move is a compare-and-swap)

def create(api, ctx, task_type, task_input, image_id=None, task_id=None):
    """Record a new pending task of ``ctx``'s project, run by this host."""
    values = {'type': task_type, 'status': 'pending', 'owner': ctx.project_id or '',
              'input': dict(task_input or {}, **{HOST_KEY: host_marker(api.conf)}),
              'image_id': image_id, 'user_id': ctx.user_id, 'request_id': ctx.request_id,
              'message': '', 'result': None}
    if task_id is not None:
        values['id'] = task_id   # NOTE: an import lock names its task before it exists
    task = api.registry.task_create(ctx, values)
    # NOTE: Glance sends task.run from the request after handing the task to its executor;
    # sent here, just before the caller spawns it, so it always precedes task.processing.
    api.notifier.task('task.create', task)
    api.notifier.task('task.run', task)
    return task


def begin(api, ctx, task):
    """Move a task pending → processing."""
    task = api.registry.task_update(ctx, task['id'], {'status': 'processing'},
                                    from_state='pending')
    api.notifier.task('task.processing', task)
    return task


def succeed(api, ctx, task, result):
    """Move a task processing → success with ``result``."""
    task = api.registry.task_update(
        ctx, task['id'], {'status': 'success', 'result': result,
                          'expires_at': expiry(api.conf)}, from_state='processing')
    api.notifier.task('task.success', task)
    return task


def fail(api, ctx, task, message, from_state='processing'):
    """Move a task to failure with ``message``; never raises (logs instead)."""
    try:
        task = api.registry.task_update(
            ctx, task['id'], {'status': 'failure', 'message': message,
                              'expires_at': expiry(api.conf)}, from_state=from_state)
        api.notifier.task('task.failure', task)
        return task
    except Exception:  # NOTE: the task's own error matters more than this one.
        LOG.exception('Could not mark task %s failed', task['id'])
        return None


def recover(conf, registry, ctx, rollback=None):
    """Fail the tasks this host left pending/processing; return them.

    ``rollback(task)`` is called for each (e.g. to put its image back to queued).
    """
    mine = host_marker(conf)
    stale = [t['id'] for t in registry.tasks_unfinished(ctx)
             if (t.get('input') or {}).get(HOST_KEY) == mine]
    if not stale:
        return []
    moved = registry.tasks_fail(ctx, stale, INTERRUPTED, expiry(conf))
    for task in moved:
        LOG.warning('Task %s (%s) was interrupted; marked failure', task['id'], task['type'])
        if rollback is not None:
            try:
                rollback(task)
            except Exception:  # NOTE: one bad image must not stop the others.
                LOG.exception('Could not roll back after task %s', task['id'])
    return moved


# --- views

def _public_input(task):
    value = task.get('input')
    if isinstance(value, dict) and HOST_KEY in value:
        value = {k: v for k, v in value.items() if k != HOST_KEY}
    return value


def raw_row(task):
    """Return a task as Glance's raw DB row (GET /v2/images/{id}/tasks)."""
    row = {key: task.get(key) for key in (
        'id', 'type', 'status', 'owner', 'expires_at', 'created_at', 'updated_at',
        'deleted_at', 'deleted', 'image_id', 'request_id', 'user_id')}
    row.update(input=_public_input(task), result=task.get('result'),
               message=task.get('message'))
    return row


def stub_view(task):
    """Return the list entry of a task (no input/result/message)."""
    view = {'id': task['id'], 'type': task['type'], 'status': task['status'],
            'owner': task['owner'], 'created_at': isotime(task['created_at']),
            'updated_at': isotime(task['updated_at']), 'self': '/v2/tasks/%s' % task['id'],
            'schema': '/v2/schemas/task'}
    if task.get('expires_at'):
        view['expires_at'] = isotime(task['expires_at'])
    return view


def full_view(task):
    """Return a task as GET /v2/tasks/{id} shows it."""
    view = {'id': task['id'], 'input': _public_input(task), 'type': task['type'],
            'status': task['status'], 'owner': task['owner'], 'message': task.get('message'),
            'result': task.get('result'), 'created_at': isotime(task['created_at']),
            'updated_at': isotime(task['updated_at']), 'self': '/v2/tasks/%s' % task['id'],
            'schema': '/v2/schemas/task'}
    for key in ('image_id', 'request_id', 'user_id'):
        if task.get(key):
            view[key] = task[key]
    if task.get('expires_at'):
        view['expires_at'] = isotime(task['expires_at'])
    return view
