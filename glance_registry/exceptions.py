"""Named conditions a registry call can end in (internals §5).

Imported by the client in the api process: it must not import SQLAlchemy or falcon.
The names match ``glance_db.exceptions`` so the registry can answer with the class name as
its error ``code`` and the client can map it back through ``CODES``.
"""


class RegistryError(Exception):
    """Base of every error the registry client raises."""

    def __init__(self, message=None, status=None):
        self.message = message or self.__class__.__name__
        self.status = status
        super().__init__(self.message)


class ImageNotFound(RegistryError):
    """The image does not exist, is deleted or is not visible to the caller."""


class MemberNotFound(RegistryError):
    """The image has no live member row for that project."""


class TagNotFound(RegistryError):
    """The image does not carry that tag."""


class MarkerNotFound(RegistryError):
    """The list marker is unknown or not visible to the caller."""


class InvalidFilter(RegistryError):
    """A list filter names an unknown key or has an unusable value."""


class InvalidSortKey(RegistryError):
    """A list sort key is not sortable."""


class Duplicate(RegistryError):
    """The row already exists (image id, live member)."""


class Conflict(RegistryError):
    """A compare-and-swap lost: the image was not in the expected state."""


class BadRequest(RegistryError):
    """The registry could not understand the request."""


class Forbidden(RegistryError):
    """The caller may not do this (e.g. ``include_deleted`` without admin)."""


class TaskNotFound(RegistryError):
    """The task does not exist or is deleted."""


class TaskForbidden(RegistryError):
    """The task belongs to another owner."""


class MetadefNamespaceNotFound(RegistryError):
    """No metadata definition namespace of that name."""


class MetadefForbidden(RegistryError):
    """The metadef namespace exists but is not visible to the caller."""


class MetadefNotFound(RegistryError):
    """No such metadef object, property, tag or resource-type association."""


class Unauthorized(RegistryError):
    """The registry refused the caller's token (keystone flavor); the api answers 401."""


class RegistryUnavailable(RegistryError):
    """The registry (or its database) cannot be reached; the api answers 503."""


# NOTE: explicit so that a code sent by a newer registry never instantiates an arbitrary
# attribute of this module.
CODES = {cls.__name__: cls for cls in (
    ImageNotFound, MemberNotFound, TagNotFound, MarkerNotFound, InvalidFilter,
    InvalidSortKey, Duplicate, Conflict, BadRequest, Forbidden, RegistryUnavailable,
    TaskNotFound, TaskForbidden, Unauthorized,
    MetadefNamespaceNotFound, MetadefForbidden, MetadefNotFound,
)}
