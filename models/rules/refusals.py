"""The one error every door translates, and the registry of its codes.

A refusal has a code, a sentence fit to show a person (never a PIN or a
hash) and, from the registry, a *kind*. Doors map kinds, not codes: the API
answers 404 for ``NOT_FOUND``, 422 for ``INVALID``, 409 for the rest; the
admin UI shows a not-found or a refused page; the IVR and the screens end the
caller's session when the code says so (``ends_session``). A code whose words
every door must share (C-12: the loser of a race hears what the API says) is
worded once, in ``SAYS``, and raised without a message. Adding a code is one
line here, plus its sentence in ``SAYS`` if it reaches a caller of the IVR (and
then a prompt of its name; ``docs/architecture.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    NOT_FOUND = "not_found"  # the thing named does not exist
    INVALID = "invalid"  # the input itself is wrong; retyping can fix it
    CONFLICT = "conflict"  # the input is fine but the site's state forbids it
    CREDENTIAL = "credential"  # a PIN, code or password did not match
    LOCKED = "locked"  # too many failures: nothing is tried until the lock ends


@dataclass(frozen=True)
class Code:
    kind: Kind
    ends_session: bool = False  # a self-service call or screen session cannot go on after it
    field: str | None = None  # the input it is about, where it is always one


NF, INV, CON, CRED, LOCK = Kind.NOT_FOUND, Kind.INVALID, Kind.CONFLICT, Kind.CREDENTIAL, Kind.LOCKED

CODES: dict[str, Code] = {
    # not found
    "unknown_device": Code(NF), "unknown_user": Code(NF), "unknown_code": Code(NF), "unknown_token": Code(NF),
    "unknown_task": Code(NF), "unknown_admin": Code(NF), "unknown_security_profile": Code(NF),
    "unknown_record": Code(NF),  # U-1: no migration record with that id
    "unknown_wave": Code(NF), "unknown_wave_row": Code(NF),  # W-1..W-3
    # the input is wrong
    "ambiguous_dn": Code(INV), "bad_activation_code": Code(INV), "bad_auth_code": Code(INV, field="code"),
    "bad_call_id": Code(INV, field="register_call_id"), "bad_contact": Code(INV, field="contact"),
    "bad_csv": Code(INV, field="file"), "bad_datetime_group": Code(INV), "bad_device_field": Code(INV), "bad_dn": Code(INV), "bad_encoding": Code(INV),
    "bad_entry": Code(INV), "bad_filter": Code(INV), "bad_file_name": Code(INV, field="file_name"), "bad_format": Code(INV), "bad_header": Code(INV),
    "bad_kem": Code(INV), "bad_load": Code(INV), "bad_mac": Code(INV), "bad_onboarding": Code(INV),
    "bad_option": Code(INV), "bad_param": Code(INV, field="product_params"), "bad_pin": Code(INV, field="pin"),
    "bad_profile": Code(INV), "bad_protocol": Code(INV), "bad_register": Code(INV), "bad_rows": Code(INV), "bad_registration": Code(INV), "bad_scope": Code(INV),
    "bad_self_service_id": Code(INV), "bad_setting": Code(INV), "bad_target": Code(INV),
    "bad_task_kind": Code(INV, field="kind"), "bad_task_name": Code(INV, field="name"), "bad_tftp_server": Code(INV, field="tftp_server"),
    "bad_user_id": Code(INV), "bad_wave_name": Code(INV, field="name"), "bad_username": Code(INV), "bad_role": Code(INV, field="role"),
    "bad_token_name": Code(INV, field="name"), "jabber_target": Code(INV), "needs_model": Code(INV),
    "same_device": Code(INV), "too_long": Code(INV), "too_many_rows": Code(INV, field="file"), "trivial_pin": Code(INV, field="pin"),
    "unknown_model": Code(INV), "unknown_profile": Code(INV), "unknown_template": Code(INV),
    "unsupported_model": Code(INV), "video_to_audio": Code(INV), "weak_password": Code(INV),
    "wrong_model": Code(INV),
    # the site's state forbids it
    "admin_exists": Code(CON), "admin_is_you": Code(CON), "last_full_admin": Code(CON),
    "already_migrated": Code(CON), "autoreg_exhausted": Code(CON),
    "bat_conflict": Code(CON), "being_migrated": Code(CON), "extension_in_use": Code(CON), "mac_in_use": Code(CON),
    "nothing_to_migrate": Code(CON), "profile_exists": Code(CON), "self_service_id_in_use": Code(CON),
    "register_foreign_dn": Code(CON), "register_unknown_device": Code(CON),  # the registrar answers 403
    "task_exists": Code(CON), "task_in_progress": Code(CON), "task_not_in_progress": Code(CON),
    "task_not_ready": Code(CON), "task_started": Code(CON), "user_exists": Code(CON),
    "task_paused": Code(CON), "task_not_paused": Code(CON), "nothing_to_retry": Code(CON),  # F-6c
    # U-1: why a migration cannot be undone
    "not_undoable": Code(CON), "already_undone": Code(CON), "undo_needs_retain": Code(CON),
    "undo_window_passed": Code(CON), "undo_old_deleted": Code(CON), "undo_new_migrated": Code(CON),
    "undo_device_changed": Code(CON),
    # W-1..W-3: a wave's name is taken, a row is past cancelling, a re-planned row loses more
    "wave_exists": Code(CON), "wave_row_not_staged": Code(CON), "wave_row_held": Code(CON),
    "new_mac_staged": Code(CON),
    # ... and a self-service session cannot go on after it
    "already_yours": Code(CON, ends_session=True), "dn_in_several_partitions": Code(CON, ends_session=True),
    "no_old_phone": Code(CON, ends_session=True), "no_user": Code(CON, ends_session=True),
    "not_a_candidate": Code(CON, ends_session=True), "not_a_new_phone": Code(CON, ends_session=True),
    "not_allowed": Code(CON, ends_session=True), "old_phone_registered": Code(CON, ends_session=True),
    "owned_by_other": Code(CON, ends_session=True), "phone_limit": Code(CON, ends_session=True),
    "unknown_caller": Code(CON, ends_session=True),
    # credentials
    "invalid_credentials": Code(CRED), "bad_login": Code(CRED), "not_authenticated": Code(CRED),
    "locked": Code(LOCK, ends_session=True), "admin_login_blocked": Code(LOCK),
}


# C-12, M-3: what every door says for these codes, worded once, with what to do next.
# The engine raises them without a message (``Refused(code)``); the API, the admin
# UI, the CLI and the screens show the sentence, and the IVR plays the prompt of
# the code's name, whose English text is the sentence (``tests/test_refusals.py``).
# Sentences end without a full stop, like every refusal message; doors add it.
SAYS: dict[str, str] = {
    "already_migrated": "That phone has already been migrated. "
                        "Choose another phone, or ask an administrator to undo that migration",
    "being_migrated": "That phone is being migrated right now. Try again in a minute",
    "not_a_candidate": "That phone is not one you can replace from here. "
                       "Choose another phone, or ask your administrator",
    "no_old_phone": "No phone with that extension as its first line can be replaced from here. "
                    "Check the extension, or ask your administrator",
    "old_phone_registered": "Your old phone is still registered. Unplug it, and try again",
    "dn_in_several_partitions": "That extension exists more than once, so it can't be used here. "
                                "Ask your administrator to migrate this phone",
    "not_a_new_phone": "This phone is already provisioned, so it can't take over another phone's settings. "
                       "Ask your administrator",
    "unknown_caller": "This phone is not known here, so it can't take over another phone's settings. "
                      "Ask your administrator",
    "not_allowed": "You are not allowed to provision your own phones. Ask your administrator",
    "phone_limit": "You already have the most phones you may have. Ask your administrator",
    "owned_by_other": "This phone belongs to another user and can't be given to you. Ask your administrator",
    "no_user": "That extension belongs to no user, so there is nobody to give this phone to. "
               "Ask your administrator",
}


class Refused(Exception):
    def __init__(self, code: str, message: str | None = None, *, final: bool = False,
                 field: str | None = None) -> None:
        if code not in CODES:
            raise KeyError(f"refusal code {code!r} is not in models.rules.refusals.CODES")
        if code in SAYS and message not in (None, SAYS[code]):
            raise ValueError(f"refusal code {code!r} is worded once, in models.rules.refusals.SAYS: give no message")
        if message is None:
            if code not in SAYS:
                raise ValueError(f"refusal code {code!r} needs a message (it has none in SAYS)")
            message = SAYS[code]
        super().__init__(message)
        self.code = code
        self.message = message
        self.final = final or CODES[code].ends_session  # the session must end (A-4's third strike, lockout)
        self.field = field or CODES[code].field  # the input it is about, when one is
        self.recorded = False  # C-13: written to the migration records already

    @property
    def kind(self) -> Kind:
        return CODES[self.code].kind

    def __repr__(self) -> str:
        return f"Refused({self.code!r}, {self.message!r})"
