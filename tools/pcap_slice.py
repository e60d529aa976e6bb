#!/usr/bin/env python3
"""Cut time windows out of classic pcap files and merge them by timestamp.

Used to make the small sample captures under sensor/tests/data/pcaps from
../shared/corpus (see the README there for the exact commands).

usage: pcap_slice.py [--host IPv4] OUT.pcap FILE[@T0-T1[,T0-T1...]] ...
  T0/T1 are epoch seconds; without a window the whole file is taken.
  --host keeps only Ethernet/IPv4 frames to or from that address.
All inputs must be classic pcap with the same link type.
"""
import struct
import sys


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        raise SystemExit(f"{path}: not a classic pcap file")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    _, _, _, _, snap, link = struct.unpack(end + "HHiIII", data[4:24])
    off = 24
    pkts = []
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(end + "IIII", data[off:off + 16])
        body = data[off + 16:off + 16 + incl]
        usec = frac // 1000 if nano else frac
        pkts.append((sec + usec / 1e6, sec, usec, orig, body))
        off += 16 + incl
    return link, snap, pkts


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    args = sys.argv[1:]
    host = None
    if args[:1] == ["--host"]:
        host = bytes(int(x) for x in args[1].split("."))
        args = args[2:]
    out, specs = args[0], args[1:]
    chosen, link0 = [], None
    for spec in specs:
        path, _, windows = spec.partition("@")
        link, _, pkts = read_pcap(path)
        if link0 is None:
            link0 = link
        elif link != link0:
            raise SystemExit(f"{path}: link type {link} differs from {link0}")
        wins = []
        for w in filter(None, windows.split(",")):
            a, b = w.split("-")
            wins.append((float(a), float(b)))
        for p in pkts:
            if host is not None:
                body = p[4]
                if body[12:14] != b"\x08\x00" or host not in (body[26:30], body[30:34]):
                    continue
            if not wins or any(a <= p[0] <= b for a, b in wins):
                chosen.append(p)
    chosen.sort(key=lambda p: p[0])
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, link0))
        for _, sec, usec, orig, body in chosen:
            f.write(struct.pack("<IIII", sec, usec, len(body), orig))
            f.write(body)
    print(f"{out}: {len(chosen)} packets")


if __name__ == "__main__":
    main()
