"""The ``mlbedge`` command: thin shells that parse, call the library and print."""
