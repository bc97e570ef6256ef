#!/usr/bin/env python3
"""Live fuzzer for a running Kiln farm (issue 20, item 2).

Sends mutated requests, built from real captured sccache 0.4.0 traffic (corpus/), to a running scheduler (plain
HTTP) and a running build server (HTTPS) on loopback: bodies (bytes, bincode lengths and values, truncation, huge
lengths), headers (lengths, chunked encoding, duplicates, junk), request lines and paths. Credentials are the
farm's, so mutations reach past authentication: the client token for alloc_job, the server token (under server
ids of ports nothing listens on, never the real builder's) for heartbeats and job_state, and job tokens from real
alloc_jobs for the build server. Prints the count of requests and of each answer class per server, and one JSON
line. It does not judge the servers: its caller checks they still serve a real compile.

Traffic goes only to the addresses given, which must be loopback.
"""

import argparse
import io
import json
import multiprocessing
import os
import random
import socket
import ssl
import struct
import sys
import tarfile
import time

INTERESTING_U64 = [0, 1, 2, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32, 1 << 53, (1 << 63) - 1,
                   1 << 63, (1 << 64) - 1]
METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE", b"P\x00ST", b"X" * 300]


class Request:
    def __init__(self, target, method, path, headers, body, chunked=False):
        self.target, self.method, self.path = target, method, path
        self.headers, self.body, self.chunked = headers, body, chunked
        self.version = b"HTTP/1.1"
        self.content_length = None  # None: the body's own length
        self.chunk_sizes = None  # None: honest chunk sizes
        self.cut = None  # send only this many bytes, then half-close
        self.half_close = False

    def reusable(self):
        """Framed honestly: the server reads exactly this request, so the connection can carry the next one."""
        return (self.cut is None and not self.half_close and self.content_length is None and self.chunk_sizes is None
                and self.version == b"HTTP/1.1" and self.method in (b"GET", b"POST")
                and not any(k.lower() in (b"connection", b"expect") for k, _ in self.headers))

    def copy(self):
        other = Request(self.target, self.method, self.path, list(self.headers), bytes(self.body), self.chunked)
        return other

    def serialize(self):
        lines = [self.method + b" " + self.path + b" " + self.version]
        headers = [(k, v) for k, v in self.headers if k.lower() not in (b"content-length", b"transfer-encoding")]
        body = self.body
        if self.chunked:
            headers.append((b"transfer-encoding", b"chunked"))
            body = chunk(self.body, self.chunk_sizes)
        elif self.content_length is not False:
            length = len(self.body) if self.content_length is None else self.content_length
            headers.append((b"content-length", length if isinstance(length, bytes) else str(length).encode()))
        lines += [k + b": " + v for k, v in headers]
        data = b"\r\n".join(lines) + b"\r\n\r\n" + body
        return data if self.cut is None else data[: self.cut]


def chunk(body, sizes):
    out, offset = b"", 0
    pieces = []
    while offset < len(body):
        size = random.randint(1, 4096)
        pieces.append(body[offset: offset + size])
        offset += size
    for index, piece in enumerate(pieces):
        size = b"%x" % len(piece) if sizes is None else sizes
        out += size + b"\r\n" + piece + b"\r\n"
    return out + b"0\r\n\r\n"


def parse_request(data, target):
    head, _, body = data.partition(b"\r\n\r\n") if b"\r\n\r\n" in data else data.partition(b"\n\n")
    lines = head.replace(b"\r\n", b"\n").split(b"\n")
    method, path, _ = lines[0].split(b" ", 2)
    headers = [tuple(part.strip() for part in line.split(b":", 1)) for line in lines[1:] if b":" in line]
    chunked = any(k.lower() == b"transfer-encoding" for k, _ in headers)
    return Request(target, method, path, headers, body, chunked)


def toolchain_tar():
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = b"#!/bin/sh\necho fuzz\n"
        info = tarfile.TarInfo("bin/true")
        info.size, info.mode = len(data), 0o755
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def load_seeds(corpus):
    seeds = []
    files = {name: open(os.path.join(corpus, name), "rb").read() for name in sorted(os.listdir(corpus))}
    for name, data in files.items():
        if name.endswith(".c2s"):
            seeds.append(parse_request(data, "scheduler"))
        elif name.endswith(".hdr"):
            request = parse_request(data, "builder")
            if b"assign_job" in request.path:
                request.body = files["client040-assign_job.body.bin"]
            elif b"run_job" in request.path:
                request.body = files["handmade-run_job.req.bin"]
            else:
                request.body = toolchain_tar()
            seeds.append(request)
    return seeds


class Farm:
    def __init__(self, options):
        self.options = options
        self.scheduler = split_address(options.scheduler)
        self.builder = split_address(options.builder)
        self.tokens = []  # (auth, job id) of real allocations on the builder
        self.kept = {}  # target -> a connection kept alive after a well-framed exchange
        # One client context for every connection to the builder: making one costs about 0.2 ms of OpenSSL set-up,
        # and most of the 40,000 builder requests of a run go on connections of their own.
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.tls.check_hostname = False
        self.tls.verify_mode = ssl.CERT_NONE

    def connect(self, target):
        host, port = self.scheduler if target == "scheduler" else self.builder
        sock = socket.create_connection((host, port), timeout=self.options.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if target == "builder":
            sock = self.tls.wrap_socket(sock)
        return sock

    def allocate(self):
        """A real alloc_job; adds the job's token when it landed on the builder under test."""
        toolchain = "".join(random.choice("0123456789abcdef") for _ in range(64)).encode()
        request = Request("scheduler", b"POST", b"/api/v1/scheduler/alloc_job",
                          [(b"authorization", b"Bearer " + self.options.client_token.encode()), (b"content-type", b"application/octet-stream"),
                           (b"connection", b"close")],
                          struct.pack("<Q", 64) + toolchain)
        status, body = exchange(self, request)
        if status != 200 or len(body) < 12 or struct.unpack("<I", body[:4])[0] != 0:
            return
        length = struct.unpack("<Q", body[4:12])[0]
        if length > 4096 or len(body) < 12 + length + 8:
            return
        auth = body[12: 12 + length]
        job = struct.unpack("<Q", body[12 + length: 20 + length])[0]
        self.tokens.append((auth, job))
        self.tokens = self.tokens[-32:]


def split_address(text):
    host, _, port = text.rpartition(":")
    if host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit(f"live_fuzz: {text} is not a loopback address")
    return host, int(port)


def exchange(farm, request):
    """Sends one request; (status or answer class, body). A well-framed request goes on the connection kept from the
    last one when there is one (as clients do), anything else on a connection of its own that is then closed."""
    reusable = request.reusable()
    sock = farm.kept.pop(request.target, None) if reusable else None
    if sock is not None:
        status, body, keep = send(sock, request)
        if status not in ("no-answer", "reset"):
            if keep:
                farm.kept[request.target] = sock
            else:
                sock.close()
            return status, body
        sock.close()  # the server had closed the kept connection: start again on a new one
    try:
        sock = farm.connect(request.target)
    except (ConnectionRefusedError, ConnectionResetError):
        return "refused", b""
    except (socket.timeout, ssl.SSLError, OSError):
        return "connect-failed", b""
    status, body, keep = send(sock, request)
    if keep and reusable:
        farm.kept[request.target] = sock
    else:
        sock.close()
    return status, body


def send(sock, request):
    """(status or answer class, body, whether the connection may carry another request)."""
    data = b""
    try:
        sock.sendall(request.serialize())
        if request.cut is not None or request.half_close:
            try:
                # The plain socket's shutdown: SSLSocket's own would drop the TLS session (and read raw records).
                socket.socket.shutdown(sock, socket.SHUT_WR)
            except OSError:
                pass
        while not complete(data, request.method == b"HEAD"):
            piece = sock.recv(65536)
            if not piece:
                return classify(data), b"", False
            data += piece
    except socket.timeout:
        return ("timeout" if not data else classify(data)), b"", False
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
        return ("reset" if not data else classify(data)), b"", False
    head, _, body = data.partition(b"\r\n\r\n")
    return classify(data), body, b"connection: close" not in head.lower()


def complete(data, bodiless=False):
    """Whether `data` holds a whole response (a kept-alive connection is not waited on until it times out)."""
    head, separator, body = data.partition(b"\r\n\r\n")
    if not separator:
        return len(data) > (1 << 20)
    if bodiless or head[9:10] == b"1" or head[9:12] in (b"204", b"304"):
        return True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return len(body) >= int(value.strip())
            except ValueError:
                return False
        if name.strip().lower() == b"transfer-encoding":
            return body.endswith(b"0\r\n\r\n")
    return True  # no length (an answer to CONNECT, say): the head is what there is to classify


def classify(data):
    if not data:
        return "no-answer"
    try:
        status = int(data.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return "unparsable"
    return status


def fill_credentials(farm, request, rng):
    """The farm's credentials in place of the captured ones, so that mutations get past authentication."""
    options = farm.options
    headers = [(k, v) for k, v in request.headers if k.lower() not in (b"authorization", b"connection")]
    path = request.path
    if request.target == "scheduler":
        if b"alloc_job" in path:
            headers.append((b"authorization", b"Bearer " + options.client_token.encode()))
        elif b"heartbeat_server" in path or b"job_state" in path:
            port = rng.choice([p for p in range(21000, 21064) if p != farm.builder[1]])
            headers.append((b"authorization", f"Bearer 127.0.0.1:{port} {options.server_token}".encode()))
            if b"job_state" in path and farm.tokens:
                path = b"/api/v1/scheduler/job_state/%d" % rng.choice(farm.tokens)[1]
        if b"server_certificate" in path and rng.random() < 0.5:
            path = b"/api/v1/scheduler/server_certificate/" + options.builder.encode()
    elif farm.tokens:
        auth, job = rng.choice(farm.tokens)
        headers.append((b"authorization", b"Bearer " + auth))
        path = path.rsplit(b"/", 1)[0] + b"/%d" % job
    request.headers, request.path = headers, path


def mutate(request, rng):
    """One to three mutations; names them."""
    names = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        name, operation = rng.choice(MUTATIONS)
        operation(request, rng)
        names.append(name)
    return names


def body_op(function):
    def apply(request, rng):
        request.body = function(bytearray(request.body), rng)
    return apply


def flip(body, rng):
    if body:
        for _ in range(rng.randint(1, 8)):
            body[rng.randrange(len(body))] ^= 1 << rng.randrange(8)
    return bytes(body)


def random_byte(body, rng):
    if body:
        body[rng.randrange(len(body))] = rng.randrange(256)
    return bytes(body)


def insert(body, rng):
    at = rng.randint(0, len(body))
    return bytes(body[:at]) + os.urandom(rng.choice([1, 8, 64, 1024])) + bytes(body[at:])


def delete(body, rng):
    if not body:
        return b""
    at = rng.randrange(len(body))
    return bytes(body[:at]) + bytes(body[at + rng.randint(1, 64):])


def truncate(body, rng):
    return bytes(body[: rng.randint(0, len(body))])


def extend(body, rng):
    return bytes(body) + (os.urandom(rng.choice([1, 100, 10000])) if rng.random() < 0.5 else b"\x00" * rng.choice([8, 4096, 200000]))


def integer(body, rng):
    """An interesting u64 or u32 (little-endian, as bincode writes; or big-endian, as run_job's prefix) at an offset."""
    if len(body) < 8:
        return bytes(body)
    at = rng.randrange(0, len(body) - 7)
    if rng.random() < 0.7:
        at -= at % 4
    value = rng.choice(INTERESTING_U64)
    form = rng.choice(["<Q", "<I", ">I", ">Q"])
    packed = struct.pack(form, value & ((1 << (8 * struct.calcsize(form))) - 1))
    body[at: at + len(packed)] = packed
    return bytes(body)


def huge_prefix(body, rng):
    """A length field at the start (bincode's first u64 or run_job's u32 BE) made huge."""
    packed = struct.pack(rng.choice(["<Q", ">I"]), rng.choice([(1 << 64) - 1, 1 << 40, 0x7FFFFFFF, 0xFFFFFFFF]) & 0xFFFFFFFF)
    return packed + bytes(body[len(packed):])


def content_length(request, rng):
    choice = rng.randrange(6)
    if choice == 0:
        request.content_length = False  # none at all
    elif choice == 1:
        request.content_length = len(request.body) + rng.choice([1, 100, 1 << 20])
        request.half_close = True  # the server sees the end of the stream instead of waiting
    elif choice == 2:
        request.content_length = max(0, len(request.body) - rng.randint(1, 100))
    else:
        request.content_length = rng.choice([b"-1", b"99999999999999999999999", b"0x10", b"1, 2", b" ", b"18446744073709551615"])
        request.half_close = True


def chunked(request, rng):
    request.chunked = True
    if rng.random() < 0.5:
        request.chunk_sizes = rng.choice([b"fffffffffffffffff", b"-1", b"zz", b"7fffffff", b"1;ext=" + b"x" * 5000, b""])
        request.half_close = True


def drop_header(request, rng):
    if request.headers:
        request.headers.pop(rng.randrange(len(request.headers)))


def duplicate_header(request, rng):
    if request.headers:
        request.headers.append(rng.choice(request.headers))


def junk_header(request, rng):
    name = rng.choice([b"x-junk", b"authorization", b"content-type", b"host", b"x-real-ip", b"expect", b"connection"])
    value = rng.choice([b"A" * rng.choice([10, 9000, 70000]), b"100-continue", b"\x00\xff", b"keep-alive", b"10.0.0.1"])
    request.headers.append((name, value))


def method(request, rng):
    request.method = rng.choice(METHODS)


def path(request, rng):
    request.path = rng.choice([
        request.path + b"/extra", request.path.rsplit(b"/", 1)[0] + b"/99999999999999999999999",
        request.path.rsplit(b"/", 1)[0] + b"/-1", request.path + b"%00", b"/../../etc/passwd", b"/" + b"a" * 20000,
        request.path.replace(b"/api/v1", b"/api/v2"), b"*", request.path + b"?q=" + b"%" * 100,
    ])


def version(request, rng):
    request.version = rng.choice([b"HTTP/1.0", b"HTTP/2.0", b"HTTP/9.9", b"HTTX/1.1", b""])


def auth(request, rng):
    headers = []
    for key, value in request.headers:
        if key.lower() == b"authorization" and rng.random() < 0.8:
            value = bytes(flip(bytearray(value), rng)) if rng.random() < 0.5 else value[: rng.randint(0, len(value))]
        headers.append((key, value))
    request.headers = headers


def cut(request, rng):
    request.cut = rng.randint(1, max(1, len(request.serialize()) - 1))


MUTATIONS = [
    ("body-flip", body_op(flip)), ("body-byte", body_op(random_byte)), ("body-insert", body_op(insert)),
    ("body-delete", body_op(delete)), ("body-truncate", body_op(truncate)), ("body-extend", body_op(extend)),
    ("body-integer", body_op(integer)), ("body-integer", body_op(integer)), ("body-huge-length", body_op(huge_prefix)),
    ("content-length", content_length), ("chunked", chunked), ("drop-header", drop_header),
    ("duplicate-header", duplicate_header), ("junk-header", junk_header), ("method", method), ("path", path),
    ("version", version), ("auth", auth), ("cut", cut),
]


def worker(arguments):
    options, index, count = arguments
    rng = random.Random(options.seed * 1000 + index)
    random.seed(options.seed * 1000 + index)
    farm = Farm(options)
    seeds = load_seeds(options.corpus)
    scheduler_seeds = [s for s in seeds if s.target == "scheduler"]
    builder_seeds = [s for s in seeds if s.target == "builder"]
    counts = {"scheduler": {}, "builder": {}}
    deadline = time.monotonic() + options.time_limit
    sent = 0
    for number in range(count):
        if time.monotonic() > deadline:
            break
        if number % 200 == 0:
            farm.allocate()
        to_builder = rng.random() < options.builder_share
        request = rng.choice(builder_seeds if to_builder else scheduler_seeds).copy()
        fill_credentials(farm, request, rng)
        mutate(request, rng)
        status, _ = exchange(farm, request)
        key = f"{status // 100}xx" if isinstance(status, int) else status
        counts[request.target][key] = counts[request.target].get(key, 0) + 1
        sent += 1
    counts["tokens"] = {"job tokens": len(farm.tokens)}
    return counts, sent


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scheduler", required=True, help="127.0.0.1:PORT of the scheduler (plain HTTP)")
    parser.add_argument("--builder", required=True, help="127.0.0.1:PORT of the build server (HTTPS)")
    parser.add_argument("--client-token", required=True)
    parser.add_argument("--server-token", required=True)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="client processes (the servers, not they, are the bottleneck)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--builder-share", type=float, default=0.4, help="the share of requests sent to the build server")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds a request may take")
    parser.add_argument("--time-limit", type=float, default=1800.0, help="seconds the whole run may take")
    parser.add_argument("--corpus", default=os.path.join(here, "corpus"))
    options = parser.parse_args()
    started = time.monotonic()
    shares = [options.requests // options.workers + (1 if i < options.requests % options.workers else 0) for i in range(options.workers)]
    with multiprocessing.Pool(options.workers) as pool:
        results = pool.map(worker, [(options, index, share) for index, share in enumerate(shares)])
    totals = {"scheduler": {}, "builder": {}, "tokens": {}}
    sent = 0
    for counts, count in results:
        sent += count
        for target, classes in counts.items():
            for key, value in classes.items():
                totals[target][key] = totals[target].get(key, 0) + value
    elapsed = time.monotonic() - started
    print(f"live_fuzz: {sent} mutated requests in {elapsed:.0f} s (seed {options.seed})")
    for target, classes in totals.items():
        line = ", ".join(f"{key} {value}" for key, value in sorted(classes.items(), key=lambda kv: str(kv[0])))
        print(f"  {target:9} {sum(classes.values()):7}: {line}")
    print("live_fuzz-json " + json.dumps({"sent": sent, "seconds": round(elapsed, 1), "answers": totals}, sort_keys=True))
    return 0 if sent >= options.requests else 3


if __name__ == "__main__":
    sys.exit(main())
