"""``phone-migration users|admins|tokens|activation-codes ...``: the people and credentials of the site.

End users' PINs and lockouts (A-4), administrator accounts, API tokens and
M-5 activation codes; registered on the main command by ``phoneservice.cli.commands``.
"""

from __future__ import annotations

import click

from models.services import site
from models.storage.settings import load_settings
from phoneservice.cli.common import EXIT_USAGE, _db, _fail, refusals


@click.group()
def users() -> None:
    """Add users, set PINs, unlock users."""


@users.command("add")
@click.argument("user_id")
@click.option("--first-name", default="")
@click.option("--last-name", default="")
@click.option("--extension", default=None, help="The primary extension (S-3: one user's at most).")
@click.option("--partition", default=None, help="The extension's partition, when its number is in several.")
@click.option("--self-service-id", default=None, help="The self-service user ID (S-3).")
@click.option("--profile", default=None, help="A user profile (S-7).")
@click.option("--ask-pin", is_flag=True, help="Ask for a PIN (twice, hidden); without it the user has none yet.")
@click.pass_context
@refusals
def users_add(ctx, user_id, first_name, last_name, extension, partition, self_service_id, profile, ask_pin) -> None:
    """Add an end user (the API's POST /users and the admin UI's Add a user: Directory.add)."""
    from models.rules.clock import utcnow
    from models.services.directory import Directory
    from models.tables.users import EndUserCreate

    if partition is not None and extension is None:
        _fail("--partition is the --extension's: give both", EXIT_USAGE)
    directory = Directory(_db(ctx))
    directory.check_new_user_id(user_id)  # a taken user ID is said before the PIN is asked for
    pin = click.prompt("Pin", hide_input=True, confirmation_prompt=True) if ask_pin else None
    user = directory.add(EndUserCreate(
        user_id=user_id, first_name=first_name, last_name=last_name, primary_extension=extension,
        partition=partition, self_service_id=self_service_id, profile=profile, pin=pin), utcnow())
    click.echo(f"user {user.user_id} added (extension {user.primary_extension or '-'}, "
               f"PIN {'set' if user.has_pin else 'not set'})")


@users.command("set-pin")
@click.argument("user_id")
@click.option("--pin", help="The new PIN; asked for (twice, hidden) when not given")
@click.pass_context
@refusals
def users_set_pin(ctx, user_id: str, pin: str | None) -> None:
    db = _db(ctx)
    with db.read_session() as session:
        site.find_user(session, user_id)  # an unknown user is said before the PIN is asked for
    if pin is None:
        pin = click.prompt("Pin", hide_input=True, confirmation_prompt=True)
    with db.session() as session:
        site.set_pin(session, user_id, pin)
    click.echo(f"PIN set for {user_id}")


@users.command("show")
@click.argument("user_id")
@click.pass_context
@refusals
def users_show(ctx, user_id: str) -> None:
    """A user: extension, profile, whether a PIN is set, whether locked (A-4). Never the PIN."""
    from models.rules.auth import is_locked
    from models.rules.clock import utcnow
    from models.tables.lines import DirectoryNumber
    from models.tables.users import CredentialState, UserProfile

    with _db(ctx).session() as session:
        user = site.find_user(session, user_id)
        dn = session.get(DirectoryNumber, user.primary_extension_id) if user.primary_extension_id else None
        profile = session.get(UserProfile, user.profile_id) if user.profile_id else None
        locked = is_locked(session.get(CredentialState, user.id), load_settings(session), utcnow())
    click.echo(f"user: {user.user_id}\nname: {user.display_name}\nextension: {dn.pattern + ' (' + dn.partition + ')' if dn else '-'}")
    click.echo(f"self-service id: {user.self_service_id or '-'}\nprofile: {profile.name if profile else '-'}")
    click.echo(f"PIN set: {'yes' if user.pin_hash else 'no'}\nlocked: {'yes' if locked else 'no'}")


@users.command("unlock")
@click.argument("user_id")
@click.pass_context
@refusals
def users_unlock(ctx, user_id: str) -> None:
    with _db(ctx).session() as session:
        site.unlock(session, user_id)
    click.echo(f"{user_id} unlocked")


@click.group()
def admins() -> None:
    """Administrator accounts for the admin web UI."""


ROLE = click.Choice(["full", "read_only"])


@admins.command("add")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--role", type=ROLE, default="full", show_default=True, help="read_only: looks, changes nothing (E-2)")
@click.pass_context
@refusals
def admins_add(ctx, username: str, password: str, role: str) -> None:
    from models.services.admin_accounts import add_admin

    with _db(ctx).session() as session:
        add_admin(session, username, password, role)
    click.echo(f"administrator {username} added ({role})")


@admins.command("list")
@click.pass_context
def admins_list(ctx) -> None:
    """Every administrator: role, when added, whether five failed logins locked it (A-4)."""
    from models.rules.clock import utcnow
    from models.services.admin_accounts import list_admins

    with _db(ctx).read_session() as session:
        rows = list_admins(session, utcnow())
    click.echo(f"{'USERNAME':20} {'ROLE':10} {'ADDED':16} LOCKED")
    for row in rows:
        click.echo(f"{row.username:20} {row.role:10} {row.created_at:%Y-%m-%d %H:%M} {'yes' if row.locked else 'no'}")


@admins.command("remove")
@click.argument("username")
@click.pass_context
@refusals
def admins_remove(ctx, username: str) -> None:
    """Remove an administrator (never the last one with full rights)."""
    from models.services.admin_accounts import remove_admin

    with _db(ctx).session() as session:
        remove_admin(session, username)
    click.echo(f"administrator {username} removed")


@admins.command("set-role")
@click.argument("username")
@click.argument("role", type=ROLE)
@click.pass_context
@refusals
def admins_set_role(ctx, username: str, role: str) -> None:
    from models.services.admin_accounts import set_role

    with _db(ctx).session() as session:
        set_role(session, username, role)
    click.echo(f"administrator {username} is now {role}")


@admins.command("set-password")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.pass_context
@refusals
def admins_set_password(ctx, username: str, password: str) -> None:
    """Reset an administrator's password; clears a login block too."""
    from models.services.admin_accounts import reset_password

    with _db(ctx).session() as session:
        reset_password(session, username, password)
    click.echo(f"password set for {username}")


@admins.command("unlock")
@click.argument("username")
@click.pass_context
@refusals
def admins_unlock(ctx, username: str) -> None:
    """Clear the block five failed logins put on USERNAME (A-4)."""
    from models.services.admin_accounts import unlock_admin

    with _db(ctx).session() as session:
        unlock_admin(session, username)
    click.echo(f"administrator {username} unlocked")


@click.group()
def tokens() -> None:
    """API tokens for /api/v1 (scopes read, write)."""


@tokens.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(["read", "write"]), default=["read"], show_default=True)
@click.pass_context
@refusals
def tokens_create(ctx, name: str, scopes: tuple[str, ...]) -> None:
    """Create a token; it is printed once and stored hashed."""
    from models.services.admins import create_token

    with _db(ctx).session() as session:
        token, row = create_token(session, name, list(scopes))
    click.echo(f"token {row.id} ({', '.join(row.scopes)}): {token}")


@tokens.command("list")
@click.pass_context
def tokens_list(ctx) -> None:
    """Every token (never the token itself): scopes, whether revoked, when last used (E-3)."""
    from models.services.admin_accounts import list_tokens

    with _db(ctx).read_session() as session:
        rows = list_tokens(session)
    click.echo(f"{'ID':>4} {'NAME':20} {'SCOPES':11} {'STATUS':8} LAST USED (UTC)")
    for row in rows:
        used = row.last_used_at.strftime("%Y-%m-%d %H:%M") if row.last_used_at else "never used"
        click.echo(f"{row.id:4} {row.name:20} {','.join(row.scopes):11} {'revoked' if row.revoked else 'active':8} {used}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
@click.pass_context
@refusals
def tokens_revoke(ctx, token_id: int) -> None:
    from models.services.admins import revoke_token

    with _db(ctx).session() as session:
        revoke_token(session, token_id)
    click.echo(f"token {token_id} revoked")


@click.group("activation-codes")
def activation_codes() -> None:
    """M-5: codes that bind a new phone to a device built for a user."""


@activation_codes.command("issue")
@click.argument("user_id")
@click.argument("model")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 365))
@click.pass_context
@refusals
def activation_issue(ctx, user_id: str, model: str, days: int) -> None:
    """Issue a code for USER_ID's new MODEL; the code is shown once."""
    from models.rules.catalog import default_catalog
    from models.services import activation

    with _db(ctx).session() as session:
        code, row = activation.issue(session, user_id, model, default_catalog(), days=days)
    click.echo(f"activation code for {user_id} ({row.model}): {code[:4]}-{code[4:8]}-{code[8:12]}-{code[12:]}"
               f" (valid until {row.expires_at:%Y-%m-%d %H:%M} UTC; shown only now)")


@activation_codes.command("list")
@click.pass_context
def activation_list(ctx) -> None:
    from models.services import activation

    with _db(ctx).session() as session:
        for row in activation.listing(session):
            click.echo(f"{row.id:4} ...{row.hint} {row.user:10} {row.model:7} {row.status:8} {row.used_by or ''}")


@activation_codes.command("revoke")
@click.argument("code_id", type=int)
@click.pass_context
@refusals
def activation_revoke(ctx, code_id: int) -> None:
    from models.services import activation

    with _db(ctx).session() as session:
        activation.revoke(session, code_id)
    click.echo(f"activation code {code_id} revoked")
