"""A native (non-JS) Parley client: python-socketio and requests, as Debian packages them.

Usage: python_client.py BASE_URL USERNAME PASSWORD ROOM_ID
Prints one JSON object per line describing each step, for the test that drives it.
"""
import json
import sys
import threading

import requests
import socketio

base, username, password, room_id = sys.argv[1:5]


def report(step, **fields):
    print(json.dumps({"step": step, **fields}), flush=True)


res = requests.post(base + "/api/auth/token", json={"username": username, "password": password}, timeout=10)
body = res.json()
report("token", status=res.status_code, set_cookie=res.headers.get("set-cookie"), keys=sorted(body.keys()))
token = body["token"]


def session(name, **connect_args):
    """Connects over websocket only, joins the room, sends, and waits for its own broadcast."""
    sio = socketio.Client(reconnection=False)
    received = threading.Event()
    got = {}

    @sio.on("message")
    def on_message(message):
        got["message"] = message
        received.set()

    sio.connect(base, transports=["websocket"], wait_timeout=10, **connect_args)
    joined = sio.call("join", {"roomId": room_id}, timeout=10)
    sent = sio.call("message", {"roomId": room_id, "text": "hello from " + name, "clientMsgId": name}, timeout=10)
    received.wait(10)
    report(name, transport=sio.transport(), joined=joined.get("ok"), sent=sent, received=got.get("message"))
    sio.disconnect()


session("bearer", headers={"Authorization": "Bearer " + token})
session("auth_token", auth={"token": token})

# The same token as a cookie is an ambient credential: its foreign Origin must be refused.
sio = socketio.Client(reconnection=False)
try:
    sio.connect(base, transports=["websocket"], wait_timeout=10, headers={"Cookie": "sid=" + token})
    report("cookie", connected=True)
    sio.disconnect()
except socketio.exceptions.ConnectionError as err:
    report("cookie", connected=False, error=str(err))

res = requests.post(base + "/api/auth/logout", headers={"Authorization": "Bearer " + token}, timeout=10)
report("logout", status=res.status_code)
res = requests.get(base + "/api/auth/me", headers={"Authorization": "Bearer " + token}, timeout=10)
report("after_logout", status=res.status_code)
