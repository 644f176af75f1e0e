"""Checks of the filesystem store's options, run by FilesystemStore.configure()."""

import json
import logging
import os
import stat
import time

from stores import exceptions

LOG = logging.getLogger(__name__)
DEFAULT_DATADIR = "/var/lib/glance/images"
# An upload writes its temporary file continuously; one untouched this long was left
# by a process that died mid-upload.
STALE_TEMP_SECONDS = 24 * 3600


def _bad(reason):
    LOG.error(reason)
    return exceptions.BadStoreConfiguration(store_name="filesystem", reason=reason)


def parse_datadirs(store_conf):
    """Return {priority: [directory, ...]} from the datadir/datadirs options.

    :raises: BadStoreConfiguration
    """
    fdir = store_conf.filesystem_store_datadir
    fdirs = store_conf.filesystem_store_datadirs
    if not (fdir or fdirs):
        raise _bad("Specify at least 'filesystem_store_datadir' or "
                   "'filesystem_store_datadirs' option")
    # NOTE: glance_store rejects both options set, but filesystem_store_datadir always
    # has a default; only an explicitly changed value conflicts with datadirs.
    if fdirs and fdir and fdir != DEFAULT_DATADIR:
        raise _bad("Specify either 'filesystem_store_datadir' or "
                   "'filesystem_store_datadirs' option")
    if not fdirs:
        return {0: [fdir]}
    priorities = {}
    seen = {}
    for entry in fdirs:
        path, priority = _path_and_priority(entry)
        if path in seen:
            msg = ("Directory %s specified multiple times in filesystem_store_datadirs "
                   "option of filesystem configuration" % path)
            if seen[path] != priority:
                raise _bad(msg)
            LOG.warning(msg)
            continue
        seen[path] = priority
        priorities.setdefault(priority, []).append(path)
    return priorities


def _path_and_priority(entry):
    parts = [part.strip() for part in entry.rsplit(":", 1)]
    path, priority = parts[0], 0
    if len(parts) == 2 and parts[1]:
        try:
            priority = int(parts[1])
        except ValueError:
            raise _bad("Invalid priority value %s in filesystem configuration"
                       % parts[1]) from None
    if not path:
        raise _bad("Invalid directory specified in filesystem configuration")
    return path, priority


def check_file_perm(file_perm):
    """Reject a ``filesystem_store_file_perm`` that would hide files from glance itself."""
    if file_perm <= 0:
        return
    try:
        perm = int(str(file_perm), 8)
    except ValueError:
        raise _bad("Invalid 'filesystem_store_file_perm' option.") from None
    if not perm & stat.S_IRUSR:
        raise _bad("Invalid 'filesystem_store_file_perm' option.")


def create_datadir(path, file_perm):
    """Create ``path`` if needed and check that it is writable.

    :raises: BadStoreConfiguration
    """
    if not os.path.isdir(path):
        LOG.info("Directory to write image files does not exist (%s). Creating.", path)
        try:
            os.makedirs(path, exist_ok=True)
        except OSError:
            raise _bad("Unable to create datadir: %s" % path) from None
    if not os.access(path, os.W_OK):
        raise _bad("Permission to write in %s denied" % path)
    _set_exec_permission(path, file_perm)


def _set_exec_permission(path, file_perm):
    """Let group/others traverse the directory when the file mode grants them access."""
    if file_perm <= 0:
        return
    try:
        mode = os.stat(path).st_mode
        perm = int(str(file_perm), 8)
        if perm & stat.S_IRWXO:
            mode |= stat.S_IXOTH
        if perm & stat.S_IRWXG:
            mode |= stat.S_IXGRP
        os.chmod(path, stat.S_IMODE(mode))
    except (OSError, ValueError):
        LOG.warning("Unable to set execution permission of owner-group and/or "
                    "other-users to datadir: %s", path)


def load_metadata(metadata_file):
    """Load and validate the metadata file: a list of {"id", "mountpoint"} strings.

    :raises: BadStoreConfiguration
    """
    try:
        with open(metadata_file, "rb") as f:
            metadata = json.load(f)
    except OSError as e:
        raise _bad("The path for the metadata file %s could not be accessed: %s."
                   % (metadata_file, e)) from None
    except ValueError as e:
        raise _bad("The JSON in the metadata file %s is not valid and it can not be "
                   "used: %s." % (metadata_file, e)) from None
    if isinstance(metadata, dict):
        metadata = [metadata]
    valid = isinstance(metadata, list) and all(
        isinstance(m, dict) and isinstance(m.get("id"), str)
        and isinstance(m.get("mountpoint"), str) for m in metadata)
    if not valid:
        raise _bad("The JSON in the metadata file %s is not valid and it can not be "
                   "used: each entry needs string keys 'id' and 'mountpoint'."
                   % metadata_file)
    return metadata


def remove_stale_temp_files(path, suffix, max_age=STALE_TEMP_SECONDS):
    """Delete hidden ``*<suffix>`` upload files in ``path`` untouched for ``max_age``."""
    cutoff = time.time() - max_age
    try:
        entries = list(os.scandir(path))
    except OSError:
        return
    for entry in entries:
        if not (entry.name.startswith(".") and entry.name.endswith(suffix)):
            continue
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                os.unlink(entry.path)
                LOG.info("Removed stale partial upload %s", entry.path)
        except OSError:
            LOG.warning("Unable to remove stale partial upload %s", entry.path)
