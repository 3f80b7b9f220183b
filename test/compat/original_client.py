#!/usr/bin/python3
"""
A client of the original Python service, written from ORIGINAL.md (§1, §2, §5.5, §6, §8): it uses
`requests` for /rpc and redis-py for SUBSCRIBE exactly as the Reflex backend and its BusConsumer do,
and a minimal stdlib WebSocket client for `/ws?uid=` (the consumer opens it without a token).

It checks the wire shapes itself (exact key sets and JSON types) and prints one JSON object per
line; vitest (test/compat/compat.test.ts) drives it and asserts on that output and the exit code.

Scenarios (argv[1]):
  rpc       the RPC calls of ORIGINAL §1-§2 and §8.1; exit 1 with the first difference
  reply_to  §1.6: the reply_to publication is the response body plus trace_id
  consumer  §8.2: /ws?uid=… (+ chat params) and SUBSCRIBE user:{uid} / chat:{uid}:{space}:{thread};
            prints every event with a shape verdict until stdin closes
  ws_probe  one /ws upgrade (optional X-Forwarded-For), prints the HTTP status
Environment: SERVICE_URL, SERVICE_TOKEN (empty = none), REDIS_HOST, REDIS_PORT, UID, SPACE, THREAD,
XFF, SESSION.
"""
import base64
import json
import os
import re
import select
import socket
import sys
import threading
import time
import uuid
from urllib.parse import urlencode, urlparse

import redis
import requests

URL = os.environ.get("SERVICE_URL", "http://127.0.0.1:8090")
TOKEN = os.environ.get("SERVICE_TOKEN", "")
UID = os.environ.get("UID", "compat-user")
out_lock = threading.Lock()


def emit(obj):
    with out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


class Mismatch(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Mismatch(what)


def keys_exact(obj, keys, where):
    expect(isinstance(obj, dict), f"{where}: expected an object, got {type(obj).__name__}")
    expect(set(obj.keys()) == set(keys), f"{where}: keys {sorted(obj.keys())} != {sorted(keys)}")


def typed(obj, types, where):
    for k, t in types.items():
        expect(isinstance(obj.get(k), t) and not (t is int and isinstance(obj.get(k), bool)), f"{where}.{k}: {obj.get(k)!r} is not {t}")


# --- RPC as the Reflex rpc_call (REFLEX_INTEGRATION.md, ORIGINAL §8.1) ---------------------------

def rpc(method, args=None, kwargs=None, **extra):
    body = {
        "api_version": "v1",
        "method": method,
        "args": args or [],
        "kwargs": kwargs or {},
        "user_id": UID,
        "session_id": os.environ.get("SESSION", "compat-session"),
        "idempotency_key": uuid.uuid4().hex,
        "timeout_ms": 30000,
        "trace_id": str(uuid.uuid4()),
    }
    body.update(extra)
    headers = {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}
    r = requests.post(f"{URL}/rpc", json=body, headers=headers, timeout=30)
    env = r.json()
    keys_exact(env, ["ok", "data", "error"], f"{method} envelope")
    if env["ok"]:
        expect(env["error"] is None, f"{method}: error must be null on success")
    else:
        expect(env["data"] is None, f"{method}: data must be null on error")
        keys_exact(env["error"], ["code", "message"], f"{method} error")
    return r.status_code, env


def scenario_rpc():
    sid = os.environ.get("SESSION", "compat-session")
    # §2.1 register_user at login: args [uid, session_id, backend_route]
    _, env = rpc("REGISTRY.register_user", [UID, sid, "/route"])
    expect(env["ok"], f"register_user failed: {env}")
    keys_exact(env["data"], ["user_id", "session_id", "backend_route", "last_seen_at"], "register_user.data")
    expect(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", env["data"]["last_seen_at"]), f"last_seen_at format: {env['data']['last_seen_at']}")
    expect(env["data"]["backend_route"] == "/route", "backend_route")
    emit({"step": "register_user", "data": env["data"]})

    # Unknown method: ok false, data null, METHOD_NOT_FOUND
    _, env = rpc("REGISTRY.nope", [])
    expect(env["ok"] is False and env["error"]["code"] == "METHOD_NOT_FOUND", f"unknown method: {env}")

    # §2.1 listener bookkeeping (eab8438d)
    _, env = rpc("REGISTRY.check_listener_status", [UID, "notif"])
    keys_exact(env["data"], ["success", "active", "listener_id", "status"], "check_listener_status(not found)")
    expect(env["data"]["status"] == "not_found" and env["data"]["active"] is False, f"not_found: {env['data']}")
    _, env = rpc("REGISTRY.register_listener", [UID, "chat", "sp1", "th1"], {"mode": "job_chats"})
    keys_exact(env["data"], ["success", "listener_id", "channel_name", "created_at", "message"], "register_listener")
    expect(env["data"]["listener_id"] == f"chat_{UID}_sp1_th1" and env["data"]["channel_name"] == f"chat:{UID}:sp1:th1", f"ids: {env['data']}")
    typed(env["data"], {"success": bool, "created_at": str, "message": str}, "register_listener")
    _, env = rpc("REGISTRY.register_listener", [UID, "chat", "sp1", "th1"])
    expect(env["ok"] is True, "a domain refusal is ok:true")
    keys_exact(env["data"], ["success", "error", "message", "existing_listener"], "register_listener(exists)")
    expect(env["data"]["success"] is False and env["data"]["error"] == "LISTENER_ALREADY_EXISTS", f"exists: {env['data']}")
    _, env = rpc("REGISTRY.register_listener", [UID, "bogus"])
    keys_exact(env["data"], ["success", "error", "message"], "register_listener(type)")
    expect(env["data"]["error"] == "INVALID_LISTENER_TYPE", f"type: {env['data']}")
    _, env = rpc("REGISTRY.register_listener", [UID, "chat"], {"space_code": "sp1"})
    expect(env["data"]["error"] == "MISSING_REQUIRED_PARAM", f"missing: {env['data']}")
    _, env = rpc("REGISTRY.check_listener_status", [UID, "chat", "sp1", "th1"])
    keys_exact(env["data"], ["success", "active", "listener_id", "status", "created_at", "last_heartbeat", "channel_name", "details"], "check_listener_status")
    keys_exact(env["data"]["details"], ["listener_type", "space_code", "thread_key", "mode"], "check_listener_status.details")
    expect(env["data"]["status"] == "active" and env["data"]["details"]["mode"] == "job_chats", f"status: {env['data']}")
    _, env = rpc("REGISTRY.update_listener_heartbeat", [UID, "chat", "sp1", "th1"])
    expect(env["data"] is True, f"heartbeat: {env['data']!r}")
    _, env = rpc("REGISTRY.update_listener_heartbeat", [UID, "msg"])
    expect(env["data"] is False, f"heartbeat(missing): {env['data']!r}")
    _, env = rpc("REGISTRY.list_user_listeners", [UID])
    keys_exact(env["data"], ["success", "user_id", "listeners", "total_count", "active_count", "expired_count"], "list_user_listeners")
    expect(env["data"]["total_count"] == 1 and isinstance(env["data"]["listeners"], list), f"list: {env['data']}")
    doc = env["data"]["listeners"][0]
    for k in ["listener_id", "listener_type", "space_code", "thread_key", "mode", "created_at", "last_heartbeat", "status", "channel_name", "ttl_seconds"]:
        expect(k in doc, f"listener document lacks {k}: {sorted(doc)}")
    typed(doc, {"created_at": str, "last_heartbeat": str, "ttl_seconds": int}, "listener document")
    _, env = rpc("REGISTRY.cleanup_user_listeners", [UID])
    keys_exact(env["data"], ["success", "cleaned_count", "cleaned_listeners", "message"], "cleanup_user_listeners")
    keys_exact(env["data"]["cleaned_listeners"][0], ["listener_id", "listener_type", "status", "space_code", "thread_key"], "cleaned_listeners[0]")
    _, env = rpc("REGISTRY.unregister_listener", [UID, "chat", "sp1", "th1"])
    keys_exact(env["data"], ["success", "listener_id", "message"], "unregister_listener")

    # §2.5 / §8.1: the CHROMA_VECTOR registry calls the Reflex proxies make at login
    _, env = rpc("CHROMA_VECTOR.register_collection_user", [UID, "coll1", sid])
    keys_exact(env["data"], ["user_id", "collection_name", "session_id", "registered_at", "last_heartbeat"], "register_collection_user")
    expect(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", env["data"]["registered_at"]), "registered_at format")
    r = redis.Redis(host=os.environ["REDIS_HOST"], port=int(os.environ["REDIS_PORT"]))
    h = r.hgetall(f"registry:chroma:{UID}:coll1")
    expect({k.decode() for k in h} == {"user_id", "collection_name", "session_id", "registered_at", "last_heartbeat"}, f"chroma hash: {h}")
    ttl = r.ttl(f"registry:chroma:{UID}:coll1")
    expect(0 < ttl <= 90, f"chroma ttl {ttl}")
    _, env = rpc("CHROMA_VECTOR.heartbeat_collection", [UID, "coll1"])
    expect(env["data"] == {"user_id": UID, "collection_name": "coll1", "heartbeat_updated": True}, f"heartbeat_collection: {env['data']}")
    _, env = rpc("CHROMA_VECTOR.unregister_collection_user", [UID, "coll1"])
    expect(env["data"] == {"user_id": UID, "collection_name": "coll1", "unregistered": True}, f"unregister_collection_user: {env['data']}")
    _, env = rpc("CHROMA_VECTOR.heartbeat_collection", [UID, "coll1"])
    expect(env["data"]["heartbeat_updated"] is False, "heartbeat after unregister")
    for m in ["CHROMA_VECTOR.query_documents", "FIREBASE_MANAGEMENT.get_user", "FIREBASE_REALTIME.send_message"]:
        _, env = rpc(m, [])
        expect(env["error"]["code"] == "METHOD_NOT_FOUND" and "elsewhere" in env["error"]["message"], f"{m}: {env}")

    # §2.1 unregister_session at logout
    _, env = rpc("REGISTRY.unregister_session", [sid])
    expect(env["data"] is True, f"unregister_session: {env['data']!r}")
    emit({"ok": True})


def scenario_reply_to():
    r = redis.Redis(host=os.environ["REDIS_HOST"], port=int(os.environ["REDIS_PORT"]))
    ps = r.pubsub()
    chan = f"rpc:reply:{uuid.uuid4().hex}"
    ps.subscribe(chan)
    ps.get_message(timeout=1)  # subscribe confirmation
    trace = str(uuid.uuid4())
    _, env = rpc("REGISTRY.heartbeat", [UID], reply_to=chan, trace_id=trace)
    deadline = time.time() + 10
    msg = None
    while time.time() < deadline and msg is None:
        m = ps.get_message(timeout=1)
        if m and m["type"] == "message":
            msg = json.loads(m["data"])
    expect(msg is not None, "no reply_to publication")
    expected = dict(env)
    expected["trace_id"] = trace
    expect(msg == expected, f"reply_to body {msg} != response + trace_id {expected}")
    emit({"ok": True})


# --- /ws as the BusConsumer opens it (ORIGINAL §6, §8.2) -----------------------------------------

def ws_connect(query, xff=None):
    u = urlparse(URL)
    sock = socket.create_connection((u.hostname, u.port or 80), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    path = "/ws?" + urlencode(query)
    lines = [f"GET {path} HTTP/1.1", f"Host: {u.hostname}:{u.port}", "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if xff:
        lines.append(f"X-Forwarded-For: {xff}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    status = int(head.split(b" ", 2)[1]) if head else 0
    rest = head.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in head else b""
    return sock, status, rest


def ws_frames(sock, buf):
    """Yields text payloads of unmasked server frames (control frames answered/ignored)."""
    while True:
        while len(buf) < 2:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
        b0, b1 = buf[0], buf[1]
        ln, off = b1 & 0x7F, 2
        if ln == 126:
            need = 4
        elif ln == 127:
            need = 10
        else:
            need = 2
        while len(buf) < need:
            buf += sock.recv(65536)
        if ln == 126:
            ln, off = int.from_bytes(buf[2:4], "big"), 4
        elif ln == 127:
            ln, off = int.from_bytes(buf[2:10], "big"), 10
        while len(buf) < off + ln:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
        payload, buf = buf[off:off + ln], buf[off + ln:]
        op = b0 & 0x0F
        if op == 0x9:  # ping → pong (masked, as a client must)
            mask = os.urandom(4)
            sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))
        elif op == 0x8:
            return
        elif op == 0x1:
            yield payload.decode()


ITEM_KEYS = ["message", "file_name", "collection_id", "collection_name", "url", "status", "read", "doc_id", "job_id", "file_id", "function_name", "timestamp", "additional_info", "info_message"]
MSG_KEYS = [k for k in ITEM_KEYS if k not in ("read", "info_message")]


def check_event(ev):
    """The consumer's expectations (ORIGINAL §5.3, §5.5, §8.2); returns a list of differences."""
    errs = []
    try:
        for k in ["type", "uid", "timestamp", "payload"]:
            expect(k in ev, f"envelope lacks {k}")
        t, p = ev["type"], ev["payload"]
        if t == "notif.sync":
            keys_exact(p, ["notifications", "count", "timestamp"], "notif.sync")
            expect(p["count"] == len(p["notifications"]), "count")
            for it in p["notifications"]:
                keys_exact(it, ITEM_KEYS, "notification item")
                typed(it, {k: (bool if k == "read" else str) for k in ITEM_KEYS}, "notification item")
        elif t == "msg.sync":
            keys_exact(p, ["messages", "count", "timestamp"], "msg.sync")
            for it in p["messages"]:
                keys_exact(it, MSG_KEYS, "message item")
                typed(it, {k: str for k in MSG_KEYS}, "message item")
        elif t == "chat.message":
            keys_exact(p, ["space_code", "thread_key", "raw_messages"], "chat.message")
            for m in p["raw_messages"]:
                expect(isinstance(m.get("id"), str), "raw message id")
        elif t.startswith("notif."):
            raise Mismatch(f"{t} reached an original-style consumer (it would be taken for a full sync)")
    except Mismatch as e:
        errs.append(str(e))
    return errs


def scenario_consumer():
    space, thread = os.environ.get("SPACE"), os.environ.get("THREAD")
    query = {"uid": UID}
    if space and thread:
        query.update({"space_code": space, "thread_key": thread})
    r = redis.Redis(host=os.environ["REDIS_HOST"], port=int(os.environ["REDIS_PORT"]), decode_responses=False)
    r.ping()
    ps = r.pubsub()
    channels = [f"user:{UID}"] + ([f"chat:{UID}:{space}:{thread}"] if space and thread else [])
    ps.subscribe(*channels)
    sock, status, rest = ws_connect(query, os.environ.get("XFF"))
    if status != 101:
        emit({"refused": status})
        return
    stop = threading.Event()

    def read_ws():
        sock.settimeout(None)
        try:
            for text in ws_frames(sock, rest):
                ev = json.loads(text)
                emit({"via": "ws", "event": ev, "errors": check_event(ev)})
        except OSError:
            pass

    def read_redis():
        while not stop.is_set():
            m = ps.get_message(timeout=1)
            if m and m["type"] == "message":
                ev = json.loads(m["data"].decode("utf-8"))
                emit({"via": "redis", "channel": m["channel"].decode(), "event": ev, "errors": check_event(ev)})
            elif m is None:
                time.sleep(0.05)

    tw = threading.Thread(target=read_ws, daemon=True)
    tr = threading.Thread(target=read_redis, daemon=True)
    tw.start()
    tr.start()
    emit({"ready": True})
    # Run until the driver closes stdin.
    while True:
        rl, _, _ = select.select([sys.stdin], [], [], 1)
        if rl and not sys.stdin.readline():
            break
    stop.set()
    mask = os.urandom(4)
    try:
        sock.sendall(bytes([0x88, 0x82]) + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(b"\x03\xe8")))
    except OSError:
        pass
    sock.close()
    tr.join(3)
    emit({"closed": True})


def scenario_ws_probe():
    sock, status, _ = ws_connect({"uid": UID}, os.environ.get("XFF") or None)
    sock.close()
    emit({"status": status})


if __name__ == "__main__":
    try:
        {"rpc": scenario_rpc, "reply_to": scenario_reply_to, "consumer": scenario_consumer, "ws_probe": scenario_ws_probe}[sys.argv[1]]()
    except Mismatch as e:
        emit({"mismatch": str(e)})
        sys.exit(1)
