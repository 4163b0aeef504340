#!/usr/bin/env python3
"""tcp_peer.py — the plain TCP ends that test_delayproxy.sh puts on either
side of cor-delayproxy: an echo server, a server that never reads, and
clients that check what comes back. Each client prints one line and exits
0 when the check holds, 1 (with the reason on stderr) when it does not.

  tcp_peer.py serve                      echo server; prints "ready listen=127.0.0.1:PORT"
  tcp_peer.py sink                       accepts and never reads; same ready line
  tcp_peer.py stream ADDR CONNS BYTES    CONNS connections at once, each sends BYTES
                                         seeded pseudo-random bytes in chunks of
                                         1..64 KiB, then half-closes; the echo must
                                         come back intact, in order, then EOF
  tcp_peer.py rtt ADDR SAMPLES           prints the smallest of SAMPLES 1-byte round
                                         trips as "rtt_ms=X"
  tcp_peer.py hold ADDR PID CONTROL LOG  cuts the proxy (pid PID, control file CONTROL,
                                         stderr in LOG): a byte sent while cut must not
                                         come back until it is healed, and then must
  tcp_peer.py flood ADDR PID             sends to a sink until the proxy pushes back;
                                         prints how much got through and the proxy's RSS
"""
import os
import random
import select
import signal
import socket
import sys
import threading
import time


def parse(addr):
    host, port = addr.rsplit(":", 1)
    return host, int(port)


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def listen():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    print("ready listen=127.0.0.1:%d" % s.getsockname()[1], flush=True)
    return s


def serve(sink):
    s = listen()
    held = []

    def echo(c):
        with c:
            while True:
                b = c.recv(65536)
                if not b:
                    c.shutdown(socket.SHUT_WR)
                    return
                c.sendall(b)

    while True:
        c, _ = s.accept()
        if sink:
            held.append(c)
        else:
            threading.Thread(target=echo, args=(c,), daemon=True).start()


def stream(addr, conns, nbytes):
    errors = []

    def one(i):
        rnd = random.Random(i)
        data = rnd.randbytes(nbytes)
        c = socket.create_connection(parse(addr))
        got = bytearray()

        def reader():
            while True:
                b = c.recv(65536)
                if not b:
                    return
                got.extend(b)

        t = threading.Thread(target=reader)
        t.start()
        off = 0
        while off < nbytes:
            n = rnd.randint(1, 65536)
            c.sendall(data[off:off + n])
            off += n
        c.shutdown(socket.SHUT_WR)
        t.join()
        c.close()
        if bytes(got) != data:
            at = next((k for k in range(min(len(got), nbytes)) if got[k] != data[k]),
                      min(len(got), nbytes))
            errors.append("connection %d: sent %d bytes, got %d back, first difference at %d"
                          % (i, nbytes, len(got), at))

    ts = [threading.Thread(target=one, args=(i,)) for i in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        fail("; ".join(errors))
    print("stream ok: %d connections x %d bytes, intact and in order, EOF passed on"
          % (conns, nbytes))


def rtt(addr, samples):
    c = socket.create_connection(parse(addr))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    best = None
    for _ in range(samples):
        t0 = time.monotonic()
        c.sendall(b"x")
        if c.recv(1) != b"x":
            fail("the echo did not come back")
        ms = (time.monotonic() - t0) * 1000.0
        best = ms if best is None else min(best, ms)
    c.close()
    print("rtt_ms=%.1f" % best)


def control(pid, path, log, text):
    """Writes the control file, sends SIGHUP and waits for the proxy to log
    that it applied it (the proxy's word, not a sleep)."""
    with open(path, "w") as f:
        f.write(text)
    want = "control: " + text.replace("\n", " ").strip()
    before = open(log).read().count(want)
    os.kill(pid, signal.SIGHUP)
    for _ in range(300):
        if open(log).read().count(want) > before:
            return
        time.sleep(0.1)
    fail("the proxy never logged '%s'" % want)


def hold(addr, pid, path, log):
    old = socket.create_connection(parse(addr))
    old.sendall(b"a")
    if old.recv(1) != b"a":
        fail("no echo before the cut")
    control(pid, path, log, "delay_ms=0\ncut=1\n")
    old.sendall(b"b")
    new = socket.create_connection(parse(addr))  # accepted while cut
    new.sendall(b"c")
    # Held means held: nothing may come back while cut, however long we look.
    r, _, _ = select.select([old, new], [], [], 0.5)
    if r:
        fail("bytes crossed the proxy while it was cut")
    control(pid, path, log, "delay_ms=0\ncut=0\n")
    for c, want in ((old, b"b"), (new, b"c")):
        c.settimeout(30)
        if c.recv(1) != want:
            fail("a byte held during the cut did not arrive after it healed")
        c.close()
    print("hold ok: bytes held while cut (old and new connections), delivered after")


def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def flood(addr, pid):
    c = socket.create_connection(parse(addr))
    c.setblocking(False)
    chunk = b"z" * 65536
    sent = 0
    limit = 256 << 20
    stalled = 0
    while sent < limit and stalled < 20:
        _, w, _ = select.select([], [c], [], 0.1)
        if not w:
            stalled += 1
            continue
        try:
            sent += c.send(chunk)
            stalled = 0
        except BlockingIOError:
            stalled += 1
    print("flood: sent=%d rss_kib=%d" % (sent, rss_kib(pid)))
    c.close()


def main():
    a = sys.argv[1:]
    if a == ["serve"] or a == ["sink"]:
        serve(a[0] == "sink")
    elif len(a) == 4 and a[0] == "stream":
        stream(a[1], int(a[2]), int(a[3]))
    elif len(a) == 3 and a[0] == "rtt":
        rtt(a[1], int(a[2]))
    elif len(a) == 5 and a[0] == "hold":
        hold(a[1], int(a[2]), a[3], a[4])
    elif len(a) == 3 and a[0] == "flood":
        flood(a[1], int(a[2]))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
