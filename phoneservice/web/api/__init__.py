from phoneservice.web.api.edge import blueprint  # noqa: F401
