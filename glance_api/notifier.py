"""Notifications through oslo.messaging, with Glance 33's event types and payloads.

Glance wraps its repositories in notification proxies (glance/notifier.py); here the
responders call :meth:`Notifier.info`/:meth:`Notifier.error` at the same points. Payloads
are built by the ``format_*`` functions below, field for field as Glance's formatters.

Sending never fails a request and never waits on the broker: messages go through a bounded
queue to one sender thread per worker process (oslo.messaging retries forever by default
when RabbitMQ is away); a full queue drops the message with a warning.
"""

import atexit
import datetime
import logging
import os
import queue
import threading
import time
import warnings

from oslo_config import cfg

from glance_api import exceptions as api_exc
from stores import exceptions as store_exc

LOG = logging.getLogger(__name__)
QUEUE_SIZE = 1000
DRAIN_SECONDS = 2.0   # how long a stopping worker waits for its queued notifications

# NOTE: names, defaults and help as Glance 33's glance/notifier.py.
notifier_opts = [
    cfg.StrOpt('default_publisher_id', default='image.localhost',
               help='Default publisher_id for outgoing Glance notifications.'),
    cfg.ListOpt('disabled_notifications', default=[],
                help='List of notifications to be disabled: notification types '
                     '(image.create) or groups (image, image.member, task).'),
]


def register_opts(conf):
    """Register [DEFAULT] default_publisher_id and disabled_notifications."""
    conf.register_opts(notifier_opts)


def list_opts():
    """Return the notifier options for oslo-config-generator."""
    return [(None, notifier_opts)]


def isotime(value=None):
    """Format a naive-UTC ISO string (or now, for None) as Glance's timeutils.isotime."""
    if value is None:
        when = datetime.datetime.now(datetime.timezone.utc)
    elif isinstance(value, datetime.datetime):
        when = value
    else:
        when = datetime.datetime.fromisoformat(value)
    return when.strftime('%Y-%m-%dT%H:%M:%S') + 'Z'


def format_image(image):
    """Return Glance's image payload for an image dict (locations left out: credentials)."""
    return {
        'id': image['id'],
        'name': image.get('name'),
        'status': image['status'],
        'created_at': isotime(image.get('created_at')),
        'updated_at': isotime(image.get('updated_at')),
        'min_disk': image.get('min_disk'),
        'min_ram': image.get('min_ram'),
        'protected': image.get('protected'),
        'checksum': image.get('checksum'),
        'owner': image.get('owner'),
        'disk_format': image.get('disk_format'),
        'container_format': image.get('container_format'),
        'size': image.get('size'),
        'virtual_size': image.get('virtual_size'),
        'is_public': image.get('visibility') == 'public',
        'visibility': image.get('visibility'),
        'properties': dict(image.get('properties') or {}),
        'tags': list(image.get('tags') or ()),
        'deleted': False,
        'deleted_at': None,
    }


def format_import_properties(image):
    """Return the extra payload of image.prepare/image.upload (Glance's import lists)."""
    props = image.get('properties') or {}
    importing = props.get('os_glance_importing_to_stores')
    failed = props.get('os_glance_failed_import')
    return {'os_glance_importing_to_stores': importing.split(',') if importing else [],
            'os_glance_failed_import': failed.split(',') if failed else []}


def format_member(member):
    """Return Glance's image.member.* payload for a member dict."""
    return {
        'image_id': member['image_id'],
        'member_id': member['member'],
        'status': member['status'],
        'created_at': isotime(member.get('created_at')),
        'updated_at': isotime(member.get('updated_at')),
        'deleted': False,
        'deleted_at': None,
    }


def format_task(task):
    """Return Glance's task.* payload (input, result and message left out, as Glance)."""
    return {
        'id': task['id'],
        'type': task['type'],
        'status': task['status'],
        'result': None,
        'owner': task.get('owner'),
        'message': None,
        'expires_at': isotime(task.get('expires_at')),
        'created_at': isotime(task.get('created_at')),
        'updated_at': isotime(task.get('updated_at')),
        'deleted': False,
        'deleted_at': None,
    }


def deleted(**extra):
    """Return the extra payload of Glance's *.delete events."""
    return dict(extra, deleted=True, deleted_at=isotime())


def format_send(image, ctx, bytes_sent):
    """Return Glance's image.send payload."""
    return {'bytes_sent': bytes_sent, 'image_id': image['id'], 'owner_id': image.get('owner'),
            'receiver_tenant_id': ctx.project_id, 'receiver_user_id': ctx.user_id}


def upload_failure_message(image_id, error):
    """Return the payload of Glance's ERROR image.upload (ImageProxy.set_data's texts)."""
    if isinstance(error, store_exc.StorageFull):
        return 'Image storage media is full: %s' % error
    if isinstance(error, store_exc.StorageWriteDenied):
        return 'Insufficient permissions on image storage media: %s' % error
    if isinstance(error, store_exc.OperationTimeout):
        return 'Filesystem store operation timed out: %s' % error.msg
    kind = 'HTTP error' if isinstance(error, api_exc.ApiError) else 'internal error'
    return ('Failed to upload image data for image %s due to %s: %s'
            % (image_id, kind, getattr(error, 'msg', None) or error))


class Notifier:
    """Send notifications as configured in [oslo_messaging_notifications]; no-op when the
    driver is unset or ``noop`` (Glance's default)."""

    def __init__(self, conf):
        self._disabled = frozenset(conf.disabled_notifications or ())
        self._queue = None
        self._thread = None
        self._lock = threading.Lock()
        self._conf = conf
        self.enabled = _drivers_enabled(conf)

    def info(self, event_type, payload):
        """Queue an INFO notification (never raises, never blocks)."""
        self._send('info', event_type, payload)

    def error(self, event_type, payload):
        """Queue an ERROR notification (never raises, never blocks)."""
        self._send('error', event_type, payload)

    def image(self, event_type, image, extra=None):
        """Send ``event_type`` with Glance's image payload (plus ``extra``)."""
        self._build('info', event_type, lambda: dict(format_image(image), **(extra or {})))

    def member(self, event_type, member, extra=None):
        """Send ``event_type`` with Glance's member payload (plus ``extra``)."""
        self._build('info', event_type, lambda: dict(format_member(member), **(extra or {})))

    def task(self, event_type, task):
        """Send ``event_type`` with Glance's task payload."""
        self._build('info', event_type, lambda: format_task(task))

    def upload_prepare(self, image, backend=None):
        """Send image.prepare for an image now saving (``backend`` in multi-store)."""
        extra = {'backend': backend} if backend else {}
        self._build('info', 'image.prepare', lambda: dict(
            format_image(image), **format_import_properties(image), **extra))

    def upload_done(self, image):
        """Send what Glance sends once data is stored and the image saved active."""
        self._build('info', 'image.upload', lambda: dict(
            format_image(image), **format_import_properties(image)))
        self.image('image.activate', image)
        self.image('image.update', image)

    def upload_failed(self, image_id, error, restored=None):
        """Send Glance's ERROR image.upload (a message), then image.update if restored."""
        self._build('error', 'image.upload', lambda: upload_failure_message(image_id, error))
        if restored is not None:
            self.image('image.update', restored)

    def wants(self, event_type):
        """Tell whether ``event_type`` would be sent (to skip building its payload)."""
        if not self.enabled:
            return False
        group = event_type.split('.', 1)[0]
        return event_type not in self._disabled and group not in self._disabled

    def _build(self, priority, event_type, make_payload):
        if not self.wants(event_type):
            return
        try:
            payload = make_payload()
        except Exception:  # NOTE: a notification never fails the request that caused it
            LOG.exception('Could not build the %s notification', event_type)
            return
        self._send(priority, event_type, payload)

    def _send(self, priority, event_type, payload):
        if not self.wants(event_type):
            return
        try:
            self._sender_queue().put_nowait((priority, event_type, payload))
        except queue.Full:
            LOG.warning('Notification queue full: dropped %s', event_type)
        except Exception:
            LOG.exception('Could not queue the %s notification', event_type)

    def _sender_queue(self):
        # NOTE: made on first use, i.e. in the gunicorn worker after fork.
        with self._lock:
            if self._queue is None:
                self._queue = queue.Queue(QUEUE_SIZE)
                self._thread = threading.Thread(target=self._run, name='glance-notifier',
                                                daemon=True)
                self._thread.start()
                atexit.register(self.drain)
            return self._queue

    def _run(self):
        notifier = None
        while True:
            priority, event_type, payload = self._queue.get()
            try:
                if notifier is None:
                    notifier = _oslo_notifier(self._conf)
                getattr(notifier, priority)({}, event_type, payload)
            except Exception:
                LOG.exception('An error occurred sending the %s notification', event_type)
            finally:
                self._queue.task_done()

    def drain(self, timeout=DRAIN_SECONDS):
        """Wait up to ``timeout`` seconds for the queued notifications to be sent."""
        q = self._queue
        deadline = time.monotonic() + timeout
        while q is not None and q.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)


def _drivers_enabled(conf):
    """Register oslo.messaging's notification options on ``conf``; True unless noop."""
    with warnings.catch_warnings():
        # NOTE: oslo.messaging imports oslo.service's eventlet backend, which warns that
        # eventlet is deprecated; nothing here uses eventlet. Heavy: once per worker.
        warnings.simplefilter('ignore')
        import oslo_messaging
        from oslo_messaging import opts as om_opts
    for group, opts in om_opts.list_opts():
        if group == 'oslo_messaging_notifications':
            conf.register_opts(opts, group=group)
    oslo_messaging.set_transport_defaults('glance')   # Glance's control_exchange
    drivers = [d for d in conf.oslo_messaging_notifications.driver or () if d != 'noop']
    return bool(drivers)


def _oslo_notifier(conf):
    import oslo_messaging
    transport = oslo_messaging.get_notification_transport(conf)
    return oslo_messaging.Notifier(transport, publisher_id=conf.default_publisher_id)


def count_sent(body, on_close):
    """Wrap a download body so ``on_close(bytes_sent)`` runs once the server is done.

    A body with ``fileno`` (the file store's FileSlice) keeps it, so gunicorn still sends
    it with sendfile(2): socket.sendfile seeks the file to ``offset + sent`` when it ends,
    which is how the bytes are counted on that path.
    """
    if hasattr(body, 'fileno'):
        return _CountedFile(body, on_close)
    if hasattr(body, 'read'):
        return _CountedReader(body, on_close)
    return _CountedChunks(body, on_close)


class _CountedChunks:
    def __init__(self, body, on_close):
        self._body = body
        self._on_close = on_close
        self.sent = 0

    def __iter__(self):
        for chunk in self._body:
            self.sent += len(chunk)
            yield chunk

    def close(self):
        try:
            close = getattr(self._body, 'close', None)
            if close is not None:
                close()
        finally:
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                try:
                    on_close(self.sent)
                except Exception:  # NOTE: the data is sent; reporting it must not fail
                    LOG.exception('Could not report a finished download')


class _CountedReader(_CountedChunks):
    def read(self, size=-1):
        data = self._body.read(size)
        self.sent += len(data)
        return data


class _CountedFile(_CountedReader):
    def __init__(self, body, on_close):
        super().__init__(body, on_close)
        self._start = os.lseek(body.fileno(), 0, os.SEEK_CUR)

    def fileno(self):
        return self._body.fileno()

    def seek(self, pos, whence=0):
        if whence == os.SEEK_SET:
            self.sent = max(self.sent, pos - self._start)
        return self._body.seek(pos, whence)
