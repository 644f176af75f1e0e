"""Metadata definitions: namespaces and their objects, properties, tags, resource types."""
