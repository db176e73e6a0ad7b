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
V5 = sys.argv[2] == "5"
CID = "paho5" if V5 else "paho311"
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
                     protocol=mqtt.MQTTv5 if V5 else mqtt.MQTTv311)
client.on_message = on_message
client.connect("127.0.0.1", PORT)
client.loop_start()
subscribed = threading.Event()
client.on_subscribe = lambda *args: subscribed.set()
client.subscribe([(f"spec/{CID}/response", 1), (f"spec/{CID}/notify/+", 1)])
if not subscribed.wait(10):
    sys.exit("no SUBACK")


def request(body, correlation=None):
    props = None
    if V5 and correlation is not None:
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = correlation
    client.publish(f"spec/{CID}/request", json.dumps(body), qos=1, properties=props)
    msg = wait_for(lambda m: m.topic.endswith("/response") and json.loads(m.payload).get("id") == body.get("id", ""),
                   f"reply to {body.get('id')}")
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
assert pong["type"] == "pong", pong
client.loop_stop()
client.disconnect()
print("paho ok")
