"""Named conditions raised by store drivers (the names glance_store uses)."""


class StoreError(Exception):
    """Base class of every store error; ``message`` is %-formatted with kwargs."""

    message = "An unknown exception occurred"

    def __init__(self, message=None, **kwargs):
        if not message:
            message = self.message
            try:
                message = message % kwargs
            except (KeyError, TypeError, ValueError):
                # NOTE: a missing kwarg must never turn an error into a crash.
                pass
        self.msg = message
        self.kwargs = kwargs
        super().__init__(message)


class NotFound(StoreError):
    message = "Image %(image)s not found"


class Duplicate(StoreError):
    message = "Image %(image)s already exists"


class StorageFull(StoreError):
    message = "There is not enough disk space on the image storage media."


class StorageWriteDenied(StoreError):
    message = "Permission to write image storage media denied."


class Forbidden(StoreError):
    message = "You are not authorized to complete this action."


class AuthorizationFailure(StoreError):
    message = "The store rejected the configured credentials."


class BackendException(StoreError):
    message = "The store backend failed."


class StoreGetNotSupported(StoreError):
    message = "Getting images from this store is not supported."


class StoreAddDisabled(StoreError):
    message = ("Configuration for store failed. Adding images to this "
               "store is disabled.")


class StoreDeleteNotSupported(StoreError):
    message = "Deleting images from this store is not supported."


class UnknownScheme(StoreError):
    message = "Unknown scheme '%(scheme)s' found in URI"


class UnknownStore(UnknownScheme):
    # NOTE: a subclass of UnknownScheme because glance_store raises UnknownScheme
    # for an unknown store identifier too; callers mapping that keep working.
    message = "Store for identifier %(store)s not found"


class BadStoreUri(StoreError):
    message = "The Store URI was malformed: %(uri)s"


class MaxRedirectsExceeded(BadStoreUri):
    message = "Maximum redirects (%(redirects)s) was exceeded."


class BackendUnavailable(StoreError):
    message = "Remote server where the image is present is unavailable."


class InUseByStore(StoreError):
    message = ("The image cannot be deleted because it is in use through "
               "the backend store outside of Glance.")


class SizeMismatch(StoreError):
    message = "Size mismatch: expected %(expected)d bytes, got %(actual)d bytes"


class ImageSizeLimitExceeded(StoreError):
    message = "The provided image is too large."


class BadStoreConfiguration(StoreError):
    message = ("Store %(store_name)s could not be configured correctly. "
               "Reason: %(reason)s")


class OperationTimeout(StoreError):
    """A filesystem call outlived ``filesystem_store_timeout`` (glance_store's
    TimeoutError; a builtin of that name exists, hence this one)."""

    message = ("Operation timed out after %(timeout)ds. Check storage health and "
               "connectivity.")
