"""Create the full Glance 33 schema (baseline equal to Glance's head 2024_1_contract01).

The revision id is Glance's own contract head, so a database built by real Glance 33's
``glance-manage db_sync`` is recognised as current and served unchanged.

Revision ID: 2024_1_contract01
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "2024_1_contract01"
down_revision = None
branch_labels = None
depends_on = None

_OPTS = {"mysql_engine": "InnoDB", "mysql_charset": "utf8"}


def _bool(name, **kw):
    return sa.Column(name, sa.Boolean(create_constraint=True), **kw)


def _bigint():
    return sa.BigInteger().with_variant(sa.Integer, "sqlite")


def _soft_delete():
    return [
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime),
        sa.Column("deleted_at", sa.DateTime),
        _bool("deleted", nullable=False),
    ]


def _stamped():
    return [sa.Column("created_at", sa.DateTime, nullable=False),
            sa.Column("updated_at", sa.DateTime)]


def _indexes(table, specs):
    for name, cols in specs:
        op.create_index(name, table, cols)


def _images():
    visibility = sa.Enum("private", "public", "shared", "community",
                         name="image_visibility", create_constraint=False)
    op.create_table(
        "images",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(255)),
        sa.Column("size", _bigint()),
        sa.Column("status", sa.String(30), nullable=False),
        *_soft_delete(),
        sa.Column("disk_format", sa.String(20)),
        sa.Column("container_format", sa.String(20)),
        sa.Column("checksum", sa.String(32)),
        sa.Column("owner", sa.String(255)),
        sa.Column("min_disk", sa.Integer, nullable=False),
        sa.Column("min_ram", sa.Integer, nullable=False),
        _bool("protected", nullable=False, server_default=sa.false()),
        sa.Column("virtual_size", _bigint()),
        sa.Column("visibility", visibility, nullable=False, server_default="shared"),
        _bool("os_hidden", nullable=False, server_default=sa.false()),
        sa.Column("os_hash_algo", sa.String(64)),
        sa.Column("os_hash_value", sa.String(128)),
        **_OPTS,
    )
    _indexes("images", [
        ("checksum_image_idx", ["checksum"]), ("visibility_image_idx", ["visibility"]),
        ("ix_images_deleted", ["deleted"]), ("owner_image_idx", ["owner"]),
        ("created_at_image_idx", ["created_at"]), ("updated_at_image_idx", ["updated_at"]),
        ("os_hidden_image_idx", ["os_hidden"]),
        ("os_hash_value_image_idx", ["os_hash_value"]),
    ])


def _image_children():
    image_fk = sa.ForeignKey("images.id")
    op.create_table(
        "image_properties",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("image_id", sa.String(36), image_fk, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("value", sa.Text),
        *_soft_delete(),
        sa.UniqueConstraint("image_id", "name", name="ix_image_properties_image_id_name"),
        **_OPTS,
    )
    _indexes("image_properties", [("ix_image_properties_deleted", ["deleted"]),
                                  ("ix_image_properties_image_id", ["image_id"])])
    op.create_table(
        "image_locations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id"), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        *_soft_delete(),
        sa.Column("meta_data", sa.Text),
        sa.Column("status", sa.String(30), nullable=False, server_default="active"),
        **_OPTS,
    )
    _indexes("image_locations", [("ix_image_locations_deleted", ["deleted"]),
                                 ("ix_image_locations_image_id", ["image_id"])])
    op.create_table(
        "image_members",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id"), nullable=False),
        sa.Column("member", sa.String(255), nullable=False),
        _bool("can_share", nullable=False),
        *_soft_delete(),
        sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
        sa.UniqueConstraint("image_id", "member", "deleted_at",
                            name="image_members_image_id_member_deleted_at_key"),
        **_OPTS,
    )
    _indexes("image_members", [("ix_image_members_deleted", ["deleted"]),
                               ("ix_image_members_image_id", ["image_id"]),
                               ("ix_image_members_image_id_member", ["image_id", "member"])])
    op.create_table(
        "image_tags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("image_id", sa.String(36), sa.ForeignKey("images.id"), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        *_soft_delete(),
        **_OPTS,
    )
    _indexes("image_tags", [("ix_image_tags_image_id", ["image_id"]),
                            ("ix_image_tags_image_id_tag_value", ["image_id", "value"])])


def _tasks():
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.DateTime),
        *_soft_delete(),
        sa.Column("image_id", sa.String(36)),
        sa.Column("request_id", sa.String(64)),
        sa.Column("user_id", sa.String(64)),
        **_OPTS,
    )
    _indexes("tasks", [("ix_tasks_deleted", ["deleted"]), ("ix_tasks_owner", ["owner"]),
                       ("ix_tasks_status", ["status"]), ("ix_tasks_type", ["type"]),
                       ("ix_tasks_updated_at", ["updated_at"]),
                       ("ix_tasks_image_id", ["image_id"])])
    op.create_table(
        "task_info",
        sa.Column("task_id", sa.String(36), sa.ForeignKey("tasks.id"), primary_key=True,
                  nullable=False),
        sa.Column("input", sa.Text),
        sa.Column("result", sa.Text),
        sa.Column("message", sa.Text),
        **_OPTS,
    )


def _metadef_namespaces():
    op.create_table(
        "metadef_namespaces",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("namespace", sa.String(80), nullable=False),
        sa.Column("display_name", sa.String(80)),
        sa.Column("description", sa.Text),
        sa.Column("visibility", sa.String(32)),
        _bool("protected"),
        sa.Column("owner", sa.String(255), nullable=False),
        *_stamped(),
        sa.UniqueConstraint("namespace", name="uq_metadef_namespaces_namespace"),
        **_OPTS,
    )
    op.create_index("ix_metadef_namespaces_owner", "metadef_namespaces", ["owner"])
    op.create_table(
        "metadef_resource_types",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(80), nullable=False),
        _bool("protected", nullable=False),
        *_stamped(),
        sa.UniqueConstraint("name", name="uq_metadef_resource_types_name"),
        **_OPTS,
    )
    op.create_table(
        "metadef_namespace_resource_types",
        sa.Column("resource_type_id", sa.Integer, sa.ForeignKey("metadef_resource_types.id"),
                  primary_key=True, nullable=False),
        sa.Column("namespace_id", sa.Integer, sa.ForeignKey("metadef_namespaces.id"),
                  primary_key=True, nullable=False),
        sa.Column("properties_target", sa.String(80)),
        sa.Column("prefix", sa.String(80)),
        *_stamped(),
        **_OPTS,
    )
    op.create_index("ix_metadef_ns_res_types_namespace_id",
                    "metadef_namespace_resource_types", ["namespace_id"])


def _metadef_children():
    def ns_fk():
        return sa.Column("namespace_id", sa.Integer, sa.ForeignKey("metadef_namespaces.id"),
                         nullable=False)

    op.create_table(
        "metadef_objects",
        sa.Column("id", sa.Integer, primary_key=True), ns_fk(),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("required", sa.Text),
        sa.Column("json_schema", sa.Text, nullable=False),
        *_stamped(),
        sa.UniqueConstraint("namespace_id", "name", name="uq_metadef_objects_namespace_id_name"),
        **_OPTS,
    )
    op.create_table(
        "metadef_properties",
        sa.Column("id", sa.Integer, primary_key=True), ns_fk(),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("json_schema", sa.Text, nullable=False),
        *_stamped(),
        sa.UniqueConstraint("namespace_id", "name",
                            name="uq_metadef_properties_namespace_id_name"),
        **_OPTS,
    )
    op.create_table(
        "metadef_tags",
        sa.Column("id", sa.Integer, primary_key=True), ns_fk(),
        sa.Column("name", sa.String(80), nullable=False),
        *_stamped(),
        sa.UniqueConstraint("namespace_id", "name", name="uq_metadef_tags_namespace_id_name"),
        **_OPTS,
    )
    for table in ("objects", "properties", "tags"):
        op.create_index("ix_metadef_%s_name" % table, "metadef_%s" % table, ["name"])


def _cache():
    op.create_table(
        "node_reference",
        sa.Column("node_reference_id", _bigint(), primary_key=True, nullable=False,
                  autoincrement=True),
        sa.Column("node_reference_url", sa.String(255), nullable=False),
        sa.UniqueConstraint("node_reference_url", name="uq_node_reference_node_reference_url"),
        **_OPTS,
    )
    op.create_table(
        "cached_images",
        sa.Column("id", _bigint(), primary_key=True, autoincrement=True, nullable=False),
        sa.Column("image_id", sa.String(36), nullable=False),
        sa.Column("last_accessed", sa.DateTime, nullable=False),
        sa.Column("last_modified", sa.DateTime, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("hits", sa.Integer, nullable=False),
        sa.Column("checksum", sa.String(32)),
        sa.Column("node_reference_id", _bigint(),
                  sa.ForeignKey("node_reference.node_reference_id"), nullable=False),
        sa.UniqueConstraint("image_id", "node_reference_id",
                            name="ix_cached_images_image_id_node_reference_id"),
        **_OPTS,
    )


def upgrade():
    """Create every table of the Glance 33 schema."""
    _images()
    _image_children()
    _tasks()
    _metadef_namespaces()
    _metadef_children()
    _cache()


_TABLES = ("cached_images", "node_reference", "metadef_tags", "metadef_properties",
           "metadef_objects", "metadef_namespace_resource_types", "metadef_resource_types",
           "metadef_namespaces", "task_info", "tasks", "image_tags", "image_members",
           "image_locations", "image_properties", "images")


def downgrade():
    """Drop every table of the Glance 33 schema."""
    for table in _TABLES:
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TYPE IF EXISTS image_visibility")
