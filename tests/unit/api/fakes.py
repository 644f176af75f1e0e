"""An in-memory stand-in for glance_registry.client.RegistryClient (unit tests only)."""

import copy
import datetime
import itertools
import uuid

from glance_registry import exceptions as reg_exc

_OPS = {
    'eq': lambda a, b: a == b, 'neq': lambda a, b: a != b,
    'in': lambda a, b: a in b, 'gt': lambda a, b: a is not None and a > b,
    'gte': lambda a, b: a is not None and a >= b, 'lt': lambda a, b: a is not None and a < b,
    'lte': lambda a, b: a is not None and a <= b,
}
COLUMNS = {'id', 'name', 'size', 'status', 'disk_format', 'container_format', 'checksum',
           'owner', 'min_disk', 'min_ram', 'protected', 'virtual_size', 'visibility',
           'os_hidden', 'os_hash_algo', 'os_hash_value', 'created_at', 'updated_at'}


class FakeRegistry:
    """Images, tags and members in dicts, with the visibility rules of internals §2.1."""

    def __init__(self):
        self.images = {}
        self.members = {}
        self.calls = []
        self._clock = itertools.count()
        self._member_ids = itertools.count(1)

    def _now(self):
        base = datetime.datetime(2026, 1, 1)
        return (base + datetime.timedelta(seconds=next(self._clock))).isoformat() + '.000001'

    def _members_of(self, image_id):
        return [m for (iid, _), m in self.members.items() if iid == image_id]

    def _visible(self, ctx, image):
        if image['deleted']:
            return False
        if ctx.is_admin or image['owner'] is None or image['owner'] == ctx.project_id:
            return True
        if image['visibility'] in ('public', 'community'):
            return True
        return image['visibility'] == 'shared' and (image['id'], ctx.project_id) in self.members

    def _get(self, ctx, image_id):
        image = self.images.get(image_id)
        if image is None or not self._visible(ctx, image):
            raise reg_exc.ImageNotFound('No image found with ID %s' % image_id)
        return image

    def image_create(self, ctx, values):
        self.calls.append(('image_create', values))
        values = copy.deepcopy(values)
        image_id = values.pop('id', None) or str(uuid.uuid4())
        if image_id in self.images:
            raise reg_exc.Duplicate('Image ID %s already exists!' % image_id)
        now = self._now()
        image = {'id': image_id, 'name': None, 'status': 'queued', 'visibility': 'shared',
                 'protected': False, 'os_hidden': False, 'checksum': None,
                 'os_hash_algo': None, 'os_hash_value': None, 'owner': None, 'size': None,
                 'virtual_size': None, 'container_format': None, 'disk_format': None,
                 'min_ram': 0, 'min_disk': 0, 'created_at': now, 'updated_at': now,
                 'deleted_at': None, 'deleted': False, 'properties': {}, 'tags': [],
                 'locations': []}
        image.update(values)
        self.images[image_id] = image
        return copy.deepcopy(image)

    def image_get(self, ctx, image_id, include_deleted=False):
        return copy.deepcopy(self._get(ctx, image_id))

    def _list_visible(self, ctx, image, query):
        vis = query.get('visibility')
        if image['deleted'] or image['status'] == 'killed':
            return False
        own = image['owner'] == ctx.project_id and ctx.project_id is not None
        if not ctx.is_admin:
            status = query.get('member_status', 'accepted')
            member = self.members.get((image['id'], ctx.project_id))
            shared_ok = (image['visibility'] == 'shared' and member is not None
                         and (status == 'all' or member['status'] == status))
            if not (own or image['visibility'] in ('public', 'community') or shared_ok):
                return False
        if vis == 'all':
            return True
        if vis:
            return image['visibility'] == vis
        return image['visibility'] != 'community' or own

    def _matches(self, image, query):
        for key, op, value in query.get('filters', []):
            actual = image.get(key) if key in COLUMNS else image['properties'].get(key)
            if not _OPS[op](actual, value):
                return False
        if query.get('os_hidden') is not None and image['os_hidden'] != query['os_hidden']:
            return False
        return all(t in image['tags'] for t in query.get('tags', []))

    def image_list(self, ctx, query):
        self.calls.append(('image_list', query))
        rows = [i for i in self.images.values()
                if self._list_visible(ctx, i, query) and self._matches(i, query)]
        for key, direction in reversed(query['sort']):
            rows.sort(key=lambda i: (i.get(key) is not None, i.get(key) or 0),
                      reverse=direction == 'desc')
        marker = query.get('marker')
        if marker is not None:
            ids = [i['id'] for i in rows]
            if marker not in ids:
                raise reg_exc.MarkerNotFound('No image found with ID %s' % marker)
            rows = rows[ids.index(marker) + 1:]
        return copy.deepcopy(rows[:query['limit']])

    def image_update(self, ctx, image_id, values, from_state=None, purge_props=False):
        self.calls.append(('image_update', image_id, values, from_state, purge_props))
        image = self.images.get(image_id)
        if image is None or image['deleted']:
            raise reg_exc.ImageNotFound('No image found with ID %s' % image_id)
        if from_state is not None and image['status'] != from_state:
            raise reg_exc.Conflict('Image status is %s, not %s' % (image['status'], from_state))
        values = copy.deepcopy(values)
        props = values.pop('properties', None)
        if props is not None:
            image['properties'] = props if purge_props else dict(image['properties'], **props)
        image.update(values)
        image['updated_at'] = self._now()
        return copy.deepcopy(image)

    def reserve_location(self, ctx, image_id, url, metadata):
        """Queue ``url`` for deletion (pending_delete); return its id."""
        reservations = self.__dict__.setdefault('reservations', {})
        row_id = len(reservations) + 1
        reservations[row_id] = {'image_id': image_id, 'url': url, 'metadata': metadata,
                                'status': 'pending_delete'}
        return row_id

    def release_location(self, ctx, location_id):
        """Mark a queued location's data gone."""
        self.reservations[location_id]['status'] = 'deleted'

    def image_destroy(self, ctx, image_id, from_state=None, status=None):
        self.calls.append(('image_destroy', image_id, from_state))
        image = self.images.get(image_id)
        if image is None or image['deleted']:
            raise reg_exc.ImageNotFound('No image found with ID %s' % image_id)
        if from_state is not None and image['status'] != from_state:
            raise reg_exc.Conflict('conflict')
        before = copy.deepcopy(image)
        image.update(deleted=True, status=status or 'deleted', deleted_at=self._now())
        return before

    def image_tag_add(self, ctx, image_id, tag):
        image = self._get(ctx, image_id)
        if tag not in image['tags']:
            image['tags'].append(tag)

    def image_tag_delete(self, ctx, image_id, tag):
        image = self._get(ctx, image_id)
        if tag not in image['tags']:
            raise reg_exc.TagNotFound(tag)
        image['tags'].remove(tag)

    def image_tasks(self, ctx, image_id):
        # NOTE: no tasks engine in the fake; the real one is in tests/unit/db/test_tasks.py.
        return []

    def member_list(self, ctx, image_id, member=None):
        return [copy.deepcopy(m) for m in self._members_of(image_id)
                if member is None or m['member'] == member]

    def member_create(self, ctx, image_id, member, can_share=False):
        if (image_id, member) in self.members:
            raise reg_exc.Duplicate('dup')
        now = self._now()
        row = {'id': next(self._member_ids), 'image_id': image_id, 'member': member,
               'can_share': can_share, 'status': 'pending', 'created_at': now,
               'updated_at': None, 'deleted': False}
        self.members[(image_id, member)] = row
        return copy.deepcopy(row)

    def member_get(self, ctx, image_id, member):
        try:
            return copy.deepcopy(self.members[(image_id, member)])
        except KeyError:
            raise reg_exc.MemberNotFound(member) from None

    def member_update(self, ctx, image_id, member, status):
        row = self.members[(image_id, member)]
        row.update(status=status, updated_at=self._now())
        return copy.deepcopy(row)

    def member_delete(self, ctx, image_id, member):
        if self.members.pop((image_id, member), None) is None:
            raise reg_exc.MemberNotFound(member)


class FakeStore:
    """A store that remembers deletes and can be told to fail."""

    def __init__(self, sizes=None, fail=None, projects=None):
        self.deleted = []
        self.sizes = sizes or {}
        self.fail = fail
        self.projects = projects or {}

    def delete(self, url):
        if self.fail:
            raise self.fail
        self.deleted.append(url)

    def get_size(self, url):
        return self.sizes.get(url, 0)

    def location_project(self, url):
        return self.projects.get(url)


class FakeStores:
    """Stand-in for stores.StoreRegistry: one FakeStore for every location."""

    def __init__(self, store=None):
        self.store = store or FakeStore()

    def for_location(self, url, metadata=None):
        return self.store
