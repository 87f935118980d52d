"""The peer a Python team would pick: encode's `broadcaster` (its Postgres backend, asyncpg LISTEN)
behind a minimal Starlette SSE endpoint, served by uvicorn. One process, loopback only.

    python broadcaster_relay.py DATABASE_URL CHANNEL PORT

GET /stream: every NOTIFY payload on CHANNEL from the moment the stream opens, as `data: <payload>`.
What it does not do, and a user of it would not get: ids, resume, replay, filters, backpressure
(each subscriber's queue is unbounded).
"""
import contextlib
import sys

import uvicorn
from broadcaster import Broadcast
from starlette.applications import Starlette
from starlette.responses import StreamingResponse
from starlette.routing import Route

url, channel, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
broadcast = Broadcast(url)


async def stream(request):
    async def events():
        yield ": open\n\n"
        async with broadcast.subscribe(channel=channel) as subscriber:
            yield "event: live\ndata: {}\n\n"
            async for event in subscriber:
                yield f"data: {event.message}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@contextlib.asynccontextmanager
async def lifespan(app):
    await broadcast.connect()
    yield
    await broadcast.disconnect()


app = Starlette(routes=[Route("/stream", stream)], lifespan=lifespan)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
