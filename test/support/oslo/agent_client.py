#!/usr/bin/python3
"""A real oslo.messaging 14 RPC client driving the REAL agent: ping, backup, get_job.

Usage: agent_client.py --url URL --exchange E --topic T --server S --domain D
                       [--request-id R] [--job-timeout SECONDS]
Prints one JSON line per step:
  {"step": "ping", "ok": true, "result": {...}}
  {"step": "ping_server", "ok": true, "result": {...}}      (the per-host queue T.S)
  {"step": "backup", "ok": true, "result": {"job_id": ...}}
  {"step": "get_job", "ok": true, "result": {...}, "polls": N}  (the finished job)
or {"step": ..., "ok": false, "error": {...}} and stops there. Exit code 0 when every
step succeeded (the job itself may have failed: check its state), 1 otherwise.
"""
import argparse
import os
import sys
import time

import oslo_messaging as messaging

from oslo_common import add_bus_arguments, configure, describe, out

FINISHED = ("succeeded", "failed", "cancelled")


def main():
    p = argparse.ArgumentParser()
    add_bus_arguments(p)
    p.add_argument("--topic", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--domain", required=True)
    p.add_argument("--request-id", default="req-00000000-0000-0000-0000-0000000000a1")
    p.add_argument("--job-timeout", type=float, default=300)
    a = p.parse_args()
    conf, a.url = configure(a.url, a.exchange)
    transport = messaging.get_rpc_transport(conf, url=a.url)
    client = messaging.get_rpc_client(transport, messaging.Target(topic=a.topic, version="1.0"), timeout=30)
    # A context as a service would send it; the token must never reach the notification bus.
    ctxt = {"request_id": a.request_id, "project_id": "p-oslo", "user": "u-oslo", "auth_token": "tok-SECRET"}

    code = 0
    step = "ping"
    try:
        out({"step": step, "ok": True, "result": client.call(ctxt, "ping")})
        step = "ping_server"
        out({"step": step, "ok": True, "result": client.prepare(server=a.server).call(ctxt, "ping")})
        step = "backup"
        accepted = client.call(ctxt, "backup", domain=a.domain, wait=False)
        out({"step": step, "ok": True, "result": accepted})
        step = "get_job"
        deadline = time.monotonic() + a.job_timeout
        polls = 0
        while True:
            polls += 1
            job = client.call(ctxt, "get_job", job_id=accepted["job_id"])
            if job.get("state") in FINISHED:
                out({"step": step, "ok": True, "result": job, "polls": polls})
                break
            if time.monotonic() > deadline:
                raise RuntimeError("job %s still %s after %s s" % (accepted["job_id"], job.get("state"), a.job_timeout))
            time.sleep(0.5)
    except Exception as exc:  # noqa
        out({"step": step, "ok": False, "error": describe(exc)})
        code = 1
    transport.cleanup()
    # oslo leaves non-daemon threads that delay interpreter exit by ~10 s.
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
