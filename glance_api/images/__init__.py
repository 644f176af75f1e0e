"""Image records: create, list, show, update (JSON patch, locations), delete, members, tags,
actions, schemas."""
