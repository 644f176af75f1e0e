"""Tasks: their lifecycle and pool, the Tasks API, location import and the legacy import."""
