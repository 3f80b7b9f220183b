# syntax=docker/dockerfile:1
# One image for every role; CONTAINER_TYPE (api | worker | beat | all) picks what runs.
#
#   docker build -t pinnokio_microservice .                       # runtime image (last stage)
#   docker build --target firestore-emulator -t pinnokio_fs_emu . # local Firestore emulator
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- deps: every dependency (dev included), shared by the build and the local emulator ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

# ---- build: TypeScript -> dist/ ----
FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- firestore-emulator: in-process emulator package served on 8080 (docker-compose only) ----
FROM deps AS firestore-emulator
ENV FIRESTORE_EMULATOR_PORT=8080
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "require('node:net').connect(Number(process.env.FIRESTORE_EMULATOR_PORT),'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(1))"]
CMD ["node", "-e", "const {FirestoreServer}=require('@firestore-emulator/server');new FirestoreServer().start(Number(process.env.FIRESTORE_EMULATOR_PORT)).then(()=>console.log('firestore emulator on 0.0.0.0:'+process.env.FIRESTORE_EMULATOR_PORT))"]

# ---- runtime: production dependencies and dist/ only, non-root, tini as PID 1 ----
FROM ${NODE_IMAGE} AS runtime
# tini forwards SIGTERM to node and reaps zombies (ECS has no `docker run --init`).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    CONTAINER_TYPE=all \
    PORT=8090 \
    SHUTDOWN_GRACE_MS=25000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
USER node
EXPOSE 8090
# api/all serve /healthz; worker and beat have no HTTP server, so their liveness is the process itself.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const t=(process.env.CONTAINER_TYPE||'all').toLowerCase();if(t==='worker'||t==='beat')process.exit(0);fetch('http://127.0.0.1:'+(process.env.PORT||8090)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/main.js"]
