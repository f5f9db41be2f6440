"""Django's ASGI handler with the request served by one thread, in one hop.

Django's `ASGIHandler` runs its middleware chain in async mode. The chain here has synchronous
middlewares and the DRF views are synchronous, so each request crossed from the loop to a thread
and back several times: the `request_started` signal, the chain, the view inside it, and
`response.close()`. Each request also made a thread pool of its own (asgiref's
`ThreadSensitiveContext`) and joined its thread at the end.

`SyncASGIHandler` builds the chain in sync mode, as `WSGIHandler` does. One call on a shared
pool of threads then does what `WSGIHandler` does: it sends `request_started`, builds the
request, runs the chain and closes the response, which sends `request_finished` and gives the
database connection back on the thread that used it. The loop only reads the body and writes
the answer. The worker thread was lent by `sync_to_async`, so `async_to_sync` in a view (a
request to the engine) still runs its coroutine on the server's loop.

A streamed answer is closed once it is sent, on one of those threads, as Django's handler does.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix


class SyncASGIHandler(ASGIHandler):
    """HTTP through Django's synchronous request path, one thread hop a request."""

    def __init__(self, threads: int) -> None:
        # BaseHandler.__init__ only sets the attributes load_middleware fills; ASGIHandler's
        # would load the chain in async mode.
        super(ASGIHandler, self).__init__()
        self.load_middleware(is_async=False)
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="waha-http")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django serves HTTP only, not {scope['type']}")
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        try:
            response = await sync_to_async(self.respond, thread_sensitive=False,
                                           executor=self.executor)(scope, body_file)
        finally:
            body_file.close()
        try:
            await self.send_response(response, send)
        finally:
            if response.streaming:
                await sync_to_async(response.close, thread_sensitive=False,
                                    executor=self.executor)()

    def respond(self, scope: dict[str, Any], body_file: Any) -> HttpResponseBase:
        """What `WSGIHandler.__call__` does, for one ASGI request (on a worker thread)."""
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, refusal = self.create_request(scope, body_file)
        if request is None:
            assert refusal is not None  # Django answers one or the other
            response: HttpResponseBase = refusal
        else:
            response = self.get_response(request)
            response._handler_class = self.__class__  # type: ignore[attr-defined]
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:
            response.close()  # request_finished: the connection goes back on its own thread
        return response

