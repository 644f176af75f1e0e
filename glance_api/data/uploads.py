"""Upload orchestration: PUT /v2/images/{id}/file (docs/glance-api.md §4.1).

queued→saving (compare-and-swap), stream through a size limit into the store while the
store feeds md5 and ``hashing_algorithm`` digests in parallel threads, verify, then
saving→active (compare-and-swap) with the checksums, the location and the virtual size
the format inspection found (glance_api.data.inspection). On any failure, a refused format too,
the written data is deleted and the image goes back to queued; the original error is
re-raised.

While it runs, an upload renews its image every HEARTBEAT_SECONDS from a timer
(:class:`Heartbeat`), so glance-scrubber never takes it for one whose api died; a client that
sends nothing for ``client_socket_timeout`` seconds fails the upload with a 400 instead.
"""

import hashlib
import logging
import threading

from glance_api import exceptions
from glance_api.data import inspection
from glance_api.web import metrics
from glance_api.rules import policy
from glance_api.rules import quota
from glance_registry import exceptions as registry_exc
from glance_server import bodies
from stores import exceptions as store_exc

LOG = logging.getLogger(__name__)

# Glance's domain rule: the formats must be known before any data is saved.
_FORMAT_KEYS = ('disk_format', 'container_format')
# Values restored when an upload fails: entering queued clears the data attributes.
_ROLLBACK_VALUES = {'status': 'queued', 'size': None, 'virtual_size': None,
                    'checksum': None, 'os_hash_algo': None, 'os_hash_value': None}


def parse_size(header_value):
    """Return the x-openstack-image-size header as an int (None when absent).

    :raises: exceptions.BadRequest when it is not a non-negative integer
    """
    if header_value is None:
        return None
    try:
        size = int(header_value)
    except (TypeError, ValueError):
        size = -1
    if size < 0:
        raise exceptions.BadRequest('Invalid or missing image size in request headers.')
    return size


def check_uploadable(image, target_status='saving'):
    """Raise unless the image may move from its status to ``target_status`` with data.

    :raises: exceptions.InvalidImageStatusTransition (409), exceptions.BadRequest (400)
    """
    if image['status'] != 'queued':
        raise exceptions.InvalidImageStatusTransition(image['status'], target_status)
    missing = [key for key in _FORMAT_KEYS if not image.get(key)]
    if len(missing) == 1:
        raise exceptions.BadRequest('Property %s must be set prior to saving data.' % missing[0])
    if missing:
        raise exceptions.BadRequest(
            'Properties %s must be set prior to saving data.' % ', '.join(missing))


def too_large(detail='The provided image is too large.'):
    """Return the 413 Glance answers for an image over ``image_size_cap``."""
    return exceptions.LimitExceeded('The incoming image is too large: %s' % detail)


class ChunkReader:
    """A file-like ``read(n)`` over an iterator of byte chunks."""

    def __init__(self, chunks):
        self._chunks = iter(chunks)
        self._buf = b''

    def read(self, size=-1):
        while size is None or size < 0 or len(self._buf) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buf += chunk
        if size is None or size < 0:
            out, self._buf = self._buf, b''
        else:
            out, self._buf = self._buf[:size], self._buf[size:]
        return out


class SizeLimitedReader:
    """File-like view of the request body that refuses more than ``cap`` bytes.

    A read error (client disconnect, truncated chunked body) becomes a 400 so the
    client sees a clean answer if it is still there; the cause is kept for the log.
    """

    def __init__(self, stream, cap):
        self._stream = stream
        self._cap = cap
        self.bytes_read = 0

    def read(self, size=-1):
        """Return up to ``size`` bytes of the body.

        :raises: exceptions.LimitExceeded, exceptions.BadRequest
        """
        try:
            data = self._stream.read(size)
        except TimeoutError as e:   # client_socket_timeout (see bodies.client_timeout)
            LOG.info('No image data from the client within client_socket_timeout')
            raise exceptions.BadRequest(
                'The client sent no image data for longer than the server allows '
                '(client_socket_timeout); the upload was cancelled.') from e
        except Exception as e:
            LOG.info('Error reading image data from the client: %r', e)
            raise exceptions.BadRequest(
                'Error reading the image data from the request: the client '
                'disconnected or sent a truncated body.') from e
        self.bytes_read += len(data)
        if self.bytes_read > self._cap:
            raise too_large()
        return data


def upload(conf, registry, stores, ctx, image_id, stream, content_length, declared_size,
           store_id, *, enforcer, notifier=None, expected_checksum=None, signatures=None):
    """Store the request body as the data of a queued image and activate it.

    ``declared_size`` is the raw x-openstack-image-size header (or None); without it
    ``content_length`` is the declared size. ``store_id`` is X-Image-Meta-Store (or None);
    ``enforcer`` is the process's :class:`glance_api.rules.policy.Enforcer`.
    ``expected_checksum`` (Images API v1's x-image-meta-checksum) must equal the md5 of the
    data, or the upload fails like a size mismatch. ``signatures`` (a
    :class:`glance_api.data.signatures.Signatures`) checks a signed image's data while it
    streams; None: signatures are not checked. Returns the image.

    :raises: ImageNotFound (404), PolicyForbidden (403), InvalidImageStatusTransition
             (409), BadRequest (400), LimitExceeded (413), InvalidImageData (415), Gone
             (410), store errors
    """
    size = parse_size(declared_size)
    if size is None:
        size = content_length
    quota.enforce(conf, registry, ctx,
                  {quota.IMAGE_SIZE_TOTAL: 0 if size is None else size // quota.MIB})
    store = select_store(conf, stores, store_id)
    try:
        image = registry.image_get(ctx, image_id)
    except registry_exc.ImageNotFound:
        raise exceptions.NotFound('No image found with ID %s' % image_id) from None
    try:
        policy.enforce_image(enforcer, ctx, 'upload_image', image)
    except exceptions.NotImageOwner:
        raise exceptions.Forbidden('Not allowed to upload image data for image %s'
                                   % image_id) from None
    check_uploadable(image)
    if size is not None and size > conf.image_size_cap:
        raise too_large()
    saving = _swap_to_saving(registry, ctx, image_id)
    if notifier is not None:
        notifier.image('image.update', saving)
        notifier.upload_prepare(saving, store.backend_group)
    location = None
    reservation = Reservation(registry, ctx, image_id, store)
    heartbeat = Heartbeat(lambda: _renew(registry, ctx, image_id))
    try:
        # NOTE: the beats stop before a failure's clean-up below rolls the image back.
        with heartbeat, bodies.client_timeout(stream, conf.client_socket_timeout):
            quota.enforce(conf, registry, ctx, {quota.IMAGE_COUNT_UPLOADING: 0})
            remaining = quota.check_storage(conf, registry, ctx, size, image_id)
            # NOTE: after the move to saving, as Glance: an unusable signature or
            # certificate returns the image to queued with the 400.
            verifier = signatures.verifier(ctx, image) if signatures is not None else None
            location, values, inspected = _write(
                conf, store, image, stream, size, remaining, reservation.record, heartbeat,
                verifier)
            if verifier is not None:
                verifier.check()   # a mismatch discards ``location`` below
            if remaining is not None:
                # NOTE: again with the real size, as Glance: a concurrent upload of the
                # same project may have used the room meanwhile.
                quota.check_storage(conf, registry, ctx, values['size'], image_id)
            if size is not None and values['size'] != size:
                # NOTE: drivers already refuse a short or long body; kept so a driver that
                # does not can never activate an image with the wrong size.
                raise exceptions.BadRequest(
                    store_exc.SizeMismatch(expected=size, actual=values['size']).msg)
            _verify_checksum(expected_checksum, values['checksum'])
            # NOTE: after the write, as Glance: a refusal (415) discards ``location``.
            values['virtual_size'] = inspection.virtual_size(
                inspected, image.get('disk_format'), conf.image_format)
            image = _activate(registry, ctx, image_id, values)
    except BaseException as e:
        # NOTE: BaseException too: a worker timeout or GeneratorExit must not leave an
        # image stuck in saving with orphaned bytes.
        _discard(store, location, image_id)
        reservation.clean_up()
        restored = _roll_back(registry, ctx, image_id)
        metrics.upload_failed(type(e).__name__)
        if notifier is not None:
            notifier.upload_failed(image_id, e, restored)
        raise
    reservation.settle(location['url'])
    metrics.bytes_in(store.store_id, values['size'])
    if notifier is not None:
        notifier.upload_done(image)
    return image


def _verify_checksum(expected, actual):
    if expected is not None and expected != actual:
        raise exceptions.BadRequest(
            'Supplied checksum (%s) and checksum generated from uploaded image (%s) did not '
            'match.' % (expected, actual))


def select_store(conf, stores, store_id):
    """Return the store to write to: X-Image-Meta-Store in multi-store, else the default.

    :raises: exceptions.BadRequest (400 "Store for identifier x not found")
    """
    if not conf.enabled_backends or store_id is None:
        return stores.default
    try:
        return stores.for_store(store_id)
    except store_exc.UnknownStore as e:
        raise exceptions.BadRequest(e.msg) from e


def _swap_to_saving(registry, ctx, image_id):
    try:
        return registry.image_update(ctx, image_id, {'status': 'saving'}, from_state='queued')
    except registry_exc.Conflict:
        # A concurrent upload or status change won the race; answer as Glance would
        # for the status the image is in now.
        current = registry.image_get(ctx, image_id)
        raise exceptions.InvalidImageStatusTransition(current['status'], 'saving') from None


def _write(conf, store, image, stream, size, remaining=None, on_begin=None,
           heartbeat=None, verifier=None):
    algo = image.get('os_hash_algo') or conf.hashing_algorithm
    md5 = hashlib.md5(usedforsecurity=False)
    secure = hashlib.new(algo)
    reader = SizeLimitedReader(stream, conf.image_size_cap)
    if remaining is not None:
        # NOTE: refused while the data streams: nothing over the quota is written.
        reader = quota.QuotaReader(reader, remaining)
    if heartbeat is not None:
        reader = heartbeat.watch(reader)
    inspected = inspection.wrap(image, reader)
    # PERF: the store hashes in helper threads (stores.hashing.ParallelHasher), so md5,
    # the secure hash and the disk write use separate cores.
    hashers = (md5, secure) if verifier is None else (md5, secure, verifier)
    try:
        added = store.add(image['id'], inspected or reader, size,
                          hashers=hashers, on_begin=on_begin)
    except store_exc.SizeMismatch as e:
        raise exceptions.BadRequest(e.msg) from e
    except store_exc.ImageSizeLimitExceeded as e:
        raise too_large(e.msg) from e
    location = {'url': added.url, 'metadata': dict(added.metadata or {}), 'status': 'active'}
    values = {
        'status': 'active', 'size': added.size,
        'checksum': md5.hexdigest(), 'os_hash_algo': algo,
        'os_hash_value': secure.hexdigest(),
        'locations': [location],
    }
    return location, values, inspected


class Reservation:
    """The scrub-queue record of the object an upload is writing (glance_db.scrub).

    ``record`` is the store's ``on_begin``: before the first byte, the registry keeps the
    object's URL as a pending_delete location. After a failure ``clean_up`` deletes
    whatever the store still holds there and drops the record; if the store cannot be
    reached, the record stays and glance-scrubber deletes the data later. If the api dies
    mid-upload the record stays too (and the image in saving, until the scrubber finds
    the upload stalled).
    """

    def __init__(self, registry, ctx, image_id, store):
        self.registry = registry
        self.ctx = ctx
        self.image_id = image_id
        self.store = store
        self.location_id = self.url = None

    def record(self, url):
        """Reserve ``url`` (called by the store before it writes)."""
        if url is None:
            return  # NOTE: a driver that cannot name its object before committing it
        metadata = {'store': self.store.backend_group} if self.store.backend_group else {}
        self.location_id = self.registry.reserve_location(self.ctx, self.image_id, url,
                                                          metadata)
        self.url = url

    def settle(self, committed_url):
        """After activation: drop the record unless activation already did.

        PERF: activation releases a pending_delete row of the URL it makes live in the same
        transaction (glance_db.images.set_locations); only a driver whose committed URL
        differs from the reserved one needs the extra registry call.
        """
        if committed_url == self.url:
            self.location_id = None
            return
        self.release()

    def release(self):
        """Drop the record (the data is now the image's location, or gone)."""
        if self.location_id is None:
            return
        try:
            self.registry.release_location(self.ctx, self.location_id)
        except Exception:  # NOTE: activation released it already in its own transaction
            LOG.warning('Unable to release the upload reservation %s of image %s',
                        self.location_id, self.image_id, exc_info=True)
        self.location_id = None

    def clean_up(self):
        """After a failed upload: delete what is left at the URL, then release."""
        if self.location_id is None:
            return
        try:
            self.store.delete(self.url)
        except store_exc.NotFound:
            pass
        except Exception as e:
            LOG.warning('Unable to delete the partial data of image %s at %s (%s); '
                        'glance-scrubber will delete it', self.image_id, self.url, e)
            return
        self.release()


# How often a running upload renews its image. glance-scrubber refuses a
# stalled_upload_time under three of these (glance_api.cli.scrubber.STALLED_UPLOAD_MIN): a
# live upload may miss one beat and be slow with the next, and still never look stalled.
HEARTBEAT_SECONDS = 5


class Heartbeat:
    """Renew an uploading image's ``updated_at`` every ``interval`` seconds, from a timer.

    glance-scrubber takes an image in saving that nobody renewed for
    ``stalled_upload_time`` for an upload whose glance-api died. The beats come from a
    thread, not from the data, so a client that pauses (for up to
    ``client_socket_timeout``) or a slow store never makes a live upload look dead; they
    stop when the upload ends. A beat that finds the image gone or out of saving makes
    the next read of :meth:`watch`'s stream raise, so a doomed upload stops early.
    """

    def __init__(self, beat, interval=HEARTBEAT_SECONDS):
        self._beat = beat
        self._interval = interval
        self._stop = threading.Event()
        self._lost = None
        self._thread = threading.Thread(target=self._run, name='upload-heartbeat',
                                        daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        # NOTE: bounded: a beat waiting on a slow registry must not hold the answer; a
        # late beat only fails its compare-and-swap.
        self._thread.join(self._interval)

    def _run(self):
        while not self._stop.wait(self._interval):
            try:
                self._beat()
            except exceptions.ApiError as e:   # the image left saving: no use beating on
                self._lost = e
                return
            except Exception:  # noqa: BLE001 - e.g. registry down: try again next beat
                LOG.warning('Unable to renew an uploading image; retrying in %d seconds',
                            self._interval, exc_info=True)

    def watch(self, stream):
        """Return ``stream``, raising on read once a beat found the image out of saving."""
        return _Watched(stream, self)

    def check(self):
        """Raise what the last beat learnt if the image left saving (Gone, Conflict)."""
        if self._lost is not None:
            raise self._lost


class _Watched:
    def __init__(self, stream, heartbeat):
        self._stream = stream
        self._heartbeat = heartbeat

    def read(self, size=-1):
        self._heartbeat.check()
        return self._stream.read(size)


def _renew(registry, ctx, image_id):
    try:
        registry.image_update(ctx, image_id, {}, from_state='saving')
    except registry_exc.ImageNotFound:
        raise _gone(image_id) from None
    except registry_exc.Conflict:
        raise exceptions.Conflict('Image %s left the saving status during the upload; the '
                                  'upload was cancelled.' % image_id) from None


def _activate(registry, ctx, image_id, values):
    try:
        return registry.image_update(ctx, image_id, values, from_state='saving')
    except registry_exc.ImageNotFound:
        raise _gone(image_id) from None
    except registry_exc.Conflict:
        try:
            registry.image_get(ctx, image_id)
        except registry_exc.ImageNotFound:
            raise _gone(image_id) from None
        raise


def _gone(image_id):
    return exceptions.Gone('Image %s could not be found after upload. The image may have '
                           'been deleted during the upload.' % image_id)


def _discard(store, location, image_id):
    if location is None:
        return  # store.add removes its partial object itself when it raises
    try:
        store.delete(location['url'])
    except Exception:  # cleanup never masks the original error
        LOG.exception('Unable to delete the data of image %s after a failed upload',
                      image_id)


def _roll_back(registry, ctx, image_id):
    try:
        return registry.image_update(ctx, image_id, dict(_ROLLBACK_VALUES),
                                     from_state='saving')
    except Exception:  # e.g. the image was deleted meanwhile; keep the original error
        LOG.warning('Unable to restore image %s to queued after a failed upload', image_id,
                    exc_info=True)
        return None
