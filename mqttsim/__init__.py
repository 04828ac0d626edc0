"""mqttsim: learn MQTT and try it on hostile satellite links.

Importing the package is cheap: it pulls in neither asyncio servers, SimPy
nor ipywidgets. Import the subpackage you need: ``mqttsim.protocol`` (the
sans-IO core), ``mqttsim.aio`` (sockets), ``mqttsim.sim`` (the simulator)
or ``mqttsim.widgets`` (the lesson controls).
"""

__version__ = "0.1.0"

from . import native as _native

# Before any compiled module is imported: source or compiled (see mqttsim.native).
_native.select()
