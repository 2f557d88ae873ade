"""The web console: camera pictures, reader states, health history, in a browser.

Served by the daemon's one HTTP server beside /healthz and /metrics
(`server.py`), on 127.0.0.1 unless configured; `lookout console` serves it on a
recorded file (`replay.py`). Pages are plain HTML, JavaScript and SVG shipped in
`static/` (no build step). Parts: `auth.py` (passwords, roles, CSRF),
`snapshots.py` (JPEGs in memory, encoded only while a browser looks), `state.py`
(camera status gathered off the request path), `history.py` (camera states in
SQLite), `views.py` (the endpoints).
"""
