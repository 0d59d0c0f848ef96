"""``phone-migration device-defaults list|set``: S-6, each phone model's default load and
onboarding method (the admin UI's Device defaults form and the API's /device-defaults, on
one service); registered on the main command by ``phoneservice.cli.commands``."""

from __future__ import annotations

import click

from models.rules.catalog import default_catalog
from models.services.site_settings import SiteSettingsService
from phoneservice.cli.common import _db, refusals

ONBOARDING = click.Choice(["auto_registration", "activation_code", "none"])


@click.group("device-defaults")
def device_defaults() -> None:
    """S-6: each phone model's default firmware load and onboarding method."""


@device_defaults.command("list")
@click.pass_context
def device_defaults_list(ctx) -> None:
    """Every phone model (not Jabber): the site's load ('-': the catalogue's) and onboarding method."""
    click.echo(f"{'MODEL':8} {'LOAD':28} {'CATALOGUE LOAD':28} ONBOARDING")
    for row in SiteSettingsService(_db(ctx), default_catalog()).device_defaults():
        click.echo(f"{row.model:8} {row.load or '-':28} {row.catalogue_load or '-':28} "
                   f"{row.onboarding_method or 'none set'}")


@device_defaults.command("set")
@click.argument("model")
@click.option("--load", default="", help="The default load; empty: the catalogue's.")
@click.option("--onboarding", type=ONBOARDING, default="none", show_default=True, help="M-1's onboarding method.")
@click.pass_context
@refusals
def device_defaults_set(ctx, model: str, load: str, onboarding: str) -> None:
    """Set MODEL's defaults (both are replaced)."""
    method = None if onboarding == "none" else onboarding
    SiteSettingsService(_db(ctx), default_catalog()).set_device_defaults({model: (load or None, method)})
    click.echo(f"{model}: load {load or 'from the catalogue'}, onboarding {method or 'none set'}")
