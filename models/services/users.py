"""Editing the site's end users: add and change a user (the checks of ``models.services.site``),
and the paged user search."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, func, select

from models.rules.refusals import Refused
from models.services.site import (
    check_extension_free,
    check_length,
    check_self_service_id,
    create_user,
    existing_profile,
    extension_dn,
    field_refusal,
    find_user,
    set_pin,
)
from models.storage.queries import user_query
from models.tables.users import EndUser, EndUserCreate


def check_new_user_id(session: Session, user_id: str) -> None:
    """A user ID a new user may take: 1 to 128 characters, not blank, no "/", nobody's yet."""
    if not user_id.strip() or "/" in user_id:
        raise field_refusal("bad_user_id", "user_id", '"user_id": 1 to 128 characters, not blank, no "/"')
    check_length(EndUser, "user_id", user_id)
    if session.exec(select(EndUser).where(EndUser.user_id == user_id)).first():
        raise Refused("user_exists", f'user "{user_id}" already exists')


def add_user(session: Session, data: EndUserCreate) -> EndUser:
    """A new end user from the API: the table's limits, a unique self-service ID, an
    existing profile (S-7), and the PIN through ``set_pin`` (A-4 trivial check, A-6 hash)."""
    user_id = data.user_id
    check_new_user_id(session, user_id)
    check_self_service_id(session, data.self_service_id)
    if data.profile is not None:
        existing_profile(session, data.profile)
    user = create_user(session, user_id, self_service_id=data.self_service_id, first_name=data.first_name,
                       last_name=data.last_name, profile=data.profile)
    if data.primary_extension is not None:
        dn = extension_dn(session, data.primary_extension, data.partition)
        check_extension_free(session, dn, user)
        user.primary_extension_id = dn.id
        session.add(user)
        session.flush()
    if data.pin is not None:
        set_pin(session, user_id, data.pin)
    return user


def update_user(session: Session, user_id: str, changes: dict[str, Any]) -> EndUser:
    """``EndUserUpdate`` fields that were sent; null clears (names become empty)."""
    user = find_user(session, user_id)
    if "self_service_id" in changes:
        check_self_service_id(session, changes["self_service_id"], user)
        user.self_service_id = changes["self_service_id"]
    for name in ("first_name", "last_name"):
        if name in changes:
            setattr(user, name, changes[name] or "")
    if "primary_extension" in changes:
        pattern = changes["primary_extension"]
        dn = extension_dn(session, pattern, None) if pattern is not None else None
        if dn is not None:
            check_extension_free(session, dn, user)
        user.primary_extension_id = dn.id if dn is not None else None
    if "profile" in changes:
        name = changes["profile"]
        user.profile_id = existing_profile(session, name).id if name is not None else None
    session.add(user)
    session.flush()
    return user


def user_search(session: Session, search: str = "", *, limit: int = 50,
                offset: int = 0) -> tuple[list[EndUser], int]:
    """A page of users and how many match in all (the filter of ``reports.user_query``)."""

    stmt = user_query(search)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    return list(session.exec(stmt.order_by(col(EndUser.user_id)).offset(offset).limit(limit))), total
