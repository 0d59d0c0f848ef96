#!/bin/sh
# The container's entry command, run by tini (ENTRYPOINT in the Dockerfile): the
# "One host" of docs/deploy/README.md in one container: `phone-migration serve`
# with the container's arguments, running Kamailio (serve --kamailio) on the
# advertised address in front of the IVR workers, which listen on loopback
# their RTP and their SDP use the advertised address.
#
#   PM_ADVERTISED_ADDRESS   the address phones reach this host at; default: the first of `hostname -I`
#   PM_BIND_ADDRESS         where Kamailio and the workers' RTP listen, when phones reach them at another
#                           address (docker run -p: the host's address, mapped to the container's);
#                           default: the advertised address if it is this container's, else the first
#                           of `hostname -I`
#   PM_SIP_PORT             Kamailio's SIP port (5060)
#   PM_KAMAILIO_RPC_PORT    Kamailio's JSON-RPC for the product, on loopback (5081)
#   PM_CONFIG               a settings file (TOML) for serve and kamailio-config; PHONE_MIGRATION_* too
#   PM_DATA                 the volume (/data): database, loads, licenses, Kamailio's files, the token
set -eu

DATA=${PM_DATA:-/data}
ADDRESS=${PM_ADVERTISED_ADDRESS:-$(hostname -I 2>/dev/null | cut -d' ' -f1)}
if [ -z "$ADDRESS" ]; then
    echo "PM_ADVERTISED_ADDRESS is not set: give the address phones reach this host at" >&2
    exit 64
fi
BIND=${PM_BIND_ADDRESS:-}
if [ -z "$BIND" ]; then
    case " $(hostname -I 2>/dev/null) 127.0.0.1 ::1 " in
        *" $ADDRESS "*) BIND=$ADDRESS ;;
        *) BIND=$(hostname -I 2>/dev/null | cut -d' ' -f1) ;;
    esac
fi
SIP_PORT=${PM_SIP_PORT:-5060}
RPC_PORT=${PM_KAMAILIO_RPC_PORT:-5081}
WEB_PORT=${PHONE_MIGRATION_WEB__PORT:-8080}
set -- ${PM_CONFIG:+--config "$PM_CONFIG"} "$@"

mkdir -p "$DATA/loads" "$DATA/licenses"
export PHONE_MIGRATION_CALLMANAGER__HOST="${PHONE_MIGRATION_CALLMANAGER__HOST:-$ADDRESS}"
export PHONE_MIGRATION_IVR__MEDIA_HOST="${PHONE_MIGRATION_IVR__MEDIA_HOST:-$BIND}"
if [ "$BIND" != "$ADDRESS" ]; then  # port mapping: bound here, reached there (Via, Record-Route, the SDP)
    export PHONE_MIGRATION_IVR__MEDIA_PUBLIC="${PHONE_MIGRATION_IVR__MEDIA_PUBLIC:-$ADDRESS}" \
        PHONE_MIGRATION_SIP_FRONT__ADVERTISE="$ADDRESS"
fi
export PHONE_MIGRATION_WEB__PUBLIC_URL="${PHONE_MIGRATION_WEB__PUBLIC_URL:-http://$ADDRESS:$WEB_PORT}"
if [ "${PHONE_MIGRATION_IVR__WORKERS:-1}" != 0 ]; then
    # serve runs Kamailio, restarts it if it dies and stops it with itself; its files, and
    # the token it shares with the product (made on the first start), live in $DATA/kamailio
    export PHONE_MIGRATION_SIP_FRONT__RUN=true PHONE_MIGRATION_SIP_FRONT__LISTEN="[\"$BIND\"]" \
        PHONE_MIGRATION_SIP_FRONT__PORT="$SIP_PORT" PHONE_MIGRATION_SIP_FRONT__RPC_PORT="$RPC_PORT" \
        PHONE_MIGRATION_SIP_FRONT__DIR="$DATA/kamailio"
fi
exec phone-migration serve "$@"
