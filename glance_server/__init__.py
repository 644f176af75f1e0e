"""Server plumbing glance-api and glance-registry share; imports nothing else of ours."""
