"""The helper catalog (``/``, ``/helpers/<name>/``): its model, data, pages, cache and reads."""
