#!/usr/bin/env python3
"""Protocol-level codes of a Mosquitto broker running deploy/mosquitto/{mosquitto.conf,acl,test.passwd}.

    python3 deploy/mosquitto/verify_codes.py PORT

Speaks raw MQTT over a socket (no client library) so the exact CONNACK, SUBACK and
PUBACK bytes can be reported for MQTT 3.1.1 and MQTT 5. Prints one line per check;
exit status 1 if any check did not match the expectation.
"""
import socket
import struct
import sys

PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 18883
FAILS = 0


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def s(x):
    x = x.encode() if isinstance(x, str) else x
    return struct.pack("!H", len(x)) + x


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def read_packet(sock):
    hdr = sock.recv(1)
    if not hdr:
        return None, None
    mult, length = 1, 0
    while True:
        b = sock.recv(1)[0]
        length += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            break
        body += chunk
    return hdr[0], body


def connect(client_id, user, password, v5):
    sock = socket.create_connection(("127.0.0.1", PORT), timeout=3)
    flags = 0x02
    payload = s(client_id)
    if user is not None:
        flags |= 0x80
        payload += s(user)
    if password is not None:
        flags |= 0x40
        payload += s(password)
    var = s("MQTT") + bytes([5 if v5 else 4, flags]) + struct.pack("!H", 30)
    if v5:
        var += varint(0)
    sock.sendall(packet(0x10, var + payload))
    typ, body = read_packet(sock)
    assert typ == 0x20, f"expected CONNACK, got {typ}"
    return sock, body[1]


def subscribe(sock, pid, filt, v5):
    body = struct.pack("!H", pid) + (varint(0) if v5 else b"") + s(filt) + bytes([1])
    sock.sendall(packet(0x82, body))
    typ, body = read_packet(sock)
    assert typ == 0x90, f"expected SUBACK, got {typ}"
    return body[-1]


def publish_qos1(sock, pid, topic, payload, v5):
    body = s(topic) + struct.pack("!H", pid) + (varint(0) if v5 else b"") + payload
    sock.sendall(packet(0x32, body))
    typ, body = read_packet(sock)
    if typ is None:
        return "connection closed"
    assert typ == 0x40, f"expected PUBACK, got {typ}"
    return body[2] if len(body) > 2 else 0


def still_open(sock):
    try:
        sock.sendall(b"\xc0\x00")
        typ, _ = read_packet(sock)
        return typ == 0xD0
    except OSError:
        return False


def check(desc, expected, observed):
    global FAILS
    ok = expected == observed
    FAILS += not ok
    fmt = lambda v: hex(v) if isinstance(v, int) else repr(v)
    print(f"{'PASS' if ok else 'FAIL'}  {desc}: expected {fmt(expected)}, observed {fmt(observed)}")


for v5 in (False, True):
    ver = "MQTT 5" if v5 else "MQTT 3.1.1"
    for user, pw, exp3, exp5, what in [
        ("client", "client", 0, 0x00, "good password"),
        ("client", "wrong", 5, 0x87, "wrong password"),
        ("nobody", "x", 5, 0x87, "unknown user"),
        (None, None, 5, 0x87, "no credentials"),
    ]:
        sock, rc = connect("alice", user, pw, v5)
        sock.close()
        check(f"{ver} CONNACK, {what}", exp5 if v5 else exp3, rc)

    for cid in ["+", "#", "bob/response", "a b"]:
        sock, rc = connect(cid, "client", "client", v5)
        sock.close()
        check(f"{ver} CONNACK for client id {cid!r} (accepted: the ACL, not CONNECT, guards it)", 0, rc)

    sock, rc = connect("alice", "client", "client", v5)
    granted = 0x01
    for i, filt in enumerate(["spec/alice/response", "spec/bob/response", "spec/+/request", "#",
                              "$share/g/spec/#", "$SYS/#"], start=1):
        check(f"{ver} SUBACK for alice subscribing {filt!r} (SUBSCRIBE is not ACL-checked)",
              granted, subscribe(sock, i, filt, v5))
    check(f"{ver} PUBACK for alice publishing QoS 1 to own spec/alice/request", 0,
          publish_qos1(sock, 20, "spec/alice/request", b"x", v5))
    check(f"{ver} PUBACK for alice publishing QoS 1 to spec/bob/request (denied, dropped)",
          0x87 if v5 else 0, publish_qos1(sock, 21, "spec/bob/request", b"x", v5))
    check(f"{ver} connection still open after the denied PUBLISH", True, still_open(sock))
    sock.close()

sys.exit(1 if FAILS else 0)
