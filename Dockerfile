# phone-migration: one process serving the web UI/API/screens, the config files
# over HTTP and TFTP (and, with the IVR, SIP).
#
#   docker build -t phone-migration .
#   docker run --rm -p 8080:8080 -p 6970:6970 -p 69:69/udp -p 5060:5060/udp \
#       -v pm-data:/data phone-migration            # add --demo to CMD for the demo site
#
# Ports: 8080/tcp web (screens, admin, API, /healthz, /metrics); 6970/tcp config
# files over HTTP; 69/udp TFTP; 5060/udp+tcp SIP IVR. The database is the SQLite
# file /data/phone-migration.db unless PHONE_MIGRATION_DATABASE_URL names a
# PostgreSQL server (postgresql+psycopg://user:pass@host/db).
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY models ./models
COPY ivr ./ivr
COPY phoneservice ./phoneservice
COPY prompts ./prompts
RUN pip install --no-cache-dir .

RUN useradd --system --home /data --create-home phone-migration
USER phone-migration
WORKDIR /data
ENV PHONE_MIGRATION_DATABASE_URL=sqlite:////data/phone-migration.db \
    PHONE_MIGRATION_WEB__HOST=0.0.0.0 \
    PHONE_MIGRATION_CONFIG_HTTP__HOST=0.0.0.0 \
    PHONE_MIGRATION_TFTP__HOST=0.0.0.0 \
    PHONE_MIGRATION_TFTP__PORT=69 \
    PHONE_MIGRATION_FILES__LOADS_DIR=/data/loads \
    PHONE_MIGRATION_FILES__LICENSES_DIR=/data/licenses \
    PHONE_MIGRATION_PROMPTS_DIR=/app/prompts

EXPOSE 8080/tcp 6970/tcp 69/udp 5060/udp 5060/tcp
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz').status != 200)"
# Port 69 is below 1024: Docker 20.10+ sets net.ipv4.ip_unprivileged_port_start=0
# in a container's network namespace, so the unprivileged user may bind it; on
# older engines add --sysctl net.ipv4.ip_unprivileged_port_start=0.
CMD ["phone-migration", "serve"]
