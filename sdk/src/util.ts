/** UUID v4: crypto.randomUUID where available (secure contexts), else getRandomValues. */
export const uuid = (): string =>
  crypto.randomUUID
    ? crypto.randomUUID()
    : "10000000-1000-4000-8000-100000000000".replace(/[018]/g, (c) => (+c ^ (crypto.getRandomValues(new Uint8Array(1))[0]! & (15 >> (+c / 4)))).toString(16));

const encoder = new TextEncoder();
/** UTF-8 length of a string: what a request body or a beacon counts. */
export const bytes = (s: string): number => encoder.encode(s).length;

/** Short, stable hash (djb2, base 36) used to name storage keys per write key. */
export const hash = (s: string): string => {
  let h = 5381;
  for (let i = 0; i < s.length; i++) h = (h * 33) ^ s.charCodeAt(i);
  return (h >>> 0).toString(36);
};
