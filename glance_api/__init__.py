"""glance_api package."""
