"""The ASGI entry point for uvicorn: ``uvicorn incident_cmd.asgi:app``."""

from incident_cmd.app import create_app

app = create_app()
