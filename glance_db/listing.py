"""The image list query (internals §2.1): filters, visibility, sort and keyset paging."""

from sqlalchemy import and_, bindparam, false, or_, select, true

from glance_db import exceptions
from glance_db.models import images
from glance_db.queries import (
    SORT_KEYS, filter_condition, list_visibility, show_visibility, tag_condition,
)

# NOTE: ordering treats NULL as the smallest value, as MySQL and SQLite do natively;
# PostgreSQL is told so explicitly, and the keyset conditions below assume it.


def _order_by(sort, dialect_name):
    clauses = []
    for key, direction in sort:
        col = images.c[key]
        if direction == "asc":
            clause = col.asc()
            if dialect_name == "postgresql" and col.nullable:
                clause = clause.nulls_first()
        else:
            clause = col.desc()
            if dialect_name == "postgresql" and col.nullable:
                clause = clause.nulls_last()
        clauses.append(clause)
    return clauses


def _equal(col, value):
    return col.is_(None) if value is None else col == value


def _after(col, value, direction):
    """Rows strictly after ``value`` in ``direction`` with NULL smallest."""
    if direction == "asc":
        return col.is_not(None) if value is None else col > value
    if value is None:
        return false()
    return or_(col < value, col.is_(None)) if col.nullable else col < value


def keyset_condition(sort, marker_row):
    """Return the condition selecting rows after ``marker_row`` under ``sort``."""
    alternatives = []
    for i, (key, direction) in enumerate(sort):
        prefix = [_equal(images.c[k], marker_row[k]) for k, _ in sort[:i]]
        alternatives.append(and_(*prefix, _after(images.c[key], marker_row[key], direction)))
    return or_(*alternatives)


def check_sort(sort):
    """Validate ``sort`` and make sure ``id`` ends it so paging is total."""
    out = []
    for key, direction in sort or ():
        if key not in SORT_KEYS:
            raise exceptions.InvalidSortKey("Invalid sort key: %s" % key)
        if direction not in ("asc", "desc"):
            raise exceptions.InvalidSortKey("Invalid sort direction: %s" % direction)
        out.append((key, direction))
    if not any(k == "id" for k, _ in out):
        default_dir = out[0][1] if out else "desc"
        if not out:
            out.append(("created_at", default_dir))
        out.append(("id", default_dir))
    return out


def marker_row(conn, marker, project_id, is_admin):
    """Fetch the sort values of the marker image or raise MarkerNotFound."""
    stmt = select(images).where(images.c.id == marker, images.c.deleted == false(),
                                show_visibility(project_id, is_admin))
    row = conn.execute(stmt).first()
    if row is None:
        raise exceptions.MarkerNotFound("No image found with ID %s" % marker)
    return row._mapping


def build_list(query, dialect_name, marker_values=None):
    """Build the SELECT of one page of images for the list ``query`` dict."""
    conds = [images.c.deleted == false(), images.c.status != "killed"]
    conds += list_visibility(query["project_id"], query["is_admin"],
                             query.get("visibility"), query.get("member_status") or "accepted",
                             per_row=dialect_name == "mysql")
    if query.get("os_hidden") is not None:
        conds.append(images.c.os_hidden == (true() if query["os_hidden"] else false()))
    for flt in query.get("filters") or ():
        key, op, value = flt
        conds.append(filter_condition(key, op, value))
    for tag in query.get("tags") or ():
        conds.append(tag_condition(tag))
    sort = query["sort"]
    if marker_values is not None:
        conds.append(keyset_condition(sort, marker_values))
    stmt = select(images).where(*conds).order_by(*_order_by(sort, dialect_name))
    hint = _mysql_hint(query) if dialect_name == "mysql" else None
    if hint:
        stmt = stmt.with_hint(images, hint, "mysql")
    if query.get("limit") is not None:
        stmt = stmt.limit(query["limit"])
    return stmt


# PERF: MariaDB plans a plain list (`os_hidden = false`, the api's default) as an index
# merge of ix_images_deleted and os_hidden_image_idx, two flags every live row shares, then
# sorts the whole catalogue for one page: 13 ms at 1k images, 430 ms at 100k
# (benchmarks/bench_scale.py; EXPLAIN: "Using intersect(...); Using filesort"). A filter on
# a column no index serves (`status=active`, as Horizon and the CLI send, `disk_format`,
# `name`, a property) gets the same plan: 466 ms at 100k. Walking created_at_image_idx in
# the page's order stops after `limit` matching rows: 1 ms at 100k. Its worst case, a
# viewer whose filter matches fewer than a page in the whole catalogue, reads the whole
# index (170 ms at 100k), still below the merge's every case. So the walk is forced
# (MariaDB's estimate picks a full scan and a sort at 1k, 4 ms) wherever nothing narrower
# than the walk can drive: an indexed filter (NARROW_FILTERS), a tag (image_tags is small
# beside the catalogue), a visibility that one project's rows or a rare class make
# narrow (a non-admin's private images are read in order through owner_created_at_image_idx,
# queries.list_visibility), or a sort on another key.
CREATED_AT_WALK = "FORCE INDEX (created_at_image_idx)"
NARROW_FILTERS = frozenset(("id", "owner", "checksum", "os_hash_value", "updated_at"))


def _walks_created_at(query):
    visibility = query.get("visibility")
    if query["is_admin"]:
        wide = visibility != "community"
    else:
        wide = visibility in (None, "all", "public")
    return (query["sort"][0][0] == "created_at" and wide and not query.get("tags")
            and not any(key in NARROW_FILTERS for key, _, _ in query.get("filters") or ()))


# PERF: a project's own page (a non-admin's `visibility=private`, an `owner=` filter):
# owner_created_at_image_idx (migration.EXTRA_INDEXES) reads the project's rows in page
# order and stops after `limit` matches: 0.5 ms at 100k images of which the caller owns
# 20k. Left to itself MariaDB intersects owner_image_idx with visibility_image_idx or a
# flag index every live row shares, then sorts: 116 ms (9 ms at 4k). So the walk is
# forced, where the index exists: a database real Glance made lacks it until
# `glance-manage db sync` runs here, and the registry looks once per process
# (ImageRepo), so it is restarted after that sync, as after any upgrade.
OWNER_WALK_INDEX = "owner_created_at_image_idx"
OWNER_WALK = "FORCE INDEX (%s)" % OWNER_WALK_INDEX


def _walks_owner(query):
    own = not query["is_admin"] and query.get("visibility") == "private"
    owner_filter = any(key == "owner" and op == "eq"
                       for key, op, _ in query.get("filters") or ())
    return (query.get("owner_walk") and query["sort"][0][0] == "created_at"
            and (own or owner_filter))


def has_owner_walk(conn):
    """Whether the database has owner_created_at_image_idx (see OWNER_WALK)."""
    from sqlalchemy import inspect

    return any(ix["name"] == OWNER_WALK_INDEX for ix in inspect(conn).get_indexes("images"))


def _mysql_hint(query):
    if _walks_created_at(query):
        return CREATED_AT_WALK
    if _walks_owner(query):
        return OWNER_WALK
    return None


# PERF: building the SELECT costs ~0.3 ms per image-list; the common shape (no filters,
# tags or marker) is built once per (viewer kind, visibility, sort, ...) and reused with
# the project id as a bound parameter.
_PLAIN_CACHE = {}
_PLAIN_CACHE_MAX = 512


def plain_list(query, dialect_name):
    """Return (stmt, params) for a list ``query`` without filters, tags or marker."""
    project_id = query["project_id"]
    key = (dialect_name, bool(query.get("owner_walk")), bool(query["is_admin"]),
           project_id is None, query.get("visibility"),
           query.get("member_status") or "accepted", query.get("os_hidden"),
           tuple(map(tuple, query["sort"])), query.get("limit"))
    stmt = _PLAIN_CACHE.get(key)
    if stmt is None:
        shape = dict(query, project_id=None if project_id is None else bindparam("project_id"))
        stmt = build_list(shape, dialect_name)
        if len(_PLAIN_CACHE) >= _PLAIN_CACHE_MAX:
            _PLAIN_CACHE.clear()
        _PLAIN_CACHE[key] = stmt
    return stmt, ({} if project_id is None else {"project_id": project_id})
