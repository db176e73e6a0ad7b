"""Drives a quickstart server with paho-mqtt, over MQTT 3.1.1 or 5 (argv: port, version).

Exits non-zero with a message on the first failed check.
"""
import json
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

PORT = int(sys.argv[1])
MODE = sys.argv[2]  # "311", "5" or "ws" (3.1.1 over WebSocket)
V5 = MODE == "5"
CID = {"5": "paho5", "311": "paho311", "ws": "pahows"}[MODE]
inbox = []
arrived = threading.Condition()


def on_message(_client, _userdata, msg):
    with arrived:
        inbox.append(msg)
        arrived.notify_all()


def wait_for(pred, what):
    with arrived:
        if not arrived.wait_for(lambda: any(pred(m) for m in inbox), timeout=10):
            sys.exit(f"timed out waiting for {what}; got {[m.payload for m in inbox]}")
        msg = next(m for m in inbox if pred(m))
        inbox.remove(msg)
        return msg


client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=CID,
                     protocol=mqtt.MQTTv5 if V5 else mqtt.MQTTv311,
                     transport="websockets" if MODE == "ws" else "tcp")
client.on_message = on_message
client.connect("127.0.0.1", PORT)
client.loop_start()
subscribed = threading.Event()
client.on_subscribe = lambda *args: subscribed.set()
client.subscribe([(f"spec/{CID}/response/#", 1), (f"spec/{CID}/response", 1), (f"spec/{CID}/notify/+", 1)])
if not subscribed.wait(10):
    sys.exit("no SUBACK")


def request(body, correlation=None, response_topic=None, expect_topic=None):
    props = None
    if V5 and (correlation is not None or response_topic is not None):
        props = Properties(PacketTypes.PUBLISH)
        if correlation is not None:
            props.CorrelationData = correlation
        if response_topic is not None:
            props.ResponseTopic = response_topic
    client.publish(f"spec/{CID}/request", json.dumps(body), qos=1, properties=props)
    want = expect_topic or f"spec/{CID}/response"
    msg = wait_for(lambda m: m.topic == want and json.loads(m.payload).get("id") == body.get("id", ""),
                   f"reply to {body.get('id')} on {want}")
    return msg, json.loads(msg.payload)


_, sub = request({"id": "s1", "type": "subscription", "operation": "subscribe", "entity": "users",
                  "options": {"filters": [{"column": "status", "operator": "eq", "value": "py"}]}})
assert sub["success"], sub
msg, created = request({"id": "c1", "type": "request", "operation": "create", "entity": "users",
                        "data": {"name": "Py", "email": f"{CID}@example.com", "status": "py"}}, correlation=b"corr-42")
assert created["success"] and created["data"]["name"] == "Py", created
if V5:
    got = getattr(msg.properties, "CorrelationData", None)
    assert got == b"corr-42", f"correlation data echoed, got {got!r}"
note = wait_for(lambda m: "/notify/" in m.topic, "notification")
body = json.loads(note.payload)
assert body["type"] == "notification" and body["scope"] == "enter" and body["seq"] == 1, body
assert body["data"]["email"] == f"{CID}@example.com", body
_, listed = request({"id": "r1", "type": "request", "operation": "read", "entity": "users",
                     "options": {"filters": [{"column": "email", "operator": "eq", "value": f"{CID}@example.com"}]}})
assert listed["success"] and len(listed["data"]) == 1, listed
_, pong = request({"id": "p1", "type": "ping"})
if V5:
    # A Response Topic below the client's response topic is honoured; any other is ignored.
    below = f"spec/{CID}/response/x"
    _, r = request({"id": "rt1", "type": "ping"}, response_topic=below, expect_topic=below)
    assert r["type"] == "pong", r
    _, r = request({"id": "rt2", "type": "ping"}, response_topic="spec/other/response")
    assert r["type"] == "pong", r
    # A level the broker cannot publish to ($) falls back to the default topic too.
    _, r = request({"id": "rt3", "type": "ping"}, response_topic=f"spec/{CID}/response/$x")
    assert r["type"] == "pong", r
assert pong["type"] == "pong", pong
client.loop_stop()
client.disconnect()
print("paho ok")
