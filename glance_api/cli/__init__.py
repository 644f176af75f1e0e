"""Operator commands beside the api: glance-scrubber, glance-control, glance-cache-*."""
