"""Image/member/task JSON schemas: building, validating and serving /v2/schemas/*."""

import copy
import json
from importlib import resources
import logging

import falcon
import jsonschema

from glance_api import exceptions as exc
from glance_api.images import schema_defs

LOG = logging.getLogger(__name__)

_IMAGE_LINKS = [
    {'rel': 'self', 'href': '{self}'},
    {'rel': 'enclosure', 'href': '{file}'},
    {'rel': 'describedby', 'href': '{schema}'},
]


def load_custom_properties(conf):
    """Read schema-image.json from the config dirs: (properties, required) or empty."""
    path = conf.find_file('schema-image.json')
    if not path:
        return {}, None
    with open(path) as fobj:
        data = json.load(fobj)
    if isinstance(data, dict) and 'properties' in data:
        return data.get('properties') or {}, data.get('required') or None
    return data, None


class ImageSchema:
    """The image schema (Glance's PermissiveSchema 'image') for this configuration."""

    def __init__(self, conf, custom_properties=None, required=None):
        props = copy.deepcopy(schema_defs.IMAGE_PROPERTIES)
        props['container_format']['enum'] = [None] + list(conf.image_format.container_formats)
        props['disk_format']['enum'] = [None] + list(conf.image_format.disk_formats)
        for name, value in (custom_properties or {}).items():
            value = dict(value, is_base=False)
            if name in props and props[name] != value:
                raise ValueError('custom properties (%s) conflict with base properties'
                                 % name)
            props[name] = value
        self.properties = props
        self.required = required
        raw = {'name': 'image', 'properties': props,
               'additionalProperties': {'type': 'string'}}
        if required:
            raw['required'] = required
        raw['links'] = _IMAGE_LINKS
        self.raw = raw
        # NOTE: like jsonschema.validate() (what Glance calls): latest draft, best_match.
        self._validator = jsonschema.validators.validator_for(raw)(raw)

    def validate(self, obj, name='image'):
        """Validate obj.

        :raises: InvalidObject with Glance's "Provided object does not match schema" text.
        """
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(obj))
        if error is not None:
            raise exc.InvalidObject(name, str(error))

    def collection(self):
        """Return the images collection schema."""
        return {
            'name': 'images',
            'properties': {
                'images': {'type': 'array', 'items': self.raw},
                'first': {'type': 'string'},
                'next': {'type': 'string'},
                'schema': {'type': 'string'},
            },
            'links': [
                {'rel': 'first', 'href': '{first}'},
                {'rel': 'next', 'href': '{next}'},
                {'rel': 'describedby', 'href': '{schema}'},
            ],
        }


def _minimal_collection(name, item):
    return {
        'name': name,
        'properties': {name: {'type': 'array', 'items': item},
                       'schema': {'type': 'string'}},
        'links': [{'rel': 'describedby', 'href': '{schema}'}],
    }


def build_documents(image_schema):
    """Return {name: JSON text} of every schema served under /v2/schemas/."""
    task_items = {'name': 'task', 'properties': {
        k: v for k, v in schema_defs.TASK['properties'].items()
        if k not in ('input', 'result', 'message')}}
    docs = {
        'image': image_schema.raw,
        'images': image_schema.collection(),
        'member': schema_defs.MEMBER,
        'members': _minimal_collection('members', schema_defs.MEMBER),
        'task': schema_defs.TASK,
        'tasks': _minimal_collection('tasks', task_items),
    }
    # NOTE: Glance's metadef schemas are static: the documents a running Glance 33.0.0
    # serves, in its key order, kept as data.
    metadefs = json.loads(resources.files('glance_api').joinpath('metadef_schemas.json')
                          .read_text(encoding='utf-8'))
    docs.update(('metadefs/%s' % name, doc) for name, doc in metadefs.items())
    return {name: json.dumps(doc) for name, doc in docs.items()}


class SchemaResource:
    """GET /v2/schemas/{name} for one schema (other methods: 405 Allow: GET)."""

    allowed = ('GET',)

    def __init__(self, text, body_reject=True):
        self.text = text
        self.body_reject = ('GET',) if body_reject else ()

    def on_get(self, req, resp):
        """Return the schema document."""
        resp.content_type = falcon.MEDIA_JSON
        resp.text = self.text
