"""Falcon resources of the registry HTTP protocol (internals §3)."""
