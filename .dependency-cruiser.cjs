/**
 * The import rule (docs/architecture.md): imports point one way,
 *
 *   composition (app.ts, server.ts, cli/) → http (src/http, controllers src/modules/<feature>/index.ts)
 *     → services (src/modules/<feature>/*) → pipeline → store (src/db) / enrich
 *
 * The pipeline defines what it needs from the store (src/pipeline/ports.ts): the store
 * implements those contracts, so src/db may import the pipeline's contracts (model, ports,
 * errors, the store-independent identity rules and the write queue's bound) and nothing else of it. Shared leaves (logger, config types, build info, src/lib,
 * observability/tracing) may be imported from anywhere and import nothing above them.
 * `bun run deps` checks it; `.ci/run` runs it before the tests.
 */
const CONTRACTS = "^src/pipeline/(model|ports|errors|identity-rules|queue-bound)\\.ts$";
const COMPOSITION = "^src/(app|server|main)\\.ts$|^src/cli/";

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-circular",
      severity: "error",
      comment: "A cycle makes two modules one: neither can change or be tested alone.",
      from: {},
      to: { circular: true },
    },
    {
      name: "composition-is-the-top",
      severity: "error",
      comment: "Only the composition root (app.ts, server.ts, the CLI) knows every layer; nothing imports it.",
      from: { pathNot: COMPOSITION },
      to: { path: COMPOSITION },
    },
    {
      name: "shared-http-knows-no-feature",
      severity: "error",
      comment: "src/http is shared by every controller: it takes interfaces (e.g. a key resolver), never a feature module.",
      from: { path: "^src/http/" },
      to: { path: "^src/modules/" },
    },
    {
      name: "services-know-no-http",
      severity: "error",
      comment: "A feature's service is free of HTTP: controllers (index.ts) map HTTP to it.",
      from: { path: "^src/modules/[^/]+/service\\.ts$" },
      to: { path: "^src/http/|^src/modules/[^/]+/index\\.ts$" },
    },
    {
      name: "pipeline-points-down",
      severity: "error",
      comment: "The pipeline knows neither HTTP nor features nor which store runs (it reaches storage through its ports).",
      from: { path: "^src/pipeline/" },
      to: { path: "^src/(http|modules|db)/" },
    },
    {
      name: "store-implements-contracts",
      severity: "error",
      comment: "The store implements the pipeline's contracts and knows nothing above them.",
      from: { path: "^src/db/" },
      to: { path: "^src/(http|modules|enrich|observability)/|^src/pipeline/", pathNot: CONTRACTS },
    },
    {
      name: "enrich-is-a-leaf",
      severity: "error",
      comment: "Enrichment is pure functions of a payload and a request: it knows no layer above.",
      from: { path: "^src/enrich/" },
      to: { path: "^src/(http|modules|pipeline|db|observability)/" },
    },
    {
      name: "observability-is-told",
      severity: "error",
      comment: "Observability is told facts (tenant, type, status); it does not reach into the layers that tell it.",
      from: { path: "^src/observability/" },
      to: { path: "^src/(http|modules|pipeline)/" },
    },
    {
      name: "lib-is-a-leaf",
      severity: "error",
      comment: "src/lib holds small shared functions that depend on nothing of Inlet.",
      from: { path: "^src/lib/" },
      to: { path: "^src/", pathNot: "^src/lib/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "\\.(sql|json)$" },
  },
};
