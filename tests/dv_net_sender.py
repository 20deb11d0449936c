"""A dv.io.NetworkWriter in its own process, driven line by line over stdin (for test_network_source).

Run as ``python dv_net_sender.py PORT WIDTH HEIGHT``. Commands: ``wait-client``,
``write EVENTS.npy`` (an EVENT_DTYPE array), ``quit`` (the process exits and
the connection drops, as when DV software stops). Each answers one line.
"""

import os
import sys
import time

import dv_processing as dv
import numpy as np

from recording_writers import to_dv_store


def main() -> None:
    port, width, height = (int(a) for a in sys.argv[1:4])
    stream = dv.io.Stream.EventStream(0, "events", "TEST_SENDER", (width, height))
    writer = dv.io.NetworkWriter("127.0.0.1", port, stream)
    print("ready", flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command == "wait-client":
            while writer.getClientCount() == 0:
                time.sleep(0.005)
            print("connected", flush=True)
        elif command == "write":
            writer.writeEvents(to_dv_store(np.load(args[0])))
            print("written", flush=True)
        elif command == "quit":
            break
    # Exit without destructors: a NetworkWriter destroyed while a client is
    # connected deadlocks in dv-processing 2.0.4; the OS closes the socket.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
