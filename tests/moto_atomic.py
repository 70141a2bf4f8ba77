"""moto's server, with each request handled atomically, as AWS handles each DynamoDB request.

moto's own server handles requests on threads without per-item locking, so two concurrent
conditional writes (or two atomic ADDs) can interleave inside moto and both win, or one be
lost: a race AWS never has. The concurrency tests (one ticket per alert, counted repeats)
must see DynamoDB's semantics, so this runs the same moto application behind one lock.
Connections are still served on threads; only the request handling is serialized.

Usage: python moto_atomic.py HOST PORT
"""

import os
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


class Atomic:
    """A WSGI application that runs one request at a time."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            # The body is produced inside the lock too: moto may build it lazily.
            return list(self.app(environ, start_response))


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, Atomic(app), threaded=True)


if __name__ == "__main__":
    main()
