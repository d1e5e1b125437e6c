# Plenary service image. Build: docker build -t plenary .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PLENARY_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY config ./config
COPY scheduler ./scheduler
COPY bot ./bot
COPY integrations ./integrations
COPY storage ./storage
COPY web ./web
COPY messages ./messages
COPY app ./app
RUN pip install . \
    && useradd --system --home-dir /data --create-home plenary

USER plenary
VOLUME ["/data"]
ENTRYPOINT ["plenary"]
CMD ["run", "/app/config/examples/", "--clock-start", "2022-10-05T00:00:00Z", "--clock-speed", "20000", "--until", "2022-10-20T00:00:00Z"]
