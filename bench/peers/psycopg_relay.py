"""The hand-written peer: one psycopg 3 connection LISTENs, every NOTIFY payload is put on each
subscriber's queue, and a minimal Starlette SSE endpoint (uvicorn) writes it out. One process,
loopback only.

    python psycopg_relay.py DATABASE_URL CHANNEL PORT

GET /stream: every NOTIFY payload on CHANNEL from the moment the stream opens, as `data: <payload>`.
No ids, resume, replay or filters; each subscriber's queue is unbounded.
"""
import asyncio
import contextlib
import sys

import psycopg
import uvicorn
from psycopg import sql
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

url, channel, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
subscribers: set[asyncio.Queue] = set()


async def listen():
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        async for notify in conn.notifies():
            for queue in subscribers:
                queue.put_nowait(notify.payload)


async def stream(request):
    queue: asyncio.Queue = asyncio.Queue()

    async def events():
        subscribers.add(queue)
        try:
            yield "event: live\ndata: {}\n\n"
            while True:
                yield f"data: {await queue.get()}\n\n"
        finally:
            subscribers.discard(queue)

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@contextlib.asynccontextmanager
async def lifespan(app):
    task = asyncio.create_task(listen())
    yield
    task.cancel()


app = Starlette(routes=[Route("/stream", stream)], lifespan=lifespan)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
