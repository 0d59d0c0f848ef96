# phone-migration in one container: Kamailio in front of the IVR workers (R-7),
# the web UI/API/screens, config files over HTTP and TFTP; the "One host" of
# docs/deploy/README.md. How to run it: docs/deploy/README.md, "The container".
#
#   docker build -t phone-migration .
#   docker run -d --name pm --network host -e PM_ADVERTISED_ADDRESS=10.0.0.5 \
#       -v pm-data:/data --stop-timeout 20 phone-migration
#
# Host networking: phones reach SIP (Kamailio, 5060 udp+tcp), the RTP of the
# IVR workers (17100-17499/udp: 100 ports per worker from 10000 + (SIP port % 200) * 100,
# workers on 5071..5074), TFTP (69/udp), the config port (6970) and the web port
# (8080) on the advertised address, which their SDP and config files name.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 tini kamailio kamailio-utils-modules sqlite3 libcap2-bin \
    && setcap cap_net_bind_service=+ep "$(readlink -f /usr/local/bin/python3.11)" \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The versions the tests ran with (container/lock.py), then the product without resolving again.
COPY container/requirements.lock ./container/requirements.lock
RUN pip install --no-cache-dir -r container/requirements.lock
COPY pyproject.toml README.md ./
COPY models ./models
COPY ivr ./ivr
COPY phoneservice ./phoneservice
COPY prompts ./prompts
COPY container ./container
RUN pip install --no-cache-dir --no-deps .

RUN useradd --system --home /data --create-home phone-migration
USER phone-migration
WORKDIR /data
VOLUME ["/data"]
ENV PM_DATA=/data \
    PHONE_MIGRATION_DATABASE_URL=sqlite:////data/phone-migration.db \
    PHONE_MIGRATION_WEB__HOST=0.0.0.0 \
    PHONE_MIGRATION_CONFIG_HTTP__HOST=0.0.0.0 \
    PHONE_MIGRATION_TFTP__HOST=0.0.0.0 \
    PHONE_MIGRATION_TFTP__PORT=69 \
    PHONE_MIGRATION_IVR__WORKERS=2 \
    PHONE_MIGRATION_IVR__PORT=5071 \
    PHONE_MIGRATION_FILES__LOADS_DIR=/data/loads \
    PHONE_MIGRATION_FILES__LICENSES_DIR=/data/licenses \
    PHONE_MIGRATION_PROMPTS_DIR=/app/prompts

EXPOSE 8080/tcp 6970/tcp 69/udp 5060/udp 5060/tcp 17100-17499/udp
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s CMD ["python", "/app/container/healthcheck.py"]
# tini reaps and, with -g, passes docker stop's SIGTERM to serve (which drains its workers) and Kamailio.
ENTRYPOINT ["tini", "-g", "--", "/app/container/entrypoint.sh"]
CMD []
