/**
 * The version and commit this program was built from. `bun run build` (scripts/build.ts) bakes
 * both in with `--define`; run from source they fall back to package.json and "dev".
 */
import pkg from "../package.json";

// Replaced at build time by scripts/build.ts; `typeof` keeps an undefined one from throwing.
declare const INLET_BUILD_VERSION: string | undefined;
declare const INLET_BUILD_COMMIT: string | undefined;

export const version: string = typeof INLET_BUILD_VERSION === "string" ? INLET_BUILD_VERSION : pkg.version;
export const commit: string = typeof INLET_BUILD_COMMIT === "string" ? INLET_BUILD_COMMIT : "dev";
