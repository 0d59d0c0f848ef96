from phoneservice.cli.commands import main  # noqa: F401
