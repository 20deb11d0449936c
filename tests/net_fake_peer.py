"""A TCP peer in its own process for test_network_greeting: serves one payload to every client.

Run as ``python net_fake_peer.py PAYLOAD_FILE stall|close``; prints its port, then for each
connection sends the payload and either keeps the connection open and silent (stall) or closes it.
"""

import socket
import sys
import threading
import time
from pathlib import Path


def main() -> None:
    payload = Path(sys.argv[1]).read_bytes()
    then = sys.argv[2]
    server = socket.create_server(("127.0.0.1", 0))
    print(server.getsockname()[1], flush=True)
    held = []
    while True:
        conn, _ = server.accept()
        conn.sendall(payload)
        if then == "close":
            conn.close()
        else:
            held.append(conn)


if __name__ == "__main__":
    threading.Thread(target=lambda: (sys.stdin.read(), time.sleep(0), __import__("os")._exit(0)), daemon=True).start()
    main()
