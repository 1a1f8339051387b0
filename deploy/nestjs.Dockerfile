# syntax=docker/dockerfile:1
# The three NestJS services (nest1, nest2, nest3) of examples/nestjs, one image; the service is chosen
# by the command (node dist/nest1/main.js, ...). Build context: the repository root.
#
# Stage 1 builds the `kafka-trace` npm package from bindings-node (napi-rs addon over the Rust core)
# and packs it; stage 2 installs that tarball into the example like `npm install kafka-trace` would.
FROM rust:1-bookworm AS addon
COPY --from=node:20-bookworm-slim /usr/local/bin/node /usr/local/bin/node
COPY --from=node:20-bookworm-slim /usr/local/lib/node_modules /usr/local/lib/node_modules
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY core core
COPY bindings-c bindings-c
COPY bindings-node bindings-node
COPY bindings-python bindings-python
COPY include include
WORKDIR /src/bindings-node
RUN npm ci --no-audit --no-fund \
 && npm run build \
 && mkdir -p /out && npm pack --pack-destination /out

FROM node:20-bookworm-slim AS app
WORKDIR /app
COPY examples/nestjs/package.json examples/nestjs/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY --from=addon /out/ /tmp/addon/
RUN npm install --no-save --no-audit --no-fund /tmp/addon/kafka-trace-*.tgz
COPY examples/nestjs/tsconfig.json ./
COPY examples/nestjs/src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund \
 && npm install --no-save --no-audit --no-fund /tmp/addon/kafka-trace-*.tgz

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=app /app /app
USER node
EXPOSE 3001 3002 3003
CMD ["node", "dist/nest1/main.js"]
