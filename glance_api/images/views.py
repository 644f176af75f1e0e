"""The image representation of §3.2: what GET/POST/PATCH answers show for an image."""

from glance_api.web.bodies import isotime

# Glance hides these reserved properties from every answer.
HIDDEN_PROPERTIES = frozenset(('os_glance_stage_host', 'os_glance_hash_op_host'))
_ATTRIBUTES = ('name', 'disk_format', 'container_format', 'visibility', 'size',
               'virtual_size', 'status', 'checksum', 'protected', 'min_ram', 'min_disk',
               'owner', 'os_hidden', 'os_hash_algo', 'os_hash_value')


def active_locations(image):
    """Return the image's live locations (registry rows with status active)."""
    return [loc for loc in image.get('locations') or ()
            if loc.get('status', 'active') == 'active']


class ImageView:
    """Render image dicts for one configuration (and its property protections, if any)."""

    def __init__(self, conf, protections=None):
        self.protections = protections
        self.show_locations = conf.show_multiple_locations
        self.show_direct_url = conf.show_image_direct_url
        self.multi_store = bool(conf.enabled_backends)
        self._weights = {}
        if self.multi_store:
            for store_id in conf.enabled_backends:
                self._weights[store_id] = _store_weight(conf, store_id)

    def _sorted_locations(self, locations):
        if not self._weights:
            return locations
        # NOTE: higher store weight first, like glance's sort_image_locations.
        return sorted(locations, key=lambda loc: -self._weights.get(
            (loc.get('metadata') or {}).get('store'), 0))

    def render(self, image, ctx):
        """Return the JSON-ready dict of one image as ctx may see it."""
        props = image['properties']
        if self.protections is not None:
            props = self.protections.checker(ctx).readable(props)
        view = {k: ('' if v is None else v) for k, v in props.items()
                if k not in HIDDEN_PROPERTIES}
        for key in _ATTRIBUTES:
            view[key] = image.get(key)
        view['id'] = image['id']
        view['created_at'] = isotime(image['created_at'])
        view['updated_at'] = isotime(image.get('updated_at') or image['created_at'])
        locations = None
        if self.show_locations or self.show_direct_url or self.multi_store:
            locations = active_locations(image)
        if self.show_locations:
            view['locations'] = [{'url': loc['url'], 'metadata': loc.get('metadata') or {}}
                                 for loc in locations]
        if self.show_direct_url and locations:
            view['direct_url'] = self._sorted_locations(locations)[0]['url']
        view['tags'] = list(image.get('tags') or ())
        view['self'] = '/v2/images/%s' % image['id']
        view['file'] = '/v2/images/%s/file' % image['id']
        view['schema'] = '/v2/schemas/image'
        if self.multi_store and locations:
            stores = [(loc.get('metadata') or {}).get('store') for loc in locations]
            stores = [s for s in stores if s]
            if stores:
                view['stores'] = ','.join(stores)
        return view


def _store_weight(conf, store_id):
    try:
        return int(conf[store_id].weight)
    except Exception:
        # NOTE: the backend group may not be registered (stores not configured yet).
        return 0


def member_view(member):
    """Return the JSON-ready dict of one image member."""
    return {
        'member_id': member['member'],
        'image_id': member['image_id'],
        'status': member['status'],
        'created_at': isotime(member['created_at']),
        'updated_at': isotime(member.get('updated_at') or member['created_at']),
        'schema': '/v2/schemas/member',
    }
