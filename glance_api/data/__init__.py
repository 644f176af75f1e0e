"""Image bytes: the upload/download resource, streaming to and from the stores, inspection,
deleting or queueing the data of removed locations."""
