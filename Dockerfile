# python:3.12-slim, pinned by the digest of its multi-arch index (as seen in public Dockerfiles; re-resolve with
# `docker buildx imagetools inspect python:3.12-slim` when bumping; Dependabot updates this literal FROM). The build
# argument PYTHON_IMAGE swaps the base for another (the tests' stand-in where the pinned one cannot be pulled,
# scripts/python-base); by default it names this stage. BuildKit then builds only the stage the image needs.
ARG PYTHON_IMAGE=pinned-base
FROM python:3.12-slim@sha256:78387bc3881b8273120a12ebe6c1ab22b018ccc2c9adf565ae1ac9b536e184ea AS pinned-base
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

COPY requirements/runtime.txt requirements/runtime-omit.txt requirements/
# Exactly the pins, without the two the action never loads (requirements/runtime-omit.txt says why), in one layer.
# --no-compile: byte code only for what runs (below), not for every module of every package.
RUN pip install --require-hashes --no-deps --no-compile -r requirements/runtime.txt \
    && pip uninstall --yes --quiet -r requirements/runtime-omit.txt

COPY approval/ approval/
COPY entrypoint.py entrypoint.py
# Byte code made once here, not at every start: the base ships its standard library without .pyc files, and
# PYTHONDONTWRITEBYTECODE keeps a container from writing any. This compiles the action's package, every module its
# start imports, and what the agent-client check's SDK loads for both endpoint families (its warm-up on canned
# answers, in memory: nothing is sent); a job's container then reaches the gateway about half a second sooner.
RUN env -u PYTHONDONTWRITEBYTECODE python -c "import approval.frontends.action, approval.frontends.cli; from approval.engine.agent_sdk import warm_up; warm_up()" \
    && python -m compileall -q approval

ENTRYPOINT ["python", "/app/entrypoint.py"]
