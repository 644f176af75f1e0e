"""SQLAlchemy models of Glance 33's schema (alembic head ``2024_1_contract01``).

Table, column, index and constraint names follow the schema that real Glance's own
``glance-manage db_sync`` builds, so a database made by Glance is served unchanged.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase

MYSQL_OPTS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8"}
VISIBILITIES = ("private", "public", "shared", "community")


def _bool(**kw):
    # NOTE: Glance's migrations made CHECK (x IN (0, 1)) constraints on MySQL and SQLite.
    return Column(Boolean(create_constraint=True), **kw)


def _bigint():
    # NOTE: SQLite only auto-increments INTEGER PRIMARY KEY, hence Glance's variant.
    return BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    """Declarative base of all Glance tables."""


class _SoftDelete:
    """Columns of Glance's GlanceBase: timestamps and soft delete."""

    created_at = Column(DateTime, nullable=False)
    updated_at = Column(DateTime, nullable=True)
    deleted_at = Column(DateTime, nullable=True)
    deleted = _bool(nullable=False, default=False)


class Image(_SoftDelete, Base):
    """An image's metadata."""

    __tablename__ = "images"
    __table_args__ = (
        Index("checksum_image_idx", "checksum"),
        Index("visibility_image_idx", "visibility"),
        Index("ix_images_deleted", "deleted"),
        Index("owner_image_idx", "owner"),
        Index("created_at_image_idx", "created_at"),
        Index("updated_at_image_idx", "updated_at"),
        Index("os_hidden_image_idx", "os_hidden"),
        Index("os_hash_value_image_idx", "os_hash_value"),
        # NOTE: not Glance's: migration.EXTRA_INDEXES
        Index("owner_created_at_image_idx", "owner", "created_at"),
        MYSQL_OPTS,
    )

    id = Column(String(36), primary_key=True)
    name = Column(String(255))
    size = Column(_bigint())
    status = Column(String(30), nullable=False)
    disk_format = Column(String(20))
    container_format = Column(String(20))
    checksum = Column(String(32))
    owner = Column(String(255))
    min_disk = Column(Integer, nullable=False, default=0)
    min_ram = Column(Integer, nullable=False, default=0)
    protected = _bool(nullable=False, default=False, server_default=false())
    virtual_size = Column(_bigint())
    visibility = Column(
        Enum(*VISIBILITIES, name="image_visibility", create_constraint=False),
        nullable=False,
        server_default="shared",
    )
    os_hidden = _bool(nullable=False, default=False, server_default=false())
    os_hash_algo = Column(String(64))
    os_hash_value = Column(String(128))


class ImageProperty(_SoftDelete, Base):
    """One extra property (name → text) of an image."""

    __tablename__ = "image_properties"
    __table_args__ = (
        Index("ix_image_properties_image_id", "image_id"),
        Index("ix_image_properties_deleted", "deleted"),
        UniqueConstraint("image_id", "name", name="ix_image_properties_image_id_name"),
        MYSQL_OPTS,
    )

    id = Column(Integer, primary_key=True)
    image_id = Column(String(36), ForeignKey("images.id"), nullable=False)
    name = Column(String(255), nullable=False)
    value = Column(Text)


class ImageTag(_SoftDelete, Base):
    """One tag of an image."""

    __tablename__ = "image_tags"
    __table_args__ = (
        Index("ix_image_tags_image_id", "image_id"),
        Index("ix_image_tags_image_id_tag_value", "image_id", "value"),
        MYSQL_OPTS,
    )

    id = Column(Integer, primary_key=True)
    image_id = Column(String(36), ForeignKey("images.id"), nullable=False)
    value = Column(String(255), nullable=False)


class ImageLocation(_SoftDelete, Base):
    """One storage location (URL + JSON metadata) of an image."""

    __tablename__ = "image_locations"
    __table_args__ = (
        Index("ix_image_locations_image_id", "image_id"),
        Index("ix_image_locations_deleted", "deleted"),
        MYSQL_OPTS,
    )

    id = Column(Integer, primary_key=True)
    image_id = Column(String(36), ForeignKey("images.id"), nullable=False)
    value = Column(Text, nullable=False)
    meta_data = Column(Text)
    status = Column(String(30), nullable=False, server_default="active")


class ImageMember(_SoftDelete, Base):
    """A project an image is shared with."""

    __tablename__ = "image_members"
    __table_args__ = (
        Index("ix_image_members_deleted", "deleted"),
        Index("ix_image_members_image_id", "image_id"),
        Index("ix_image_members_image_id_member", "image_id", "member"),
        UniqueConstraint(
            "image_id", "member", "deleted_at",
            name="image_members_image_id_member_deleted_at_key",
        ),
        MYSQL_OPTS,
    )

    id = Column(Integer, primary_key=True)
    image_id = Column(String(36), ForeignKey("images.id"), nullable=False)
    member = Column(String(255), nullable=False)
    can_share = _bool(nullable=False, default=False)
    status = Column(String(20), nullable=False, default="pending", server_default="pending")


class Task(_SoftDelete, Base):
    """An asynchronous task (import)."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_type", "type"),
        Index("ix_tasks_status", "status"),
        Index("ix_tasks_owner", "owner"),
        Index("ix_tasks_deleted", "deleted"),
        Index("ix_tasks_updated_at", "updated_at"),
        Index("ix_tasks_image_id", "image_id"),
        MYSQL_OPTS,
    )

    id = Column(String(36), primary_key=True)
    type = Column(String(30), nullable=False)
    status = Column(String(30), nullable=False)
    owner = Column(String(255), nullable=False)
    expires_at = Column(DateTime)
    image_id = Column(String(36))
    request_id = Column(String(64))
    user_id = Column(String(64))


class TaskInfo(Base):
    """The input, result and message of a task (JSON text)."""

    __tablename__ = "task_info"
    __table_args__ = (MYSQL_OPTS,)

    task_id = Column(String(36), ForeignKey("tasks.id"), primary_key=True, nullable=False)
    input = Column(Text)
    result = Column(Text)
    message = Column(Text)


class _Stamped:
    """Timestamps of the metadef tables (no soft delete)."""

    created_at = Column(DateTime, nullable=False)
    updated_at = Column(DateTime)


class MetadefNamespace(_Stamped, Base):
    """A metadata definitions namespace."""

    __tablename__ = "metadef_namespaces"
    __table_args__ = (
        UniqueConstraint("namespace", name="uq_metadef_namespaces_namespace"),
        Index("ix_metadef_namespaces_owner", "owner"),
        MYSQL_OPTS,
    )

    id = Column(Integer, primary_key=True)
    namespace = Column(String(80), nullable=False)
    display_name = Column(String(80))
    description = Column(Text)
    visibility = Column(String(32))
    protected = _bool()
    owner = Column(String(255), nullable=False)


class MetadefObject(_Stamped, Base):
    """An object of a metadef namespace."""

    __tablename__ = "metadef_objects"
    __table_args__ = (
        UniqueConstraint("namespace_id", "name", name="uq_metadef_objects_namespace_id_name"),
        Index("ix_metadef_objects_name", "name"),
        MYSQL_OPTS,
    )

    id = Column(Integer, primary_key=True)
    namespace_id = Column(Integer, ForeignKey("metadef_namespaces.id"), nullable=False)
    name = Column(String(80), nullable=False)
    description = Column(Text)
    required = Column(Text)
    json_schema = Column(Text, nullable=False)


class MetadefProperty(_Stamped, Base):
    """A property of a metadef namespace."""

    __tablename__ = "metadef_properties"
    __table_args__ = (
        UniqueConstraint(
            "namespace_id", "name", name="uq_metadef_properties_namespace_id_name"
        ),
        Index("ix_metadef_properties_name", "name"),
        MYSQL_OPTS,
    )

    id = Column(Integer, primary_key=True)
    namespace_id = Column(Integer, ForeignKey("metadef_namespaces.id"), nullable=False)
    name = Column(String(80), nullable=False)
    json_schema = Column(Text, nullable=False)


class MetadefTag(_Stamped, Base):
    """A tag of a metadef namespace."""

    __tablename__ = "metadef_tags"
    __table_args__ = (
        UniqueConstraint("namespace_id", "name", name="uq_metadef_tags_namespace_id_name"),
        Index("ix_metadef_tags_name", "name"),
        MYSQL_OPTS,
    )

    id = Column(Integer, primary_key=True)
    namespace_id = Column(Integer, ForeignKey("metadef_namespaces.id"), nullable=False)
    name = Column(String(80), nullable=False)


class MetadefResourceType(_Stamped, Base):
    """A resource type metadef namespaces apply to."""

    __tablename__ = "metadef_resource_types"
    __table_args__ = (
        UniqueConstraint("name", name="uq_metadef_resource_types_name"),
        MYSQL_OPTS,
    )

    id = Column(Integer, primary_key=True)
    name = Column(String(80), nullable=False)
    protected = _bool(nullable=False)


class MetadefNamespaceResourceType(_Stamped, Base):
    """The association of a namespace with a resource type."""

    __tablename__ = "metadef_namespace_resource_types"
    __table_args__ = (
        Index("ix_metadef_ns_res_types_namespace_id", "namespace_id"),
        MYSQL_OPTS,
    )

    resource_type_id = Column(
        Integer, ForeignKey("metadef_resource_types.id"), primary_key=True, nullable=False
    )
    namespace_id = Column(
        Integer, ForeignKey("metadef_namespaces.id"), primary_key=True, nullable=False
    )
    properties_target = Column(String(80))
    prefix = Column(String(80))


class NodeReference(Base):
    """A glance-api node (URL) that keeps an image cache."""

    __tablename__ = "node_reference"
    __table_args__ = (
        UniqueConstraint("node_reference_url", name="uq_node_reference_node_reference_url"),
        MYSQL_OPTS,
    )

    node_reference_id = Column(_bigint(), primary_key=True, nullable=False, autoincrement=True)
    node_reference_url = Column(String(255), nullable=False)


class CachedImage(Base):
    """An image held in one node's cache."""

    __tablename__ = "cached_images"
    __table_args__ = (
        UniqueConstraint(
            "image_id", "node_reference_id",
            name="ix_cached_images_image_id_node_reference_id",
        ),
        MYSQL_OPTS,
    )

    id = Column(_bigint(), primary_key=True, autoincrement=True, nullable=False)
    image_id = Column(String(36), nullable=False)
    last_accessed = Column(DateTime, nullable=False)
    last_modified = Column(DateTime, nullable=False)
    size = Column(BigInteger, nullable=False)
    hits = Column(Integer, nullable=False)
    checksum = Column(String(32))
    node_reference_id = Column(
        _bigint(), ForeignKey("node_reference.node_reference_id"), nullable=False
    )


metadata = Base.metadata
images = Image.__table__
image_properties = ImageProperty.__table__
image_tags = ImageTag.__table__
image_locations = ImageLocation.__table__
image_members = ImageMember.__table__
