"""Two slixmpp clients log in to a server and exchange chat messages.

Usage: slixmpp_chat.py HOST PORT CAFILE ALICE_JID BOB_JID PASSWORD [tls1.2]

Both clients use STARTTLS with certificate verification against CAFILE,
limited to TLS 1.2 when asked.
Alice sends Bob a message; Bob answers; Alice checks the answer. Exits 0 on
success, 1 on failure or after a timeout. Prints one line per event.
"""

import asyncio
import sys

import slixcommon

HOST, PORT, CAFILE, ALICE, BOB, PASSWORD = sys.argv[1:7]
TLS12 = sys.argv[7:] == ["tls1.2"]


class Client(slixcommon.Client):
    async def started(self):
        self.send_presence()
        mech = self["feature_mechanisms"].mech.name
        tls = self.socket.version() if hasattr(self.socket, "version") else "none"
        print(f"{self.name}: logged in as {self.boundjid.full} with {mech} over {tls}", flush=True)


async def main():
    alice = Client(ALICE, PASSWORD, "alice", CAFILE, TLS12)
    bob = Client(BOB, PASSWORD, "bob", CAFILE, TLS12)
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




slixcommon.run(main, 30)
