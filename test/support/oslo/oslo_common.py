"""What every oslo.messaging test script needs: JSON-line output, error descriptions,
and oslo set up the way a real service sets it up for a given control exchange."""
import json
import logging
import sys

from oslo_config import cfg
import oslo_messaging as messaging
from oslo_messaging.rpc import dispatcher as rpc_dispatcher


def out(obj):
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


def describe(exc):
    d = {"type": type(exc).__name__, "module": type(exc).__module__, "str": str(exc).split("\n")[0]}
    if isinstance(exc, messaging.RemoteError):
        d["exc_type"] = exc.exc_type
        d["value"] = exc.value
        tb = exc.traceback or ""
        d["traceback_lines"] = len(tb.splitlines()) if isinstance(tb, str) else len(tb)
    d["is_no_such_method"] = isinstance(exc, rpc_dispatcher.NoSuchMethod)
    if hasattr(exc, "method"):
        d["method"] = getattr(exc, "method")
    return d


def add_bus_arguments(parser):
    parser.add_argument("--url", required=True)
    parser.add_argument("--exchange", required=True)


def configure(url, exchange):
    """Returns (conf, url) with oslo configured for `exchange`.

    oslo maps amqp:// to its AMQP 1.0 driver; RabbitMQ 0-9-1 is rabbit://. The driver
    reads control_exchange when the transport is created, and the option is only
    registered then: set_transport_defaults() is oslo's way to set it beforehand."""
    if url.startswith("amqp://"):
        url = "rabbit://" + url[len("amqp://"):]
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
    conf = cfg.CONF
    conf([], project="virt_dr_test")
    messaging.set_transport_defaults(control_exchange=exchange)
    return conf, url
