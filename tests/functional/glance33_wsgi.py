"""Run by real Glance 33's interpreter: serve glance.wsgi.api:application on 127.0.0.1.

Usage: OS_GLANCE_CONFIG_DIR=DIR python glance33_wsgi.py PORT_FILE
Glance 33 has no standalone glance-api any more, so a threaded stdlib WSGI server hosts its
app. The server binds an ephemeral port and writes it to PORT_FILE once it is listening, so
the test never races another process for a probed port.
"""

import os
import socketserver
import sys
from wsgiref import simple_server


class _Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _QuietHandler(simple_server.WSGIRequestHandler):
    def address_string(self):
        # NOTE: skip the reverse DNS lookup wsgiref does for every logged request.
        return self.client_address[0]


def main():
    port_file = sys.argv[1]
    # NOTE: imported here, not at the top: importing builds the app from the config dir.
    from glance.wsgi import api

    server = simple_server.make_server("127.0.0.1", 0, api.application,
                                       server_class=_Server, handler_class=_QuietHandler)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as out:
        out.write(str(server.server_port))
    os.replace(tmp, port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
