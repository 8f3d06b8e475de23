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
