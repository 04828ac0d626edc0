"""The subcommands of ``mqttsim``; :mod:`mqttsim.cli` is the registry."""
