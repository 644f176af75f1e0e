"""Named conditions raised by the api layer; errors.py maps them to HTTP answers."""


class ApiError(Exception):
    """Base of the api's named conditions; ``message`` is shown to the client."""

    message = 'An unknown exception occurred'

    def __init__(self, message=None, headers=None):
        self.message = message or self.message
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(ApiError):
    """The request is malformed or carries an invalid value."""


class BadRequestDetail(BadRequest):
    """Like BadRequest, but shown as WebOb's detail under the generic explanation."""


class InvalidObject(BadRequest):
    """A body does not match its JSON schema."""

    def __init__(self, schema_name, reason):
        super().__init__("Provided object does not match schema '%s': %s"
                         % (schema_name, reason))


class BodyNotAllowed(BadRequest):
    """A body was sent to a route that takes none."""

    message = 'A body is not expected with this request.'


class Unauthorized(ApiError):
    """The caller did not authenticate."""

    message = ''


class Forbidden(ApiError):
    """The caller may not do this (message shown as the explanation)."""


class ForbiddenDetail(Forbidden):
    """Forbidden, shown as WebOb's detail under "Access was denied to this resource."."""


class NotImageOwner(Forbidden):
    """Legacy policy (enforce_new_defaults = False): only the owner or an admin may change it."""

    message = 'You do not own this image'


class PolicyForbidden(Forbidden):
    """A policy rule refused the caller."""

    def __init__(self, rule):
        self.rule = rule
        super().__init__('You are not authorized to complete %s action.' % rule)


class ReadOnlyAttribute(Forbidden):
    """The body or patch names an attribute clients may not set."""

    def __init__(self, name):
        super().__init__("Attribute '%s' is read-only." % name)


class ReservedAttribute(Forbidden):
    """The body or patch names an attribute reserved for Glance."""

    def __init__(self, name):
        super().__init__("Attribute '%s' is reserved." % name)


class ReservedAttributeDetail(ForbiddenDetail):
    """A reserved extra property on create (Glance shows it in detail form)."""

    def __init__(self, name):
        super().__init__("Attribute '%s' is reserved." % name)


class NotFound(ApiError):
    """The resource does not exist or is not visible to the caller."""

    message = ''


class Conflict(ApiError):
    """The request conflicts with the resource's state (explanation form)."""


class ConflictDetail(Conflict):
    """Conflict shown as WebOb's detail under the generic conflict explanation."""


class InvalidImageStatusTransition(Conflict):
    """The image cannot move from its status to the requested one."""

    def __init__(self, cur, new):
        super().__init__('Image status transition from %s to %s is not allowed' % (cur, new))


class Gone(ApiError):
    """The resource went away while the request was served."""


class LimitExceeded(ApiError):
    """A quota or size limit was exceeded."""


class MethodNotAllowed(ApiError):
    """The route exists but does not take this HTTP method."""

    message = ''

    def __init__(self, allowed):
        # NOTE: no methods, no header (Queens' v1 member GET): an empty Allow says nothing.
        super().__init__('', headers={'Allow': ', '.join(allowed)} if allowed else None)


class MethodNotImplemented(ApiError):
    """The HTTP method is unknown to the api."""

    message = ''


class UnsupportedMediaType(ApiError):
    """The Content-Type of the body is not accepted here (detail form)."""


class InvalidImageData(UnsupportedMediaType):
    """Uploaded data does not match its disk_format or fails a format safety check."""


class RangeNotSatisfiable(ApiError):
    """The Range header asks for bytes the image does not have."""


class RequestHeaderFieldsTooLarge(ApiError):
    """A request header is longer than allowed."""


class ServiceUnavailable(ApiError):
    """A backend the request needs is unavailable."""

    message = ''


class InvalidPropertyProtectionConfiguration(Exception):
    """The property protection file cannot be used (the api refuses to start)."""


class TaskAborted(Exception):
    """Another task holds the image's import lock (Glance's TaskAbortedError).

    Raised and caught inside an import task (glance_api.imports); never an HTTP answer.
    """
