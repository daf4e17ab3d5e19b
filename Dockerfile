# syntax=docker/dockerfile:1
#
# One image per service of crm-engine. Every service is built from this file; the build argument
# SERVICE (a directory under services/) picks the process the container runs:
#
#   docker build --build-arg SERVICE=ingest -t crm-engine/ingest .
#   docker run --rm crm-engine/ingest node scripts/dist/migrate.js   # one-shot migrations
#
# docker-compose.yml builds it once per service. The configuration comes from the environment
# at run time (see .env.template); nothing secret is baked into the image.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- manifests: package.json of the root and of every workspace, nothing else -----------------
# Copied into the build stage before the sources, so `npm ci` is re-run only when a manifest or
# the lockfile changes (COPY --from is cached by content). The workspace list is read from the
# root package.json, so a new workspace needs no change here.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /src
COPY . .
RUN set -eu; \
    mkdir -p /manifests; \
    cp package.json package-lock.json /manifests/; \
    for dir in $(node -p "require('./package.json').workspaces.join(' ')"); do \
      if [ -f "$dir/package.json" ]; then \
        mkdir -p "/manifests/$dir"; \
        cp "$dir/package.json" "/manifests/$dir/package.json"; \
      fi; \
    done

# --- build: install everything, compile every workspace, drop dev dependencies -----------------
FROM ${NODE_IMAGE} AS build
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false \
    TURBO_TELEMETRY_DISABLED=1
# The lockfile and its allowScripts list are written by npm 11 (packageManager in package.json).
RUN npm install -g npm@11.19.1
WORKDIR /app
COPY --from=manifests /manifests/ ./
RUN --mount=type=cache,target=/root/.npm npm ci
COPY . .
RUN npm run build
# Removes the dev dependencies of the root and of every workspace; the workspaces' own links in
# node_modules/@crm stay.
RUN npm prune --omit=dev
# /out is what runs: node_modules, and of each workspace its package.json, dist/, its own
# node_modules (where npm had to nest a dependency) and the other entries of its package.json
# "files" (the email templates of packages/templates). No sources, tests or build caches.
RUN set -eu; \
    mkdir -p /out; \
    cp -a package.json package-lock.json node_modules /out/; \
    for dir in $(node -p "require('./package.json').workspaces.join(' ')"); do \
      [ -f "$dir/package.json" ] || continue; \
      mkdir -p "/out/$dir"; \
      cp -a "$dir/package.json" "/out/$dir/"; \
      if [ -d "$dir/dist" ]; then cp -a "$dir/dist" "/out/$dir/"; fi; \
      if [ -d "$dir/node_modules" ]; then cp -a "$dir/node_modules" "/out/$dir/"; fi; \
      for extra in $(node -p "(require('./$dir/package.json').files || []).filter((f) => f !== 'dist').join(' ')"); do \
        cp -a "$dir/$extra" "/out/$dir/"; \
      done; \
    done; \
    find /out -name '*.tsbuildinfo' -delete; \
    test -f /out/scripts/dist/migrate.js; \
    test -f /out/packages/templates/email/layout.mjml

# --- runtime: what one service needs to run, as a non-root user ----------------------------------
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM/SIGINT to node (which then shuts down gracefully: stops taking
# jobs, drains, closes its pools) and reaps zombies. Kubernetes has no `--init`, so it is built in.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and read-only for the user that runs it.
COPY --from=build /out/ ./
USER node

# The service this image runs: a directory of services/ (ingest, strategy-worker, email-worker,
# messaging-worker, analytics-worker, callback-worker, sandbox). Declared last so that the layers above are shared by every service's image. Left
# empty, the image can still run one-off commands (e.g. the migrations) given explicitly.
ARG SERVICE
ENV SERVICE=${SERVICE}
RUN if [ -n "$SERVICE" ] && [ ! -f "services/$SERVICE/dist/main.js" ]; then \
      echo "SERVICE=$SERVICE: no services/$SERVICE/dist/main.js; use one of: $(ls services)" >&2; \
      exit 1; \
    fi

ENTRYPOINT ["/usr/bin/tini", "--"]
# sh expands $SERVICE at run time and `exec` replaces it with node, so tini's signals reach node.
CMD ["/bin/sh", "-c", "exec node \"services/${SERVICE:?no SERVICE: build with --build-arg SERVICE=<a directory of services/>}/dist/main.js\""]
