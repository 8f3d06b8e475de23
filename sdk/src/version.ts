/** Sent as context.library.version; a test checks it matches sdk/package.json. */
export const VERSION = "0.1.0";
