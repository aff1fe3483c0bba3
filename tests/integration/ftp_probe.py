"""Just enough active-mode FTP for the kernel's FTP helper to expect a data
connection, driven line by line from a test.

server: listens on --bind:21; on a client's control connection answers 220,
        reads USER (230) and its PORT command and answers 200, prints "port A.B.C.D P";
        then, per line read on stdin: "open" connects from port 20 to that
        address and port (the data connection of active mode) and prints
        "data-open" or "data-failed <why>"; "quit" reads the client's QUIT,
        answers 221 and prints "quit-ok" (or "control-failed <why>").
client: listens on --bind:--data-port, opens the control connection to
        --server:21, sends USER and PORT and prints "port-sent" once 200 came; then
        waits --data-wait seconds for the data connection and prints
        "data <text>" or "data-timeout"; on "quit" from stdin sends QUIT and
        prints "quit-ok" when 221 comes back (or "control-failed <why>").
"""
import argparse
import socket
import sys


def say(*words):
    print(*words, flush=True)


def read_line(conn):
    buf = b""
    while not buf.endswith(b"\r\n"):
        b = conn.recv(1)
        if not b:
            raise ConnectionError("the control connection closed")
        buf += b
    return buf.decode().strip()


def server(args):
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind((args.bind, 21))
    lst.listen(1)
    print("listening", file=sys.stderr, flush=True)
    lst.settimeout(args.timeout)
    ctl, _ = lst.accept()
    ctl.settimeout(args.timeout)
    ctl.sendall(b"220 bladesync test\r\n")
    if not read_line(ctl).startswith("USER "):
        raise SystemExit("expected USER")
    ctl.sendall(b"230 logged in\r\n")
    cmd = read_line(ctl)
    if not cmd.startswith("PORT "):
        raise SystemExit("expected PORT, got %r" % cmd)
    n = [int(x) for x in cmd[5:].split(",")]
    addr, port = ".".join(map(str, n[:4])), n[4] * 256 + n[5]
    ctl.sendall(b"200 PORT command successful\r\n")
    say("port", addr, port)
    for line in sys.stdin:
        if line.strip() == "open":
            data = socket.socket()
            data.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            data.bind((args.bind, 20))
            data.settimeout(args.timeout)
            try:
                data.connect((addr, port))
                data.sendall(b"the file\r\n")
                data.close()
                say("data-open")
            except OSError as e:
                say("data-failed", type(e).__name__)
        elif line.strip() == "quit":
            try:
                cmd = read_line(ctl)
                ctl.sendall(b"221 bye\r\n")
                say("quit-ok" if cmd == "QUIT" else "control-failed got %r" % cmd)
            except OSError as e:
                say("control-failed", type(e).__name__)
            return


def client(args):
    data = socket.socket()
    data.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    data.bind((args.bind, args.data_port))
    data.listen(1)
    ctl = socket.create_connection((args.server, 21), timeout=args.timeout, source_address=(args.bind, 0))
    if not read_line(ctl).startswith("220"):
        raise SystemExit("no greeting")
    # The kernel's helper reads a command only after a line it saw end in
    # the same direction: PORT is never the first, as with a real client.
    ctl.sendall(b"USER anonymous\r\n")
    if not read_line(ctl).startswith("230"):
        raise SystemExit("USER refused")
    a = args.bind.split(".")
    ctl.sendall(("PORT %s,%d,%d\r\n" % (",".join(a), args.data_port // 256, args.data_port % 256)).encode())
    if not read_line(ctl).startswith("200"):
        raise SystemExit("PORT refused")
    say("port-sent")
    data.settimeout(args.data_wait)
    try:
        conn, _ = data.accept()
        conn.settimeout(args.timeout)
        say("data", conn.recv(100).decode().strip().replace(" ", "_"))
    except socket.timeout:
        say("data-timeout")
    for line in sys.stdin:
        if line.strip() == "quit":
            try:
                ctl.sendall(b"QUIT\r\n")
                say("quit-ok" if read_line(ctl).startswith("221") else "control-failed")
            except OSError as e:
                say("control-failed", type(e).__name__)
            return


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["server", "client"])
    p.add_argument("--bind", required=True)
    p.add_argument("--server")
    p.add_argument("--data-port", type=int, default=50000)
    p.add_argument("--data-wait", type=float, default=60)
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    (server if args.mode == "server" else client)(args)


if __name__ == "__main__":
    main()
