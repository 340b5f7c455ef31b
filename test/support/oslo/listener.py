#!/usr/bin/python3
"""A real oslo.messaging 14 notification listener.

Usage: listener.py --url URL --exchange E --count N --timeout S [--topic notifications]
Prints {"ready": true} once consuming, then one JSON line per event:
{"event_type", "priority", "publisher_id", "payload", "metadata", "ctxt"}; exits after N
events (code 0) or at the timeout (code 2).
"""
import argparse
import json
import logging
import os
import sys
import threading
import time

from oslo_config import cfg
import oslo_messaging as messaging


def out(obj):
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


class Endpoint(object):
    def __init__(self, limit, done):
        self.n = 0
        self.limit = limit
        self.done = done

    def _got(self, priority, ctxt, publisher_id, event_type, payload, metadata):
        out({"priority": priority, "ctxt": ctxt, "publisher_id": publisher_id,
             "event_type": event_type, "payload": payload, "metadata": metadata})
        self.n += 1
        if self.n >= self.limit:
            self.done.set()
        return messaging.NotificationResult.HANDLED

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        return self._got("INFO", ctxt, publisher_id, event_type, payload, metadata)

    def warn(self, ctxt, publisher_id, event_type, payload, metadata):
        return self._got("WARN", ctxt, publisher_id, event_type, payload, metadata)

    def error(self, ctxt, publisher_id, event_type, payload, metadata):
        return self._got("ERROR", ctxt, publisher_id, event_type, payload, metadata)

    def debug(self, ctxt, publisher_id, event_type, payload, metadata):
        return self._got("DEBUG", ctxt, publisher_id, event_type, payload, metadata)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--exchange", required=True)
    p.add_argument("--topic", default="notifications")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--timeout", type=float, default=30)
    a = p.parse_args()
    # oslo maps amqp:// to its AMQP 1.0 driver; RabbitMQ 0-9-1 is rabbit://
    if a.url.startswith("amqp://"):
        a.url = "rabbit://" + a.url[len("amqp://"):]

    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    conf = cfg.CONF
    conf([], project="virt_dr_test")
    # The driver reads control_exchange when the transport is created, and the option is
    # only registered then: set_transport_defaults() is oslo's way to set it beforehand.
    messaging.set_transport_defaults(control_exchange=a.exchange)
    transport = messaging.get_notification_transport(conf, url=a.url)
    done = threading.Event()
    targets = [messaging.Target(topic=a.topic, exchange=a.exchange)]
    listener = messaging.get_notification_listener(
        transport, targets, [Endpoint(a.count, done)], executor="threading")
    listener.start()
    out({"ready": True})
    ok = done.wait(a.timeout)
    listener.stop()
    listener.wait()
    transport.cleanup()
    # oslo leaves non-daemon threads that delay interpreter exit by ~10 s.
    sys.stdout.flush()
    os._exit(0 if ok else 2)


if __name__ == "__main__":
    main()
