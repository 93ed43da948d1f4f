"""The simple index (PEP 503/691): pages rendered once per change, and the format negotiation
that picks JSON or HTML."""
