# One image for the gateway and the worker (CPU; for CUDA see README/BENCHMARKS).
# Not built on the project's CI machines (no Docker engine there): kept simple and conventional.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json .npmrc ./
COPY apps ./apps
COPY packages ./packages
COPY models ./models
COPY fixtures/audio ./fixtures/audio
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# The gateway binds to all interfaces inside the container; API keys stay on (VOXFLEET_API_KEYS).
ENV VOXFLEET_HOST=0.0.0.0 VOXFLEET_VAR_DIR=/data VOXFLEET_BLOB_DIR=/data/blobs
USER node
EXPOSE 8080
CMD ["node", "--import", "tsx", "apps/gateway/src/main.ts"]
