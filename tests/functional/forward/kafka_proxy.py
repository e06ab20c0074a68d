#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A TLS-terminating, SASL-authenticating proxy in front of one Kafka broker (the mock), for
the forwarder's security tests. What real brokers do at the connection's start, done here
independently of the client under test (Python's ssl module and hashlib):

    kafka_proxy.py UPSTREAM_HOST:PORT [--tls CERT KEY] [--sasl MECH USER PASSWORD]

Prints "127.0.0.1:<port>" once listening, then serves until killed. Per client connection:
  - TLS (--tls): the server side of the handshake with CERT/KEY;
  - SASL (--sasl PLAIN|SCRAM-SHA-256|SCRAM-SHA-512): ApiVersions answers get SaslHandshake
    v0-1 and SaslAuthenticate v0-1 added; SaslHandshake and SaslAuthenticate are answered
    here (RFC 4616 PLAIN; RFC 5802 SCRAM, checking the client's proof and sending the
    server signature); any other request before authentication closes the connection;
  - everything else goes to the upstream broker as is, except that the broker addresses in
    Metadata and FindCoordinator answers are rewritten to this proxy's.
"""
import base64
import hashlib
import hmac
import os
import socket
import ssl
import struct
import sys
import threading


def recv_exact(s, n):
    b = bytearray()
    while len(b) < n:
        x = s.recv(n - len(b))
        if not x:
            raise EOFError
        b += x
    return bytes(b)


def read_frame(s):
    n = struct.unpack(">i", recv_exact(s, 4))[0]
    return recv_exact(s, n)


class R:
    def __init__(self, b, pos=0):
        self.b, self.p = b, pos

    def i8(self):
        self.p += 1
        return struct.unpack_from(">b", self.b, self.p - 1)[0]

    def i16(self):
        self.p += 2
        return struct.unpack_from(">h", self.b, self.p - 2)[0]

    def i32(self):
        self.p += 4
        return struct.unpack_from(">i", self.b, self.p - 4)[0]

    def string(self):
        n = self.i16()
        if n < 0:
            return None
        self.p += n
        return self.b[self.p - n:self.p]

    def bytes_(self):
        n = self.i32()
        if n < 0:
            return None
        self.p += n
        return self.b[self.p - n:self.p]


def s16(x):
    return struct.pack(">h", -1) if x is None else struct.pack(">h", len(x)) + x


class Scram:
    def __init__(self, mech, user, password):
        self.h = hashlib.sha512 if mech.endswith("512") else hashlib.sha256
        self.hname = "sha512" if mech.endswith("512") else "sha256"
        self.user, self.password = user, password
        self.salt = os.urandom(16)
        self.iters = 4096
        self.step = 0

    def next(self, msg):
        msg = msg.decode()
        if self.step == 0:
            self.step = 1
            if not msg.startswith("n,,"):
                return None
            self.cfb = msg[3:]
            attrs = dict(x.split("=", 1) for x in self.cfb.split(","))
            if attrs.get("n") != self.user:
                return None
            self.nonce = attrs["r"] + base64.b64encode(os.urandom(18)).decode()
            self.sfirst = (f"r={self.nonce},s={base64.b64encode(self.salt).decode()},"
                           f"i={self.iters}")
            return self.sfirst.encode()
        self.step = 2
        attrs = dict(x.split("=", 1) for x in msg.split(","))
        if attrs.get("r") != self.nonce or attrs.get("c") != "biws":
            return None
        without = msg[:msg.rindex(",p=")]
        am = f"{self.cfb},{self.sfirst},{without}".encode()
        salted = hashlib.pbkdf2_hmac(self.hname, self.password.encode(), self.salt, self.iters)
        stored = self.h(hmac.new(salted, b"Client Key", self.h).digest()).digest()
        sig = hmac.new(stored, am, self.h).digest()
        proof = base64.b64decode(attrs["p"])
        client_key = bytes(a ^ b for a, b in zip(proof, sig))
        if self.h(client_key).digest() != stored:
            return None
        server_key = hmac.new(salted, b"Server Key", self.h).digest()
        return b"v=" + base64.b64encode(hmac.new(server_key, am, self.h).digest())


class Conn:
    def __init__(self, client, args):
        self.c, self.a = client, args
        self.up = socket.create_connection(args["upstream"])
        self.pending = {}  # correlation id -> (api, version)
        self.lock = threading.Lock()
        self.authed = args["sasl"] is None
        self.scram = None

    def send_client(self, body):
        with self.lock:
            self.c.sendall(struct.pack(">i", len(body)) + body)

    def answer(self, corr, payload):
        self.send_client(struct.pack(">i", corr) + payload)

    def upstream_loop(self):
        try:
            while True:
                frame = read_frame(self.up)
                corr = struct.unpack_from(">i", frame, 0)[0]
                api, ver = self.pending.pop(corr, (None, None))
                if api == 18 and self.a["sasl"]:
                    frame = self.add_sasl_apis(frame, ver)
                elif api == 3:
                    frame = self.rewrite_metadata(frame, ver)
                elif api == 10:
                    frame = self.rewrite_coordinator(frame, ver)
                self.send_client(frame)
        except (EOFError, OSError):
            pass
        self.close()

    def add_sasl_apis(self, frame, ver):
        r = R(frame, 4)
        err = r.i16()
        n = r.i32()
        if err or ver > 2:
            return frame
        keys = frame[10:10 + 6 * n]
        rest = frame[10 + 6 * n:]
        keys += struct.pack(">hhh", 17, 0, 1) + struct.pack(">hhh", 36, 0, 1)
        return frame[:4] + struct.pack(">hi", err, n + 2) + keys + rest

    def rewrite_metadata(self, frame, ver):
        r = R(frame, 4)
        out = bytearray(frame[:4])
        if ver >= 3:
            out += struct.pack(">i", r.i32())
        n = r.i32()
        out += struct.pack(">i", n)
        for _ in range(n):
            node = r.i32()
            r.string()
            r.i32()
            out += struct.pack(">i", node) + s16(b"127.0.0.1") + struct.pack(">i", self.a["port"])
            if ver >= 1:
                out += s16(r.string())
        return bytes(out) + frame[r.p:]

    def rewrite_coordinator(self, frame, ver):
        r = R(frame, 4)
        out = bytearray(frame[:4])
        if ver >= 1:
            out += struct.pack(">i", r.i32())
        err = r.i16()
        out += struct.pack(">h", err)
        if ver >= 1:
            out += s16(r.string())
        node = r.i32()
        r.string()
        r.i32()
        if err:
            return frame
        out += struct.pack(">i", node) + s16(b"127.0.0.1") + struct.pack(">i", self.a["port"])
        return bytes(out) + frame[r.p:]

    def sasl(self, api, ver, corr, r):
        mech, user, password = self.a["sasl"]
        if api == 17:
            want = r.string().decode()
            err = 0 if want == mech else 33
            self.answer(corr, struct.pack(">hi", err, 1) + s16(mech.encode()))
            return
        auth = r.bytes_() or b""
        reply = None
        if mech == "PLAIN":
            parts = auth.split(b"\0")
            if len(parts) == 3 and parts[1].decode() == user and parts[2].decode() == password:
                reply, self.authed = b"", True
        else:
            if self.scram is None:
                self.scram = Scram(mech, user, password)
            reply = self.scram.next(auth)
            if reply is not None and self.scram.step == 2:
                self.authed = True
        if reply is None:
            self.answer(corr, struct.pack(">h", 58) + s16(b"authentication failed") +
                        struct.pack(">i", 0) + (struct.pack(">q", 0) if ver >= 1 else b""))
            return
        self.answer(corr, struct.pack(">h", 0) + s16(None) + struct.pack(">i", len(reply)) +
                    reply + (struct.pack(">q", 0) if ver >= 1 else b""))

    def client_loop(self):
        threading.Thread(target=self.upstream_loop, daemon=True).start()
        try:
            while True:
                frame = read_frame(self.c)
                api, ver, corr = struct.unpack_from(">hhi", frame, 0)
                r = R(frame, 8)
                r.string()  # client id
                if self.a["sasl"] and api in (17, 36):
                    self.sasl(api, ver, corr, r)
                    continue
                if not self.authed and api != 18:
                    break  # ILLEGAL_SASL_STATE: as Kafka, close
                self.pending[corr] = (api, ver)
                self.up.sendall(struct.pack(">i", len(frame)) + frame)
        except (EOFError, OSError, ValueError, UnicodeDecodeError, struct.error):
            pass
        self.close()

    def close(self):
        for s in (self.c, self.up):
            try:
                s.close()
            except OSError:
                pass


def main():
    argv = sys.argv[1:]
    host, port = argv.pop(0).rsplit(":", 1)
    args = {"upstream": (host, int(port)), "sasl": None}
    ctx = None
    while argv:
        opt = argv.pop(0)
        if opt == "--tls":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(argv.pop(0), argv.pop(0))
        elif opt == "--sasl":
            args["sasl"] = (argv.pop(0), argv.pop(0), argv.pop(0))
        else:
            sys.exit(__doc__)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    args["port"] = ls.getsockname()[1]
    print(f"127.0.0.1:{args['port']}", flush=True)
    while True:
        c, _ = ls.accept()

        def serve(c=c):
            try:
                if ctx:
                    c = ctx.wrap_socket(c, server_side=True)
                Conn(c, args).client_loop()
            except (OSError, ssl.SSLError):
                c.close()
        threading.Thread(target=serve, daemon=True).start()


if __name__ == "__main__":
    main()
