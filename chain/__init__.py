"""Ledger primitives shared by every layer: encoding, keys, transactions,
blocks, Merkle trees, validator sets, votes, certificates and genesis.

Pure: nothing here does I/O except the key-file helpers in ``chain.keys``,
and nothing imports asyncio, aiohttp, plyvel or an upper layer.
"""
