"""The alert engine: rules from settings, alerts stored in the database, notifiers.

``base.py`` holds the :class:`Notifier` interface and the message; ``gchat.py`` (Google Chat
incoming webhook, cards threaded by alert key), ``webhook.py`` (any URL, and the log) the
notifiers; ``store.py`` the ``alerts`` table; ``engine.py`` the evaluation.
"""
