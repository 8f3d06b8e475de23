import { setDefaultTimeout } from "bun:test";

// Integration tests start real servers and child processes; 5 s (the default) is tight on a busy 2-core machine.
setDefaultTimeout(60_000);
