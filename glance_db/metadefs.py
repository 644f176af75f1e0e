"""The metadata definitions repository: Glance's ``metadef_*`` tables as plain dicts.

Namespace dict: ``id, namespace, display_name, description, visibility, protected, owner,
created_at, updated_at`` (+ ``resource_type_associations`` in lists; + ``objects``,
``properties``, ``tags``, ``resource_type_associations`` with ``detail``).
Object: ``name, description, required (list), properties (dict), created_at, updated_at``.
Property: ``name, schema (dict), created_at, updated_at``. Tag: ``name, created_at,
updated_at``. Association: ``name, prefix, properties_target, created_at, updated_at``.
Visibility as Glance's metadef_api.namespace: admin, the owner, or ``public``; a namespace
that exists but is not visible raises MetadefForbidden (the api answers 404).
"""

import json

from sqlalchemy import and_, delete, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError

from glance_db.retry import retry_on_deadlock
from glance_db import exceptions
from glance_db.engine import SQLITE_WRITE, utcnow
from glance_db.models import (
    MetadefNamespace, MetadefNamespaceResourceType, MetadefObject, MetadefProperty,
    MetadefResourceType, MetadefTag,
)
from glance_db.queries import isotime

namespaces = MetadefNamespace.__table__
objects = MetadefObject.__table__
properties = MetadefProperty.__table__
tags = MetadefTag.__table__
rtypes = MetadefResourceType.__table__
associations = MetadefNamespaceResourceType.__table__

KINDS = {'objects': objects, 'properties': properties, 'tags': tags}
_SINGULAR = {'objects': 'object', 'properties': 'property', 'tags': 'tag'}
NS_COLUMNS = ('namespace', 'display_name', 'description', 'visibility', 'protected', 'owner')
# NOTE: Glance's queries have no ORDER BY; both databases walk the (namespace_id, name)
# unique index, so objects and properties come by name. Tags default to newest first.
_ORDER = {'objects': lambda t: (t.c.name,), 'properties': lambda t: (t.c.name,),
          'tags': lambda t: (t.c.created_at.desc(), t.c.id.desc())}
SORT_KEYS = frozenset(c.name for c in namespaces.c)
TAG_SORT_KEYS = frozenset(c.name for c in tags.c)


def _stamps(row):
    return {'created_at': isotime(row.created_at), 'updated_at': isotime(row.updated_at)}


def _ns_dict(row):
    ns = {k: getattr(row, k) for k in ('id',) + NS_COLUMNS}
    ns['protected'] = bool(ns['protected']) if ns['protected'] is not None else None
    ns.update(_stamps(row))
    return ns


def _item_dict(kind, row):
    item = {'name': row.name}
    if kind == 'objects':
        item['description'] = row.description
        item['required'] = row.required.split(',') if row.required else []
        item['properties'] = json.loads(row.json_schema) if row.json_schema else {}
    elif kind == 'properties':
        item['schema'] = json.loads(row.json_schema)
    item.update(_stamps(row))
    return item


def _item_columns(kind, values):
    cols = {'name': values['name']}
    if kind == 'objects':
        required = values.get('required')
        cols['description'] = values.get('description')
        cols['required'] = ','.join(required) if required else None
        cols['json_schema'] = json.dumps(values.get('properties') or {})
    elif kind == 'properties':
        cols['json_schema'] = json.dumps(values.get('schema') or {})
    return cols


def _duplicate(kind, name, ns_name):
    if kind == 'objects':
        return exceptions.Duplicate('A metadata definition object with name=%s already '
                                    'exists in namespace=%s.' % (name, ns_name))
    if kind == 'properties':
        return exceptions.Duplicate('A metadata definition property with name=%s already '
                                    'exists in namespace=%s.' % (name, ns_name))
    return exceptions.Duplicate(
        'A metadata tag with name=%s already exists in namespace=%s. (Please note that '
        'metadata tag names are case insensitive).' % (name, ns_name))


def _visible(project_id, is_admin):
    if is_admin:
        return true()
    if project_id is None:
        return namespaces.c.visibility == 'public'
    return or_(namespaces.c.owner == project_id, namespaces.c.visibility == 'public')


class MetadefRepo:
    """Namespaces and their objects, properties, tags and resource-type associations."""

    def __init__(self, engine):
        """Serve metadefs from ``engine`` (see glance_db.engine.create_engine)."""
        self._reader = engine
        self._writer = engine.execution_options(**{SQLITE_WRITE: True})
        self._dialect = engine.dialect.name

    def _now(self):
        return utcnow(self._dialect)

    # --- namespaces

    def _ns_row(self, conn, name, project_id, is_admin):
        row = conn.execute(select(namespaces).where(namespaces.c.namespace == name)).first()
        if row is None:
            raise exceptions.MetadefNamespaceNotFound(
                'Metadata definition namespace=%s was not found.' % name)
        if not (is_admin or row.visibility == 'public' or
                (project_id is not None and row.owner == project_id)):
            raise exceptions.MetadefForbidden('Forbidding request, metadata definition '
                                              'namespace=%s is not visible.' % name)
        return row

    def _associations(self, conn, ns_ids):
        stmt = select(associations, rtypes.c.name).join(
            rtypes, rtypes.c.id == associations.c.resource_type_id).where(
            associations.c.namespace_id.in_(ns_ids))
        found = {}
        for row in conn.execute(stmt):
            found.setdefault(row.namespace_id, []).append(dict(
                name=row.name, prefix=row.prefix, properties_target=row.properties_target,
                **_stamps(row)))
        return found

    def namespace_list(self, *, project_id=None, is_admin=False, visibility=None,
                       resource_types=None, marker=None, limit=None, sort_key='created_at',
                       sort_dir='desc'):
        """Return one page of visible namespaces, each with its associations.

        :raises: InvalidSortKey, MetadefNamespaceNotFound/MetadefForbidden (marker).
        """
        if sort_key not in SORT_KEYS:
            raise exceptions.InvalidSortKey('Sort key supplied was not valid.')
        keys = [sort_key] + [k for k in ('created_at', 'id') if k != sort_key]
        with self._reader.connect() as conn:
            stmt = select(namespaces).where(_visible(project_id, is_admin))
            if visibility is not None:
                stmt = stmt.where(namespaces.c.visibility == visibility)
            if resource_types is not None:
                ids = select(associations.c.namespace_id).join(
                    rtypes,
                    rtypes.c.id == associations.c.resource_type_id,
                ).where(rtypes.c.name.in_(resource_types))
                stmt = stmt.where(namespaces.c.id.in_(ids))
            if marker is not None:
                stmt = stmt.where(_after(self._ns_row(conn, marker, project_id, is_admin),
                                         keys, sort_dir))
            order = [namespaces.c[k].desc() if sort_dir == 'desc' else namespaces.c[k].asc()
                     for k in keys]
            stmt = stmt.order_by(*order)
            if limit is not None:
                stmt = stmt.limit(limit)
            found = [_ns_dict(row) for row in conn.execute(stmt)]
            assoc = self._associations(conn, [ns['id'] for ns in found]) if found else {}
        for ns in found:
            ns['resource_type_associations'] = assoc.get(ns['id'], [])
        return found

    def namespace_get(self, name, *, project_id=None, is_admin=False, detail=False):
        """Return one namespace (with all its contents when ``detail``).

        :raises: MetadefNamespaceNotFound, MetadefForbidden.
        """
        with self._reader.connect() as conn:
            row = self._ns_row(conn, name, project_id, is_admin)
            ns = _ns_dict(row)
            if detail:
                ns['resource_type_associations'] = self._associations(
                    conn, [row.id]).get(row.id, [])
                for kind, table in KINDS.items():
                    rows = conn.execute(select(table).where(table.c.namespace_id == row.id)
                                        .order_by(*_ORDER[kind](table)))
                    ns[kind] = [_item_dict(kind, r) for r in rows]
        return ns

    @retry_on_deadlock
    def namespace_create(self, values, contents=None):
        """Create a namespace and (in the same transaction) its contents; return it.

        ``contents``: optional ``resource_type_associations``, ``objects``, ``tags``
        (lists of value dicts) and ``properties`` (name -> schema).
        :raises: Duplicate (the namespace or one of its contents).
        """
        now = self._now()
        cols = {k: values.get(k) for k in NS_COLUMNS}
        cols.update(created_at=now, updated_at=now)
        contents = contents or {}
        with self._writer.begin() as conn:
            try:
                ns_id = conn.execute(insert(namespaces).values(**cols)).inserted_primary_key[0]
            except IntegrityError as exc:
                raise exceptions.Duplicate('The metadata definition namespace=%s already '
                                           'exists.' % cols['namespace']) from exc
            for assoc in contents.get('resource_type_associations') or ():
                self._associate(conn, ns_id, cols['namespace'], assoc, now)
            for kind in ('objects', 'tags'):
                for item in contents.get(kind) or ():
                    self._insert_item(conn, kind, ns_id, cols['namespace'], item, now)
            for name, schema in (contents.get('properties') or {}).items():
                self._insert_item(conn, 'properties', ns_id, cols['namespace'],
                                  {'name': name, 'schema': schema}, now)
            return _ns_dict(conn.execute(select(namespaces).where(
                namespaces.c.id == ns_id)).first())

    @retry_on_deadlock
    def namespace_update(self, name, values, *, project_id=None, is_admin=False):
        """Replace a namespace's columns; return it.

        :raises: MetadefNamespaceNotFound, MetadefForbidden, Duplicate (new name taken).
        """
        cols = {k: values[k] for k in NS_COLUMNS if k in values}
        cols['updated_at'] = self._now()
        with self._writer.begin() as conn:
            row = self._ns_row(conn, name, project_id, is_admin)
            try:
                conn.execute(update(namespaces).where(namespaces.c.id == row.id).values(**cols))
            except IntegrityError as exc:
                raise exceptions.Duplicate(
                    'Invalid update. It would result in a duplicate metadata definition '
                    'namespace with the same name of %s' % cols.get('namespace')) from exc
            return _ns_dict(conn.execute(select(namespaces).where(
                namespaces.c.id == row.id)).first())

    @retry_on_deadlock
    def namespace_delete(self, name, *, project_id=None, is_admin=False):
        """Delete a namespace and everything in it."""
        with self._writer.begin() as conn:
            row = self._ns_row(conn, name, project_id, is_admin)
            for table in (tags, objects, properties, associations):
                conn.execute(delete(table).where(table.c.namespace_id == row.id))
            conn.execute(delete(namespaces).where(namespaces.c.id == row.id))

    @retry_on_deadlock
    def namespace_purge(self, name, kind, *, project_id=None, is_admin=False):
        """Delete every object, property, tag or association (``kind``) of a namespace."""
        table = KINDS.get(kind, associations)
        with self._writer.begin() as conn:
            row = self._ns_row(conn, name, project_id, is_admin)
            conn.execute(delete(table).where(table.c.namespace_id == row.id))

    # --- objects, properties, tags

    def _insert_item(self, conn, kind, ns_id, ns_name, values, now):
        table = KINDS[kind]
        cols = _item_columns(kind, values)
        cols.update(namespace_id=ns_id, created_at=now, updated_at=now)
        try:
            conn.execute(insert(table).values(**cols))
        except IntegrityError as exc:
            raise _duplicate(kind, values['name'], ns_name) from exc
        return _item_dict(kind, conn.execute(select(table).where(
            table.c.namespace_id == ns_id, table.c.name == values['name'])).first())

    def _item_row(self, conn, kind, ns_id, name):
        table = KINDS[kind]
        row = conn.execute(select(table).where(table.c.namespace_id == ns_id,
                                               table.c.name == name)).first()
        if row is None:
            raise exceptions.MetadefNotFound(
                'The metadata definition %s with name=%s was not found.'
                % (_SINGULAR[kind], name))
        return row

    def item_list(self, ns_name, kind, *, project_id=None, is_admin=False, marker=None,
                  limit=None, sort_key='created_at', sort_dir='desc'):
        """Return the objects, properties or tags of a namespace (tags: one page)."""
        table = KINDS[kind]
        with self._reader.connect() as conn:
            ns = self._ns_row(conn, ns_name, project_id, is_admin)
            stmt = select(table).where(table.c.namespace_id == ns.id)
            if kind != 'tags':
                stmt = stmt.order_by(*_ORDER[kind](table))
            else:
                if sort_key not in TAG_SORT_KEYS:
                    raise exceptions.InvalidSortKey('Sort key supplied was not valid.')
                keys = [sort_key] + [k for k in ('created_at', 'id') if k != sort_key]
                if marker is not None:
                    stmt = stmt.where(_after(self._item_row(conn, kind, ns.id, marker), keys,
                                             sort_dir, table))
                stmt = stmt.order_by(*[table.c[k].desc() if sort_dir == 'desc' else
                                       table.c[k].asc() for k in keys])
                if limit is not None:
                    stmt = stmt.limit(limit)
            return [_item_dict(kind, row) for row in conn.execute(stmt)]

    def item_get(self, ns_name, kind, name, *, project_id=None, is_admin=False):
        """Return one object, property or tag.

        :raises: MetadefNamespaceNotFound, MetadefForbidden, MetadefNotFound.
        """
        with self._reader.connect() as conn:
            ns = self._ns_row(conn, ns_name, project_id, is_admin)
            return _item_dict(kind, self._item_row(conn, kind, ns.id, name))

    @retry_on_deadlock
    def item_create(self, ns_name, kind, values, *, project_id=None, is_admin=False):
        """Create an object, property or tag; return it.

        :raises: MetadefNamespaceNotFound, MetadefForbidden, Duplicate.
        """
        with self._writer.begin() as conn:
            ns = self._ns_row(conn, ns_name, project_id, is_admin)
            return self._insert_item(conn, kind, ns.id, ns_name, values, self._now())

    @retry_on_deadlock
    def tags_create(self, ns_name, names, *, append=False, project_id=None, is_admin=False):
        """Create several tags (replacing all tags unless ``append``); return them.

        :raises: Duplicate (nothing is changed then).
        """
        now = self._now()
        with self._writer.begin() as conn:
            ns = self._ns_row(conn, ns_name, project_id, is_admin)
            if not names:
                return []
            if not append:
                conn.execute(delete(tags).where(tags.c.namespace_id == ns.id))
            return [self._insert_item(conn, 'tags', ns.id, ns_name, {'name': name}, now)
                    for name in names]

    @retry_on_deadlock
    def item_update(self, ns_name, kind, name, values, *, project_id=None, is_admin=False):
        """Replace an object, property or tag (it may be renamed); return it.

        :raises: MetadefNamespaceNotFound, MetadefForbidden, MetadefNotFound, Duplicate.
        """
        table = KINDS[kind]
        with self._writer.begin() as conn:
            ns = self._ns_row(conn, ns_name, project_id, is_admin)
            row = self._item_row(conn, kind, ns.id, name)
            cols = _item_columns(kind, values)
            cols['updated_at'] = self._now()
            try:
                conn.execute(update(table).where(table.c.id == row.id).values(**cols))
            except IntegrityError as exc:
                if kind == 'tags':
                    raise _duplicate(kind, values['name'], ns_name) from exc
                raise exceptions.Duplicate(
                    'Invalid update. It would result in a duplicate metadata definition %s '
                    'with the same name=%s in namespace=%s.'
                    % (_SINGULAR[kind], values['name'], ns_name)) from exc
            return _item_dict(kind, conn.execute(select(table).where(
                table.c.id == row.id)).first())

    @retry_on_deadlock
    def item_delete(self, ns_name, kind, name, *, project_id=None, is_admin=False):
        """Delete an object, property or tag."""
        table = KINDS[kind]
        with self._writer.begin() as conn:
            ns = self._ns_row(conn, ns_name, project_id, is_admin)
            row = self._item_row(conn, kind, ns.id, name)
            conn.execute(delete(table).where(table.c.id == row.id))

    # --- resource types

    def resource_type_list(self):
        """Return every resource type (``name, created_at, updated_at``)."""
        with self._reader.connect() as conn:
            rows = conn.execute(select(rtypes).order_by(rtypes.c.id))
            return [dict(name=row.name, **_stamps(row)) for row in rows]

    def _resource_type_id(self, conn, name, now, protected=False):
        row = conn.execute(select(rtypes.c.id).where(
            rtypes.c.name == name)).first()
        if row is not None:
            return row.id
        try:
            with conn.begin_nested():
                return conn.execute(insert(rtypes).values(
                    name=name, protected=protected, created_at=now,
                    updated_at=now)).inserted_primary_key[0]
        except IntegrityError:
            # NOTE: a concurrent transaction created the same new type first. A locking
            # read sees its row; a plain one reads this transaction's older snapshot on
            # MariaDB (REPEATABLE READ).
            return conn.execute(select(rtypes.c.id).where(rtypes.c.name == name)
                                .with_for_update(read=True)).scalar_one()

    def _associate(self, conn, ns_id, ns_name, values, now):
        rt_id = self._resource_type_id(conn, values['name'], now)
        try:
            conn.execute(insert(associations).values(
                namespace_id=ns_id, resource_type_id=rt_id, prefix=values.get('prefix'),
                properties_target=values.get('properties_target'), created_at=now,
                updated_at=now))
        except IntegrityError as exc:
            raise exceptions.Duplicate(
                'The metadata definition resource-type association of resource-type=%s to '
                'namespace=%s already exists.' % (values['name'], ns_name)) from exc
        return {'name': values['name'], 'prefix': values.get('prefix'),
                'properties_target': values.get('properties_target'),
                'created_at': isotime(now), 'updated_at': isotime(now)}

    def association_list(self, ns_name, *, project_id=None, is_admin=False):
        """Return the resource-type associations of a namespace."""
        with self._reader.connect() as conn:
            ns = self._ns_row(conn, ns_name, project_id, is_admin)
            return self._associations(conn, [ns.id]).get(ns.id, [])

    @retry_on_deadlock
    def association_create(self, ns_name, values, *, project_id=None, is_admin=False):
        """Associate a resource type (created when new) with a namespace; return it.

        :raises: Duplicate.
        """
        with self._writer.begin() as conn:
            ns = self._ns_row(conn, ns_name, project_id, is_admin)
            return self._associate(conn, ns.id, ns_name, values, self._now())

    @retry_on_deadlock
    def association_delete(self, ns_name, rt_name, *, project_id=None, is_admin=False):
        """Remove one association.

        :raises: MetadefNotFound.
        """
        with self._writer.begin() as conn:
            ns = self._ns_row(conn, ns_name, project_id, is_admin)
            rt = select(rtypes.c.id).where(rtypes.c.name == rt_name)
            done = conn.execute(delete(associations).where(
                associations.c.namespace_id == ns.id,
                associations.c.resource_type_id.in_(rt.scalar_subquery())))
            if not done.rowcount:
                raise exceptions.MetadefNotFound(
                    'The metadata definition resource-type association of resource-type=%s '
                    'to namespace=%s, was not found.' % (rt_name, ns_name))


def _after(marker_row, keys, sort_dir, table=namespaces):
    """Rows strictly after ``marker_row`` in the order ``keys``/``sort_dir``."""
    clauses = []
    for i, key in enumerate(keys):
        value = getattr(marker_row, key)
        col = table.c[key]
        prior = [table.c[k] == getattr(marker_row, k) for k in keys[:i]]
        clauses.append(and_(*prior, col < value if sort_dir == 'desc' else col > value))
    return or_(*clauses)
