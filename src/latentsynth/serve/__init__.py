"""The instrument (issue #15): a FastAPI server over frame models and a browser page (``static/``: vanilla JS,
Web Audio, Web MIDI; nothing fetched from the internet) to play the latent space.

``create_app(folders)`` builds the app; ``background_server(app)`` runs it on a loopback port in a thread;
``latentsynth serve MODEL...`` runs it with uvicorn.
"""

from .app import MAX_BODY, background_server, create_app

__all__ = ["MAX_BODY", "background_server", "create_app"]
