"""What the dashboard and the customer portal share: templates, static assets, the signed-in member.

Server-rendered HTML (Jinja2) with a little htmx, vendored under ``static/vendor`` (no Node.js to
install or build anything). Packages that serve pages (``billow.dashboard``, ``billow.portal``) keep
their templates in their own ``templates/`` folder, found through :func:`billow.web.templating.render`.
"""
