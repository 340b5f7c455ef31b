#!/usr/bin/python3
"""A real oslo.messaging 14 RPC client driving the agent's RPC server.

Usage: client.py --url URL --exchange E --topic T --server S STEP [STEP...]
Prints one JSON line per step: {"step", "ok", "result"} or {"step", "ok": false, "error": {...}}.
"""
import argparse
import os
import sys

import oslo_messaging as messaging

from oslo_common import add_bus_arguments, configure, describe, out
from oslo_messaging.rpc import dispatcher as rpc_dispatcher


def main():
    p = argparse.ArgumentParser()
    add_bus_arguments(p)
    p.add_argument("--topic", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--request-id", default="req-00000000-0000-0000-0000-000000000001")
    p.add_argument("steps", nargs="+")
    a = p.parse_args()
    conf, a.url = configure(a.url, a.exchange)
    transport = messaging.get_rpc_transport(
        conf, url=a.url, allowed_remote_exmods=["oslo_messaging.rpc.dispatcher"])
    target = messaging.Target(topic=a.topic)
    client = messaging.get_rpc_client(transport, target, timeout=15)
    ctxt = {"request_id": a.request_id, "project_id": "p-1", "user": "u-1", "auth_token": "tok-SECRET"}

    for step in a.steps:
        try:
            if step == "ping":
                r = client.call(ctxt, "ping")
            elif step == "ping_server":
                r = client.prepare(server=a.server).call(ctxt, "ping")
            elif step == "cast":
                client.cast(ctxt, "record", marker="cast-1")
                r = None
            elif step == "slow":
                # call_monitor_timeout makes the client send _timeout and expect heartbeats:
                # without them the call would time out after 2 s; slow takes 3 s.
                r = client.prepare(timeout=10, call_monitor_timeout=2).call(ctxt, "slow")
            elif step == "slow_no_monitor":
                r = client.prepare(timeout=10).call(ctxt, "slow")
            elif step == "boom":
                r = client.call(ctxt, "boom", domain="x")
            elif step == "unknown":
                r = client.call(ctxt, "no_such_method_here")
            elif step == "v1_5":
                r = client.prepare(version="1.5").call(ctxt, "ping")
            elif step == "v2_0":
                r = client.prepare(version="2.0").call(ctxt, "ping")
            elif step == "v1_0":
                r = client.prepare(version="1.0").call(ctxt, "ping")
            else:
                raise SystemExit("unknown step %s" % step)
            out({"step": step, "ok": True, "result": r})
        except Exception as exc:  # noqa
            out({"step": step, "ok": False, "error": describe(exc)})
    try:
        out({"step": "_reply_q", "ok": True, "result": transport._driver._reply_q})
    except Exception:
        pass
    transport.cleanup()
    # oslo leaves non-daemon threads that delay interpreter exit by ~10 s.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
