"""The image-cache console scripts, as Glance 33's glance/cmd/cache_*.py.

``glance-cache-manage`` talks to a running api (its /v2/cached_images and
/v2/queued_images routes, on with a ``*cachemanagement`` flavor). The prefetcher, pruner
and cleaner run on the api node itself, over its image_cache_dir, with the api's config
files (glance-api.conf, then glance-cache.conf, as Glance's parse_cache_args).
"""

import argparse
import collections
import datetime
import fcntl
import functools
import logging
import os
import sys
import uuid

from oslo_config import cfg

from glance_api import config
from glance_server import flavors

SUCCESS, FAILURE = 0, 1
LOG = logging.getLogger(__name__)


# -- the node-local commands ---------------------------------------------------------------

def load_cache_conf(argv, prog):
    """Parse the api options from glance-api.conf then glance-cache.conf (and argv)."""
    conf = cfg.ConfigOpts()
    config.register_opts(conf)
    files = cfg.find_config_files(project='glance', prog='glance-api')
    files += cfg.find_config_files(project='glance', prog='glance-cache')
    conf(argv, project='glance', prog=prog, default_config_files=files)
    return conf


def _node_cache(argv, prog, with_stores=False):
    try:
        conf = load_cache_conf(argv, prog)
    except cfg.Error as e:
        sys.exit('ERROR: %s' % e)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format='%(asctime)s %(process)d %(levelname)s %(name)s %(message)s')
    if not conf.image_cache_dir:
        sys.exit('ERROR: image_cache_dir is not set')
    from glance_api import wiring
    from glance_api.cache import image_cache
    from glance_api.web.service_auth import ServiceAuth
    try:
        auth = ServiceAuth(conf)
    except flavors.UnknownFlavor as e:
        sys.exit('ERROR: %s' % e)
    registry = wiring.make_registry(conf, auth)
    stores = wiring.make_stores(conf) if with_stores else None
    return conf, registry, image_cache.from_conf(conf, registry, stores, auth), auth


def _locked(cache, name):
    """Hold an exclusive lock named ``name`` in the cache dir (Glance's external lock)."""
    fd = os.open(os.path.join(cache.base_dir, '.%s.lock' % name),
                 os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def prefetcher_main(argv=None):
    """glance-cache-prefetcher: cache every queued image; exit 1 if one failed."""
    from glance_api.cache import resources as cache_api
    conf, registry, cache, auth = _node_cache(sys.argv[1:] if argv is None else argv,
                                        'glance-cache-prefetcher', with_stores=True)
    _locked(cache, 'glance-cache')
    images = cache.get_queued_images()
    if not images:
        LOG.info('Nothing to prefetch.')
        return SUCCESS
    results = [cache_api.prefetch(auth.context(), registry, cache, image_id) for image_id in images]
    if not all(results):
        LOG.warning('Failed to successfully cache all images in queue.')
        return FAILURE
    LOG.info('Successfully cached all %d images', len(images))
    return SUCCESS


def pruner_main(argv=None):
    """glance-cache-pruner: evict least recently used images down to the max size."""
    _conf, _registry, cache, _auth = _node_cache(sys.argv[1:] if argv is None else argv,
                                          'glance-cache-pruner')
    _locked(cache, 'glance-cache-prune')
    files, size = cache.prune(None)
    LOG.info('Pruned %d files, %d bytes', files, size)
    return SUCCESS


def cleaner_main(argv=None):
    """glance-cache-cleaner: remove invalid files and stalled incomplete ones."""
    _conf, _registry, cache, _auth = _node_cache(sys.argv[1:] if argv is None else argv,
                                          'glance-cache-cleaner')
    _locked(cache, 'glance-cache-clean')
    invalid, stalled = cache.clean()
    LOG.info('Removed %d invalid and %d stalled cache files', invalid, stalled)
    return SUCCESS


# -- glance-cache-manage -------------------------------------------------------------------

class ManageError(Exception):
    """An answer glance-cache-manage reports (status kept for the messages)."""

    def __init__(self, status, text):
        super().__init__(text)
        self.status = status


class CacheClient:
    """The /v2/cached_images and /v2/queued_images calls of Glance's CacheClient."""

    def __init__(self, base_url, token=None, insecure=False):
        import requests   # NOTE: only the manage command needs an HTTP client
        self.base = base_url.rstrip('/') + '/v2'
        self.session = requests.Session()
        self.session.verify = not insecure
        if token:
            self.session.headers['X-Auth-Token'] = token

    def _do(self, method, path):
        resp = self.session.request(method, self.base + path, timeout=60)
        if resp.status_code >= 400:
            raise ManageError(resp.status_code, resp.text)
        return resp.json() if resp.content else None

    def get_cached_images(self):
        return self._do('GET', '/cached_images')['cached_images']

    def get_queued_images(self):
        return self._do('GET', '/queued_images')['queued_images']

    def delete_cached_image(self, image_id):
        self._do('DELETE', '/cached_images/%s' % image_id)

    def delete_all_cached_images(self):
        return self._do('DELETE', '/cached_images')['num_deleted']

    def queue_image_for_caching(self, image_id):
        self._do('PUT', '/queued_images/%s' % image_id)

    def delete_queued_image(self, image_id):
        self._do('DELETE', '/queued_images/%s' % image_id)

    def delete_all_queued_images(self):
        return self._do('DELETE', '/queued_images')['num_deleted']


def _token(args):
    if args.os_auth_token or not args.os_auth_url:
        return args.os_auth_token or os.environ.get('OS_TOKEN')
    from keystoneauth1 import session
    from keystoneauth1.identity import v3
    url = args.os_auth_url if '/v3' in args.os_auth_url else args.os_auth_url + '/v3'
    domain = args.os_user_domain_id or args.os_domain_id
    auth = v3.Password(auth_url=url, username=args.os_username, password=args.os_password,
                       project_name=args.os_project_name, user_domain_id=domain,
                       project_domain_id=args.os_project_domain_id or args.os_domain_id)
    return session.Session(auth=auth, verify=not args.insecure).get_token()


def get_client(args):
    """Return a CacheClient for --host/--port (0.0.0.0 means this host)."""
    host = '127.0.0.1' if args.host in ('0.0.0.0', '') else args.host
    return CacheClient('http://%s:%s' % (host, args.port), _token(args), args.insecure)


def catch_error(action):
    """Report errors as Glance's glance-cache-manage does."""
    def wrap(func):
        @functools.wraps(func)
        def wrapper(args):
            try:
                ret = func(args)
                return SUCCESS if ret is None else ret
            except ManageError as e:
                if e.status == 404:
                    print('Cache management middleware not enabled on host %s' % args.host)
                elif e.status == 403:
                    print('Not authorized to make this request.')
                else:
                    print('Failed to %s. Got error:' % action)
                    for piece in str(e).split('\n'):
                        print(piece)
                return FAILURE
            except Exception as e:
                if args.debug:
                    raise
                print('Failed to %s. Got error:' % action)
                for piece in str(e).split('\n'):
                    print(piece)
                return FAILURE
        return wrapper
    return wrap


def validate_input(func):
    """Require exactly one image id that is a UUID."""
    @functools.wraps(func)
    def wrapped(args):
        if len(args.command) > 2:
            print("Please specify the ID of the image you wish for command '%s' from the "
                  "cache as the first and only argument." % args.command[0])
            return FAILURE
        if len(args.command) == 2:
            try:
                uuid.UUID(args.command[1])
            except ValueError:
                print("Image ID '%s' is not a valid UUID." % args.command[1])
                return FAILURE
        return func(args)
    return wrapped


def user_confirm(prompt, default=False):
    """Ask a yes/no question."""
    answer = input('%s %s ' % (prompt, '[Y/n]' if default else '[y/N]'))
    return default if answer == '' else answer.lower() in ('yes', 'y')


def _utc(timestamp):
    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.timezone.utc).replace(
        tzinfo=None).isoformat()


@catch_error('show cached images')
def list_cached(args):
    """%(prog)s list-cached [options]

    List all images currently cached.
    """
    import prettytable
    images = get_client(args).get_cached_images()
    if not images:
        print('No cached images.')
        return SUCCESS
    print('Found %d cached images...' % len(images))
    table = prettytable.PrettyTable(('ID', 'Last Accessed (UTC)', 'Last Modified (UTC)',
                                     'Size', 'Hits'))
    table.align['Size'] = 'r'
    table.align['Hits'] = 'r'
    for image in images:
        accessed = 'N/A' if image['last_accessed'] == 0 else _utc(image['last_accessed'])
        table.add_row((image['image_id'], accessed, _utc(image['last_modified']),
                       image['size'], image['hits']))
    print(table.get_string())
    return SUCCESS


@catch_error('show queued images')
def list_queued(args):
    """%(prog)s list-queued [options]

    List all images currently queued for caching.
    """
    import prettytable
    images = get_client(args).get_queued_images()
    if not images:
        print('No queued images.')
        return SUCCESS
    print('Found %d queued images...' % len(images))
    table = prettytable.PrettyTable(('ID',))
    for image in images:
        table.add_row((image,))
    print(table.get_string())


def _one_image(verb, confirm, done):
    def command(args):
        image_id = args.command[1]
        if not args.force and not user_confirm(confirm % {'image_id': image_id}):
            return SUCCESS
        getattr(get_client(args), verb)(image_id)
        if args.verbose:
            print(done % {'image_id': image_id})
        return SUCCESS
    return command


def _all_images(verb, confirm, done):
    def command(args):
        if not args.force and not user_confirm(confirm):
            return SUCCESS
        num_deleted = getattr(get_client(args), verb)()
        if args.verbose:
            print(done % {'num_deleted': num_deleted})
        return SUCCESS
    return command


queue_image = catch_error('queue the specified image for caching')(validate_input(_one_image(
    'queue_image_for_caching', 'Queue image %(image_id)s for caching?',
    'Queued image %(image_id)s for caching')))
delete_cached_image = catch_error('delete the specified cached image')(validate_input(
    _one_image('delete_cached_image', 'Delete cached image %(image_id)s?',
               'Deleted cached image %(image_id)s')))
delete_all_cached_images = catch_error('Delete all cached images')(_all_images(
    'delete_all_cached_images', 'Delete all cached images?',
    'Deleted %(num_deleted)s cached images'))
delete_queued_image = catch_error('delete the specified queued image')(validate_input(
    _one_image('delete_queued_image', 'Delete queued image %(image_id)s?',
               'Deleted queued image %(image_id)s')))
delete_all_queued_images = catch_error('Delete all queued images')(_all_images(
    'delete_all_queued_images', 'Delete all queued images?',
    'Deleted %(num_deleted)s queued images'))

COMMANDS = collections.OrderedDict([
    ('help', (None, 'Output help for one of the commands below')),
    ('list-cached', (list_cached, 'List all images currently cached')),
    ('list-queued', (list_queued, 'List all images currently queued for caching')),
    ('queue-image', (queue_image, 'Queue an image for caching')),
    ('delete-cached-image', (delete_cached_image, 'Purges an image from the cache')),
    ('delete-all-cached-images', (delete_all_cached_images,
                                  'Removes all images from the cache')),
    ('delete-queued-image', (delete_queued_image, 'Deletes an image from the cache queue')),
    ('delete-all-queued-images', (delete_all_queued_images,
                                  'Deletes all images from the cache queue')),
])


def _env(name, default=''):
    return os.environ.get(name) or default


def _parser():
    text = 'Commands:\n\n' + ''.join(
        '    %-28s%s\n\n' % ('help <command>' if name == 'help' else name, info[1])
        for name, info in COMMANDS.items())
    parser = argparse.ArgumentParser(description=text,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add('command', default='help', nargs='+', help='The command to execute')
    add('-v', '--verbose', default=False, action='store_true', help='Print more verbose output.')
    add('-d', '--debug', default=False, action='store_true', help='Print debugging output.')
    add('-H', '--host', metavar='ADDRESS', default='0.0.0.0', help='Address of Glance API host.')
    add('-p', '--port', dest='port', metavar='PORT', type=int, default=9292,
        help='Port the Glance API host listens on.')
    add('-k', '--insecure', default=False, action='store_true',
        help='Explicitly allow "insecure" SSL (https) requests.')
    add('-f', '--force', default=False, action='store_true',
        help='Prevent select actions from requesting user confirmation.')
    for flag, var, short in (('--os-auth-token', 'OS_AUTH_TOKEN', '-A'),
                             ('--os-username', 'OS_USERNAME', '-I'),
                             ('--os-password', 'OS_PASSWORD', '-K'),
                             ('--os-region-name', 'OS_REGION_NAME', '-R'),
                             ('--os-project-id', 'OS_PROJECT_ID', None),
                             ('--os-project-name', 'OS_PROJECT_NAME', '-T'),
                             ('--os-user-domain-id', 'OS_USER_DOMAIN_ID', None),
                             ('--os-project-domain-id', 'OS_PROJECT_DOMAIN_ID', None),
                             ('--os-auth-url', 'OS_AUTH_URL', '-N')):
        dest = flag[2:].replace('-', '_')
        add(flag, dest=dest, default=_env(var), help='Defaults to env[%s].' % var)
        if short:
            add(short, dest=dest, help=argparse.SUPPRESS)
    add('--os-domain-id', dest='os_domain_id', default=_env('OS_DOMAIN_ID', 'default'),
        help='Defaults to env[OS_DOMAIN_ID].')
    add('-S', '--os_auth_strategy', dest='os_auth_strategy', metavar='STRATEGY',
        help='Authentication strategy (keystone or noauth).')
    return parser


def manage_main(argv=None):
    """glance-cache-manage: list, queue and delete cached images through the api."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command[0] == 'help' and len(args.command) == 1:
        parser.print_help()
        return SUCCESS
    if args.command[0] not in COMMANDS:
        print('\nError: "%s" is not a valid command.\n' % args.command[0])
        sys.exit('Unknown command: %s' % args.command[0])
    if args.command[0] == 'help':
        doc = COMMANDS.get(args.command[1], (None, ''))[0]
        print((doc.__doc__ or '') % {'prog': os.path.basename(sys.argv[0])} if doc else '')
        return SUCCESS
    return COMMANDS[args.command[0]][0](args)
