"""A long-lived TCP stream and a UDP flow whose every byte is accounted for.

server: accepts one TCP connection and checks that the bytes follow the
        pattern (byte i == i % 251), with arrival times; answers a UDP
        "subscribe" by streaming numbered datagrams back to the client
        every 10 ms (server -> client, so a firewall without the session
        drops them as new inbound traffic).
client: sends the pattern in 1000-byte writes every 5 ms for --duration
        seconds, subscribes to the UDP stream once and records arrivals.

Each side prints one JSON line when it ends (the server on SIGTERM or when
the client closes). Times are CLOCK_MONOTONIC seconds (one clock for all
namespaces of a machine).
"""
import argparse
import json
import select
import signal
import socket
import struct
import sys
import time

CHUNK = 1000
PATTERN = bytes(i % 251 for i in range(251 * CHUNK))


def pattern_at(offset, n):
    start = offset % 251
    return PATTERN[start:start + n]


def gaps(times, after=None):
    """The longest silence between arrivals (ms), and when it began."""
    best, at = 0.0, None
    for a, b in zip(times, times[1:]):
        if after is not None and b < after:
            continue
        if b - a > best:
            best, at = b - a, a
    return round(best * 1000, 1), at


def server(args):
    tcp = socket.socket()
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((args.bind, args.tcp_port))
    tcp.listen(1)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((args.bind, args.udp_port))
    print("listening", file=sys.stderr, flush=True)  # the client may connect now
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    conn, received, bad_at, closed, error = None, 0, None, False, None
    arrivals = []
    subscriber, seq, next_send = None, 0, 0.0
    deadline = time.monotonic() + args.max_seconds
    while not stop and time.monotonic() < deadline and not closed:
        rlist = [tcp, udp] + ([conn] if conn else [])
        timeout = 0.01 if subscriber else 0.1
        try:
            ready, _, _ = select.select(rlist, [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        if tcp in ready and conn is None:
            conn, _ = tcp.accept()
        if conn is not None and conn in ready:
            try:
                data = conn.recv(65536)
            except OSError as e:
                error = str(e)
                data = b""
            if not data:
                closed = True
            else:
                if bad_at is None and data != pattern_at(received, len(data)):
                    bad_at = received
                received += len(data)
                arrivals.append(now)
        if udp in ready:
            msg, addr = udp.recvfrom(2048)
            if msg.startswith(b"subscribe"):
                subscriber = addr
        if subscriber and now >= next_send:
            seq += 1
            try:
                udp.sendto(struct.pack("!Id", seq, now), subscriber)
            except OSError:
                pass  # no route for a moment: the datagram is lost, as on a real network
            next_send = now + 0.01
    gap, gap_at = gaps(arrivals)
    print(json.dumps({"tcp_bytes": received, "tcp_pattern_ok": bad_at is None, "tcp_bad_at": bad_at,
                      "tcp_closed": closed, "tcp_error": error, "tcp_max_gap_ms": gap, "tcp_gap_began": gap_at,
                      "tcp_last_arrival": arrivals[-1] if arrivals else None, "udp_sent": seq}), flush=True)


def client(args):
    s = socket.create_connection((args.server, args.tcp_port), timeout=5)
    s.settimeout(None)
    s.setblocking(False)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"subscribe", (args.server, args.udp_port))
    sent, error, pending = 0, None, b""
    udp_times, udp_last_seq = [], 0
    end = time.monotonic() + args.duration
    next_write = time.monotonic()
    while time.monotonic() < end and error is None:
        now = time.monotonic()
        if now >= next_write and not pending:
            pending = pattern_at(sent, CHUNK)
            next_write = now + 0.005
        if pending:
            try:
                n = s.send(pending)
                sent += n
                pending = pending[n:]
            except BlockingIOError:
                pass
            except OSError as e:
                error = str(e)
        ready, _, _ = select.select([u, s], [], [], 0.002)
        if u in ready:
            msg, _ = u.recvfrom(2048)
            seq, _ = struct.unpack("!Id", msg[:12])
            udp_times.append(time.monotonic())
            udp_last_seq = max(udp_last_seq, seq)
        if s in ready:
            try:
                if s.recv(1) == b"":
                    error = "closed by peer"
            except BlockingIOError:
                pass
            except OSError as e:
                error = str(e)  # ECONNRESET: a firewall reset the stream
    # Let what is in flight arrive (TCP may be retransmitting), then close.
    flush_end = time.monotonic() + args.drain
    while pending and time.monotonic() < flush_end and error is None:
        try:
            n = s.send(pending)
            sent += n
            pending = pending[n:]
        except BlockingIOError:
            time.sleep(0.01)
        except OSError as e:
            error = str(e)
    s.setblocking(True)
    s.settimeout(args.drain)
    unacked = -1
    try:
        # Wait until the peer acknowledged everything (SIOCOUTQ == 0).
        import fcntl
        import termios
        t_end = time.monotonic() + args.drain
        while time.monotonic() < t_end:
            unacked = struct.unpack("i", fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
            if unacked == 0:
                break
            time.sleep(0.02)
        s.shutdown(socket.SHUT_WR)
    except OSError as e:
        error = error or str(e)
    gap, gap_at = gaps(udp_times)
    print(json.dumps({"tcp_sent": sent, "tcp_error": error, "tcp_unacked": unacked, "udp_received": len(udp_times),
                      "udp_last_seq": udp_last_seq, "udp_max_gap_ms": gap, "udp_gap_began": gap_at,
                      "udp_times": udp_times}), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("--bind", default="0.0.0.0")
    p.add_argument("--server")
    p.add_argument("--tcp-port", type=int, default=5001)
    p.add_argument("--udp-port", type=int, default=5002)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--drain", type=float, default=10)
    p.add_argument("--max-seconds", type=float, default=120)
    a = p.parse_args()
    server(a) if a.role == "server" else client(a)


if __name__ == "__main__":
    sys.exit(main())
