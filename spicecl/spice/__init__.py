"""The one place that runs ngspice: the batch runner and the binary raw-file reader.

Importing this package starts no process and imports no PySpice.
"""
