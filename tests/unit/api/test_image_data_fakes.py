"""Fakes shared by the image-data unit tests: registry client, stores, falcon app."""

import copy
import hashlib
import io
import os
import uuid

import falcon
import falcon.testing
from oslo_config import cfg

from glance_api import config
from glance_api.web import errors
from glance_api.data import image_data
from glance_api import info
from glance_api.rules import policy
from glance_api.web.context import RequestContext
from glance_registry import exceptions as reg_exc
from stores import base
from stores import exceptions as store_exc

OWNER = 'p1'
MEMBER_HEADERS = {'X-Project-Id': OWNER, 'X-Roles': 'member,reader', 'Accept': 'application/json'}
ADMIN_HEADERS = {'X-Project-Id': 'adm', 'X-Roles': 'admin,member,reader',
                 'Accept': 'application/json'}
OCTET = {'Content-Type': 'application/octet-stream'}


def make_conf(**overrides):
    """Return a ConfigOpts with the api options registered and ``overrides`` set."""
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    conf([], project='glance', default_config_files=[], default_config_dirs=[])
    for name, value in overrides.items():
        conf.set_override(name, value)
    return conf


def new_image(**values):
    """Return an image dict as the registry sends it."""
    image = {
        'id': str(uuid.uuid4()), 'name': 'img', 'status': 'queued', 'visibility': 'shared',
        'protected': False, 'os_hidden': False, 'checksum': None, 'os_hash_algo': None,
        'os_hash_value': None, 'owner': OWNER, 'size': None, 'virtual_size': None,
        'container_format': 'bare', 'disk_format': 'raw', 'min_ram': 0, 'min_disk': 0,
        'properties': {}, 'tags': [], 'locations': [], 'deleted': False,
    }
    image.update(values)
    return image


class FakeRegistry:
    """In-memory registry client with the compare-and-swap semantics of internals §2."""

    def __init__(self, *images):
        self.images = {image['id']: image for image in images}
        self.before_update = None  # hook(image_id, values, from_state), for races

    def image_get(self, ctx, image_id, include_deleted=False):
        image = self.images.get(image_id)
        visible = image is not None and (
            ctx.is_admin or image['owner'] == ctx.project_id
            or image['visibility'] in ('public', 'community'))
        if not visible:
            raise reg_exc.ImageNotFound('No image found with ID %s' % image_id)
        return copy.deepcopy(image)

    def image_update(self, ctx, image_id, values, from_state=None, purge_props=False):
        if self.before_update is not None:
            self.before_update(image_id, values, from_state)
        image = self.images.get(image_id)
        if image is None:
            raise reg_exc.ImageNotFound('No image found with ID %s' % image_id)
        if from_state is not None and image['status'] != from_state:
            raise reg_exc.Conflict('cannot transition from %s to %s'
                                   % (image['status'], values.get('status')))
        image.update(copy.deepcopy(values))
        return copy.deepcopy(image)


class MemoryWriter(base.Writer):
    def __init__(self, store, image_id):
        self.store, self.image_id, self.buf = store, image_id, io.BytesIO()

    def write(self, chunk):
        if self.store.fail_after is not None and self.buf.tell() >= self.store.fail_after:
            raise store_exc.StorageFull()
        self.buf.write(chunk)
        self.store.partial[self.image_id] = self.buf.getvalue()

    def commit(self):
        url = 'mem://%s/%s' % (self.store.store_id, self.image_id)
        self.store.objects[url] = self.store.partial.pop(self.image_id, b'')
        return url, {}

    def abort(self):
        self.store.partial.pop(self.image_id, None)


class MemoryStore(base.Store):
    """A store driver keeping objects in a dict; ``fail_after`` bytes → StorageFull."""

    schemes = ('mem',)
    type_name = 'mem'
    CAPABILITIES = frozenset({base.READ_ACCESS, base.WRITE_ACCESS})

    def __init__(self, conf, backend_group=None, chunk_size=4):
        super().__init__(conf, backend_group)
        self.chunk_size = chunk_size  # tiny, so tests cross chunk boundaries
        self.objects, self.partial, self.fail_after = {}, {}, None
        self.short_by = 0  # get() yields this many bytes fewer than asked
        self.broken = set()  # urls whose first read fails (backend gone)
        self.closed = 0  # store iterators closed

    def begin_add(self, image_id, size):
        return MemoryWriter(self, image_id)

    def _data(self, location):
        try:
            return self.objects[location]
        except KeyError:
            raise store_exc.NotFound(image=location) from None

    def get(self, location, offset=0, length=None):
        data = self._data(location)
        end = len(data) if length is None else offset + length
        piece = data[offset:end - self.short_by]
        return self._chunks(location, piece), len(data)

    def _chunks(self, location, piece):
        try:
            if location in self.broken:
                raise store_exc.BackendUnavailable()
            for i in range(0, len(piece), 3):
                yield piece[i:i + 3]
        finally:
            self.closed += 1

    def get_size(self, location):
        return len(self._data(location))

    def delete(self, location):
        self._data(location)
        del self.objects[location]


class FileStoreStandIn(MemoryStore):
    """A store whose objects are real files, served through open_file (zero-copy)."""

    schemes = ('file',)
    type_name = 'file'

    def __init__(self, conf, directory):
        super().__init__(conf)
        self.directory = directory

    def open_file(self, location):
        path = location[len('file://'):]
        try:
            fileobj = open(path, 'rb')
        except FileNotFoundError:
            raise store_exc.NotFound(image=path) from None
        return fileobj, os.fstat(fileobj.fileno()).st_size


class FakeStores:
    """StoreRegistry stand-in over a dict of id → store."""

    def __init__(self, stores, default_id):
        self.stores, self.default = stores, stores[default_id]

    def store_ids(self):
        return list(self.stores)

    def for_store(self, store_id):
        try:
            return self.stores[store_id]
        except KeyError:
            raise store_exc.UnknownStore(store=store_id) from None

    def for_location(self, url, metadata=None):
        for store in self.stores.values():
            if url.split('://')[0] in store.schemes:
                return store
        raise store_exc.UnknownScheme(scheme=url)

    def describe(self, detail=False):
        out = [{'id': sid, 'default': 'true'} if s is self.default else {'id': sid}
               for sid, s in self.stores.items()]
        if detail:
            for entry in out:
                entry.update(type='mem', weight=0, properties={})
        return out


class ContextFromHeaders:
    """Minimal stand-in for the context middleware (req.context.ctx)."""

    def process_request(self, req, resp):
        roles = [r for r in (req.get_header('X-Roles') or '').split(',') if r]
        req.context.ctx = RequestContext(project_id=req.get_header('X-Project-Id'),
                                         roles=roles, is_admin='admin' in roles)


def make_client(conf, registry, stores):
    """Return a falcon test client routing the image-data and info resources."""
    app = falcon.App(middleware=[ContextFromHeaders()])
    errors.register(app)
    enforcer = policy.Enforcer(conf)
    app.add_route('/v2/images/{image_id}/file',
                  image_data.ImageDataResource(conf, registry, stores, enforcer))
    app.add_route('/v2/info/stores', info.StoresInfoResource(conf, stores))
    app.add_route('/v2/info/stores/detail', info.StoresDetailResource(conf, stores, enforcer))
    return falcon.testing.TestClient(app)


def digests(data, algo='sha512'):
    """Return (md5, secure) hex digests of data."""
    return hashlib.md5(data).hexdigest(), hashlib.new(algo, data).hexdigest()


def message(resp):
    """Return the error message of a JSON error body."""
    return resp.json['message']
