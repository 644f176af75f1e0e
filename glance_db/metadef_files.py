"""``glance-manage db load_metadefs / unload_metadefs / export_metadefs``.

Glance's JSON definition files (``etc/metadefs/*.json``) to the ``metadef_*`` tables and
back, as glance/db/sqlalchemy/metadata.py does: loaded namespaces default to owner
``admin``; resource types created by a load are protected; an object's ``required`` list
is not stored by a load (as in Glance).
"""

import datetime
import json
import logging
import os
import re

from sqlalchemy import delete, insert, select, update

from glance_db.metadefs import associations, namespaces, objects, properties, rtypes, tags

LOG = logging.getLogger(__name__)
DEFAULT_PATH = '/etc/glance/metadefs/'


class UsageError(Exception):
    """Options that cannot be combined."""


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)


def _files(path):
    if os.path.isfile(path):
        return [path]
    # NOTE: directory order, as Glance (it decides the order resource types are created in).
    return [os.path.join(path, f) for f in os.listdir(path)
            if f.endswith('.json') and os.path.isfile(os.path.join(path, f))]


def _insert(conn, table, values):
    # NOTE: callers look the row up first, so a duplicate here is a bug, not a skip.
    conn.execute(insert(table).values(**values))


def _id(conn, table, *where):
    row = conn.execute(select(table.c.id).where(*where)).first()
    return row[0] if row else None


def _clear_namespace(conn, ns_id):
    for table in (properties, objects, tags, associations):
        conn.execute(delete(table).where(table.c.namespace_id == ns_id))
    conn.execute(delete(namespaces).where(namespaces.c.id == ns_id))


def _upsert(conn, table, ns_id, name, values, prefer_new):
    item_id = _id(conn, table, table.c.namespace_id == ns_id, table.c.name == name)
    if item_id is None:
        _insert(conn, table, dict(values, name=name, namespace_id=ns_id, created_at=_now()))
    elif prefer_new:
        conn.execute(update(table).where(table.c.id == item_id).values(
            **values, updated_at=_now()))


def _load_associations(conn, ns_id, metadata, prefer_new):
    for assoc in metadata.get('resource_type_associations', []):
        rt_id = _id(conn, rtypes, rtypes.c.name == assoc['name'])
        if rt_id is None:
            _insert(conn, rtypes, {'name': assoc['name'], 'created_at': _now(),
                                   'protected': True})
            rt_id = _id(conn, rtypes, rtypes.c.name == assoc['name'])
        elif prefer_new:
            conn.execute(update(rtypes).where(rtypes.c.id == rt_id).values(updated_at=_now()))
        values = {'properties_target': assoc.get('properties_target'),
                  'prefix': assoc.get('prefix')}
        where = (associations.c.namespace_id == ns_id,
                 associations.c.resource_type_id == rt_id)
        if conn.execute(select(associations).where(*where)).first() is None:
            _insert(conn, associations, dict(values, namespace_id=ns_id,
                                             resource_type_id=rt_id, created_at=_now()))
        elif prefer_new:
            conn.execute(update(associations).where(*where).values(**values,
                                                                   updated_at=_now()))


def _load_one(conn, metadata, merge, prefer_new, overwrite):
    values = {k: metadata.get(k) for k in ('namespace', 'display_name', 'description',
                                           'visibility', 'protected')}
    values['owner'] = metadata.get('owner', 'admin')
    ns_id = _id(conn, namespaces, namespaces.c.namespace == values['namespace'])
    if ns_id is not None and overwrite:
        _clear_namespace(conn, ns_id)
        ns_id = None
    if ns_id is None:
        _insert(conn, namespaces, dict(values, created_at=_now()))
        ns_id = _id(conn, namespaces, namespaces.c.namespace == values['namespace'])
    elif not merge:
        LOG.info('Skipping namespace %s. It already exists in the database.',
                 values['namespace'])
        return
    elif prefer_new:
        conn.execute(update(namespaces).where(namespaces.c.id == ns_id).values(
            **values, updated_at=_now()))
    _load_associations(conn, ns_id, metadata, prefer_new)
    for name, schema in metadata.get('properties', {}).items():
        _upsert(conn, properties, ns_id, name, {'json_schema': json.dumps(schema)},
                prefer_new)
    for obj in metadata.get('objects', []):
        _upsert(conn, objects, ns_id, obj['name'], {
            'description': obj.get('description'),
            'json_schema': json.dumps(obj.get('properties'))}, prefer_new)
    for tag in metadata.get('tags', []):
        _upsert(conn, tags, ns_id, tag['name'], {}, prefer_new)


def load_metadefs(engine, path=None, merge=False, prefer_new=False, overwrite=False):
    """Load every JSON file of ``path`` (a directory or one file); return the count loaded.

    :raises: UsageError for --prefer_new/--overwrite without --merge, or both.
    """
    if not merge and (prefer_new or overwrite):
        raise UsageError('To use --prefer_new or --overwrite you need to combine of these '
                         'options with --merge option.')
    if prefer_new and overwrite:
        raise UsageError('Please provide no more than one option from this list: '
                         '--prefer_new, --overwrite')
    path = path or DEFAULT_PATH
    try:
        files = _files(path)
    except OSError as exc:
        raise UsageError(str(exc)) from exc
    if not files:
        raise UsageError('Json schema files not found in %s. Aborting.' % path)
    loaded = 0
    for name in files:
        try:
            with open(name) as handle:
                metadata = json.load(handle)
        except (OSError, ValueError) as exc:
            LOG.error('Failed to parse json file %s while populating metadata due to: %s',
                      name, exc)
            continue
        with engine.begin() as conn:
            _load_one(conn, metadata, merge, prefer_new, overwrite)
        loaded += 1
    return loaded


def unload_metadefs(engine):
    """Delete every metadef row."""
    with engine.begin() as conn:
        for table in (properties, objects, tags, associations, namespaces, rtypes):
            conn.execute(delete(table))


def _namespace_document(conn, ns):
    assoc = conn.execute(select(associations, rtypes.c.name).join(
        rtypes, rtypes.c.id == associations.c.resource_type_id).where(
        associations.c.namespace_id == ns.id))
    return {
        'namespace': ns.namespace, 'display_name': ns.display_name,
        'description': ns.description, 'visibility': ns.visibility,
        'protected': ns.protected if ns.protected is None else bool(ns.protected),
        'resource_type_associations': [
            {'name': a.name, 'prefix': a.prefix, 'properties_target': a.properties_target}
            for a in assoc],
        'properties': {p.name: json.loads(p.json_schema) for p in conn.execute(
            select(properties).where(properties.c.namespace_id == ns.id))},
        'objects': [{'name': o.name, 'description': o.description,
                     'properties': json.loads(o.json_schema)} for o in conn.execute(
            select(objects).where(objects.c.namespace_id == ns.id))],
        'tags': [{'name': t.name} for t in conn.execute(
            select(tags).where(tags.c.namespace_id == ns.id))],
    }


def export_metadefs(engine, path=None):
    """Write one JSON file per namespace into ``path``; return the file names."""
    path = path or DEFAULT_PATH
    pattern = re.compile(r'[\W_]+', re.UNICODE)
    written = []
    with engine.connect() as conn:
        for ns in conn.execute(select(namespaces).order_by(namespaces.c.id)).all():
            # NOTE: Glance names the file after the display name, punctuation removed.
            name = os.path.join(path, pattern.sub('', ns.display_name or ns.namespace)
                                + '.json')
            with open(name, 'w') as handle:
                handle.write(json.dumps(_namespace_document(conn, ns)))
            written.append(name)
    return written
