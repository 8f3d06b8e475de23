// Files imported `with { type: "text" }` (SQL migrations) or `with { type: "file" }` (databases, bundles)
// so that `bun build --compile` embeds them in the executable.
declare module "*.sql" {
  const text: string;
  export default text;
}
declare module "*.mmdb" {
  const path: string;
  export default path;
}
// Swagger UI (src/modules/docs) and the browser SDK bundle (src/modules/sdk), embedded the same way.
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const path: string;
  export default path;
}
declare module "swagger-ui-dist/swagger-ui.css" {
  const path: string;
  export default path;
}
declare module "*/sdk/dist/inlet.js" {
  const path: string;
  export default path;
}
// The debugger page's bundled script (src/modules/debugger/bundle.ts), embedded the same way.
declare module "*/dist/debugger/debugger.js" {
  const path: string;
  export default path;
}
