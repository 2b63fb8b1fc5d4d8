#!/usr/bin/python3
"""base_pymodbus: the benchmarks' pymodbus baseline.

The Modbus TCP server of Debian's python3-pymodbus (asyncio), serving holding
registers 0..9 = 100..109 on 127.0.0.1 like the bridge's memory device with the
scratch map. Run it with Debian's /usr/bin/python3, where the package lives.

    base_pymodbus.py --port P
"""
import argparse
import logging

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server import StartTcpServer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    # A client that closes makes pymodbus log an error per connection.
    logging.disable(logging.CRITICAL)
    # zero_mode: request address 0 is register 0 (pymodbus adds 1 otherwise).
    store = ModbusSlaveContext(hr=ModbusSequentialDataBlock(0, list(range(100, 110))),
                               zero_mode=True)
    context = ModbusServerContext(slaves=store, single=True)
    # The default backlog (20) drops SYNs when 256 clients connect at once.
    StartTcpServer(context=context, address=("127.0.0.1", args.port),
                   allow_reuse_address=True, backlog=1024)


if __name__ == "__main__":
    main()
