// Bun's `with { type: "file" }` import of a database file yields its path (a $bunfs path inside a
// compiled executable); readFileSync works on both.
declare module "*.mmdb" {
  const path: string;
  export default path;
}
