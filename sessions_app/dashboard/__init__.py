"""The live browser dashboard: Django templates, a little plain JavaScript, one websocket."""
