"""The repositories of one database, made together over one engine."""

from typing import Any, NamedTuple


class Repos(NamedTuple):
    """What glance-registry serves; a None repository leaves its routes out."""

    images: Any
    tasks: Any = None
    usage: Any = None
    scrub: Any = None
    metadefs: Any = None
    cache: Any = None


def from_engine(engine):
    """Return every repository over ``engine`` (see glance_db.engine.create_engine)."""
    from glance_db import api, cache, metadefs, scrub, tasks, usage
    return Repos(images=api.ImageRepo(engine), tasks=tasks.TaskRepo(engine),
                 usage=usage.UsageRepo(engine), scrub=scrub.ScrubRepo(engine),
                 metadefs=metadefs.MetadefRepo(engine), cache=cache.CacheRepo(engine))
