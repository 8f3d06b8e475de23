import type { Store } from "./store";
import { uuid } from "./util";

/** Cookie and localStorage key of the anonymousId; localStorage key of the userId. */
export const AID = "inlet_aid";
export const UID = "inlet_uid";

/**
 * The anonymousId: from the first-party cookie, else from localStorage (cookies blocked or
 * cleared), else a new UUID v4. It is written back to both, which renews the cookie's year.
 */
export function loadAnonymousId(s: Store, domain?: string): string {
  const id = s.getCookie(AID) || s.get(AID) || uuid();
  s.setCookie(AID, id, domain);
  s.set(AID, id);
  return id;
}

/** Forget the identity: expire the cookie, remove both localStorage entries. */
export function clearIdentity(s: Store, domain?: string): void {
  s.setCookie(AID, "", domain, 0);
  s.del(AID);
  s.del(UID);
}
