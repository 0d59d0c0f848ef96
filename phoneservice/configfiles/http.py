"""T-3: the config files over HTTP on the phones' config port (the 6970 role).

Only translates: the resolver (``ConfigFiles``, put on the app by
``install``) decides. A model hint comes from the phone's
``x-CiscoIPPhoneModelName`` or ``User-Agent: Cisco-CP8851/...`` header.

A phone this cluster doesn't know gets the file its peers have (T-6) here
too: a phone tries this port before TFTP, and the same request must get the
same answer by either door. The peers are asked by TFTP either way (the
resolver's hook, ``peers.PeerFiles``).
"""

from __future__ import annotations

import re

from flask import Blueprint, Flask, Response, abort, current_app, request

from phoneservice.configfiles.files import ConfigFiles

blueprint = Blueprint("configfiles", __name__)
EXTENSION = "phone_migration_files"  # the app.extensions key of the resolver
USER_AGENT_MODEL = re.compile(r"Cisco-CP-?(\w+)/", re.IGNORECASE)


def install(app: Flask, files: ConfigFiles) -> None:
    """Serve ``files`` on ``app``: the config port's only blueprint."""
    app.extensions[EXTENSION] = files
    app.register_blueprint(blueprint)


def resolver() -> ConfigFiles:
    return current_app.extensions[EXTENSION]


def model_hint() -> str | None:
    header = request.headers.get("x-CiscoIPPhoneModelName")
    if header:
        return header
    match = USER_AGENT_MODEL.search(request.headers.get("User-Agent", ""))
    return match.group(1) if match else None


@blueprint.route("/<path:filename>", methods=["GET", "HEAD"])
def config_file(filename: str):
    try:
        data = resolver().resolve(filename, model_hint(), transport="http")
    except PermissionError:
        abort(403)
    if data is None:
        abort(404)
    mimetype = "text/xml" if filename.lower().endswith(".xml") else "application/octet-stream"
    response = Response(data, mimetype=mimetype)
    response.headers["Cache-Control"] = "no-store"
    return response
