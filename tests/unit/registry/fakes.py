"""An in-memory stand-in for glance_db.api.ImageRepo, for unit tests of the registry app."""

import uuid

from glance_db import exceptions as db_exc

NOW = '2026-11-22T04:01:02.123456'


def make_image(**values):
    """Return an image dict of internals §1 with ``values`` applied."""
    image = {
        'id': str(uuid.uuid4()), 'name': None, 'status': 'queued', 'visibility': 'shared',
        'protected': False, 'os_hidden': False, 'checksum': None, 'os_hash_algo': None,
        'os_hash_value': None, 'owner': None, 'size': None, 'virtual_size': None,
        'container_format': None, 'disk_format': None, 'min_ram': 0, 'min_disk': 0,
        'created_at': NOW, 'updated_at': None, 'deleted_at': None, 'deleted': False,
        'properties': {}, 'tags': [], 'locations': [],
    }
    image.update(values)
    return image


class FakeRepo:
    """Keep images and members in dicts and record every call."""

    def __init__(self):
        self.images = {}
        self.members = {}
        self.calls = []
        self.fail_with = None

    def _record(self, name, *args, **kwargs):
        self.calls.append((name, args, kwargs))
        if self.fail_with is not None:
            raise self.fail_with

    def _live(self, image_id):
        image = self.images.get(image_id)
        if image is None or image['deleted']:
            raise db_exc.ImageNotFound('No image found with ID %s' % image_id)
        return image

    def image_create(self, values):
        self._record('image_create', values)
        image = make_image(**values)
        if image['id'] in self.images:
            raise db_exc.Duplicate('Image ID %s already exists!' % image['id'])
        self.images[image['id']] = image
        return image

    def image_get(self, image_id, *, project_id=None, is_admin=True, include_deleted=False):
        self._record('image_get', image_id, project_id=project_id, is_admin=is_admin,
                     include_deleted=include_deleted)
        image = self.images.get(image_id)
        if image is None or (image['deleted'] and not include_deleted):
            raise db_exc.ImageNotFound('No image found with ID %s' % image_id)
        return image

    def image_list(self, **kwargs):
        self._record('image_list', **kwargs)
        if kwargs['marker'] is not None and kwargs['marker'] not in self.images:
            raise db_exc.MarkerNotFound('Marker %s could not be found.' % kwargs['marker'])
        return [i for i in self.images.values() if not i['deleted']][:kwargs['limit']]

    def image_update(self, image_id, values, *, from_state=None, purge_props=False):
        self._record('image_update', image_id, values, from_state=from_state,
                     purge_props=purge_props)
        image = self._live(image_id)
        if from_state is not None and image['status'] != from_state:
            raise db_exc.Conflict('Image status transition from %s to %s is not allowed'
                                  % (image['status'], values.get('status')))
        props = values.pop('properties', None)
        image.update(values)
        if props is not None:
            image['properties'] = props if purge_props else {**image['properties'], **props}
        return image

    def image_destroy(self, image_id, *, from_state=None, **kwargs):
        self._record('image_destroy', image_id, from_state=from_state, **kwargs)
        image = self._live(image_id)
        before = dict(image)
        image.update(deleted=True, status=kwargs.get('status', 'deleted'), deleted_at=NOW)
        return before

    def image_tag_add(self, image_id, tag):
        self._record('image_tag_add', image_id, tag)
        tags = self._live(image_id)['tags']
        if tag not in tags:
            tags.append(tag)

    def image_tag_delete(self, image_id, tag):
        self._record('image_tag_delete', image_id, tag)
        tags = self._live(image_id)['tags']
        if tag not in tags:
            raise db_exc.TagNotFound('Tag %s not found' % tag)
        tags.remove(tag)

    def member_list(self, image_id, *, member=None):
        self._record('member_list', image_id, member=member)
        self._live(image_id)
        return [m for (i, p), m in self.members.items()
                if i == image_id and member in (None, p)]

    def member_create(self, image_id, member, can_share=False):
        self._record('member_create', image_id, member, can_share=can_share)
        self._live(image_id)
        if (image_id, member) in self.members:
            raise db_exc.Duplicate('Member %s already exists' % member)
        m = {'id': len(self.members) + 1, 'image_id': image_id, 'member': member,
             'can_share': can_share, 'status': 'pending', 'created_at': NOW,
             'updated_at': None, 'deleted': False}
        self.members[(image_id, member)] = m
        return m

    def member_get(self, image_id, member):
        self._record('member_get', image_id, member)
        try:
            return self.members[(image_id, member)]
        except KeyError:
            raise db_exc.MemberNotFound('Member %s not found' % member) from None

    def member_update(self, image_id, member, status):
        self._record('member_update', image_id, member, status)
        m = self.member_get(image_id, member)
        m['status'] = status
        return m

    def member_delete(self, image_id, member):
        self._record('member_delete', image_id, member)
        self.member_get(image_id, member)
        del self.members[(image_id, member)]
