#!/usr/bin/env python3
"""Write Sysmon network-connection events (event 3, NXLog's flat JSON shape) for
every flow of an EVE file, to measure what process attribution costs.

The events describe the capture's own connections (tuple and start time of each
`flow` event), so every connection of a replay with them meets a matching event;
they are a load for the join, not a host log of any real run.

usage: sysmon_from_eve.py EVE.json > sysmon.json
"""
import json
import sys

IMAGES = [
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
    r"C:\Jenkins\tools\node.exe",
    r"C:\Users\lab\AppData\Local\Temp\upd.exe",
]


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    n = 0
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("event_type") != "flow" or e.get("proto") not in ("TCP", "UDP"):
                continue
            start = e.get("flow", {}).get("start", "")
            if len(start) < 23:
                continue
            n += 1
            src = e["src_ip"]
            print(json.dumps({
                "EventID": 3,
                "SourceName": "Microsoft-Windows-Sysmon",
                "Hostname": "host-" + src.replace(".", "-").replace(":", "-"),
                "UtcTime": start[:10] + " " + start[11:23],
                "ProcessId": str(1000 + n % 5000),
                "Image": IMAGES[n % len(IMAGES)],
                "User": "LAB\\user",
                "Protocol": e["proto"].lower(),
                "Initiated": "true",
                "SourceIp": src,
                "SourcePort": str(e.get("src_port", 0)),
                "DestinationIp": e["dest_ip"],
                "DestinationPort": str(e.get("dest_port", 0)),
            }))
    print(f"{n} events", file=sys.stderr)


if __name__ == "__main__":
    main()
