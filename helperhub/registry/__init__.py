"""The private index: its server (``server/``, what the registry image runs) and the one client
(``client``) the rest of the project reads and writes it with."""
