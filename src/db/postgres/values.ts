/** PostgreSQL's values as the read stores hand them on: times as ms since the epoch, counts as numbers. */

/** A timestamptz (Bun's client gives a Date) as ms since the epoch. */
export const ms = (value: Date): number => value.getTime();
export const msOrNull = (value: Date | null): number | null => (value === null ? null : value.getTime());
