"""The ``api_image_import`` task (Glance 33's async_/flows/api_image_import.py).

Steps, in the api worker's task pool: check the import lock (``os_glance_import_task``
must name this task) → mark the target stores in ``os_glance_importing_to_stores`` →
bring the data into the staging area (glance-direct: already there; web-download: fetched
through the URL filter, every redirect re-checked; copy-image: read from a store holding
the image) → import plugins (not for copy-image) → format inspection and hashing of the
staged file → write it to each target store (``all_stores_must_succeed``) → remove the
staged data → check the image is active → task success, lock dropped.

On failure (unlike Glance, which can leave an image ``importing``): the data this task
wrote is deleted from the stores and the staging area, the image goes back to ``queued``
(copy-image: stays ``active``), its target stores move to ``os_glance_failed_import``, the
lock is dropped and the task fails with Glance's "Task failed due to Internal Error".
"""

import hashlib
import logging

from glance_api.exceptions import TaskAborted
from glance_api.imports import parallel as import_parallel
from glance_api.imports import plugins as import_plugins
from glance_api.data import inspection
from glance_api.data import signatures
from glance_api.imports import remote_images
from glance_api.imports import staging as staging_mod
from glance_api.tasks import lifecycle as tasks
from glance_api.data import uploads
from glance_api.rules import url_filter
from glance_registry import exceptions as reg_exc
from stores import exceptions as store_exc

LOG = logging.getLogger(__name__)

TASK_TYPE = 'api_image_import'
LOCK = 'os_glance_import_task'
IMPORTING = 'os_glance_importing_to_stores'
FAILED = 'os_glance_failed_import'
CHUNK = 1 << 20
# NOTE: as Glance 33, copy-image always writes to its stores one after the other.
PARALLEL_METHODS = ('glance-direct', 'web-download', 'glance-download')
_CLEARED = {'size': None, 'virtual_size': None, 'checksum': None, 'os_hash_algo': None,
            'os_hash_value': None}




class ImportFailed(Exception):
    """A step of the import could not be done."""


def merge_stores(props, key, stores, subtract=False):
    """Return the comma list ``props[key]`` with ``stores`` added (or removed), sorted."""
    existing = set((props.get(key) or '').split(','))
    wanted = {s for s in stores if s}
    merged = existing - wanted if subtract else existing | wanted
    return ','.join(sorted(s for s in merged if s))


class ImportJob:
    """One run of an api_image_import task."""

    def __init__(self, api, ctx, task):
        self.api, self.ctx, self.task = api, ctx, task
        self.conf = api.conf
        self.staging = api.staging
        inp = task.get('input') or {}
        self.image_id = inp['image_id']
        self.req = inp['import_req']
        self.method = self.req['method']['name']
        self.backends = list(inp.get('backend') or [None])
        self.must_succeed = self.req.get('all_stores_must_succeed', True)
        self.image = None
        self.pending = {}
        self.pending_props = {}
        self.written = []     # (store, url) written by this task
        self.done = []        # backends imported successfully
        self.restore = {}     # glance-download: the formats the image had
        self.added_props = []  # glance-download: properties it added

    # --- the image, through the lock

    def refresh(self):
        """Re-read the image and check that this task holds its lock.

        :raises: TaskAborted, registry ImageNotFound
        """
        image = self.api.registry.image_get(self.ctx, self.image_id)
        if (image.get('properties') or {}).get(LOCK) != self.task['id']:
            LOG.error('Image %s import task %s attempted to take action on image, but '
                      'another task holds the lock; aborting.', self.image_id, self.task['id'])
            raise TaskAborted()
        self.image = image
        return image

    def update(self, values=None, props=None, remove=()):
        """CAS-update the image (from its current status) while holding the lock."""
        image = self.refresh()
        values = dict(values or {})
        purge = bool(remove)
        if purge:
            merged = {k: v for k, v in image['properties'].items() if k not in remove}
            merged.update(props or {})
            values['properties'] = merged
        elif props:
            values['properties'] = props
        self.image = self.api.registry.image_update(
            self.ctx, self.image_id, values, from_state=image['status'], purge_props=purge)
        return self.image

    def set_values(self, **values):
        """Record image attributes a plugin set (saved after the plugins ran)."""
        self.pending.update(values)
        self.image.update(values)

    def set_properties(self, props):
        """Record extra properties a plugin set; reserved ``os_glance*`` names dropped."""
        for key, value in props.items():
            if key.startswith('os_glance'):
                LOG.warning('Dropping %s=%s during metadata injection for %s', key, value,
                            self.image_id)
            else:
                self.pending_props[key] = value

    # --- the steps

    def run(self):
        """Run every step; raise on failure (the caller reverts)."""
        props = self.refresh()['properties']
        values = {} if self.method == 'copy-image' else {'status': 'importing'}
        self.update(values, props={
            IMPORTING: merge_stores(props, IMPORTING, self.backends),
            FAILED: merge_stores(props, FAILED, self.backends, subtract=True)},
            remove=(staging_mod.STAGE_HOST,))
        path = self._acquire()
        if self.method != 'copy-image':
            for plugin in import_plugins.configured(self.conf):
                path = plugin(self, path)
            if self.pending or self.pending_props:
                self.update(self.pending, props=self.pending_props)
        data = self._verify(path)
        self._import_to_stores(path, data)
        self.staging.discard(self.image_id)
        if self.method != 'copy-image' and self.refresh()['status'] != 'active':
            raise ImportFailed('None of the uploads finished!')

    def _acquire(self):
        path = self.staging.path(self.image_id)
        if self.method == 'glance-direct':
            if not self.staging.has(self.image_id):
                raise ImportFailed('No staged data for image %s' % self.image_id)
            return path
        self.staging.discard(self.image_id)   # NOTE: a dead task's partial file
        if self.method == 'web-download':
            self._fetch_url(self.req['method'].get('uri'))
        elif self.method == 'copy-image':
            self._copy_from_store()
        elif self.method == 'glance-download':
            self._glance_download(self.req['method'])
        else:
            raise ImportFailed('Import method %s is not supported' % self.method)
        return path

    def _stage(self, chunks, size):
        reader = uploads.SizeLimitedReader(uploads.ChunkReader(chunks), self.conf.image_size_cap)
        try:
            written = self.staging.store.add(self.image_id, reader, None).size
        finally:
            getattr(chunks, 'close', lambda: None)()
        if size and written != size:
            raise ImportFailed('Task %s failed because downloaded data size %d is different '
                               'from expected %d' % (self.task['id'], written, size))

    def _fetch_url(self, uri):
        # SECURITY: the URL passed the filter at request time; it and every redirect
        # target are checked again right before each connection.
        http = self.api.import_http_store
        if not url_filter.passes(uri, self.conf):
            raise ImportFailed('URI for web-download does not pass filtering: %s' % uri)
        chunks, size = http.get(uri, url_check=lambda url: url_filter.pins(url, self.conf))
        self._stage(chunks, size)

    def _glance_download(self, method):
        """Take formats, size and the allowed properties of the remote image, then its data
        (Glance's _ImportMetadata and _DownloadGlanceImage).

        :raises: ImportFailed, remote_images errors
        """
        endpoint = remote_images.endpoint(self.ctx, method['glance_region'],
                                          method.get('glance_service_interface', 'public'))
        remote_id = method['glance_image_id']
        meta = remote_images.image(self.conf, self.ctx, endpoint, remote_id)
        if meta.get('status') != 'active':
            raise ImportFailed('Source image status should be active instead of %s'
                               % meta.get('status'))
        prefixes = tuple(self.conf.glance_download_properties.extra_properties)
        props = {k: v for k, v in meta.items()
                 if k.startswith(prefixes) and not k.startswith('os_glance')}
        self.restore = {k: self.image.get(k) for k in ('disk_format', 'container_format')}
        self.added_props = [k for k in props if k not in self.image['properties']]
        self.update({'disk_format': meta.get('disk_format'),
                     'container_format': meta.get('container_format')}, props=props)
        try:
            size = int(meta['size'])
        except (KeyError, TypeError, ValueError):
            raise ImportFailed('Size attribute of remote image %s could not be determined.'
                               % remote_id) from None
        chunks = remote_images.data(self.conf, self.ctx, endpoint, remote_id)
        self._stage(chunks, size)

    def _copy_from_store(self):
        default = self.api.stores.default
        locations = [loc for loc in self.image.get('locations') or ()
                     if loc.get('status', 'active') == 'active']
        locations.sort(key=lambda loc: (loc.get('metadata') or {}).get('store')
                       != getattr(default, 'store_id', None))
        for loc in locations:
            try:
                store = self.api.stores.for_location(loc['url'], loc.get('metadata'))
                chunks, size = store.get(loc['url'])
            except (store_exc.NotFound, store_exc.UnknownScheme):
                LOG.error('Image %s is not present at %s', self.image_id, loc['url'])
                continue
            return self._stage(chunks, size)
        raise ImportFailed('Image not found in any configured store')

    def _verify(self, path):
        """Inspect and hash the staged file; return the values of an activation.

        A signed image's data must match its signature (Glance checks it on every store
        write; here once, before any store holds the bytes).

        :raises: exceptions.InvalidImageData (a refused format), ImportFailed (a signature
                 that does not verify), OSError
        """
        algo = self.image.get('os_hash_algo') or self.conf.hashing_algorithm
        md5, secure = hashlib.md5(usedforsecurity=False), hashlib.new(algo)
        size = 0
        try:
            verifier = self.api.signatures.verifier(self.ctx, self.refresh())
        except signatures.SignatureFailed as e:
            raise ImportFailed(e.message) from None
        with open(path, 'rb') as source:
            reader = inspection.wrap(self.image, source)
            read = (reader or source).read
            for chunk in iter(lambda: read(CHUNK), b''):
                md5.update(chunk)
                secure.update(chunk)
                if verifier is not None:
                    verifier.update(chunk)
                size += len(chunk)
            virtual = inspection.virtual_size(reader, self.image.get('disk_format'),
                                              self.conf.image_format)
        if verifier is not None:
            try:
                verifier.check()
            except signatures.SignatureFailed as e:
                raise ImportFailed(e.message) from None
        values = {'status': 'active', 'size': size, 'checksum': md5.hexdigest(),
                  'os_hash_algo': algo, 'os_hash_value': secure.hexdigest()}
        values['virtual_size'] = self.pending.get('virtual_size') or virtual
        return values

    def _import_to_stores(self, path, data):
        workers = min(self.conf.image_import_opts.max_parallel_stores, len(self.backends))
        if (workers > 1 and self.method in PARALLEL_METHODS
                and self.conf.enabled_backends):
            return self._import_in_parallel(path, data, workers)
        for index, backend in enumerate(self.backends, 1):
            set_active = self.method != 'copy-image' and (
                not self.must_succeed or index == len(self.backends))
            try:
                self._import_one(backend, path, data, set_active)
            except TaskAborted:
                raise
            except Exception:
                if self.must_succeed:
                    raise
                self._store_failed(backend)
            self._store_done(backend)

    def _store_failed(self, backend):
        LOG.warning('Task %s: import to store %s failed but since '
                    'all_stores_must_succeed is set to false, continue.',
                    self.task['id'], backend, exc_info=True)
        props = self.refresh()['properties']
        self.update(props={FAILED: merge_stores(props, FAILED, [backend])})

    def _store_done(self, backend):
        if backend is not None:
            props = self.refresh()['properties']
            self.update(props={IMPORTING: merge_stores(props, IMPORTING, [backend],
                                                       subtract=True)})

    def _import_one(self, backend, path, data, set_active):
        store, url, metadata = self._write(backend, path, data['size'])
        self._register(backend, store, url, metadata, data, set_active)

    def _write(self, backend, path, size, cancel=None):
        store = self.api.stores.for_store(backend) if backend else self.api.stores.default
        with open(path, 'rb') as source:
            reader = source if cancel is None else _Cancellable(source, cancel)
            added = store.add(self.image_id, reader, size)
        return store, added.url, added.metadata

    def _register(self, backend, store, url, metadata, data, set_active):
        self.written.append((store, url))
        image = self.refresh()
        if image['status'] == 'deleted':
            raise ImportFailed('Image has been deleted, aborting import.')
        current = [loc for loc in image.get('locations') or ()
                   if loc.get('status', 'active') == 'active']
        values = {'locations': current + [{'url': url, 'metadata': dict(metadata or {}),
                                           'status': 'active'}]}
        if set_active and image['status'] != 'active':
            values.update(data)
        self.update(values)
        self.done.append(backend)

    def _import_in_parallel(self, path, data, workers):
        """Write the staged file to the stores from ``workers`` threads (see
        glance_api/imports/parallel.py)."""
        import_parallel.run(self, path, data, workers)

    # --- failure and completion

    def revert(self):
        """Undo what this task did (never raises)."""
        for store, url in self.written:
            _delete_quietly(store, url, self.image_id)
        self.staging.discard(self.image_id)
        try:
            image = self.refresh()
        except (TaskAborted, reg_exc.ImageNotFound):
            return
        except Exception:  # noqa: BLE001 - the task's own error matters more
            LOG.exception('Could not revert image %s after import task %s', self.image_id,
                          self.task['id'])
            return
        try:
            self._revert_image(image)
        except Exception:  # noqa: BLE001
            LOG.exception('Could not revert image %s after import task %s', self.image_id,
                          self.task['id'])

    def _revert_image(self, image):
        urls = {url for _store, url in self.written}
        locations = [loc for loc in image.get('locations') or ()
                     if loc.get('status', 'active') == 'active' and loc['url'] not in urls]
        values = {'locations': locations}
        if self.method != 'copy-image':
            values['status'] = 'queued'
            values.update(self.restore)
            if not locations:
                values.update(_CLEARED)
        failed = [b for b in self.backends if b not in self.done]
        props = image['properties']
        self.update(values, props={
            IMPORTING: merge_stores(props, IMPORTING, self.backends, subtract=True),
            FAILED: merge_stores(props, FAILED, failed)}, remove=(LOCK, *self.added_props))

    def drop_lock(self):
        """Remove this task's import lock from the image (never raises)."""
        try:
            self.update(remove=(LOCK,))
        except (TaskAborted, reg_exc.ImageNotFound):
            LOG.error('Image %s import task %s did not hold the lock upon completion!',
                      self.image_id, self.task['id'])
        except Exception:  # noqa: BLE001
            LOG.exception('Could not drop the import lock of image %s', self.image_id)


class _Cancellable:
    """A file reader that stops a store write when the parallel import has failed."""

    def __init__(self, source, cancel):
        self.source, self.cancel = source, cancel

    def read(self, size=-1):
        if self.cancel.is_set():
            raise ImportFailed('Import to another store failed; write aborted')
        return self.source.read(size)


def _delete_quietly(store, url, image_id):
    try:
        store.delete(url)
    except Exception:  # noqa: BLE001 - cleanup never masks the original error
        LOG.warning('Could not delete data %s of image %s', url, image_id, exc_info=True)


def http_store(conf):
    """Return the http store web-download reads through (built once, by glance_api.wiring)."""
    from stores.http import HttpStore
    return HttpStore(conf)


def run(api, ctx, task):
    """Run an api_image_import task to its end (success or failure); never raises."""
    try:
        task = tasks.begin(api, ctx, task)
    except (reg_exc.Conflict, reg_exc.TaskNotFound):
        return   # NOTE: another worker (or recovery) took it.
    try:
        job = ImportJob(api, ctx, task)
    except (KeyError, TypeError):
        tasks.fail(api, ctx, task, "Missing required 'image_id' field")
        return
    try:
        job.run()
    except Exception as e:  # noqa: BLE001 - any error fails the task
        LOG.warning('Import task %s for image %s failed: %r', task['id'], job.image_id, e)
        job.revert()
        tasks.fail(api, ctx, task, tasks.INTERNAL_ERROR)
        return
    try:
        tasks.succeed(api, ctx, task, {'image_id': job.image_id})
    except Exception:  # noqa: BLE001
        LOG.exception('Could not mark task %s successful', task['id'])
    job.drop_lock()


def rollback_interrupted(api, ctx, task):
    """Return the image of an import task a dead api left behind to a retryable state.

    glance-direct whose staged file is still there → ``uploading`` (import again);
    otherwise → ``queued`` with the staging area emptied; copy-image stays ``active``.
    Data the task already wrote to a store of a non-active image is deleted.
    """
    job = ImportJob(api, ctx, task)
    try:
        image = job.refresh()
    except (TaskAborted, reg_exc.ImageNotFound):
        return
    values, props = {}, dict(image['properties'])
    if job.method != 'copy-image' and image['status'] != 'active':
        for loc in image.get('locations') or ():
            try:
                _delete_quietly(api.stores.for_location(loc['url'], loc.get('metadata')),
                                loc['url'], job.image_id)
            except store_exc.StoreError:
                pass
        values = dict(_CLEARED, locations=[], status='queued')
        if job.method == 'glance-direct' and job.staging.has(job.image_id):
            values.update(status='uploading', size=image.get('size'))
            host = staging_mod.self_reference_url(api.conf)
            if host:
                props[staging_mod.STAGE_HOST] = host
        else:
            job.staging.discard(job.image_id)
    elif job.method == 'copy-image':
        job.staging.discard(job.image_id)
    job.update(values, props={
        IMPORTING: merge_stores(props, IMPORTING, job.backends, subtract=True),
        FAILED: merge_stores(props, FAILED, job.backends),
        **{k: v for k, v in props.items() if k == staging_mod.STAGE_HOST}},
        remove=(LOCK,))
