#!/usr/bin/env python3
"""bench/rr.py: an interactive flow's latency, a small request and its reply over TCP.

    rr.py serve PORT                     # answers every SIZE-byte request with SIZE bytes
    rr.py ask HOST PORT COUNT INTERVAL   # COUNT requests, one every INTERVAL s; JSON on stdout

Each request is SIZE (64) bytes, each reply SIZE bytes, one at a time on one
connection with TCP_NODELAY on both ends (what an SSH keystroke or a small
database query looks like). The client times each request from send() to the
last byte of its reply (time.perf_counter_ns) and prints
{"n", "p50_ms", "p99_ms", "max_ms", "failed"}. Used by bench/peers.sh, which
runs it beside a saturating iperf3 stream and idle.
"""

import json
import socket
import sys
import time

SIZE = 64


def read_exactly(conn, n):
    """n bytes from conn, or None when the peer closed it first."""
    buf = bytearray()
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def serve(port):
    """Answer requests, one connection after another, until killed."""
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("0.0.0.0", port))
    lsock.listen(4)
    while True:
        conn, _ = lsock.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            while True:
                req = read_exactly(conn, SIZE)
                if req is None:
                    break
                conn.sendall(req)


def percentile(sorted_values, p):
    """The nearest-rank percentile p (0-100) of a sorted, non-empty list."""
    rank = max(1, -(-len(sorted_values) * p // 100))  # ceil
    return sorted_values[int(rank) - 1]


def ask(host, port, count, interval):
    """count timed requests; the summary as one JSON object on stdout."""
    conn = socket.create_connection((host, port), timeout=5)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.settimeout(2)
    payload = bytes(range(SIZE))
    times_ms = []
    failed = 0
    for _ in range(count):
        start = time.perf_counter_ns()
        try:
            conn.sendall(payload)
            reply = read_exactly(conn, SIZE)
        except OSError:
            reply = None
        if reply != payload:
            failed += 1
            break  # the connection's state is unknown: stop here
        times_ms.append((time.perf_counter_ns() - start) / 1e6)
        time.sleep(interval)
    conn.close()
    times_ms.sort()
    summary = {"n": len(times_ms), "failed": failed}
    if times_ms:
        summary.update(
            p50_ms=round(percentile(times_ms, 50), 3),
            p99_ms=round(percentile(times_ms, 99), 3),
            max_ms=round(times_ms[-1], 3),
        )
    print(json.dumps(summary))


def main(argv):
    if len(argv) == 3 and argv[1] == "serve":
        serve(int(argv[2]))
    elif len(argv) == 6 and argv[1] == "ask":
        ask(argv[2], int(argv[3]), int(argv[4]), float(argv[5]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
