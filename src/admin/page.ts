/**
 * One page of a list read with `limit + 1` rows: the extra row, never returned, is what
 * says there is more. (Comparing the row count with the limit says "more" whenever the
 * last page happens to be full.)
 */
export function page<T>(rows: T[], limit: number): { rows: T[]; hasMore: boolean } {
  return rows.length > limit ? { rows: rows.slice(0, limit), hasMore: true } : { rows, hasMore: false };
}
