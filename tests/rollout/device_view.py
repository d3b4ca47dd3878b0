#!/usr/bin/python3
"""What the devices themselves said during a rollout, from device-plane messages captured
by a passive subscriber (mosquitto_sub -F '%t %x' with the gateway's certificate, so no
gateway restart can lose them). For tests/rollout/crash.sh and bench/rollout/run.sh.

  device_view.py --reports FILE --states FILE --devices N --prefix dev- --width W \
                 --version V [--allow-old OLD]

reports: every tf/<site>/dev/<id>/report message; a device *installed* an update once per
  distinct command id of a result report (type 9) with phase CONFIRM (6) and outcome OK (0)
  (protocol/include/tinyfleet/protocol/msg_report.h). A result sent again for the same
  command (the gateway may ask after a restart) is the same install.
states: the retained tf/<site>/dev/<id>/state messages read at the end; a device *runs* the
  version of its active slot (msg_state.h keys 9, 10), and that slot must be confirmed (2).

Checks every device dev-1..dev-N: it runs V (or OLD, when given, for devices that never
installed), it installed at most once, and a device on V installed exactly once. Prints
one summary line ("devices: ...") and every violation; exit 1 on any.
"""
import argparse
import collections
import sys

import cbor2


def messages(path):
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 2:
                continue
            topic, hexpayload = parts
            dev = topic.split("/")[3] if topic.count("/") >= 4 else None
            try:
                yield dev, cbor2.loads(bytes.fromhex(hexpayload))
            except Exception:  # a payload that is not CBOR is the device's bug: say so
                yield dev, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reports", required=True)
    ap.add_argument("--states", required=True)
    ap.add_argument("--devices", type=int, required=True)
    ap.add_argument("--prefix", default="dev-")
    ap.add_argument("--width", type=int, default=4)
    ap.add_argument("--version", required=True)
    ap.add_argument("--allow-old")
    a = ap.parse_args()

    installs = collections.defaultdict(set)
    undecodable = 0
    for dev, m in messages(a.reports):
        if not isinstance(m, dict):
            undecodable += 1
            continue
        if m.get(0) == 9 and m.get(2) == 6 and m.get(5) == 0:
            installs[dev].add(m.get(1))
    running = {}
    for dev, m in messages(a.states):
        if not isinstance(m, dict) or not isinstance(m.get(9), list):
            undecodable += 1
            continue
        act = m.get(10)
        slot = m[9][act] if act in (0, 1) and len(m[9]) == 2 else {}
        running[dev] = (slot.get(2), slot.get(0))

    bad = []
    on_new = on_old = twice = 0
    for i in range(1, a.devices + 1):
        dev = "%s%0*d" % (a.prefix, a.width, i)
        n = len(installs.get(dev, ()))
        ver, state = running.get(dev, (None, None))
        if n > 1:
            twice += 1
            bad.append("%s installed %d times (commands %s)" % (dev, n, sorted(installs[dev])))
        if ver == a.version and state == 2:
            on_new += 1
            if n != 1:
                bad.append("%s runs %s but reported %d confirmed installs" % (dev, ver, n))
        elif a.allow_old is not None and ver == a.allow_old and n == 0:
            on_old += 1
        else:
            bad.append("%s runs %s (slot state %s), %d installs" % (dev, ver, state, n))
    print("devices: %d on %s, %d on the old version, %d installed more than once, %d "
          "undecodable messages, %d problems" % (on_new, a.version, on_old, twice, undecodable,
                                                 len(bad)))
    for b in bad[:50]:
        print("  " + b)
    return 1 if bad or undecodable else 0


if __name__ == "__main__":
    sys.exit(main())
