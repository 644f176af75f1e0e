"""Import plugins (``[image_import_opts] image_import_plugins``), as Glance 33's
glance/async_/flows/plugins: ``no_op``, ``image_conversion``, ``image_decompression``,
``inject_image_metadata``.

A plugin is ``plugin(job, path) -> path``: it gets the staged file, may replace it and
returns the file the next step uses. It changes the image only through ``job.set_values``
/ ``job.set_properties`` (applied by the import flow with a compare-and-swap) and raises
on refusal; the import flow then fails the task and removes every staged file.
"""

import gzip
import json
import logging
import os
import shutil
import subprocess
import zipfile

from oslo_config import cfg
from oslo_utils.imageutils import format_inspector

LOG = logging.getLogger(__name__)

# NOTE: names, groups, defaults and help as Glance 33.
import_opts = [
    cfg.ListOpt('image_import_plugins',
                item_type=cfg.types.String(quotes=True),
                bounds=True,
                sample_default='[no_op]',
                default=[],
                help="""
Image import plugins to be enabled for task processing.

Provide list of strings reflecting to the task Objects
that should be included to the Image Import flow. The
task objects needs to be defined in the 'glance/async/
flows/plugins/*' and may be implemented by OpenStack
Glance project team, deployer or 3rd party.

By default no plugins are enabled and to take advantage
of the plugin model the list of plugins must be set
explicitly in the glance-image-import.conf file.

The allowed values for this option is comma separated
list of object names in between ``[`` and ``]``.

Possible values:
    * no_op (only logs debug level message that the
      plugin has been executed)
    * Any provided Task object name to be included
      in to the flow.
"""),
    cfg.IntOpt('max_parallel_stores',
               default=1,
               min=1,
               help="""
Maximum number of target stores to import to at the same time for one
image import task.

When this value is 1, store imports run sequentially. When it is
greater than 1 and more than one store is requested, Glance uses a bounded
worker pool and per-store work queue for copying the data from staging to
target stores (glance-direct, web-download, glance-download) with multi-backend
enabled.

Possible values:
    * A positive integer (1 means sequential imports)
"""),
]
conversion_opts = [
    cfg.StrOpt('output_format',
               default='raw',
               choices=('qcow2', 'raw', 'vmdk'),
               help="""
Desired output format for image conversion plugin.

Provide a valid image format to which the conversion plugin
will convert the image before storing it to the back-end.

Note, if the Image Conversion plugin for image import is defined, users
should only upload disk formats that are supported by `quemu-img` otherwise
the conversion and import will fail.

Possible values:
    * qcow2
    * raw
    * vmdk

Related Options:
    * disk_formats
"""),
    # NOTE: not a Glance option (glance-clone only).
    cfg.BoolOpt('convert_plain_uploads',
                default=False,
                help="""
Also convert data uploaded with ``PUT /v2/images/{image_id}/file``.

Not a Glance option (this implementation only). When True, a plain upload of a
``bare`` image whose disk_format differs from ``output_format`` is written to
the staging area first, checked and converted exactly as the
``image_conversion`` import plugin does, and the converted data is stored (the
image gets disk_format ``output_format``). When False (default), plain uploads
are stored as sent, as in Glance.

Related options:
    * [image_conversion] output_format
    * [DEFAULT] node_staging_uri
"""),
]
inject_opts = [
    cfg.ListOpt('ignore_user_roles',
                default='admin',
                help="""
Specify name of user roles to be ignored for injecting metadata
properties in the image.

Possible values:
    * List containing user roles. For example: [admin,member]

"""),
    cfg.DictOpt('inject',
                default={},
                help="""
Dictionary contains metadata properties to be injected in image.

Possible values:
    * Dictionary containing key/value pairs. Key characters
      length should be <= 255. For example: k1:v1,k2:v2


"""),
]
glance_download_opts = [
    cfg.ListOpt('extra_properties',
                item_type=cfg.types.String(quotes=True),
                bounds=True,
                default=['hw_', 'trait:', 'os_distro', 'os_secure_boot', 'os_type'],
                help="""
Specify metadata prefix to be set on the target image when using
glance-download. All other properties coming from the source image won't be set
on the target image. If specified metadata does not exist on the source image
it won't be set on the target image. Note you can't set the os_glance prefix
as it is reserved by glance, so the related properties won't be set on the
target image.

Possible values:
    * List containing extra_properties prefixes: ['os_', 'architecture']
"""),
]
GROUPS = (('image_import_opts', import_opts), ('image_conversion', conversion_opts),
          ('inject_metadata_properties', inject_opts),
          ('glance_download_properties', glance_download_opts))
# qemu-img info limits (Glance's QEMU_IMG_PROC_LIMITS: 2 s of CPU, 1 GiB address space).
QEMU_IMG_LIMITS = ('--cpu=2', '--as=%d' % (1 << 30))
QEMU_IMG_TIMEOUT = 60
CONVERT_TIMEOUT = 3600


def register_opts(conf):
    """Register the plugin options on conf."""
    for group, opts in GROUPS:
        conf.register_opts(opts, group=group)


def list_opts():
    """Return the options of this module for oslo-config-generator."""
    return list(GROUPS)


class PluginRefused(Exception):
    """A plugin refused the image data (Glance raises RuntimeError)."""


def no_op(job, path):
    """Log only (Glance's no_op plugin)."""
    LOG.debug('No_op import plugin for image %s', job.image_id)
    return path


def inject_image_metadata(job, path):
    """Add ``[inject_metadata_properties] inject`` unless the user has an ignored role."""
    opts = job.conf.inject_metadata_properties
    if not set(job.ctx.roles) & set(opts.ignore_user_roles) and opts.inject:
        job.set_properties(dict(opts.inject))
    return path


# Glance's MAGIC_NUMBERS: (offset, magic, decompressor name)
_MAGIC = ((0, b'PK\x03\x04', 'zip'), (2, b'-lh', 'lha'), (0, b'\x1f\x8b\x08', 'gzip'))


def image_decompression(job, path):
    """Decompress a zip/gzip (lha: refused, no lhafile) single-file archive in place."""
    if job.image.get('container_format') == 'compressed':
        return path
    with open(path, 'rb') as fd:
        head = fd.read(8)
    for offset, magic, kind in _MAGIC:
        if head.startswith(magic, offset):
            dest = path + '.uc'
            try:
                _decompress(kind, path, dest)
                os.replace(dest, path)
            finally:
                if os.path.exists(dest):
                    os.unlink(dest)
            job.set_values(size=os.path.getsize(path))
            LOG.info('Updated image %s size to %d after decompression', job.image_id,
                     os.path.getsize(path))
            break
    return path


def _decompress(kind, src, dest):
    if kind == 'zip':
        with zipfile.ZipFile(src) as zfd:
            names = zfd.namelist()
            if len(names) != 1:
                raise PluginRefused('Archive contains more than one file.')
            with zfd.open(names[0]) as member, open(dest, 'wb') as out:
                shutil.copyfileobj(member, out)
    elif kind == 'gzip':
        with gzip.open(src, 'rb') as gzfd, open(dest, 'wb') as out:
            shutil.copyfileobj(gzfd, out)
    else:
        raise PluginRefused('No lhafile available.')


def inspect_path(conf, path):
    """Return the format inspector for the file at ``path`` after its safety checks.

    :raises: PluginRefused (Glance's messages)
    """
    inspector = None
    try:
        inspector = format_inspector.detect_file_format(path)
        inspector.safety_check()
    except format_inspector.SafetyCheckFailed as e:
        fatal = e.failures.keys() - set(conf.image_format.gpt_safety_checks_nonfatal)
        if inspector is not None and inspector.NAME == 'gpt' and not fatal:
            LOG.warning('Non-fatal %s', e)
        else:
            LOG.error('%s %s', inspector, e)
            raise PluginRefused('Image has disallowed configuration') from e
    except format_inspector.ImageFormatError as e:
        LOG.error('Image failed format inspection: %s', e)
        raise PluginRefused('Image format detection failed') from e
    except Exception as e:  # noqa: BLE001 - Glance's catch-all
        LOG.exception('Unknown error inspecting image format: %s', e)
        raise PluginRefused('Unable to inspect image') from e
    return inspector


def _qemu_img_info(path, source_format):
    cmd = ['qemu-img', 'info', '-f', source_format, '--output=json', path]
    if shutil.which('prlimit'):
        cmd = ['prlimit', *QEMU_IMG_LIMITS, '--'] + cmd
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=QEMU_IMG_TIMEOUT,
                          check=False)
    if proc.returncode or proc.stderr:
        raise PluginRefused(proc.stderr or 'qemu-img info failed (%d)' % proc.returncode)
    return json.loads(proc.stdout)


def _check_info(conf, metadata, source_format):
    """Glance's qemu-img info checks: format, backing file, data-file, VMDK create-type."""
    if metadata.get('format') != source_format:
        raise PluginRefused('Image metadata disagrees about format')
    if 'backing-filename' in metadata:
        raise PluginRefused('QCOW images with backing files are not allowed')
    data = metadata.get('format-specific', {}).get('data', {})
    if data.get('data-file') is not None:
        raise PluginRefused('QCOW images with data-file set are not allowed')
    if metadata.get('format') == 'vmdk':
        allowed = conf.image_format.vmdk_allowed_types
        create_type = data.get('create-type')
        if not create_type:
            raise PluginRefused('Unable to determine VMDK create-type')
        if not allowed:
            raise PluginRefused('Image is a VMDK, but no VMDK createType is specified')
        if create_type not in allowed:
            raise PluginRefused('Invalid VMDK create-type specified')


def convert_file(conf, path, source_format):
    """Check and convert ``path`` to ``[image_conversion] output_format``.

    Returns ``(new path, values)`` with the image attributes to record (the same path
    and only virtual_size when no conversion is needed). The source file is removed
    after a conversion; a failed conversion leaves no output file.

    :raises: PluginRefused
    """
    target = conf.image_conversion.output_format
    detected = str(inspect_path(conf, path))
    detected = 'raw' if detected == 'gpt' else detected
    if detected == 'iso':
        if source_format == 'iso':
            return path, {}
        raise PluginRefused('Image has disallowed configuration')
    if detected != source_format:
        raise PluginRefused('Image format mismatch')
    metadata = _qemu_img_info(path, source_format)
    _check_info(conf, metadata, source_format)
    values = {'virtual_size': metadata.get('virtual-size', 0)}
    if source_format == target:
        return path, values
    dest = '%s.%s' % (path, target)
    try:
        proc = subprocess.run(['qemu-img', 'convert', '-f', source_format, '-O', target,
                               path, dest], capture_output=True, text=True,
                              timeout=CONVERT_TIMEOUT, check=False)
        if proc.returncode or proc.stderr:
            raise PluginRefused(proc.stderr or 'qemu-img convert failed')
        converted = str(inspect_path(conf, dest))
        if ('raw' if converted == 'gpt' else converted) != target:
            raise PluginRefused('Converted image in unexpected format')
    except BaseException:
        if os.path.exists(dest):
            os.unlink(dest)
        raise
    os.unlink(path)
    values.update(disk_format=target, container_format='bare', size=os.path.getsize(dest))
    return dest, values


def image_conversion(job, path):
    """Convert the staged data to ``[image_conversion] output_format`` (Glance's plugin)."""
    new_path, values = convert_file(job.conf, path, job.image.get('disk_format'))
    if values:
        job.set_values(**values)
    LOG.info('Image %s: %s', job.image_id, values or 'iso kept as is')
    return new_path


PLUGINS = {'no_op': no_op, 'image_conversion': image_conversion,
           'image_decompression': image_decompression,
           'inject_image_metadata': inject_image_metadata}


def configured(conf):
    """Return the enabled plugins in configuration order.

    :raises: ValueError for an unknown plugin name
    """
    try:
        return [PLUGINS[name] for name in conf.image_import_opts.image_import_plugins]
    except KeyError as e:
        raise ValueError('Unknown image import plugin %s' % e) from None
