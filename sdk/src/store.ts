/**
 * Storage that never throws: localStorage can be missing, full or blocked (SecurityError),
 * and cookies can be disabled. Every failure degrades to "not stored".
 */
export interface Store {
  get(key: string): string | null;
  set(key: string, value: string): boolean;
  del(key: string): void;
  keys(): string[];
  getCookie(name: string): string | null;
  setCookie(name: string, value: string, domain?: string, maxAge?: number): void;
}

export const YEAR = 31536000;

export function store(w: Window): Store {
  const ls = () => w.localStorage;
  return {
    get(k) {
      try {
        return ls().getItem(k);
      } catch {
        return null;
      }
    },
    set(k, v) {
      try {
        ls().setItem(k, v);
        return true;
      } catch {
        return false;
      }
    },
    del(k) {
      try {
        ls().removeItem(k);
      } catch {}
    },
    keys() {
      const out: string[] = [];
      try {
        for (let i = 0, s = ls(); i < s.length; i++) out.push(s.key(i)!);
      } catch {}
      return out;
    },
    getCookie(n) {
      try {
        const m = w.document.cookie.match("(?:^|; )" + n + "=([^;]*)");
        return m ? decodeURIComponent(m[1]!) : null;
      } catch {
        return null;
      }
    },
    setCookie(n, v, domain, maxAge = YEAR) {
      try {
        w.document.cookie =
          n +
          "=" +
          encodeURIComponent(v) +
          "; Max-Age=" +
          maxAge +
          "; Path=/; SameSite=Lax" +
          (domain ? "; Domain=" + domain : "") +
          (w.location.protocol == "https:" ? "; Secure" : "");
      } catch {}
    },
  };
}
