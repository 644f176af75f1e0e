"""The image cache of an api node: the cache itself, its API and its index."""
