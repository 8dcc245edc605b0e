"""Two slixmpp clients use Starling for instant messaging (RFC 6121).

Usage: slixmpp_im.py HOST PORT CAFILE ALICE_BARE BOB_BARE PASSWORD

Alice asks for Bob's presence; Bob's slixmpp approves and asks back, so the
subscription becomes mutual. Bob changes his presence and Alice sees it.
Alice renames Bob in her roster and the roster push arrives. They chat.
Bob logs out; Alice writes to him; when Bob logs in again the message is
delivered with a delay stamp. Prints one line per step, then "ok"; exits 1 on failure or
after a timeout.
"""

import asyncio
import sys

import slixcommon

HOST, PORT, CAFILE, ALICE, BOB, PASSWORD = sys.argv[1:7]


class Client(slixcommon.Client):
    def __init__(self, jid, name):
        super().__init__(jid, PASSWORD, name, CAFILE)
        self.register_plugin("xep_0203")  # delayed delivery
        self.presences = asyncio.Queue()
        self.add_event_handler("changed_status", self.presences.put_nowait)

    async def started(self):
        await self.get_roster()
        self.send_presence()
        print(f"{self.name}: online as {self.boundjid.full}", flush=True)


async def until(what, cond, seconds=10):
    """Polls cond every 50 ms, for at most seconds."""
    for _ in range(int(seconds / 0.05)):
        if cond():
            return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


async def online(jid, name):
    c = Client(jid + "/slix", name)
    c.connect((HOST, int(PORT)))
    await c.ready
    return c


async def main():
    alice, bob = await online(ALICE, "alice"), await online(BOB, "bob")

    # Subscription handshake (RFC 6121 §3.1): slixmpp approves requests
    # and asks back by default, so both end with subscription 'both'.
    alice.send_presence_subscription(pto=BOB)
    await until("a mutual subscription",
                lambda: alice.client_roster[BOB]["subscription"] == "both"
                and bob.client_roster[ALICE]["subscription"] == "both")
    print("alice: subscription to bob is both", flush=True)
    print("bob: subscription to alice is both", flush=True)

    # Presence exchange (RFC 6121 §4).
    bob.send_presence(pshow="dnd", pstatus="in a meeting")
    while True:
        p = await alice.presences.get()
        if p["from"] == bob.boundjid and p["show"] == "dnd":
            break
    print(f"alice: {p['from']} is {p['show']}: {p['status']}", flush=True)

    # Roster set and push (RFC 6121 §2.3).
    await alice.update_roster(BOB, name="Bobby", groups=["Friends"])
    await until("the roster push", lambda: alice.client_roster[BOB]["name"] == "Bobby")
    print(f"alice: bob is named {alice.client_roster[BOB]['name']} in {alice.client_roster[BOB]['groups']}", flush=True)

    # Messages between contacts, to the bare JID (RFC 6121 §8.5.2).
    alice.send_message(mto=BOB, mbody="Lunch at noon?", mtype="chat")
    msg = await asyncio.wait_for(bob.messages.get(), 10)
    bob.send_message(mto=msg["from"], mbody="Yes, see you there", mtype="chat")
    answer = await asyncio.wait_for(alice.messages.get(), 10)
    print(f"bob: got {msg['body']!r}; alice: got {answer['body']!r} from {answer['from']}", flush=True)

    # Offline message (XEP-0160).
    bob.disconnect()
    await bob.gone
    await until("bob's unavailable presence",
                lambda: not alice.client_roster.presence(BOB))
    alice.send_message(mto=BOB, mbody="Call me when you are out", mtype="chat")
    # A round trip: the server handles a stream's stanzas in order, so
    # the message is stored once this is answered.
    await alice.get_roster()
    bob = await online(BOB, "bob")
    msg = await asyncio.wait_for(bob.messages.get(), 10)
    stamp = msg["delay"]["stamp"]
    print(f"bob: offline message {msg['body']!r} from {msg['from']} stamped {'yes' if stamp else 'no'}", flush=True)
    if msg["body"] != "Call me when you are out" or not stamp:
        raise RuntimeError("bob got the wrong offline message")

    for c in (alice, bob):
        c.disconnect()
    print("ok", flush=True)


slixcommon.run(main, 45)
