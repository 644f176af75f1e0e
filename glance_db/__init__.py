"""glance_db package."""
