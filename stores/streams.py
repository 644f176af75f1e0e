"""A request body fed chunk by chunk through a bounded queue (the Swift and S3 writers).

The writer's thread ``put``s chunks; a helper thread runs the client library's upload
call, which ``read``s them as a file-like body. The queue holds a few chunks, so a writer
faster than the backend waits (backpressure) and memory stays at a few chunks per upload.
An upload that failed (or ended) raises its error in the writer at the next ``put`` or
``end``; ``abort`` makes the body's next ``read`` fail, so the client gives the request up.
"""

import queue

from stores import exceptions

# Chunks queued per upload.
QUEUE_CHUNKS = 4
# Seconds a writer waits on a full queue before it checks the upload is still running.
POLL_INTERVAL = 0.2
_END = object()
_ABORT = object()


class QueueBody:
    """One upload call run by a helper thread, its body fed through a bounded queue.

    ``send(body)`` is submitted to ``pool`` and is the upload (it reads ``body``, a
    file-like object); ``future`` is its result. ``service`` and ``name`` name the upload
    in errors ("Swift", the object name).
    """

    def __init__(self, pool, send, service, name):
        self.queue = queue.Queue(QUEUE_CHUNKS)
        self.pending = b""
        self.service = service
        self.name = name
        self.future = pool.submit(self._run, send)

    def read(self, size=-1):
        """Return the next queued bytes, at most ``size`` (b"" at the end)."""
        if not self.pending:
            chunk = self.queue.get()
            if chunk is _END:
                self.queue.put(_END)  # later reads see the end too
                return b""
            if chunk is _ABORT:
                raise OSError("upload aborted")
            self.pending = chunk
        if size is None or size < 0 or size >= len(self.pending):
            chunk, self.pending = self.pending, b""
            return chunk
        chunk, self.pending = self.pending[:size], self.pending[size:]
        return chunk

    def _run(self, send):
        try:
            return send(self)
        finally:
            self._drain()

    def _drain(self):
        # Unblock a writer waiting on a full queue after a failure; drop queued chunks.
        try:
            while True:
                self.queue.get_nowait()
        except queue.Empty:
            pass

    def put(self, chunk):
        """Queue ``chunk``; raise the upload's error if it failed meanwhile.

        :raises: whatever ``send`` raised; BackendException if it returned before
                 reading the end of the body
        """
        self._put(chunk)

    def end(self):
        """Mark the end of the body; raise the upload's error if it failed meanwhile."""
        self._put(_END)

    def _put(self, item):
        while True:
            if self.future.done():
                self.future.result()  # raises the upload's error
                if item is _END:
                    return
                raise exceptions.BackendException(
                    message="%s upload of %s ended early" % (self.service, self.name))
            try:
                self.queue.put(item, timeout=POLL_INTERVAL)
                return
            except queue.Full:
                continue

    def abort(self, timeout):
        """Make a running upload's next read fail; wait at most ``timeout`` seconds for room."""
        if self.future.done():
            return
        try:
            self.queue.put(_ABORT, timeout=timeout)
        except queue.Full:
            pass
