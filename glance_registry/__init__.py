"""glance_registry package."""
