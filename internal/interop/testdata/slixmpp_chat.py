"""Two slixmpp clients log in to a server and exchange chat messages.

Usage: slixmpp_chat.py HOST PORT CAFILE ALICE_JID BOB_JID PASSWORD [tls1.2]

Both clients use STARTTLS with certificate verification against CAFILE,
limited to TLS 1.2 when asked.
Alice sends Bob a message; Bob answers; Alice checks the answer. Exits 0 on
success, 1 on failure or after a timeout. Prints one line per event.
"""

import asyncio
import ssl
import sys

import slixmpp

HOST, PORT, CAFILE, ALICE, BOB, PASSWORD = sys.argv[1:7]
TLS12 = sys.argv[7:] == ["tls1.2"]


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, name):
        super().__init__(jid, PASSWORD)
        self.name = name
        self.ca_certs = CAFILE
        if TLS12:
            self.ssl_context.maximum_version = ssl.TLSVersion.TLSv1_2
        self.ready = asyncio.get_event_loop().create_future()
        self.messages = asyncio.Queue()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("failed_all_auth", self.on_failed)
        self.add_event_handler("disconnected", self.on_disconnected)

    def on_start(self, _):
        self.send_presence()
        mech = self["feature_mechanisms"].mech.name
        tls = self.socket.version() if hasattr(self.socket, "version") else "none"
        print(f"{self.name}: logged in as {self.boundjid.full} with {mech} over {tls}", flush=True)
        if not self.ready.done():
            self.ready.set_result(True)

    def on_failed(self, _):
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"{self.name}: authentication failed"))

    def on_disconnected(self, _):
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"{self.name}: disconnected before logging in"))

    def on_message(self, msg):
        if msg["type"] in ("chat", "normal"):
            self.messages.put_nowait(msg)


async def main():
    alice, bob = Client(ALICE, "alice"), Client(BOB, "bob")
    for c in (alice, bob):
        c.connect((HOST, int(PORT)))
    await asyncio.gather(alice.ready, bob.ready)

    alice.send_message(mto=bob.boundjid.full, mbody="Hello Bob, it's Alice <3", mtype="chat")
    got = await bob.messages.get()
    print(f"bob: got {got['body']!r} from {got['from']}", flush=True)
    if got["body"] != "Hello Bob, it's Alice <3" or got["from"] != alice.boundjid:
        raise RuntimeError("bob got the wrong message")

    bob.send_message(mto=got["from"], mbody="Hi Alice & welcome", mtype="chat")
    got = await alice.messages.get()
    print(f"alice: got {got['body']!r} from {got['from']}", flush=True)
    if got["body"] != "Hi Alice & welcome" or got["from"] != bob.boundjid:
        raise RuntimeError("alice got the wrong message")

    for c in (alice, bob):
        c.disconnect()
    print("ok", flush=True)


try:
    asyncio.get_event_loop().run_until_complete(asyncio.wait_for(main(), 30))
except Exception as e:  # report and fail
    print(f"failed: {e!r}", flush=True)
    sys.exit(1)
