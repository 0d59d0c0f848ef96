#!/bin/sh
# The container's entry command, run by tini (ENTRYPOINT in the Dockerfile): the
# "One host" of docs/deploy/README.md in one container. Kamailio faces the
# phones and the PBX on the advertised address and relays to the IVR workers,
# which listen on loopback; their RTP and their SDP use the advertised
# address; then `phone-migration serve` with the container's arguments.
#
#   PM_ADVERTISED_ADDRESS   the address phones reach this host at (docker run --network host);
#                           default: the first of `hostname -I`
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
SIP_PORT=${PM_SIP_PORT:-5060}
RPC_PORT=${PM_KAMAILIO_RPC_PORT:-5081}
WEB_PORT=${PHONE_MIGRATION_WEB__PORT:-8080}
set -- ${PM_CONFIG:+--config "$PM_CONFIG"} "$@"
case " $* " in *" --demo "*) DEMO=--demo ;; *) DEMO= ;; esac

mkdir -p "$DATA/loads" "$DATA/licenses" "$DATA/kamailio/run"
if [ -z "${PHONE_MIGRATION_CALLCONTROL__TOKEN:-}" ]; then  # shared with Kamailio; kept across restarts
    [ -s "$DATA/callcontrol.token" ] || (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(24))' \
        > "$DATA/callcontrol.token")
    PHONE_MIGRATION_CALLCONTROL__TOKEN=$(cat "$DATA/callcontrol.token")
fi
export PHONE_MIGRATION_CALLCONTROL__TOKEN
export PHONE_MIGRATION_CALLCONTROL__KAMAILIO_RPC_URL="http://127.0.0.1:$RPC_PORT/RPC"
export PHONE_MIGRATION_CALLMANAGER__HOST="${PHONE_MIGRATION_CALLMANAGER__HOST:-$ADDRESS}"
export PHONE_MIGRATION_IVR__MEDIA_HOST="${PHONE_MIGRATION_IVR__MEDIA_HOST:-$ADDRESS}"
export PHONE_MIGRATION_WEB__PUBLIC_URL="${PHONE_MIGRATION_WEB__PUBLIC_URL:-http://$ADDRESS:$WEB_PORT}"

phone-migration init-db $DEMO
if [ "${PHONE_MIGRATION_IVR__WORKERS:-1}" != 0 ]; then
    phone-migration kamailio-config ${PM_CONFIG:+--config "$PM_CONFIG"} --listen "$ADDRESS" --sip-port "$SIP_PORT" \
        --rpc "127.0.0.1:$RPC_PORT" --callback-url "http://127.0.0.1:$WEB_PORT/callcontrol" \
        -o "$DATA/kamailio/kamailio.cfg" --dispatcher-list "$DATA/kamailio/ivr-workers.list" \
        --ctl-socket "unix:$DATA/kamailio/run/kamailio_ctl"
    # tini -g hands a docker stop's SIGTERM to Kamailio and serve alike
    kamailio -f "$DATA/kamailio/kamailio.cfg" -DD -E -m 64 -M 8 -w "$DATA/kamailio" -Y "$DATA/kamailio/run" \
        -P "$DATA/kamailio/run/kamailio.pid" -A "CTL_SOCKET=\"unix:$DATA/kamailio/run/kamailio_ctl\"" &
fi
exec phone-migration serve "$@"
