"""Options of glance-registry, with the names and defaults Glance used."""

from oslo_config import cfg

bind_opts = [
    cfg.HostAddressOpt('bind_host', default='0.0.0.0',
                       help='Address to bind the registry server. Use 127.0.0.1 to listen '
                            'on loopback only.'),
    cfg.PortOpt('bind_port', default=9191,
                help='The port on which the registry server will listen (0 picks a free '
                     'one, logged as "Listening at").'),
    cfg.IntOpt('backlog', default=4096, min=1,
               help='The backlog value that will be used when creating the TCP listener '
                    'socket.'),
]

server_opts = [
    cfg.IntOpt('workers', min=0,
               help='The number of child process workers that will be created to service '
                    'requests. The default will be equal to the number of CPUs available. '
                    '0 runs a single worker.'),
    cfg.BoolOpt('http_keepalive', default=True,
                help='If False, the server will return the header "Connection: close"; '
                     'if True, it keeps connections open for reuse by the client.'),
    cfg.IntOpt('client_socket_timeout', default=900, min=0,
               help='Seconds an idle keep-alive connection is kept open. 0 means the '
                    'server default (2 seconds).'),
    cfg.IntOpt('client_header_timeout', default=60, min=1,
               help='Seconds a client has to send the request line, headers and (up to '
                    '64 KiB) body of a request, counted from the connection\'s accept or, on '
                    'a kept-alive connection, from the first byte of its next request. A '
                    'connection that sends nothing, or too slowly, is closed; requests are '
                    'read by each worker\'s event loop, so slow clients hold no thread. '
                    'Not a Glance option.'),
]

paste_deploy_opts = [
    cfg.StrOpt('flavor',
               help='Deployment flavor: "keystone" validates the X-Auth-Token (and the '
                    'X-Service-Token glance-api sends) with keystonemiddleware, and accepts '
                    'changes only from calls whose service token has one of '
                    '[keystone_authtoken] service_token_roles; unset (noauth, Glance\'s '
                    'trusted-auth) trusts the identity headers of every caller, so the port '
                    'must be reachable by glance-api alone. Any other value stops the '
                    'service at start.'),
]

client_opts = [
    cfg.HostAddressOpt('registry_host', default='0.0.0.0',
                       help='Address to find the registry server.'),
    cfg.PortOpt('registry_port', default=9191,
                help='Port the registry server is listening on.'),
    cfg.IntOpt('registry_client_timeout', default=600, min=0,
               help='The period of time, in seconds, that the API server will wait for a '
                    'registry request to complete. A value of 0 implies no timeout.'),
]


def register_client_opts(conf):
    """Register the options glance-api needs to reach the registry."""
    conf.register_opts(client_opts)


def register_opts(conf):
    """Register every option glance-registry reads, including ``[database]``."""
    # NOTE: imported here so that glance-api can call register_client_opts without
    # loading glance_db.
    from glance_db import config as db_config

    conf.register_opts(bind_opts)
    conf.register_opts(server_opts)
    conf.register_opts(paste_deploy_opts, group='paste_deploy')
    register_client_opts(conf)
    db_config.register_opts(conf)
    from glance_server import metrics   # [DEFAULT] enable_metrics
    metrics.register_opts(conf)


def _metrics_opts():
    from glance_server import metrics
    return metrics.metrics_opts


def list_opts():
    """List the registry's options for oslo-config-generator ([database] is glance.db's)."""
    return [
        ('DEFAULT', bind_opts + server_opts + client_opts + _metrics_opts()),
        ('paste_deploy', paste_deploy_opts),
    ]
