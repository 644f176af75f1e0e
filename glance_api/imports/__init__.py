"""Interoperable image import: /stage, /import, the import flow, its plugins and parallel
writers, remote images, plain-upload conversion."""
