"""A DNS server for the integration tests (the crawler check's resolver): UDP on 127.0.0.1, a free
port, answering PTR and A from two dicts the test fills, NXDOMAIN for anything else; mode
"silent" receives and never answers (a resolver that hangs). Python stdlib only.

    d = TinyDNS(ptr={ptr_name("127.50.0.2"): ["crawl-127-50-0-2.googlebot.com"]},
                a={"crawl-127-50-0-2.googlebot.com": ["127.50.0.2"]})
    h = httpd(wsguard="WSGuardCrawlerCheck On\nWSGuardResolver 127.0.0.1:%d" % d.port)
    ...
    d.queries   # [(name, qtype)] asked so far
    d.stop()
"""
import socket
import struct
import threading


def ptr_name(ip):
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


class TinyDNS:
    """A DNS server on 127.0.0.1 that answers PTR and A from two dicts (NXDOMAIN for anything
    else). mode "silent" receives and never answers (a resolver that hangs)."""

    def __init__(self, ptr=None, a=None, mode="answer"):
        self.ptr = {k.lower(): v for k, v in (ptr or {}).items()}
        self.a = {k.lower(): v for k, v in (a or {}).items()}
        self.mode = mode
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stopped:
            try:
                data, peer = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self.answer(data)
            if reply is not None and self.mode == "answer":
                self.sock.sendto(reply, peer)

    def answer(self, data):
        if len(data) < 17:
            return None
        qid, = struct.unpack(">H", data[:2])
        off, labels = 12, []
        while data[off]:
            n = data[off]
            labels.append(data[off + 1:off + 1 + n].decode("ascii", "replace"))
            off += 1 + n
        off += 1
        qtype, = struct.unpack(">H", data[off:off + 2])
        question = data[12:off + 4]
        name = ".".join(labels).lower()
        self.queries.append((name, qtype))
        rrs = []
        if qtype == 12:
            for target in self.ptr.get(name, []):
                rrs.append((12, encode_name(target)))
        elif qtype == 1:
            for ip in self.a.get(name, []):
                rrs.append((1, socket.inet_aton(ip)))
        known = name in self.ptr or name in self.a
        rcode = 0 if rrs or known else 3
        out = struct.pack(">HHHHHH", qid, 0x8180 | rcode, 1, len(rrs), 0, 0) + question
        for rtype, rdata in rrs:
            out += encode_name(name) + struct.pack(">HHIH", rtype, 1, 60, len(rdata)) + rdata
        return out

    def stop(self):
        self.stopped = True
        self.thread.join(2)
        self.sock.close()
