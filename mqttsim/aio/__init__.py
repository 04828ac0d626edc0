"""The asyncio driver: sockets, a broker server, a client, and the file formats
users already have (mosquitto's password and ACL files).

Import the module you need (``mqttsim.aio.passwd``, ``mqttsim.aio.acl``, ...);
this package itself imports nothing heavy.
"""
