"""Registry client calls of the image cache and metadata definitions (a RegistryClient mixin).

Split from glance_registry/client.py, which holds the connection pool and the image,
member, task, usage and scrub calls; these use its ``_call``, ``_image_url`` and ``_path``.
"""

from urllib.parse import urlencode


class CatalogCalls:
    """``/cache/...`` (glance_registry/resources/cache.py) and ``/metadefs/...``
    (glance_registry/resources/metadefs.py)."""

    # Image cache (Glance's centralized_db driver; glance_registry/resources/cache.py).

    def cache_node_create(self, ctx, node):
        """Record the api node ``node`` (a URL).

        :raises: Duplicate when it is already recorded
        """
        self._call(ctx, 'POST', '/cache/nodes', {'node': node}, 201)

    def cache_list(self, ctx, node):
        """Return the cached-image dicts of ``node``, least recently accessed first."""
        return self._call(ctx, 'POST', '/cache/search', {'node': node})['cached_images']

    def cache_add(self, ctx, node, image_id, size, checksum=None):
        """Record that ``node`` caches ``image_id``."""
        body = {'node': node, 'image_id': image_id, 'size': size, 'checksum': checksum}
        self._call(ctx, 'POST', '/cache/images', body, 204)

    def cache_hit(self, ctx, node, image_id):
        """Count one download of ``image_id`` served from ``node``'s cache."""
        self._call(ctx, 'POST', '/cache/hits', {'node': node, 'image_id': image_id}, 204)

    def cache_delete(self, ctx, node, image_id=None):
        """Forget one (or, without ``image_id``, every) image of ``node``; return the count."""
        body = {'node': node, 'image_id': image_id}
        return self._call(ctx, 'POST', '/cache/delete', body)['deleted']

    def cache_nodes(self, ctx, image_id):
        """Return the URLs of the nodes that cache ``image_id``."""
        return self._call(ctx, 'GET', self._image_url(image_id)
                          .replace('/images/', '/cache/images/', 1) + '/nodes')['nodes']

    # --- metadata definitions (glance_registry.resources.metadefs)

    def _ns_url(self, namespace, *rest):
        return '/metadefs/namespaces/' + self._path(namespace, *rest)

    def metadef_namespace_list(self, ctx, query):
        """Return visible namespaces for ``{visibility, resource_types, marker, limit,
        sort_key, sort_dir}``, each with its ``resource_type_associations``.

        :raises: InvalidSortKey, MetadefNamespaceNotFound/MetadefForbidden (marker).
        """
        return self._call(ctx, 'POST', '/metadefs/search', query)['namespaces']

    def metadef_namespace_create(self, ctx, values, contents=None):
        """Create a namespace with its contents in one transaction; return it.

        :raises: Duplicate.
        """
        body = {'namespace': values, 'contents': contents or {}}
        return self._call(ctx, 'POST', '/metadefs/namespaces', body, 201)['namespace']

    def metadef_namespace_get(self, ctx, namespace, detail=False):
        """Return a namespace (with its contents when ``detail``).

        :raises: MetadefNamespaceNotFound, MetadefForbidden.
        """
        url = self._ns_url(namespace) + ('?detail=true' if detail else '')
        return self._call(ctx, 'GET', url)['namespace']

    def metadef_namespace_update(self, ctx, namespace, values):
        """Replace a namespace's columns; return it. :raises: Duplicate."""
        return self._call(ctx, 'PUT', self._ns_url(namespace), {'values': values})['namespace']

    def metadef_namespace_delete(self, ctx, namespace):
        """Delete a namespace and all its contents."""
        self._call(ctx, 'DELETE', self._ns_url(namespace), expect=204)

    def metadef_purge(self, ctx, namespace, kind):
        """Delete every object/property/tag/resource_type association of a namespace."""
        self._call(ctx, 'DELETE', self._ns_url(namespace, kind), expect=204)

    def metadef_list(self, ctx, namespace, kind, **paging):
        """Return the items of ``kind`` (tags take marker/limit/sort_key/sort_dir)."""
        url = self._ns_url(namespace, kind)
        query = {k: v for k, v in paging.items() if v is not None}
        if query:
            url += '?' + urlencode(query)
        return self._call(ctx, 'GET', url)['items']

    def metadef_create(self, ctx, namespace, kind, values):
        """Create one object/property/tag/association; return it. :raises: Duplicate."""
        return self._call(ctx, 'POST', self._ns_url(namespace, kind), {'item': values},
                          201)['item']

    def metadef_tags_create(self, ctx, namespace, names, append=False):
        """Create tags, replacing all unless ``append``; return them. :raises: Duplicate."""
        body = {'names': list(names), 'append': bool(append)}
        return self._call(ctx, 'PUT', self._ns_url(namespace, 'tags'), body)['items']

    def metadef_get(self, ctx, namespace, kind, name):
        """Return one object/property/tag. :raises: MetadefNotFound."""
        return self._call(ctx, 'GET', self._ns_url(namespace, kind, name))['item']

    def metadef_update(self, ctx, namespace, kind, name, values):
        """Replace one object/property/tag; return it. :raises: MetadefNotFound, Duplicate."""
        return self._call(ctx, 'PUT', self._ns_url(namespace, kind, name),
                          {'item': values})['item']

    def metadef_delete(self, ctx, namespace, kind, name):
        """Delete one object/property/tag/association. :raises: MetadefNotFound."""
        self._call(ctx, 'DELETE', self._ns_url(namespace, kind, name), expect=204)

    def metadef_resource_types(self, ctx):
        """Return every resource type."""
        return self._call(ctx, 'GET', '/metadefs/resource_types')['resource_types']
