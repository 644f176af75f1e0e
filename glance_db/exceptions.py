"""Named conditions raised by the metadata database layer (internals §5)."""


class GlanceDBError(Exception):
    """Base of every glance_db error; ``message`` is safe to show a user."""

    def __init__(self, message=None):
        self.message = message or self.__class__.__name__
        super().__init__(self.message)


class ImageNotFound(GlanceDBError):
    """The image does not exist, is deleted, or is not visible to the viewer."""


class MemberNotFound(GlanceDBError):
    """No live membership of that project for that image."""


class TagNotFound(GlanceDBError):
    """The image has no such tag."""


class MarkerNotFound(GlanceDBError):
    """The paging marker names no image the viewer can see."""


class InvalidFilter(GlanceDBError):
    """A list filter names an unknown operator or has a value of the wrong type."""


class InvalidSortKey(GlanceDBError):
    """A list sort key is not sortable."""


class Duplicate(GlanceDBError):
    """The row already exists (image id, live membership)."""


class Conflict(GlanceDBError):
    """A compare-and-swap update lost: the row was not in the expected state."""


class TaskNotFound(GlanceDBError):
    """The task does not exist or is deleted."""


class TaskForbidden(GlanceDBError):
    """The task belongs to another owner."""


class MetadefNamespaceNotFound(GlanceDBError):
    """No metadata definition namespace of that name."""


class MetadefForbidden(GlanceDBError):
    """The namespace exists but is not visible to the viewer."""


class MetadefNotFound(GlanceDBError):
    """No such object, property, tag or resource-type association in the namespace."""
