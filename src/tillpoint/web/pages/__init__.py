"""The storefront pages: server-rendered Jinja2 templates, plain CSS and small JS modules.

The pages hold no state of their own: the JavaScript talks to the JSON API, and the
checkout's place in its state machine lives on the server, so reload and back keep it.
"""
