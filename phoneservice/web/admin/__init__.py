from phoneservice.web.admin.login import blueprint, init_app  # noqa: F401
