# syntax=docker/dockerfile:1
# Herald's images: one build, two targets.
#
#   docker build --target broker   -t herald-broker:0.1.0 .
#   docker build --target operator -t herald-operator:0.1.0 .
#
# The runtime is distroless Node.js 20 as the unprivileged user 65532, with production
# dependencies only. docs/images.md says more.

ARG NODE_MAJOR=20

FROM node:${NODE_MAJOR}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY crds ./crds
# crds/*.yaml link to the chart's copies, the one source of the CRDs.
COPY charts/herald/crds ./charts/herald/crds
COPY common ./common
COPY storage ./storage
COPY broker ./broker
COPY operator ./operator
COPY web ./web
RUN npm run build && npm prune --omit=dev --no-audit --no-fund --ignore-scripts

FROM gcr.io/distroless/nodejs${NODE_MAJOR}-debian12:nonroot AS runtime
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# The .proto files are loaded at run time (proto/load.ts) and served through reflection.
COPY --from=build /src/proto/herald ./proto/herald
COPY --from=build /src/proto/google ./proto/google
# The REST gateway's OpenAPI document, served at /openapi.json.
COPY --from=build /src/proto/http ./proto/http
USER 65532:65532

FROM runtime AS broker
EXPOSE 7600 7680 9600
CMD ["dist/broker/main.js"]

FROM runtime AS operator
EXPOSE 7700
CMD ["dist/operator/main.js"]
