#!/usr/bin/python3
"""pymodbus_serve: an independent third-party Modbus TCP server for the
interop rung (docs/design.md, "Trust ladder").

Debian's python3-pymodbus, serving on 127.0.0.1 the input and holding
registers a test gives it, 0-based (zero_mode), any unit ID. The words are
read from a file, one "table address word" per line (table "i" or "h"), so
that the test, not this script, chooses them. Run it with Debian's
/usr/bin/python3, where the package lives.

    pymodbus_serve.py --port P --words FILE
"""
import argparse
import logging

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server import StartTcpServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--words", required=True)
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)
    tables = {"i": [0] * 65536, "h": [0] * 65536}
    with open(args.words, encoding="ascii") as f:
        for line in f:
            t, a, w = line.split()
            tables[t][int(a)] = int(w)
    store = ModbusSlaveContext(ir=ModbusSequentialDataBlock(0, tables["i"]),
                               hr=ModbusSequentialDataBlock(0, tables["h"]),
                               zero_mode=True)
    context = ModbusServerContext(slaves=store, single=True)
    print("listening", flush=True)
    StartTcpServer(context=context, address=("127.0.0.1", args.port),
                   allow_reuse_address=True)


if __name__ == "__main__":
    main()
