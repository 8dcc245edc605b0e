"""What the slixmpp scenarios share: a client that logs in with STARTTLS,
verifying the server's certificate, and reports its login as a future, and
a runner that prints any failure and exits 1.
"""

import asyncio
import ssl
import sys

import slixmpp


class Client(slixmpp.ClientXMPP):
    """A logged-in client; chat and normal messages go to self.messages."""

    def __init__(self, jid, password, name, cafile, tls12=False):
        super().__init__(jid, password)
        self.name = name
        self.ca_certs = cafile
        if tls12:
            self.ssl_context.maximum_version = ssl.TLSVersion.TLSv1_2
        self.ready = asyncio.get_event_loop().create_future()
        self.gone = asyncio.get_event_loop().create_future()
        self.messages = asyncio.Queue()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("failed_all_auth", self.on_failed)
        self.add_event_handler("disconnected", self.on_disconnected)

    async def on_start(self, _):
        await self.started()
        if not self.ready.done():
            self.ready.set_result(True)

    async def started(self):
        """What a scenario does once logged in (overridden)."""
        self.send_presence()

    def on_failed(self, _):
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"{self.name}: authentication failed"))

    def on_disconnected(self, _):
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"{self.name}: disconnected before logging in"))
        if not self.gone.done():
            self.gone.set_result(True)

    def on_message(self, msg):
        if msg["type"] in ("chat", "normal"):
            self.messages.put_nowait(msg)


def run(main, seconds):
    """Runs the coroutine main within seconds; on failure prints why and
    exits 1."""
    try:
        asyncio.get_event_loop().run_until_complete(asyncio.wait_for(main(), seconds))
    except Exception as e:  # report and fail
        print(f"failed: {e!r}", flush=True)
        sys.exit(1)
