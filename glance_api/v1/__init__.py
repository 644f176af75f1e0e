"""Images API v1 (Glance Queens) over the same registry, policy, stores and data path as v2."""
