# The mesh's processes (`vsmesh up --hub …`): the project pip-installed into python:3.11-slim.
# Servers come from their own images (docker-compose.yml); the wheels' embedded nats-server and
# PostgreSQL are installed as dependencies but unused, since VSMESH_NATS_URL/VSMESH_DATABASE_URL are set.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 VSMESH_LOG_FORMAT=json
WORKDIR /src
COPY pyproject.toml README.md ./
COPY vsmesh vsmesh
COPY bus bus
COPY events events
COPY projectors projectors
COPY hubs hubs
COPY runtime runtime
COPY gateway gateway
COPY probes probes
COPY notify notify
COPY sources sources
COPY cli cli
COPY manifests manifests
COPY examples examples
RUN pip install . && useradd --system --create-home vsmesh
USER vsmesh
WORKDIR /home/vsmesh
ENTRYPOINT ["vsmesh"]
CMD ["up", "--no-demo"]
