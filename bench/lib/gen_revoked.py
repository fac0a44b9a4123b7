#!/usr/bin/env python3
"""Generate N revoked serial numbers for the CRL benchmark.

Writes PREFIX.serials   (one decimal serial a line: `cfssl gencrl` input) and
       PREFIX.index.txt (an OpenSSL CA database with N revoked entries:
                         `openssl ca -gencrl` input).
Serials are random 159-bit positive integers (20 DER bytes, like cfssl's and
most CAs' serials), from a fixed seed so every run builds the same CRL.
"""
import datetime
import random
import sys

n = int(sys.argv[1])
prefix = sys.argv[2]
rng = random.Random(20240601)
now = datetime.datetime.now(datetime.timezone.utc)
expires = (now + datetime.timedelta(days=365)).strftime("%y%m%d%H%M%SZ")
revoked = (now - datetime.timedelta(days=1)).strftime("%y%m%d%H%M%SZ")
with open(prefix + ".serials", "w") as s, open(prefix + ".index.txt", "w") as ix:
    for _ in range(n):
        v = rng.getrandbits(159) | (1 << 158)
        s.write("%d\n" % v)
        ix.write("R\t%s\t%s\t%X\tunknown\t/CN=revoked\n" % (expires, revoked, v))
