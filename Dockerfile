# syntax=docker/dockerfile:1
# Inlet in a container: the official Bun image compiles the one executable (scripts/build.ts),
# a distroless glibc image runs it as a non-root user with the database on the /data volume.
#
#   docker build --build-arg INLET_COMMIT=$(git rev-parse --short=12 HEAD) -t inlet .
#   docker run -d --name inlet -p 3000:3000 -v inlet-data:/data inlet
#
# Checked without a Docker engine by running each stage's commands by hand (docs/operations.md, "In Docker").

FROM oven/bun:1.4 AS build
WORKDIR /src
# Dependencies first, so that a change in the sources does not reinstall them.
COPY package.json bun.lock ./
COPY sdk/package.json sdk/
RUN bun install --frozen-lockfile
COPY . .
# .git stays out of the build context (.dockerignore), so the commit is passed in.
ARG INLET_COMMIT
RUN bun run build && ./dist/inlet --version
# The runtime image has no shell to create the data folder with: make it here.
RUN mkdir -p /empty/data

# glibc, libstdc++ and CA certificates, no shell or package manager; user "nonroot" is 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/dist/inlet /usr/local/bin/inlet
# Inlet's licence and those of the packages embedded in the binary (written by scripts/build.ts).
COPY --from=build /src/dist/LICENSE /src/dist/THIRD-PARTY-NOTICES.txt /usr/share/doc/inlet/
# A new named volume starts as a copy of this folder, so it is writable by the runtime user.
COPY --from=build --chown=65532:65532 /empty/data /data
ENV INLET_DB=/data/inlet.db \
    HOST=0.0.0.0 \
    PORT=3000
USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
EXPOSE 3000
# No curl in the image: the binary checks itself (GET http://127.0.0.1:$PORT/health, exit 0 or 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/inlet", "healthcheck"]
# Exec form: inlet is PID 1 and receives SIGTERM itself (graceful shutdown: in-flight requests
# finish, pending writes commit). Give `docker stop` more than SHUTDOWN_TIMEOUT_MS, e.g. -t 15.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/inlet"]
CMD ["serve"]
