"""Request contexts as glance-api builds them, for registry client tests."""

import uuid


class Ctx:
    """The attributes RegistryClient reads from a context."""

    def __init__(self, project_id=None, is_admin=False, roles=('member',), auth_token=None):
        self.project_id = project_id or uuid.uuid4().hex
        self.user_id = uuid.uuid4().hex
        self.roles = list(roles)
        self.is_admin = is_admin
        self.request_id = 'req-%s' % uuid.uuid4()
        self.auth_token = auth_token


def admin():
    """Return an admin context of its own project."""
    return Ctx(is_admin=True, roles=('admin', 'member'))
