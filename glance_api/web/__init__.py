"""HTTP plumbing of the api: request bodies, error bodies, who is asking, versions, metrics."""
