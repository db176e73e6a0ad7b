"""The embedded broker as a plain MQTT broker, outside mqttspec's namespace, checked with Eclipse
Paho (paho-mqtt 2): retained messages, persistent sessions and offline queueing, shared
subscriptions, the MQTT 5 subscribe options and `$` topics; MQTT 3.1.1 and 5. Mosquitto passes it too.

    python3 broker_conformance.py PORT

(Invalid filters, which Paho refuses to send, are checked with raw packets in tests/e2e/examples.rs.)

Every wait is bounded; a message that must not arrive is checked with a marker published after it
(the broker delivers one publisher's messages in order, and a later publisher's after them).
Prints one line per check and "conformance ok" at the end; exits non-zero on the first failure.
"""

import queue
import sys
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

PORT = int(sys.argv[1])
RUN = uuid.uuid4().hex[:8]
WAIT = 10


class Conn:
    """A connected client whose events arrive on queues."""

    def __init__(self, name, v5=True, clean=True, expiry=None):
        self.id = f"{name}-{RUN}"
        self.v5 = v5
        self.messages = queue.Queue()
        self.acks = queue.Queue()
        self.connacks = queue.Queue()
        protocol = mqtt.MQTTv5 if v5 else mqtt.MQTTv311
        kwargs = {} if v5 else {"clean_session": clean}
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.id, protocol=protocol, **kwargs)
        self.c.on_connect = lambda c, u, flags, rc, p: self.connacks.put((flags.session_present, rc))
        self.c.on_message = lambda c, u, m: self.messages.put((m.topic, m.payload.decode(), m.retain))
        self.c.on_subscribe = lambda c, u, mid, codes, p: self.acks.put([int(getattr(x, "value", x)) for x in codes])
        self.clean, self.expiry = clean, expiry
        self.session_present = self.connect()

    def connect(self):
        props = None
        if self.v5 and self.expiry is not None:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.expiry
        if self.v5:
            self.c.connect("127.0.0.1", PORT, clean_start=self.clean, properties=props)
        else:
            self.c.connect("127.0.0.1", PORT)
        self.c.loop_start()
        present, rc = self.connacks.get(timeout=WAIT)
        assert not rc.is_failure, f"{self.id}: CONNACK {rc}"
        return present

    def subscribe(self, topic, **options):
        if self.v5:
            self.c.subscribe(topic, options=SubscribeOptions(qos=1, **options))
        else:
            self.c.subscribe(topic, qos=1)
        return self.acks.get(timeout=WAIT)

    def publish(self, topic, payload, retain=False):
        self.c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(WAIT)

    def until(self, payload):
        """Messages received up to and including the one carrying `payload`."""
        seen = []
        while True:
            message = self.messages.get(timeout=WAIT)
            seen.append(message)
            if message[1] == payload:
                return seen

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def check(name, condition, detail=""):
    if not condition:
        print(f"FAIL {name}: {detail}")
        sys.exit(1)
    print(f"ok   {name}")


def retained(v5):
    tag = "5" if v5 else "311"
    topic = f"conf/{RUN}/retained{tag}"
    pub = Conn(f"rpub{tag}", v5)
    pub.publish(topic, "kept", retain=True)
    sub = Conn(f"rsub{tag}", v5)
    sub.subscribe(topic)
    topic_, payload, retain = sub.messages.get(timeout=WAIT)
    check(f"retained message delivered on subscribe ({tag})", (payload, retain) == ("kept", True), (payload, retain))
    pub.publish(topic, "", retain=True)  # clears it
    late = Conn(f"rlate{tag}", v5)
    late.subscribe(topic)
    pub.publish(topic, "marker")
    got = late.until("marker")
    check(f"an empty retained message clears it ({tag})", [m[1] for m in got] == ["marker"], got)
    for c in (pub, sub, late):
        c.close()


def offline(v5):
    tag = "5" if v5 else "311"
    topic = f"conf/{RUN}/offline{tag}"
    c = Conn(f"off{tag}", v5, clean=True, expiry=0)
    c.close()
    c = Conn(f"off{tag}", v5, clean=False, expiry=600)
    check(f"a new persistent session is not present ({tag})", c.session_present is False, c.session_present)
    c.subscribe(topic)
    c.close()
    pub = Conn(f"offpub{tag}", v5)
    for i in range(3):
        pub.publish(topic, f"missed{i}")
    back = Conn(f"off{tag}", v5, clean=False, expiry=600)
    check(f"the persistent session is present on return ({tag})", back.session_present is True, back.session_present)
    got = back.until("missed2")
    check(f"messages published while offline are delivered ({tag})", [m[1] for m in got] == ["missed0", "missed1", "missed2"], got)
    back.close()
    clean = Conn(f"off{tag}", v5, clean=True, expiry=0)
    check(f"a clean session finds no session ({tag})", clean.session_present is False, clean.session_present)
    clean.close()
    pub.close()


def shared(v5):
    tag = "5" if v5 else "311"
    topic = f"conf/{RUN}/shared{tag}"
    a, b = Conn(f"sha{tag}", v5), Conn(f"shb{tag}", v5)
    a.subscribe(f"$share/g{tag}/{topic}")
    b.subscribe(f"$share/g{tag}/{topic}")
    pub = Conn(f"shpub{tag}", v5)
    for i in range(10):
        pub.publish(topic, str(i))
    got, deadline = [], time.monotonic() + WAIT
    while len(got) < 10 and time.monotonic() < deadline:
        for c in (a, b):
            try:
                got.append((c.id, c.messages.get(timeout=0.05)[1]))
            except queue.Empty:
                pass
    per = {c.id: sum(1 for who, _ in got if who == c.id) for c in (a, b)}
    check(f"each message of a shared group goes to one member ({tag})", sorted(p for _, p in got) == sorted(map(str, range(10))), got)
    check(f"the group's members share the messages ({tag})", all(n > 0 for n in per.values()), per)
    for c in (a, b, pub):
        c.close()


def subscribe_options():
    topic = f"conf/{RUN}/options"
    me, other = Conn("nolocal"), Conn("nolocal-other")
    me.subscribe(topic, noLocal=True)
    other.subscribe(topic)
    me.publish(topic, "mine")
    other.until("mine")
    other.publish(topic, "marker")
    got = me.until("marker")
    check("no local: a client does not get its own messages", [m[1] for m in got] == ["marker"], got)

    rtopic = f"conf/{RUN}/rap"
    keep, plain = Conn("rap-keep"), Conn("rap-plain")
    keep.subscribe(rtopic, retainAsPublished=True)
    plain.subscribe(rtopic)
    other.publish(rtopic, "live", retain=True)
    check("retain as published keeps the flag", keep.until("live")[-1][2] is True)
    check("without it, a live message has the flag cleared", plain.until("live")[-1][2] is False)

    never = Conn("rh-never")
    never.subscribe(rtopic, retainHandling=2)
    other.publish(rtopic, "marker2")
    got = never.until("marker2")
    check("retain handling 2: no retained message on subscribe", [m[1] for m in got] == ["marker2"], got)
    new_only = Conn("rh-new")
    new_only.subscribe(rtopic, retainHandling=1)
    check("retain handling 1: the retained message on a new subscription", new_only.messages.get(timeout=WAIT)[1] == "live")
    new_only.subscribe(rtopic, retainHandling=1)
    other.publish(rtopic, "marker3")
    got = new_only.until("marker3")
    check("retain handling 1: not again on a repeated subscription", [m[1] for m in got] == ["marker3"], got)
    always = Conn("rh-always")
    always.subscribe(rtopic, retainHandling=0)
    always.messages.get(timeout=WAIT)
    always.subscribe(rtopic, retainHandling=0)
    check("retain handling 0: the retained message on every subscribe", always.messages.get(timeout=WAIT)[1] == "live")
    other.publish(rtopic, "", retain=True)
    for c in (me, other, keep, plain, never, new_only, always):
        c.close()


def dollar_topics():
    c = Conn("dollar")
    c.subscribe("+/x")
    c.subscribe(f"$conf{RUN}/x")
    pub = Conn("dollar-pub")
    pub.publish(f"$conf{RUN}/x", "dollar")
    got = c.until("dollar")
    check("a `$` topic reaches a filter that names it", len(got) == 1 and got[0][0] == f"$conf{RUN}/x", got)
    pub.publish(f"m{RUN}/x", "marker")
    got = c.until("marker")
    check("`+` at the first level does not match a `$` topic", [m[0] for m in got] == [f"m{RUN}/x"], got)
    c.close()
    pub.close()


def reconnect_race(v5, rounds=50):
    """A clean session that ends while the same client id connects again: the new connection is
    accepted and finds no session (rmqtt alone sometimes answered "server unavailable" or revived it)."""
    tag = "5" if v5 else "311"
    topic = f"conf/{RUN}/race{tag}"
    for i in range(rounds):
        c = Conn(f"race{tag}", v5, clean=True, expiry=0)
        c.subscribe(topic)
        c.c.disconnect()
        c.c.loop_stop()
        again = Conn(f"race{tag}", v5, clean=False, expiry=0)
        again.close()
        if again.session_present is not False:
            check(f"reconnect race ({tag})", False, f"round {i}: session present after a clean session")
    check(f"reconnect race: {rounds} rounds, none finds the clean session ({tag})", True)


for v5 in (False, True):
    reconnect_race(v5)
    retained(v5)
    offline(v5)
    shared(v5)
subscribe_options()
dollar_topics()
print("conformance ok")
