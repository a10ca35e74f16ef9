"""Wire protocol: framing, serialization, authentication and connections."""
