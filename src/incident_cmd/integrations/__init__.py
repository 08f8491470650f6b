"""Providers calling us back. A provider's webhooks know no domain: they verify the request,
turn it into a typed message and ask the handlers the domains registered (``wiring.py``)."""
