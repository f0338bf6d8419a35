# syntax=docker/dockerfile:1
# VoxFleet images, one Dockerfile, three stages:
#   docker build -t voxfleet:0.1.0 .                      gateway and CPU worker (target cpu, the last stage)
#   docker build -t voxfleet:0.1.0-gpu --target gpu .     CUDA worker (CUDA 12 + cuDNN 9, onnxruntime-node's CUDA provider)
# Both run as uid 1000 with the code root-owned (read-only to the process); /data
# (VOXFLEET_VAR_DIR) and /blobs (compose's shared blob volume) are the only places it writes.
# Everything is fetched at build time: at run time a container downloads nothing, except
# a model you ask for with `npm run models:fetch` (the default model ships in models/).
# No Docker engine runs on the project's machines, so this file is not built there;
# docker-compose.yml and k8s/ name its targets (deploy/test checks those files).
ARG NODE_IMAGE=node:20-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

# --- build: production dependencies and the files the processes read
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY apps ./apps
COPY packages ./packages
# .npmrc skips onnxruntime-node's CUDA download here: the CPU image needs none
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY models ./models
COPY scripts/models ./scripts/models
COPY fixtures/audio ./fixtures/audio

# --- gpu-build: the same tree with onnxruntime-node's CUDA 12 execution provider (downloaded now, at build time)
FROM build AS gpu-build
RUN npm rebuild onnxruntime-node --onnxruntime-node-install=cuda12

# --- gpu: the CUDA runtime image with Node copied in from the official one
FROM ${CUDA_IMAGE} AS gpu
COPY --from=build /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=gpu-build /app /app
# uid 1000 is the image's own `ubuntu` user; run as it, numerically, so runAsNonRoot can verify it
RUN mkdir -p /data /blobs && chown 1000:1000 /data /blobs
ENV NODE_ENV=production VOXFLEET_VAR_DIR=/data VOXFLEET_PROVIDER=cuda
USER 1000:1000
EXPOSE 9465
CMD ["node", "--import", "tsx", "apps/worker/src/main.ts"]

# --- cpu (default): gateway (CMD) and CPU worker (command: node --import tsx apps/worker/src/main.ts)
FROM ${NODE_IMAGE} AS cpu
WORKDIR /app
COPY --from=build /app /app
# uid 1000 is the image's own `node` user
RUN mkdir -p /data /blobs && chown 1000:1000 /data /blobs
# Binds stay the code's defaults (loopback) here: compose and k8s set VOXFLEET_HOST and
# VOXFLEET_METRICS_HOST=0.0.0.0 explicitly, next to the API keys that make that safe.
ENV NODE_ENV=production VOXFLEET_VAR_DIR=/data
USER 1000:1000
EXPOSE 8080 9464 9465
CMD ["node", "--import", "tsx", "apps/gateway/src/main.ts"]
