"""The WSGI entry point for servers: ``gunicorn --preload app.wsgi:app``.

The app is built and warmed up (packs, value sets, validation tables, templates) once, in the server's master
process before it forks its workers: every worker starts ready, and they share that memory.
"""

from app import create_app, warm_up

app = warm_up(create_app())
