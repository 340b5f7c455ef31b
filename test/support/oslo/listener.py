#!/usr/bin/python3
"""A real oslo.messaging 14 notification listener.

Usage: listener.py --url URL --exchange E [--count N] [--until EVENT_TYPE ...] --timeout S
                   [--topic notifications] [--pool NAME] [--publisher-id ID]
Prints {"ready": true} once consuming, then one JSON line per event:
{"event_type", "priority", "publisher_id", "payload", "metadata", "ctxt"}; exits (code 0)
after N events, or after the first event whose type is one of --until, or at the timeout
(code 2). Without --count and --until it stops after one event.
--pool: consume from a queue of that name (oslo's listener pools) instead of the shared
<topic>.<priority> queues, so other listeners neither steal nor get our events.
--publisher-id: only events of that exact publisher (oslo NotificationFilter).
"""
import argparse
import os
import re
import sys
import threading

import oslo_messaging as messaging

from oslo_common import add_bus_arguments, configure, out


class Endpoint(object):
    def __init__(self, limit, until, done):
        self.n = 0
        self.limit = limit
        self.until = until
        self.done = done

    def _got(self, priority, ctxt, publisher_id, event_type, payload, metadata):
        out({"priority": priority, "ctxt": ctxt, "publisher_id": publisher_id,
             "event_type": event_type, "payload": payload, "metadata": metadata})
        self.n += 1
        if (self.limit is not None and self.n >= self.limit) or event_type in self.until:
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
    add_bus_arguments(p)
    p.add_argument("--topic", default="notifications")
    p.add_argument("--count", type=int, default=None)
    p.add_argument("--until", action="append", default=[])
    p.add_argument("--pool", default=None)
    p.add_argument("--publisher-id", default=None)
    p.add_argument("--timeout", type=float, default=30)
    a = p.parse_args()
    if a.count is None and not a.until:
        a.count = 1
    conf, a.url = configure(a.url, a.exchange)
    transport = messaging.get_notification_transport(conf, url=a.url)
    done = threading.Event()
    targets = [messaging.Target(topic=a.topic, exchange=a.exchange)]
    endpoint = Endpoint(a.count, set(a.until), done)
    if a.publisher_id is not None:
        endpoint.filter_rule = messaging.NotificationFilter(publisher_id="^%s$" % re.escape(a.publisher_id))
    listener = messaging.get_notification_listener(
        transport, targets, [endpoint], executor="threading", pool=a.pool)
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
