#!/usr/bin/env python3
#
# Gathers ICE candidates with aioice against one STUN server and prints
# them, one per line: "type host port related_host related_port".
#
#   stun_ice.py HOST PORT

import asyncio
import sys

import aioice


async def main():
    conn = aioice.Connection(ice_controlling=True,
                             stun_server=(sys.argv[1], int(sys.argv[2])),
                             use_ipv6=False)
    await asyncio.wait_for(conn.gather_candidates(), 15)

    for c in conn.local_candidates:
        print(c.type, c.host, c.port, c.related_address, c.related_port)

    await conn.close()


asyncio.run(main())
